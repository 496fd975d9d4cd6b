"""Soak: a million submissions through the real router and every team's consumer with retention on and a
short window; Redis memory must stay flat, nothing may go undecided or be trimmed unread, and the audit log
must verify over archive + live at the end.

A private redis-server (appendonly no: this measures memory, not durability) and ``intelbus router`` as a
separate process, with a retention file keeping ``--window`` seconds of ingress and feeds (twice that of the
audit logs and quarantine) and running every second.
Partners publish ``--rate`` submissions a second (2,000 by default, in chunks of ``--chunk``, never more
than ``--backlog`` waiting to be decided: a steady load, as partners send, not one flood; ``--rate 0``
publishes as fast as the router decides); each team's ``TeamClient`` reads and acknowledges.
``used_memory`` is sampled four times a second. At the end the router is stopped (its last checkpoint),
and ``intelbus audit verify`` runs over archive + live.

Printed: the rate; the retention runs seen and how long each took; max ``used_memory`` over the run
against the max over its first 10% of submissions (the baseline, same run: flat is a ratio near 1);
submissions without a decision (published minus decisions in archive + live); deliveries trimmed unread
(written minus read by the teams); the archive's size; the verify line. Run it on purpose:
``.venv/bin/python bench/soak.py`` (about 9 minutes on 2 cores; ``--count 100000`` for a quick look).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bus.archive.reader import archive_dir
from bus.archive.store import Archive
from bus.keys import ROUTER_GROUP, Keys
from bus.policy import load_ruleset
from bus.samples import realistic_mix
from bus.servers import RedisProc
from bus.transport import text
from consumers import TeamClient
from producers import PartnerClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from router_proc import ROOT, start_router, wait_reading

KEYS = Keys()
RULESET = load_ruleset(None)
POLICY = """keep: {{ingress: {keep}s, feeds: {keep}s, audit: {audit}s, quarantine: {audit}s}}
dedupe_window: 60s
holds: []
"""


async def decided(client: aioredis.Redis) -> int:
    """Decisions ever written: those still in Redis and those retention removed (archived first)."""
    pipe = client.pipeline(transaction=False)
    pipe.xlen(KEYS.decisions)
    pipe.hget(KEYS.trimmed, KEYS.decisions)
    length, trimmed = await pipe.execute()
    return int(length) + int(trimmed or 0)


class Teams:
    """Every team's consumer: reads and acknowledges, counting what it read per feed stream."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.read: dict[str, int] = {}
        self.stop = asyncio.Event()

    async def run(self) -> None:
        await asyncio.gather(*(self._team(team) for team in sorted(RULESET.team_ids)))

    async def _team(self, team: str) -> None:
        client = aioredis.Redis.from_url(self.url, socket_timeout=30)
        reader = TeamClient(client, team, "soak-1")
        await reader.ensure_groups()
        try:
            while not self.stop.is_set():
                got = await reader.read(count=500, block_ms=200)
                for delivery in got:
                    self.read[delivery.stream] = self.read.get(delivery.stream, 0) + 1
                if got:
                    await reader.ack_many(got)
        finally:
            await client.aclose()


async def settled(client: aioredis.Redis) -> bool:
    """Every feed group has read and acknowledged everything."""
    for team in RULESET.team_ids:
        for stream in KEYS.feeds(team):
            if not await client.exists(stream):
                continue
            top = (await client.xinfo_stream(stream))["last-generated-id"]
            for group in await client.xinfo_groups(stream):
                if group["pending"] or group["last-delivered-id"] != top:
                    return False
    return True


class Load:
    """Partners publishing steadily: ``rate`` submissions a second (0: as fast as the router decides), a
    chunk at a time, never more than ``backlog`` waiting to be decided."""

    def __init__(self, client: aioredis.Redis, count: int, chunk: int, backlog: int, rate: int) -> None:
        self.client, self.count, self.chunk, self.backlog, self.rate = client, count, chunk, backlog, rate
        self.published = 0
        self.samples: list[tuple[int, int]] = []  # (published so far, used_memory)
        self.runs: dict[str, float] = {}  # retention runs seen: when -> how long it took

    async def sample(self) -> None:
        while True:
            self.samples.append((self.published, int((await self.client.info("memory"))["used_memory"])))
            ran = await self.client.hmget(KEYS.retention, ["at", "seconds"])
            if ran[0] and ran[1]:
                self.runs[text(ran[0])] = float(ran[1])
            await asyncio.sleep(0.25)

    async def publish(self, started: float) -> None:
        seed = 0
        while self.published < self.count:
            ahead = self.published / self.rate - (time.perf_counter() - started) if self.rate else 0.0
            if ahead > 0:
                await asyncio.sleep(ahead)
            if self.published - await decided(self.client) > self.backlog:
                await asyncio.sleep(0.02)
                continue
            by_partner: dict[str, list[dict[str, Any]]] = {}
            for submission in realistic_mix(min(self.chunk, self.count - self.published), seed=seed):
                by_partner.setdefault(submission["partner"], []).append(submission)
            for partner, items in by_partner.items():
                await PartnerClient(self.client, partner).publish_many(items)
                self.published += len(items)
            seed += 1
            if seed % (100_000 // self.chunk or 1) == 0 and self.samples:
                ran = {text(k): text(v) for k, v in (await self.client.hgetall(KEYS.retention)).items()}
                print(f"  {self.published:,} published, {await decided(self.client):,} decided, "
                      f"{self.samples[-1][1] / 1e6:,.0f} MB used ({time.perf_counter() - started:,.0f} s); "
                      f"retention: last run at {ran.get('at', 'never')} took {ran.get('seconds', '-')} s, "
                      f"removed {ran.get('removed', '-')} {ran.get('error', '')}", flush=True)

    def memory(self) -> tuple[int, int, int]:
        """(max over the run, max over the first 10% of submissions, at the end)."""
        first = [memory for count, memory in self.samples if count <= self.count // 10] or [self.samples[0][1]]
        return max(memory for _, memory in self.samples), max(first), self.samples[-1][1]


async def soak(args: argparse.Namespace, work: Path) -> int:
    server = RedisProc(work / "redis", durable=False, extra=("--loglevel", "warning")).start()
    client = aioredis.Redis.from_url(server.url, socket_timeout=60)
    policy = work / "retention.yaml"
    policy.write_text(POLICY.format(keep=args.keep_s, audit=2 * args.keep_s))
    log = work / "router.log"
    router = start_router(server.url, log, "soak", INTELBUS_RETENTION=str(policy),
                          INTELBUS_RETENTION_INTERVAL_MS="1000")
    teams, load = Teams(server.url), Load(client, args.count, args.chunk, args.backlog, args.rate)
    try:
        wait_reading(router, log)
        consuming = asyncio.create_task(teams.run())
        started = time.perf_counter()
        sampling = asyncio.create_task(load.sample())
        await load.publish(started)
        while await decided(client) < load.published or not await settled(client):
            if router.poll() is not None:
                raise RuntimeError(f"the router exited ({router.returncode}):\n{log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)
        elapsed = time.perf_counter() - started
        sampling.cancel()
        teams.stop.set()
        await consuming
        router.send_signal(signal.SIGTERM)
        router.wait(timeout=120)
        return await report(client, server, load, teams, log.parent / "data-soak", elapsed, args.keep_s)
    finally:
        if router.poll() is None:
            router.kill()
        await client.aclose()
        server.stop()


async def report(client: aioredis.Redis, server: RedisProc, load: Load, teams: Teams, data: Path,
                 elapsed: float, keep: int) -> int:
    made, published = await decided(client), load.published
    written = {stream: int(await client.xlen(stream)) + int(await client.hget(KEYS.trimmed, stream) or 0)
               for team in RULESET.team_ids for stream in KEYS.feeds(team)}
    unread = sum(written[s] - teams.read.get(s, 0) for s in written)
    archive = Archive(archive_dir(data))
    segments = archive.segments()
    pending = 0
    for partner in RULESET.partners:
        pending += sum(int(g["pending"]) for g in await client.xinfo_groups(KEYS.ingress(partner))
                       if g["name"] == ROUTER_GROUP.encode())
    env = os.environ | {"REDIS_URL": server.url, "INTELBUS_DATA_DIR": str(data)}
    verify = subprocess.run([sys.executable, "-m", "bus.cli", "audit", "verify"], cwd=ROOT, env=env,
                            capture_output=True, text=True, check=False)
    peak, first, end = load.memory()
    print(f"\n{published:,} submissions through the router and {len(RULESET.team_ids)} team consumers in "
          f"{elapsed:,.0f} s ({published / elapsed:,.0f}/s, asked for {load.rate or 'as fast as decided'}); "
          f"retention every 1 s, keeping {keep}-{2 * keep} s (redis-server {server.port}, appendonly no)")
    took = sorted(load.runs.values())
    if took:
        print(f"retention runs seen: {len(took)}, each {took[0]:.2f} / {statistics.median(took):.2f} / "
              f"{took[-1]:.2f} s (min / median / max)")
    print(f"used_memory: max {peak / 1e6:,.1f} MB over the run, max {first / 1e6:,.1f} MB over the first 10% "
          f"(ratio {peak / first:.2f}); at the end {end / 1e6:,.1f} MB")
    print(f"submissions without a decision: {published - made:,} (published {published:,}, decisions in "
          f"archive + live {made:,}); still pending in the router group: {pending}")
    print(f"deliveries trimmed unread: {unread:,} (written {sum(written.values()):,}, read and acknowledged "
          f"{sum(teams.read.values()):,})")
    print(f"archive: {len(segments):,} segments of {len({s.stream for s in segments})} streams, "
          f"{sum(s.size for s in segments) / 1e6:,.1f} MB ({archive.folder})")
    print(verify.stdout.strip() or verify.stderr.strip())
    ok = published == made and unread == 0 and verify.returncode == 0 and peak / first < 1.5
    print("soak: PASS" if ok else "soak: FAIL")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="submissions to publish")
    parser.add_argument("--chunk", type=int, default=1_000, help="submissions per publishing step")
    parser.add_argument("--rate", type=int, default=2_000, help="submissions a second (0: as fast as decided)")
    parser.add_argument("--backlog", type=int, default=20_000, help="most submissions waiting to be decided")
    parser.add_argument("--window", dest="keep_s", type=int, default=20,
                        help="seconds ingress and feeds stay in Redis (audit logs and quarantine: twice that)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (router log, archive)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="intelbus-soak-"))
    try:
        return asyncio.run(soak(args, work))
    finally:
        if args.keep:
            print(f"work folder: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
