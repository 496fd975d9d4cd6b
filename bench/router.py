"""Router throughput on a realistic mix, against two baselines measured in the same run (issue: the router
at >= 60% of a minimal redis-py loop doing the same I/O, and >= 10x a naive FastStream subscriber).

Run: .venv/bin/python bench/router.py [--count 20000] [--naive-count 2000] [--repeat 3]

Starts a private ``redis-server`` on a free local port (``--save '' --appendonly no``: no persistence, so
the numbers are CPU and round trips, not fsync) and stops it at the end. Every measurement starts from a
flushed server holding a pre-loaded backlog of submissions (``realistic_mix``: 1-2 KB, ~1.9 deliveries
each) on the partners' ingress streams, and is timed from the contender's start until all of it is done:

* router: the real router (``bus.service.run_router``), until ``intel:decisions`` holds every decision;
  once with the default settings (batch_size 200), once with batch_size 500, once without audit
  checkpoints, and once with its ``/metrics`` endpoint on and scraped every 0.5 s (30x Prometheus's usual
  15 s; issue 16: at least 97% of the default's rate).
* (a) minimal loop: one redis-py loop, XREADGROUP over all ingress streams (COUNT per stream), then one
  non-transactional pipeline per read with every delivery's XADD, one decision XADD per submission and
  the XACKs; until all are acknowledged. No policy: its writes (the same feed entries, the same decision
  JSON) are computed by the engine before the clock starts.
* (b) naive FastStream: one non-batch subscriber per ingress stream (default parser), whose handler
  ``await broker.publish(...)``-es each precomputed delivery and the decision; FastStream acks after it.
  Slow, so it drains a smaller backlog (``--naive-count``); rates are per second, so ratios still hold.
* (c) synchronous redis-py loop (``redis.Redis``, no asyncio): XREADGROUP over the ingress streams, about
  500 entries in total per read (COUNT 500 split over the streams that still hold entries), ``orjson.loads``
  of each payload, then one MULTI/EXEC pipeline per read with, per entry, exactly two feed XADDs (its first
  two deliveries, padded with a fixed feed when it has fewer; the raw payload and the router's metadata
  fields), its decision XADD (precomputed JSON) and its XACK. No validation, no policy.

Each contender is run ``--repeat`` times (round-robin) and the median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from router_baselines import minimal_loop, naive_faststream, sync_loop, two_feeds
from router_workload import KEYS, PrivateRedis, build_workload

from bus.policy import Reference, Ruleset, load_policy
from bus.service import Router, run_router
from bus.settings import Settings

# --- the contenders: each returns (wall seconds, this process's CPU seconds) for `count` submissions ----


async def scrape(port: int, every: float, scrapes: list[int]) -> None:
    """GET /metrics every ``every`` seconds (Prometheus does every 15-60 s), counting the answers."""
    while True:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: bench\r\n\r\n")
        answer = await reader.read()
        writer.close()
        if not answer.startswith(b"HTTP/1.1 200") or b"intelbus_decisions_total" not in answer:
            raise RuntimeError(f"a bad scrape: {answer[:200]!r}")
        scrapes.append(len(answer))
        await asyncio.sleep(every)


async def until_decided(probe: aioredis.Redis, count: int, watched: list[Any]) -> None:
    """Until ``count`` decisions are in; a watched task that ends first (the router died, a scrape failed)
    raises its error (``watched``: tasks, or lists that may come to hold one)."""
    while await probe.xlen(KEYS.decisions) < count:
        for task in (t for item in watched for t in (item if isinstance(item, list) else [item])):
            if task.done():
                await task
        await asyncio.sleep(0.005)


async def real_router(url: str, count: int, ruleset: Ruleset, reference: Reference,
                      batch_size: int, audit: bool = True, metrics_every: float | None = None) -> tuple[float, float]:
    """The router as shipped; ``audit``: its checkpointer hashes and signs the logs every second meanwhile;
    ``metrics_every``: its /metrics endpoint on, scraped that often."""
    settings = Settings(REDIS_URL=url, batch_size=batch_size, consumer_name="bench-router", region=None,
                        audit_checkpoints=audit, data_dir=Path(tempfile.mkdtemp(prefix="bench-router-")),
                        metrics_port=0 if metrics_every is not None else None)
    stop = asyncio.Event()
    probe = aioredis.from_url(url)
    scrapes: list[int] = []
    scraping: list[asyncio.Task[None]] = []

    def ready(router: Router) -> None:
        if metrics_every is not None and router.metrics_port is not None:
            scraping.append(asyncio.create_task(scrape(router.metrics_port, metrics_every, scrapes)))

    start, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(run_router(settings, ruleset, reference, url, stop, ready))
    await until_decided(probe, count, [task, scraping])
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    for job in scraping:
        job.cancel()
    if metrics_every is not None and not scrapes:
        raise RuntimeError("the metrics endpoint was never scraped")
    stop.set()
    router = await task
    await probe.aclose()
    stats = router.stats
    if stats.routed + stats.scouted + stats.quarantined != count or stats.failed:  # scouted: threats to life
        raise RuntimeError(f"router did not route everything: {stats}")
    return elapsed, cpu


# --- driver -------------------------------------------------------------------------------------------


@dataclass
class Contender:
    name: str
    count: int
    run: Callable[[], Any]  # a coroutine for asyncio.run, or (sync) a plain call returning (seconds, cpu)
    sync: bool = False
    seconds: list[float] = field(default_factory=list)
    python_cpu: list[float] = field(default_factory=list)  # this process, during the timed part
    redis_cpu: list[float] = field(default_factory=list)  # the server, whole run (startup and shutdown too)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.count / self.median

    def per_sub(self, values: list[float]) -> float:
        return statistics.median(values) / self.count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000, help="submissions for the router and (a)")
    parser.add_argument("--naive-count", type=int, default=2_000, help="submissions for (b), which is slow")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--read-count", type=int, default=200, help="COUNT per stream for (a) and (b)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    load = os.getloadavg()[0]
    ruleset, reference = load_policy(None, None)
    workload = build_workload(max(args.count, args.naive_count), ruleset, reference)
    feeds = two_feeds(workload)
    server = PrivateRedis()
    try:
        url = server.url
        contenders = [
            Contender("router (batch_size 200, default)", args.count,
                      lambda: real_router(url, args.count, ruleset, reference, 200)),
            Contender("router (batch_size 500)", args.count,
                      lambda: real_router(url, args.count, ruleset, reference, 500)),
            Contender("router (batch_size 200, audit checkpoints off)", args.count,
                      lambda: real_router(url, args.count, ruleset, reference, 200, audit=False)),
            Contender("router (/metrics on, scraped every 0.5 s)", args.count,
                      lambda: real_router(url, args.count, ruleset, reference, 200, metrics_every=0.5)),
            Contender(f"(a) minimal redis-py loop (COUNT {args.read_count})", args.count,
                      lambda: minimal_loop(url, args.count, workload, args.read_count)),
            Contender("(b) naive FastStream + broker.publish", args.naive_count,
                      lambda: naive_faststream(url, args.naive_count, workload, args.read_count)),
            Contender("(b') (b) with FastStream's default logger", args.naive_count,
                      lambda: naive_faststream(url, args.naive_count, workload, args.read_count, quiet=False)),
            Contender("(c) sync redis-py, MULTI/EXEC (500 a read)", args.count,
                      lambda: sync_loop(url, args.count, workload, feeds), sync=True),
        ]
        for _ in range(args.repeat):  # round-robin, so a slow spell on the machine hits every contender
            for contender in contenders:
                server.prepare(workload, contender.count)
                gc.collect()
                before = server.cpu()
                result = contender.run()
                seconds, cpu = result if contender.sync else asyncio.run(result)
                contender.redis_cpu.append(server.cpu() - before)
                contender.seconds.append(seconds)
                contender.python_cpu.append(cpu)
    finally:
        server.stop()

    sizes = workload.sizes
    print(f"workload: realistic_mix, median {sizes[len(sizes) // 2]} B (min {sizes[0]}, max {sizes[-1]}), "
          f"{workload.deliveries / len(workload.entries):.2f} deliveries per submission, "
          f"{len(workload.streams)} ingress streams")
    print(f"server: private redis-server {server.version} on 127.0.0.1:{server.port}, --save '' --appendonly no "
          f"(no persistence: a throughput bench, not durability); {os.cpu_count()} CPUs, load average "
          f"{load:.2f} at start{' (OTHER WORK WAS RUNNING: numbers are noisy)' if load > 0.7 else ''}")
    print(f"median of {args.repeat} runs each; (b) drains {args.naive_count} submissions, the others {args.count} "
          f"(rates are per second, so the ratios compare like with like)")
    minimal, naive, sync = contenders[4], contenders[5], contenders[7]
    print()
    print(f"{'contender':<44} {'N':>6} {'seconds':>7} {'subs/s':>7} {'router/(a)':>10} {'router/(b)':>10} "
          f"{'router/(c)':>10} {'py us/sub':>9} {'redis us/sub':>12}")
    for contender in contenders:
        is_router = contender.name.startswith("router")
        vs_a = f"{contender.rate / minimal.rate:.0%}" if is_router else "-"
        vs_b = f"{contender.rate / naive.rate:.1f}x" if is_router else "-"
        vs_c = f"{contender.rate / sync.rate:.2f}" if is_router else "-"
        print(f"{contender.name:<44} {contender.count:>6} {contender.median:>7.2f} {contender.rate:>7.0f} "
              f"{vs_a:>10} {vs_b:>10} {vs_c:>10} {contender.per_sub(contender.python_cpu):>9.0f} "
              f"{contender.per_sub(contender.redis_cpu):>12.0f}")
    print(f"(a)/(b) = {minimal.rate / naive.rate:.1f}x; router (default) / (b') = "
          f"{contenders[0].rate / contenders[6].rate:.1f}x")
    audited, bare = contenders[0], contenders[2]
    print(f"router with audit checkpoints / without: {audited.rate / bare.rate:.1%} (target >= 95%: "
          f"{'met' if audited.rate >= 0.95 * bare.rate else 'NOT met'}); against (c): {audited.rate / sync.rate:.2f} "
          f"with, {bare.rate / sync.rate:.2f} without")
    scraped = contenders[3]
    print(f"router with /metrics scraped every 0.5 s / default (not scraped): {scraped.rate / audited.rate:.1%} "
          f"(target >= 97%: {'met' if scraped.rate >= 0.97 * audited.rate else 'NOT met'})")
    print()
    for contender in contenders[:4]:
        vs_a, vs_b = contender.rate / minimal.rate, contender.rate / naive.rate
        print(f"{contender.name}: {vs_a:.1%} of (a) (target >= 60%: {'met' if vs_a >= 0.6 else 'NOT met'}), "
              f"{vs_b:.1f}x (b) (target >= 10x: {'met' if vs_b >= 10 else 'NOT met'}), "
              f"{contender.rate / sync.rate:.2f} of (c) (target >= 0.75: "
              f"{'met' if contender.rate / sync.rate >= 0.75 else 'NOT met'})")
    for contender in contenders:
        print(f"  runs, {contender.name}: " + ", ".join(f"{s:.2f} s" for s in contender.seconds))


if __name__ == "__main__":
    main()
