"""Fuzz at scale: 100,000 partner entries, half of them hostile (``bus.hostile``), through a real router
process on a private redis-server; every entry checked against its offline decision.

Run: .venv/bin/python bench/fuzz.py [--count 100000] [--seed 1] [--huge 100] [--baseline 20000] [--aof]

Two phases on one server, the same router process:
* baseline: ``--baseline`` valid submissions (``realistic_mix``), routed; timed, while another client PINGs;
* hostile: ``--count`` entries, about half hostile in every category, ``--huge`` of the oversized ones
  5 MB (the rest 300 KB), plus a MAXLEN trim and an extreme entry id.

Reported: one decision per entry and agreement with the offline oracle (problems listed), 0 pending,
quarantine kept whole, trims audited; the router's peak RSS; the longest PING another client waited and
the longest server-side call of the bus (SLOWLOG); throughput of each phase and the ratio between them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import redis

from bus.batch import Engine
from bus.hostile import Write, check_bus, hostile_entries, publish
from bus.keys import ROUTER_GROUP, Keys
from bus.policy import load_policy
from bus.samples import realistic_mix
from bus.servers import RedisProc
from bus.service import ingress_streams

ROOT = Path(__file__).resolve().parent.parent
KEYS = Keys()
HUGE = 5 * 1024 * 1024


class Pinger(threading.Thread):
    """Another client: PING in a loop, recording how long each waited."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis(port=port)
        self.waits: list[float] = []
        self.running = True

    def run(self) -> None:
        while self.running:
            started = time.perf_counter()
            self.client.ping()
            self.waits.append(time.perf_counter() - started)
            time.sleep(0.001)

    def take(self) -> list[float]:
        waits, self.waits = self.waits, []
        return waits


def wait_decided(client: redis.Redis, expected: int, streams: list[str], router: subprocess.Popen[bytes]) -> None:
    last, stalled = -1, time.monotonic()
    while True:
        decided = client.xlen(KEYS.decisions) if client.exists(KEYS.decisions) else 0
        pending = sum(client.xpending(s, ROUTER_GROUP)["pending"] for s in streams)
        if decided >= expected and pending == 0:
            return
        if router.poll() is not None:
            raise SystemExit(f"the router died (exit {router.returncode}) after {decided} decisions")
        if decided != last:
            last, stalled = decided, time.monotonic()
        elif time.monotonic() - stalled > 120:
            raise SystemExit(f"no progress for 120 s at {decided} of {expected} decisions ({pending} pending)")
        time.sleep(0.2)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def longest_calls(client: redis.Redis) -> list[tuple[float, str]]:
    calls = [(entry["duration"] / 1000, entry["command"].split()[1].decode(errors="replace"))
             for entry in client.slowlog_get(100_000)
             if entry["command"].split()[0].upper() in (b"FCALL", b"EVALSHA")]
    return sorted(calls, reverse=True)[:5]


def make_huge(writes: list[Write], count: int) -> list[Write]:
    out, made = [], 0
    for write in writes:
        if write.category == "oversized" and made < count:
            write = Write(write.partner, (b"payload", b'{"pad": "' + b"x" * HUGE + b'"}'), category="oversized-5MB")
            made += 1
        out.append(write)
    return out


def phase(name: str, client: redis.Redis, writes: list[Write], pinger: Pinger, router: subprocess.Popen[bytes],
          streams: list[str]) -> tuple[float, float]:
    base = client.xlen(KEYS.decisions) if client.exists(KEYS.decisions) else 0
    trimmed = 46 if any(w.maxlen for w in writes) else 0
    pinger.take()
    started = time.perf_counter()
    publish(client, KEYS, writes, chunk=50)
    wait_decided(client, base + len(writes) - trimmed, streams, router)
    elapsed = time.perf_counter() - started
    waits = pinger.take()
    rate = (len(writes) - trimmed) / elapsed
    p99 = statistics.quantiles(waits, n=100)[98] * 1000 if len(waits) > 100 else float("nan")
    print(f"{name}: {len(writes):,} entries published and decided in {elapsed:.1f} s ({rate:,.0f}/s); "
          f"other client's PING: max {max(waits) * 1000:.1f} ms, p99 {p99:.2f} ms over {len(waits):,} pings")
    return rate, max(waits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--huge", type=int, default=100, help="oversized entries made 5 MB")
    parser.add_argument("--baseline", type=int, default=20_000)
    parser.add_argument("--aof", action="store_true", help="appendfsync always (default: no persistence)")
    args = parser.parse_args()
    ruleset, reference = load_policy(None, None)
    streams = ingress_streams(ruleset, KEYS)
    with tempfile.TemporaryDirectory() as folder:
        server = RedisProc(Path(folder), durable=args.aof, extra=("--slowlog-max-len", "100000")).start()
        client = server.client()
        client.config_set("slowlog-log-slower-than", 1000)
        for stream in streams:
            client.xgroup_create(stream, ROUTER_GROUP, id="0", mkstream=True, entries_read=0)
        env = {k: v for k, v in os.environ.items() if k != "INTELBUS_REGION"} | {  # it watches Keys()
            "REDIS_URL": server.url, "INTELBUS_CONSUMER_NAME": "fuzz-router",
                            "PYTHONUNBUFFERED": "1"}
        log = open(Path(folder) / "router.log", "wb")  # noqa: SIM115 -- open for the router's whole life
        router = subprocess.Popen([sys.executable, "-m", "bus.cli", "router"], cwd=ROOT, env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
        pinger = Pinger(server.port)
        pinger.start()
        try:
            print(f"server: private redis-server {'.'.join(map(str, server.version))}, "
                  f"{'appendfsync always' if args.aof else 'no persistence'}; router pid {router.pid}")
            valid = [Write(s["partner"], (b"payload", orjson.dumps(s))) for s in realistic_mix(args.baseline, seed=99)]
            base_rate, base_ping = phase("baseline (valid only)", client, valid, pinger, router, streams)
            writes = make_huge(hostile_entries(args.count, seed=args.seed), args.huge)
            hostile_rate, hostile_ping = phase("hostile", client, writes, pinger, router, streams)
            rss = peak_rss_mb(router.pid)
            calls = longest_calls(client)
            report = check_bus(client, KEYS, Engine(ruleset, reference, KEYS), streams)
        finally:
            pinger.running = False
            router.terminate()
            router.wait(30)
            server.stop()
        print(f"router: alive throughout, exit {router.returncode}; peak RSS {rss:.0f} MB")
        print(f"checked {report.entries:,} ingress entries: {report.decisions:,} decisions "
              f"({dict(report.statuses)}), trims audited: {report.audited_vanished}, problems: {len(report.problems)}")
        for problem in report.problems:
            print(f"  PROBLEM {problem}")
        print("longest server-side calls of the bus (SLOWLOG, ms): "
              + ", ".join(f"{ms:.1f} {name}" for ms, name in calls) if calls else "no bus call took over 1 ms")
        print(f"ratios, hostile / baseline: throughput {hostile_rate / base_rate:.2f}, "
              f"longest PING {hostile_ping / base_ping:.1f}x")
        if report.problems:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
