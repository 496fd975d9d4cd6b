"""``intelbus retention``: plan (what may leave Redis now, and what blocks each stream) and run.

The periods and legal holds come from the retention file (``--retention FILE``, ``INTELBUS_RETENTION``,
default ``bus/data/retention.yaml``). ``run`` writes one erasure record to ``intel:audit`` per step, and
holds the lease ``intel:retainer`` while it runs, as a router's retention does: never two runs at once.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from pathlib import Path

import orjson
import redis.asyncio as aioredis

from bus.keys import Keys
from bus.lease import hold
from bus.retention.plan import Row, plan
from bus.retention.policy import RetentionPolicy, load_retention
from bus.retention.run import Progress, Retention
from bus.settings import Settings
from bus.transport import text

LEASE_MS = 600_000  # the lease a manual run holds (released when it ends; lapses if it is killed)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = commands.add_parser("retention", help="what may leave Redis, and removing it (feeds, dedupe marks)")
    actions = retention.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    plan_cmd = actions.add_parser("plan", help="per stream: its size, what may go now, and what blocks the rest")
    plan_cmd.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    run_cmd = actions.add_parser("run", help="remove what the plan allows, with an erasure record per step")
    for action in (plan_cmd, run_cmd):
        action.add_argument("--retention", type=Path, metavar="FILE",
                            help="retention file (default: INTELBUS_RETENTION, else the shipped one)")
        action.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.runtime import _with_redis
    from bus.policy import load_ruleset

    policy = load_retention(args.retention or settings.retention)
    ruleset = load_ruleset(settings.ruleset)
    keys = Keys(settings.prefix)
    now_ms = int(time.time() * 1000)

    async def work(redis: aioredis.Redis) -> int:
        if args.retention_command == "plan":
            rows = await plan(redis, keys, ruleset, policy, now_ms)
            print(_json(rows, policy) if args.json else _table(rows, policy))
            return 0
        by = f"intelbus retention run ({socket.gethostname()}, pid {os.getpid()})"
        if not await hold(redis, keys.retainer, by, LEASE_MS):  # never two runs at once: each counts what it removes
            holder = text(await redis.get(keys.retainer))
            print(f"intelbus: retention is running elsewhere ({keys.retainer} is held by {holder}; a router runs it "
                  "every INTELBUS_RETENTION_INTERVAL_MS): nothing done", file=sys.stderr)
            return 1
        try:
            removed = await Retention(redis, keys, ruleset, policy, by, _progress()).run(now_ms)
        finally:
            if text(await redis.get(keys.retainer)) == by:
                await redis.delete(keys.retainer)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        for name, count in removed.by_stream.items():
            print(f"  {name}: {count:,} removed")
        print(f"retention run: {removed.total:,} removed from {len(removed.by_stream)} keys; {removed.records:,} "
              f"erasure records in {keys.audit}")
        return 0

    return _with_redis(settings, work)


def _json(rows: list[Row], policy: RetentionPolicy) -> str:
    doc = {"policy": policy.source, "holds": [str(h) for h in policy.holds], "keys": [r.as_json() for r in rows]}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def _table(rows: list[Row], policy: RetentionPolicy) -> str:
    lines = [f"retention plan ({policy.source}; {len(policy.holds)} hold(s))",
             f"{'key':<44} {'kind':<10} {'length':>9} {'memory':>10} {'may go':>9}  blocked by / bound"]
    for row in rows:
        lines.append(f"{row.stream:<44} {row.kind:<10} {row.length:>9,} {_mb(row.memory):>10} {row.removable:>9,}  "
                     f"{row.blocked_by}")
    total = sum(r.removable for r in rows)
    lines.append(f"{total:,} entries and marks may go now (intelbus retention run); "
                 f"{_mb(sum(r.memory for r in rows))} in these keys")
    return "\n".join(lines)


def _mb(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size / 1e3:,.1f} kB"


def _progress() -> Progress | None:
    if not sys.stderr.isatty():
        return None
    seen = [0]

    def advance(name: str, n: int) -> None:
        seen[0] += n
        sys.stderr.write(f"\rremoved {seen[0]:,} ({name})")
        sys.stderr.flush()

    return advance
