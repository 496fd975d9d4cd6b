"""A force's 20,000-SAR backlog (issue 11, DOMAIN.md's inspection): router start to last decision.

Run: .venv/bin/python bench/sar_backlog.py [--count 20000] [--repeat 3] [--routers 1 2]

A private ``redis-server`` with ``appendonly yes, appendfsync always`` (the embedded default). Each run:
flush, queue ``bus.samples.sar_backlog(count)`` on ``intel:ingress:ukfiu``, start ``--routers`` router
processes at once (``python -m bus.cli router``, default settings, their own consumer names: they share
the group), and time from just before the first process is started to the newest decision's entry id.
Both ends are Redis's clock (``TIME``, then the decision XADD's id); process start, imports and policy
loading are inside the figure, as for an operator who starts a router on a backlog. Also shown: start to
first decision, the routers' CPU and Redis's, and what the backlog held: OCG links (strong identifiers
matching the register) and possible matches (a name only). Those counts are checked against the pure
decision core run on the same payloads in this process, so a fast run that decided differently fails.

Target: median of ``--repeat`` runs with one router < 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from router_proc import DurableRedis, cpu_seconds, start_router, wait_reading

from bus.keys import Keys
from bus.policy import decide_payload, load_policy
from bus.samples import sar_backlog
from bus.servers import stop_process

KEYS = Keys()
STREAM = KEYS.ingress("ukfiu")
TARGET_SECONDS = 1.5


@dataclass(frozen=True)
class Found:
    linked: int  # decisions with at least one OCG link
    possible: int  # decisions with at least one possible match
    routed: int
    quarantined: int


def expected(payloads: list[bytes]) -> Found:
    """What the decision core makes of the backlog, decided here without Redis."""
    ruleset, reference = load_policy(None, None)
    now = datetime.now(UTC)
    decisions = [decide_payload(raw, ruleset, reference, now, ingress_owner="ukfiu")[0] for raw in payloads]
    return Found(sum(bool(d.ocg_links) for d in decisions), sum(bool(d.possible_matches) for d in decisions),
                 sum(d.status == "routed" for d in decisions), sum(d.status == "quarantined" for d in decisions))


@dataclass
class Run:
    routers: int
    seconds: float  # start to last decision
    first: float  # start to first decision
    router_cpu: float
    redis_cpu: float
    found: Found


class Bench(DurableRedis):
    def __init__(self, payloads: list[bytes]) -> None:
        self.payloads = payloads
        super().__init__("intelbus-sar-")

    def redis_ms(self) -> float:
        seconds, micros = self.client.time()
        return seconds * 1000 + micros / 1000

    def redis_cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def run(self, routers: int) -> Run:
        self.client.flushall()
        for start in range(0, len(self.payloads), 2000):
            pipe = self.client.pipeline(transaction=False)
            for payload in self.payloads[start:start + 2000]:
                pipe.xadd(STREAM, {"payload": payload})
            pipe.execute()
        cpu, began = self.redis_cpu(), self.redis_ms()
        logs = [self.dir / f"router-{n}-{time.monotonic_ns()}.log" for n in range(routers)]
        procs = [start_router(self.server.url, log, f"bench-sar-{n}") for n, log in enumerate(logs)]
        try:
            for proc, log in zip(procs, logs, strict=True):
                wait_reading(proc, log)
            while self.client.xlen(KEYS.decisions) < len(self.payloads):
                if any(proc.poll() is not None for proc in procs):
                    raise RuntimeError("a router exited:\n" + "\n".join(log.read_text() for log in logs))
                time.sleep(0.01)
            router_cpu = sum(cpu_seconds(proc) for proc in procs)
        finally:
            for proc in procs:
                stop_process(proc)
        redis_cpu = self.redis_cpu() - cpu
        (first_id, _), = self.client.xrange(KEYS.decisions, count=1)
        (last_id, _), = self.client.xrevrange(KEYS.decisions, count=1)
        return Run(routers, (_ms(last_id) - began) / 1000, (_ms(first_id) - began) / 1000, router_cpu, redis_cpu,
                   self.found())

    def found(self) -> Found:
        linked = possible = routed = quarantined = 0
        for _, fields in self.client.xrange(KEYS.decisions):
            record = orjson.loads(fields[b"decision"])
            linked += bool(record["ocg_links"])
            possible += bool(record["possible_matches"])
            routed += record["status"] == "routed"
            quarantined += record["status"] == "quarantined"
        return Found(linked, possible, routed, quarantined)


def _ms(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--routers", type=int, nargs="*", default=[1, 2], help="router processes per run")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    payloads = [orjson.dumps(sub) for sub in sar_backlog(args.count, datetime.now(UTC))]
    want = expected(payloads)
    bench = Bench(payloads)
    runs: dict[int, list[Run]] = {n: [] for n in args.routers}
    try:
        for repeat in range(args.repeat):  # round-robin, so a slow spell on the machine hits every setting
            for routers in args.routers:
                run = bench.run(routers)
                if run.found != want:
                    raise SystemExit(f"{routers} router(s) decided differently from the core: {run.found} != {want}")
                runs[routers].append(run)
                print(f"  run {repeat + 1}, {routers} router(s): {run.seconds:.2f} s", file=sys.stderr, flush=True)
    finally:
        bench.close()
    print(f"server: private redis-server {bench.version}, appendonly yes, appendfsync always; routers: separate "
          f"processes, default settings; {os.cpu_count()} CPUs, load average {load:.2f} at start"
          f"{' (OTHER WORK WAS RUNNING: numbers are noisy)' if load > 0.7 else ''}")
    print(f"{args.count} SARs queued on {STREAM}: {want.linked} with OCG links, {want.possible} with possible "
          f"matches, {want.routed} routed, {want.quarantined} quarantined (every run decided exactly these)")
    print()
    print(f"{'routers':>7} {'start to last decision s (min/median/max)':>42} {'to first s':>10} "
          f"{'router CPU us/SAR':>17} {'redis CPU us/SAR':>16} {'vs 1 router':>11}")
    base = statistics.median(run.seconds for run in runs[args.routers[0]])
    for routers, done in runs.items():
        seconds = sorted(run.seconds for run in done)
        median = statistics.median(seconds)
        print(f"{routers:>7} {seconds[0]:>18.2f} / {median:.2f} / {seconds[-1]:.2f}{'':>11} "
              f"{statistics.median(run.first for run in done):>10.2f} "
              f"{statistics.median(run.router_cpu for run in done) / args.count * 1e6:>17.0f} "
              f"{statistics.median(run.redis_cpu for run in done) / args.count * 1e6:>16.0f} "
              f"{base / median:>10.2f}x")
    if 1 in runs:
        median = statistics.median(run.seconds for run in runs[1])
        print(f"\none router: median {median:.2f} s (target < {TARGET_SECONDS} s: "
              f"{'met' if median < TARGET_SECONDS else 'NOT met'})")


if __name__ == "__main__":
    main()
