"""A threat to life under a 100,000-entry backlog (issue 11): latency from the partner's ingress entry to the
control room's immediate feed, with the router started on the backlog and with it already running.

Run: .venv/bin/python bench/urgent.py [--backlog 100000] [--shots 200] [--every-ms 50] [--layouts ...]

A private ``redis-server`` with ``appendonly yes, appendfsync always`` (every write on disk before it is
answered, the embedded default) and the real router as a separate process (``python -m bus.cli router``,
default settings). The routine backlog is ``bus.samples.realistic_mix`` with no threat to life in it and
about half of it stating ``"threat_to_life": false`` (what a partner system that writes every field sends).
Layouts:

* ``spread``: the backlog over six partners, the shots from a seventh (force-northumbria);
* ``other``: the backlog all on hmrc, the shots from force-northumbria;
* ``own``: the backlog all on force-northumbria, the shots' own partner;

each in two modes: ``cold`` (the backlog queued, then the router started; the first shot as soon as the
router reads) and ``warm`` (the router running and idle, then the backlog queued at once and the shots
begun). Shots are threat-to-life intelligence reports 50 ms apart from this process (a synchronous client,
as a partner system writes). Latency is the difference of the two entry ids' millisecond parts: the
ingress XADD and the ``northumbria.control:immediate`` XADD, both stamped by the Redis clock. Also shown:
the slowest shot XADD as the partner saw it (what the bus's scripts make other clients wait), and how much
of the backlog was still undecided when the last shot landed (the shots overtook it).
Target: p99 < 50 ms and max < 100 ms in every layout and mode.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from router_proc import DurableRedis, start_router, wait_reading

from bus.keys import Keys
from bus.samples import realistic_mix
from bus.servers import stop_process

KEYS = Keys()
SHOT_PARTNER = "force-northumbria"
IMMEDIATE = KEYS.feed("northumbria.control", "immediate")
LAYOUTS = ("spread", "other", "own")
MODES = ("cold", "warm")


def routine_backlog(count: int, layout: str) -> list[tuple[str, bytes]]:
    """(ingress stream, payload): no threat to life, every other entry saying ``"threat_to_life": false``."""
    out = []
    for index, sub in enumerate(realistic_mix(count, seed=3)):
        if layout != "spread":  # one partner's backlog: intelligence reports, as that partner
            sub = _intel_like(sub)
            sub["partner"] = "hmrc" if layout == "other" else SHOT_PARTNER
            sub["area"] = "Sunderland"
            sub["submission_id"] = str(uuid.UUID(int=index + 1, version=4))
        sub.pop("threat_to_life", None)
        if index % 2 == 0:
            sub["threat_to_life"] = False
        out.append((KEYS.ingress(sub["partner"]), orjson.dumps(sub)))
    return out


def _intel_like(sub: dict[str, Any]) -> dict[str, Any]:
    keep = ("schema_version", "submission_id", "submitted_at", "classification", "area", "nominals")
    return {k: sub[k] for k in keep} | {
        "kind": "intelligence_report", "themes": ["drugs", "county_lines"], "source_type": "partner_record",
        "grading": {"scheme": "3x5x2", "source": "2", "intelligence": "B", "handling": "P"},
        "narrative": "Frequent visitors late at night, a courier seen at the property."}


def shot(number: int) -> bytes:
    return orjson.dumps({
        "schema_version": 1, "submission_id": str(uuid.UUID(int=(1 << 100) + number, version=4)),
        "partner": SHOT_PARTNER, "kind": "intelligence_report", "submitted_at": "2026-12-17T09:00:00Z",
        "classification": "OFFICIAL-SENSITIVE", "area": "Sunderland", "threat_to_life": True,
        "themes": ["firearms"], "source_type": "partner_record",
        "grading": {"scheme": "3x5x2", "source": "1", "intelligence": "A", "handling": "P"},
        "nominals": [{"full_name": "Sam Example", "role": "victim"}],
        "narrative": "A named person is to be shot tonight at an address in Sunderland."})


def ms_of(entry_id: bytes | str) -> int:
    text = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(text.split("-", 1)[0])


@dataclass
class Result:
    layout: str
    mode: str
    latencies: list[int]  # ms, one per shot
    slowest_xadd_ms: float
    undecided_at_last_shot: int

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


class Bench(DurableRedis):
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        super().__init__("intelbus-urgent-")

    def load(self, backlog: list[tuple[str, bytes]]) -> None:
        for start in range(0, len(backlog), 2000):
            pipe = self.client.pipeline(transaction=False)
            for stream, payload in backlog[start:start + 2000]:
                pipe.xadd(stream, {"payload": payload})
            pipe.execute()

    def router(self) -> subprocess.Popen[bytes]:
        self.log = self.dir / f"router-{time.monotonic_ns()}.log"
        proc = start_router(self.server.url, self.log, "bench-urgent")
        wait_reading(proc, self.log)
        return proc

    def run(self, layout: str, mode: str, backlog: list[tuple[str, bytes]]) -> Result:
        self.client.flushall()
        if mode == "cold":
            self.load(backlog)
            router = self.router()
        else:
            router = self.router()
            self.load(backlog)
        try:
            return self.fire(layout, mode, len(backlog))
        finally:
            stop_process(router)
            if self.args.keep_logs:
                shutil.copy(self.log, Path(self.args.keep_logs) / f"router-{layout}-{mode}.log")

    def fire(self, layout: str, mode: str, backlog: int) -> Result:
        sent: dict[str, int] = {}
        slowest = 0.0
        start = time.perf_counter()
        for number in range(self.args.shots):
            pause = start + number * self.args.every_ms / 1000 - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            payload = shot(number)
            began = time.perf_counter()
            entry_id = self.client.xadd(KEYS.ingress(SHOT_PARTNER), {"payload": payload})
            slowest = max(slowest, time.perf_counter() - began)
            sent[orjson.loads(payload)["submission_id"]] = ms_of(entry_id)
        landed: dict[str, int] = {}
        deadline = time.monotonic() + 120
        while len(landed) < len(sent) and time.monotonic() < deadline:
            for entry_id, fields in self.client.xrange(IMMEDIATE):
                landed[fields[b"submission_id"].decode()] = ms_of(entry_id)
            time.sleep(0.05)
        undecided = backlog + len(sent) - int(self.client.xlen(KEYS.decisions))
        missing = set(sent) - set(landed)
        if missing:
            raise RuntimeError(f"{layout}/{mode}: {len(missing)} shots never reached {IMMEDIATE}")
        return Result(layout, mode, [landed[sid] - sent[sid] for sid in sent], slowest * 1000, undecided)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backlog", type=int, default=100_000)
    parser.add_argument("--shots", type=int, default=200)
    parser.add_argument("--every-ms", type=int, default=50)
    parser.add_argument("--layouts", nargs="*", default=list(LAYOUTS), choices=LAYOUTS)
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=MODES)
    parser.add_argument("--keep-logs", metavar="DIR", help="copy each run's router log here")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    backlogs = {layout: routine_backlog(args.backlog, layout) for layout in args.layouts}
    bench = Bench(args)
    results = []
    try:
        for layout in args.layouts:
            for mode in args.modes:
                results.append(bench.run(layout, mode, backlogs[layout]))
                print(f"  done {layout}/{mode}", file=sys.stderr, flush=True)
    finally:
        bench.close()
    print(f"server: private redis-server {bench.version}, appendonly yes, appendfsync always; router: a separate "
          f"process, default settings; {os.cpu_count()} CPUs, load average {load:.2f} at start")
    print(f"{args.backlog} routine submissions queued (half saying threat_to_life false); {args.shots} "
          f"threat-to-life shots {args.every_ms} ms apart; latency = immediate-feed id - ingress id (ms)")
    print()
    print(f"{'layout':<8} {'mode':<5} {'p50':>5} {'p90':>5} {'p99':>5} {'max':>5} {'mean':>6} "
          f"{'slowest XADD ms':>15} {'undecided at end':>16}  target")
    for r in results:
        met = r.pct(0.99) < 50 and max(r.latencies) < 100
        print(f"{r.layout:<8} {r.mode:<5} {r.pct(0.5):>5.0f} {r.pct(0.9):>5.0f} {r.pct(0.99):>5.0f} "
              f"{max(r.latencies):>5} {statistics.mean(r.latencies):>6.1f} {r.slowest_xadd_ms:>15.1f} "
              f"{r.undecided_at_last_shot:>16}  {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
