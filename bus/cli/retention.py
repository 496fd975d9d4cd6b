"""``intelbus retention``: plan (what may leave Redis now, and what blocks each stream) and run (archive,
then remove). Exit status of run: 0 done, 1 another run holds the lease or the archive stopped a stream
(named), 2 the command could not run.

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

from bus.archive.reader import archive_dir
from bus.archive.store import Archive
from bus.lease import hold
from bus.retention.plan import Row, plan
from bus.retention.policy import RetentionPolicy, load_retention
from bus.retention.run import Progress, Retention
from bus.settings import Settings
from bus.transport import text

LEASE_MS = 600_000  # the lease a manual run holds (released when it ends; lapses if it is killed)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    retention = commands.add_parser("retention", help="what may leave Redis, archiving it and removing it")
    actions = retention.add_subparsers(dest="retention_command", required=True, metavar="ACTION")
    plan_cmd = actions.add_parser("plan", help="per stream: its size, what may go now, and what blocks the rest")
    plan_cmd.add_argument("--json", action="store_true", help="one JSON document instead of the table")
    run_cmd = actions.add_parser("run", help="archive, then remove what the plan allows (an erasure record per step)")
    for action in (plan_cmd, run_cmd):
        action.add_argument("--retention", type=Path, metavar="FILE",
                            help="retention file (default: INTELBUS_RETENTION, else the shipped one)")
        action.add_argument("--archive", type=Path, metavar="DIR",
                            help="the archive folder (default: <data_dir>/archive, where the router's retention "
                                 "writes it)")
        action.set_defaults(handler=_handle)


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.runtime import _with_redis
    from bus.policy import load_ruleset

    policy = load_retention(args.retention or settings.retention)
    ruleset = load_ruleset(settings.ruleset)
    keys = settings.keys()
    now_ms = int(time.time() * 1000)
    archive = Archive(args.archive or archive_dir(settings.region_dir))

    async def work(redis: aioredis.Redis) -> int:
        if args.retention_command == "plan":
            rows = await plan(redis, keys, ruleset, policy, now_ms, archive)
            print(_json(rows, policy, archive) if args.json else _table(rows, policy))
            return 0
        by = f"intelbus retention run ({socket.gethostname()}, pid {os.getpid()})"
        if not await hold(redis, keys.retainer, by, LEASE_MS):  # never two runs at once: each counts what it removes
            holder = text(await redis.get(keys.retainer))
            print(f"intelbus: retention is running elsewhere ({keys.retainer} is held by {holder}; a router runs it "
                  "every INTELBUS_RETENTION_INTERVAL_MS): nothing done", file=sys.stderr)
            return 1
        try:
            removed = await Retention(redis, keys, ruleset, policy, by, archive, progress=_progress(),
                                      lease=lambda: hold(redis, keys.retainer, by, LEASE_MS)).run(now_ms)
        finally:
            if text(await redis.get(keys.retainer)) == by:
                await redis.delete(keys.retainer)
        if sys.stderr.isatty():
            sys.stderr.write("\n")
        for name in dict.fromkeys([*removed.archived, *removed.by_stream]):
            print(f"  {name}: {removed.archived.get(name, 0):,} archived, {removed.by_stream.get(name, 0):,} removed")
        print(f"retention run: {sum(removed.archived.values()):,} archived in {removed.segments:,} segments "
              f"({archive.folder}); {removed.total:,} removed from {len(removed.by_stream)} keys; "
              f"{removed.records:,} erasure records in {keys.audit}")
        for name, why in removed.blocked.items():
            print(f"intelbus: {name}: {why}", file=sys.stderr)
        return 1 if removed.blocked else 0

    return _with_redis(settings, work)


def _json(rows: list[Row], policy: RetentionPolicy, archive: Archive) -> str:
    doc = {"policy": policy.source, "archive": str(archive.folder), "holds": [str(h) for h in policy.holds],
           "keys": [r.as_json() for r in rows]}
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()


def _table(rows: list[Row], policy: RetentionPolicy) -> str:
    lines = [f"retention plan ({policy.source}; {len(policy.holds)} hold(s))",
             f"{'key':<40} {'kind':<10} {'length':>9} {'memory':>10} {'archived':>9} {'may go':>9}  "
             "blocked by / bound"]
    for row in rows:
        archived = "-" if row.archived is None else f"{row.archived:,}"
        lines.append(f"{row.stream:<40} {row.kind:<10} {row.length:>9,} {_mb(row.memory):>10} {archived:>9} "
                     f"{row.removable:>9,}  {row.blocked_by}")
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
