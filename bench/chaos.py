"""Chaos: publish N submissions while SIGKILLing routers and crashing redis-server; check exactly-once.

Run: .venv/bin/python bench/chaos.py [--count 20000] [--routers 2] [--router-kills 3] [--redis-crashes 1]

Starts a private redis-server (AOF, ``appendfsync always``, temp dir, free port; never the shared Redis)
and ``--routers`` ``intelbus router`` subprocesses. While a publisher sends ``realistic_mix(count, seed)``
partner by partner in paced chunks (over about ``--publish-seconds``), a chaos task SIGKILLs a random
router at random moments (a replacement starts at once, under a new consumer name) and SIGKILLs
redis-server, restarting it on the same port and dir (it reloads its AOF). The publisher retries failed
chunks whole, so resent entries must come back as ``duplicate`` decisions.

When everything is decided and no ingress entry is pending, it checks and prints: every submission has
exactly one routed/quarantined decision (``lost``, ``duplicated``), every extra ``duplicate`` decision is
explained by a resent ingress entry (each ingress entry has exactly one decision), and every delivery has
exactly one feed entry (per feed stream, and per decision id). Exit code 0 only if all of that holds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chaos_fleet import Fleet, say  # noqa: E402
from chaos_oracle import KEYS, PRIMARY, Report, backlog, decoded, verify  # noqa: E402

from bus.errors import TransportError  # noqa: E402
from bus.samples import realistic_mix  # noqa: E402
from bus.servers import RedisProc  # noqa: E402
from producers.client import PartnerClient  # noqa: E402


@dataclass
class Chaos:
    server: RedisProc
    fleet: Fleet
    rng: random.Random
    crashes: int = 0
    redis_up: bool = True
    events: list[str] = field(default_factory=list)

    def schedule(self, kills: int, crashes: int, window: float) -> list[tuple[float, str]]:
        """Spread the events over the window: one per equal slice, at a random point inside it."""
        kinds = ["kill"] * kills + ["crash"] * crashes
        self.rng.shuffle(kinds)
        if not kinds:
            return []
        width = 0.8 * window / len(kinds)
        return [(0.1 * window + i * width + self.rng.uniform(0.15, 0.85) * width, kind)
                for i, kind in enumerate(kinds)]

    async def run(self, plan: list[tuple[float, str]], t0: float) -> None:
        for at, kind in plan:
            await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
            began = time.monotonic() - t0
            note = await self.fleet.kill_random(self.rng) if kind == "kill" else await self.crash_redis()
            self.events.append(f"t={began:.1f} s {note}")
            say(f"  * t={began:.1f} s {note}")

    async def crash_redis(self) -> str:
        self.server.kill9()
        self.redis_up = False
        self.crashes += 1
        down = self.rng.uniform(0.5, 2.0)
        await asyncio.sleep(down)
        started = time.monotonic()
        await asyncio.to_thread(self.server.start, 120.0)
        self.redis_up = True
        loaded = time.monotonic() - started
        return f"SIGKILLed redis-server; down {down:.1f} s, restarted (ready {loaded:.1f} s after start, AOF reloaded)"

    async def supervise(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.redis_up:
                self.fleet.revive()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)


@dataclass
class Publisher:
    url: str
    payloads: list[tuple[str, bytes]]  # (partner, payload) in mix order
    chunk: int
    seconds: float
    published: int = 0
    resends: int = 0
    failures: list[str] = field(default_factory=list)

    async def run(self, t0: float) -> None:
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=2.0, socket_timeout=10.0)
        clients: dict[str, PartnerClient] = {}
        try:
            for start in range(0, len(self.payloads), self.chunk):
                due = t0 + self.seconds * start / len(self.payloads)
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                groups: dict[str, list[bytes]] = defaultdict(list)
                for partner, payload in self.payloads[start:start + self.chunk]:
                    groups[partner].append(payload)
                for partner, group in groups.items():
                    partner_client = clients.setdefault(partner, PartnerClient(client, partner, base_delay=0.1))
                    await self._send(partner_client, group)
                    self.published += len(group)
        finally:
            await client.aclose()

    async def _send(self, partner_client: PartnerClient, group: list[bytes], give_up: float = 120.0) -> None:
        """PartnerClient retries a failed chunk 3 times; past that, back off and resend it whole again."""
        deadline = time.monotonic() + give_up
        delay = 0.25
        while True:
            try:
                await partner_client.send_prepared(group, chunk=len(group))
                return
            except TransportError as exc:
                self.resends += 1
                if time.monotonic() > deadline:
                    self.failures.append(f"{partner_client.stream}: gave up on {len(group)} submissions: {exc}")
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)


async def progress(server: RedisProc, publisher: Publisher, chaos: Chaos, t0: float, stop: asyncio.Event,
                   every: float = 3.0) -> None:
    client = aioredis.Redis.from_url(server.url, socket_connect_timeout=1.0, socket_timeout=2.0)
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
            decided: int | str = "? (redis down)"
            for _ in range(2):  # the first call after a Redis restart may find its connection dead
                try:
                    decided = await client.xlen(KEYS.decisions)
                    break
                except (redis.RedisError, OSError):
                    continue
            say(f"  t={time.monotonic() - t0:6.1f} s  published {publisher.published}  decided {decided}  "
                f"router kills {chaos.fleet.kills}  redis crashes {chaos.crashes}")
    finally:
        await client.aclose()


async def wait_settled(server: RedisProc, chaos: Chaos, ids: set[str], timeout: float, t0: float) -> bool:
    """Until every id has a routed/quarantined decision and nothing is pending or unread; or quiet for 15 s
    with nothing left to route (then something was lost); or the timeout."""
    client = server.client(30.0)
    decided: set[str] = set()
    last = "-"
    deadline = time.monotonic() + timeout
    quiet_since = None
    shown = time.monotonic()
    try:
        while time.monotonic() < deadline:
            chaos.fleet.revive()
            for entry_id, fields in client.xrange(KEYS.decisions, min=last, count=10_000):
                record = orjson.loads(fields[b"decision"])
                if record["status"] in PRIMARY and record["submission_id"]:
                    decided.add(record["submission_id"])
                last = "(" + decoded(entry_id)
            left = backlog(client)
            if not left and decided >= ids:
                say(f"  t={time.monotonic() - t0:6.1f} s  settled: all {len(ids)} decided, nothing pending")
                return True
            if left and time.monotonic() - shown > 10:
                shown = time.monotonic()
                say(f"  waiting: {len(ids - decided)} undecided; left (pending, undelivered): {left}")
            quiet_since = (quiet_since or time.monotonic()) if not left else None
            if quiet_since is not None and time.monotonic() - quiet_since > 15:
                say(f"  nothing pending for 15 s but {len(ids - decided)} submissions undecided")
                return False
            await asyncio.sleep(1.0)
    finally:
        client.close()
    say(f"  timed out after {timeout:.0f} s waiting for decisions")
    return False


def print_report(report: Report, publisher: Publisher, chaos: Chaos, elapsed: float) -> None:
    statuses = ", ".join(f"{status} {n}" for status, n in sorted(report.statuses.items()))
    resent = report.ingress_entries - report.published_ids
    say("")
    say(f"submissions published {report.published_ids} (unique submission ids; {report.ingress_entries} ingress "
        f"entries, {resent} of them resent; {publisher.resends} chunk resends after transport errors)")
    say(f"decisions {report.decisions} ({statuses})")
    say(f"lost {len(report.lost)}")
    say(f"duplicated {len(report.duplicated)}")
    say(f"extra duplicate decisions {report.statuses['duplicate']} (resent ingress entries: {resent})")
    say(f"ingress entries without a decision {len(report.entries_undecided)}, "
        f"with more than one {len(report.entries_decided_twice)}")
    say(f"deliveries expected {report.deliveries}, feed entries found {report.feed_entries} "
        f"(feed streams differing: {len(report.feed_mismatch)}; decisions whose feed entries differ: "
        f"{report.feed_per_decision_mismatch})")
    fleet = chaos.fleet
    say(f"router kills {fleet.kills}, redis crashes {chaos.crashes}; routers that exited by themselves: "
        f"{len(fleet.crashed_running)} while running, {len(fleet.failed_start)} during start-up (restarted)")
    for event in chaos.events:
        say(f"  {event}")
    say(f"elapsed {elapsed:.1f} s")
    for label, items in (("lost", report.lost), ("duplicated", report.duplicated),
                         ("undecided entry", report.entries_undecided),
                         ("entry decided twice", report.entries_decided_twice)):
        for item in items[:10]:
            say(f"  {label}: {item}")
    for key, (want, got) in sorted(report.feed_mismatch.items()):
        say(f"  feed {key}: expected {want}, found {got}")
    say("PASS" if report.ok else "FAIL")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=20_000, help="submissions to publish (default 20000)")
    parser.add_argument("--routers", type=int, default=2, help="router processes kept running (default 2)")
    parser.add_argument("--router-kills", type=int, default=3, help="router SIGKILLs (default 3)")
    parser.add_argument("--redis-crashes", type=int, default=1, help="redis-server SIGKILL+restart (default 1)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the mix and of the chaos (default 7)")
    parser.add_argument("--claim-idle-ms", type=int, default=1000, help="router claim idle time (default 1000)")
    parser.add_argument("--publish-seconds", type=float, default=None,
                        help="pace publishing over about this long; chaos happens in this window "
                             "(default: count/800, at least 6)")
    parser.add_argument("--chunk", type=int, default=100, help="submissions per publish round (default 100)")
    parser.add_argument("--timeout", type=float, default=180.0, help="wait for all decisions (default 180 s)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (Redis data, router logs)")
    args = parser.parse_args(argv)
    if args.publish_seconds is None:
        args.publish_seconds = max(6.0, args.count / 800)
    return args


def prepare(count: int, seed: int) -> tuple[list[tuple[str, bytes]], set[str]]:
    """Validate everything up front (as ``publish_many`` would), so chunks can be resent as they are."""
    payloads, ids = [], set()
    for sub in realistic_mix(count, seed):
        partner = sub["partner"]
        payloads.append((partner, PartnerClient(None, partner).prepare(sub)))  # type: ignore[arg-type]
        ids.add(sub["submission_id"])
    return payloads, ids


async def run(args: argparse.Namespace, work: Path) -> bool:
    payloads, ids = prepare(args.count, args.seed)
    say(f"chaos: {args.count} submissions ({len(ids)} unique ids) over ~{args.publish_seconds:.0f} s, "
        f"{args.routers} routers, {args.router_kills} router kills, {args.redis_crashes} redis crashes; "
        f"work dir {work}")
    server = RedisProc(work / "redis")
    fleet = Fleet("", work, args.claim_idle_ms, args.routers)
    chaos = Chaos(server, fleet, random.Random(args.seed + 1))
    publisher = Publisher("", payloads, args.chunk, args.publish_seconds)
    t0 = time.monotonic()
    try:
        server.start(120.0)
        fleet.url = publisher.url = server.url
        say(f"redis-server {server.binary} on port {server.port} (AOF, appendfsync always)")
        fleet.start_all()
        stop = asyncio.Event()
        background = [asyncio.create_task(chaos.supervise(stop)),
                      asyncio.create_task(progress(server, publisher, chaos, t0, stop))]
        try:
            plan = chaos.schedule(args.router_kills, args.redis_crashes, args.publish_seconds)
            await asyncio.gather(publisher.run(t0), chaos.run(plan, t0))
            say(f"  t={time.monotonic() - t0:6.1f} s  published all {publisher.published}; chaos over")
            await wait_settled(server, chaos, ids, args.timeout, t0)
        finally:
            stop.set()
            await asyncio.gather(*background, return_exceptions=True)
        fleet.stop_all()
        client = server.client(30.0)
        try:
            report = verify(client, ids)
        finally:
            client.close()
        print_report(report, publisher, chaos, time.monotonic() - t0)
        if not report.ok:
            say(f"router logs and Redis data kept in {work}")
        return report.ok
    finally:
        fleet.stop_all()
        server.stop()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="  ! %(name)s: %(message)s")
    work = Path(tempfile.mkdtemp(prefix="intelbus-chaos-"))
    ok = False
    try:
        ok = asyncio.run(run(args, work))
    finally:
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
