"""Regions on a Redis Cluster (issue 14): aggregate routing rate of 1, 2 and 3 regions on a private 3-master,
3-replica cluster against one region on a single Redis, and what ``WAIT`` for one replica costs.

Run: .venv/bin/python bench/cluster.py [--count 10000] [--repeat 3] [--publishes 1000]

One run starts a private cluster (``bus.local_cluster``, six redis-server processes) and a private single
redis-server, all ``appendonly no`` (a rate bench: CPU and round trips, not fsync), and for each layout, in
turn (round-robin over ``--repeat`` rounds, medians reported):

* queues ``--count`` submissions of ``bus.samples.realistic_mix`` on each region's ingress streams (the
  North East ruleset's partners under each region's own tag, ``intel:{<region>}:...``; every region routes
  with that ruleset, so the regions are like for like), then starts one router process per region
  (``python -m bus.cli router``, ``INTELBUS_REGION``) and waits until every region has decided everything;
* the rate is decisions / (newest decision id - oldest decision id), both Redis's clock: the routers' steady
  rate, without process start and imports (the same in every layout) in the figure;
* regions ``ne`` (slot 5158), ``nw`` (9813) and ``wy`` (15984) are served by three different masters.

Layouts: single Redis, 1 region; cluster, 1, 2 and 3 regions; cluster, 1 region with ``INTELBUS_REPLICAS=1``
(every commit waits for its replica). Then a partner's publish latency, one submission per call
(``--publishes`` calls): single Redis, cluster, and cluster with ``WAIT`` for one replica.

This machine has 2 cores: a router process takes about one, Redis a third to a half, so 2 and 3 regions
share 2 cores between 2-3 routers and 6 nodes; the figure shows what one host gives, not what a cluster of
hosts would. "cores busy" is the CPU the routers and every Redis node used while routing, per wall second
(from /proc and INFO cpu): at 2.0 the host is the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import redis
from router_proc import cpu_seconds, start_router, wait_reading

from bus.keys import ROUTER_GROUP, Keys
from bus.local_cluster import LocalCluster
from bus.policy import load_policy
from bus.replicas import NO_WAIT, Durability
from bus.samples import realistic_mix
from bus.servers import RedisProc, stop_process
from bus.service import ingress_streams
from bus.settings import Settings
from bus.transport import client as redis_client
from producers import PartnerClient

REGIONS = ("ne", "nw", "wy")


@dataclass
class Layout:
    name: str
    regions: tuple[str, ...]
    on_cluster: bool
    replicas: int = 0
    rates: list[float] = field(default_factory=list)
    cores: list[float] = field(default_factory=list)  # CPU seconds (routers + every Redis node) per wall second


class Bench:
    def __init__(self, count: int) -> None:
        self.count = count
        self.folder = Path(tempfile.mkdtemp(prefix="intelbus-bench-cluster-"))
        self.cluster = LocalCluster(self.folder / "cluster", durable=False).start()
        self.single = RedisProc(self.folder / "single", durable=False, extra=("--loglevel", "warning")).start()
        ruleset, _ = load_policy(None, None)
        self.ruleset = ruleset
        self.payloads = [orjson.dumps(sub) for sub in realistic_mix(count)]
        self.partners = [orjson.loads(raw)["partner"] for raw in self.payloads]

    def node_for(self, region: str, on_cluster: bool) -> redis.Redis:
        if not on_cluster:
            return self.single.client(timeout=60.0)
        slot = Keys.of("intel", region).slot
        assert slot is not None
        return self.cluster.master_of(slot).client(timeout=60.0)

    def url(self, on_cluster: bool) -> str:
        return self.cluster.url if on_cluster else self.single.url

    def prepare(self, layout: Layout) -> None:
        """Flush every node, queue ``count`` submissions per region, make the router groups at 0."""
        for node in [self.single, *self.cluster.running()]:
            with node.client(timeout=60.0) as client:
                if client.info("replication")["role"] == "master":
                    client.flushall()
        for region in layout.regions:
            keys = Keys.of("intel", region)
            with self.node_for(region, layout.on_cluster) as client:
                for start in range(0, self.count, 1000):
                    pipe = client.pipeline(transaction=False)
                    for raw, partner in zip(self.payloads[start:start + 1000], self.partners[start:start + 1000],
                                            strict=True):
                        pipe.xadd(keys.ingress(partner), {"payload": raw})
                    pipe.execute()
                for stream in ingress_streams(self.ruleset, keys):
                    client.xgroup_create(stream, ROUTER_GROUP, id="0", mkstream=True)

    def redis_cpu(self) -> float:
        total = 0.0
        for node in [self.single, *self.cluster.running()]:
            with node.client(timeout=60.0) as client:
                info = client.info("cpu")
                total += float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return total

    def route(self, layout: Layout, round_no: int) -> float:
        """Start one router per region; when all is decided, the aggregate rate (decisions per second); the
        CPU the routers and the nodes used meanwhile, in cores, into ``layout.cores``."""
        self.prepare(layout)
        logs = [self.folder / f"{layout.name.replace(' ', '_')}-{round_no}-{region}.log" for region in layout.regions]
        routers = [start_router(self.url(layout.on_cluster), log, f"bench-{region}", INTELBUS_REGION=region,
                                INTELBUS_REPLICAS=str(layout.replicas))
                   for region, log in zip(layout.regions, logs, strict=True)]
        try:
            for router, log in zip(routers, logs, strict=True):
                wait_reading(router, log)
            started, cpu = time.perf_counter(), sum(map(cpu_seconds, routers)) + self.redis_cpu()
            rate = self._rate_when_done(layout)
            used = sum(map(cpu_seconds, routers)) + self.redis_cpu() - cpu
            layout.cores.append(used / (time.perf_counter() - started))
            return rate
        finally:
            for router in routers:
                stop_process(router)

    def _rate_when_done(self, layout: Layout) -> float:
        clients = {region: self.node_for(region, layout.on_cluster) for region in layout.regions}
        try:
            while any(c.xlen(Keys.of("intel", r).decisions) < self.count for r, c in clients.items()):
                time.sleep(0.01)
            first = min(_ms(c.xrange(Keys.of("intel", r).decisions, count=1)) for r, c in clients.items())
            last = max(_ms(c.xrevrange(Keys.of("intel", r).decisions, count=1)) for r, c in clients.items())
        finally:
            for client in clients.values():
                client.close()
        return self.count * len(layout.regions) / max((last - first) / 1000, 1e-3)

    def stop(self) -> None:
        self.cluster.stop()
        self.single.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _ms(rows: object) -> int:
    assert isinstance(rows, list) and rows
    return int(rows[0][0].split(b"-")[0])


async def publish_latency(url: str, calls: int, durability: Durability) -> list[float]:
    """``calls`` publishes of one submission each, as one partner; each call's seconds."""
    settings = Settings(redis_url=url, region="ne")
    client = redis_client(settings.cluster_url() or url)
    partner = PartnerClient(client, "ukfiu", settings.keys(), durability=durability)
    sar = next(sub for sub in realistic_mix(200) if sub["partner"] == "ukfiu")
    times = []
    try:
        for _ in range(calls):
            started = time.perf_counter()
            await partner.publish({**sar, "submission_id": str(uuid.uuid4())})
            times.append(time.perf_counter() - started)
    finally:
        await client.aclose()
    if partner.degraded:
        raise RuntimeError(f"{partner.degraded} publishes were acknowledged on fewer replicas than asked")
    return times


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000, help="submissions queued per region")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--publishes", type=int, default=1000, help="single-submission publishes timed")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    load = os.getloadavg()[0]
    layouts = [Layout("single Redis, 1 region", REGIONS[:1], on_cluster=False),
               Layout("cluster, 1 region", REGIONS[:1], on_cluster=True),
               Layout("cluster, 2 regions", REGIONS[:2], on_cluster=True),
               Layout("cluster, 3 regions", REGIONS, on_cluster=True),
               Layout("cluster, 1 region, WAIT 1 replica", REGIONS[:1], on_cluster=True, replicas=1)]
    bench = Bench(args.count)
    latency: dict[str, list[float]] = {}
    try:
        for round_no in range(args.repeat):
            for layout in layouts:
                layout.rates.append(bench.route(layout, round_no))
        publishers: list[tuple[str, Callable[[], list[float]]]] = [
            ("single Redis", lambda: asyncio.run(publish_latency(bench.single.url, args.publishes, NO_WAIT))),
            ("cluster", lambda: asyncio.run(publish_latency(bench.cluster.url, args.publishes, NO_WAIT))),
            ("cluster, WAIT 1 replica",
             lambda: asyncio.run(publish_latency(bench.cluster.url, args.publishes, Durability(1, 1000)))),
        ]
        for name, run in publishers:
            latency[name] = run()
    finally:
        bench.stop()

    version = ".".join(map(str, bench.single.version))
    print(f"{args.count} submissions (realistic_mix) queued per region; private redis-server {version} "
          f"processes, appendonly no; {os.cpu_count()} CPUs, load average {load:.2f} at start"
          f"{' (OTHER WORK WAS RUNNING: numbers are noisy)' if load > 0.7 else ''}; median of {args.repeat}")
    baseline = statistics.median(layouts[0].rates)
    print(f"\n{'layout':<36} {'subs/s':>8} {'vs single Redis':>16} {'cores busy':>11}   runs")
    for layout in layouts:
        rate = statistics.median(layout.rates)
        print(f"{layout.name:<36} {rate:>8.0f} {rate / baseline:>15.2f}x {statistics.median(layout.cores):>11.2f}   "
              + ", ".join(f"{r:.0f}" for r in layout.rates))
    wait_cost = statistics.median(layouts[4].rates) / statistics.median(layouts[1].rates)
    print(f"WAIT for one replica on every commit: {wait_cost:.2f}x the cluster's 1-region rate")
    base = statistics.median(latency["single Redis"])
    print(f"\npartner publish, one submission a call, {args.publishes} calls:")
    for name, times in latency.items():
        print(f"  {name:<26} p50 {statistics.median(times) * 1000:6.3f} ms  p99 {quantile(times, 0.99) * 1000:6.3f} ms"
              f"  ({statistics.median(times) / base:.2f}x single Redis p50)")


if __name__ == "__main__":
    main()
