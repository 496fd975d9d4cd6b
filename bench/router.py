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
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage

from bus.keys import ROUTER_GROUP, Keys
from bus.policy import QUARANTINED, Reference, Ruleset, decide_payload, load_policy, render_views
from bus.samples import realistic_mix
from bus.servers import RedisProc
from bus.service import Router, ingress_streams, run_router
from bus.settings import Settings

KEYS = Keys()
FIRST_ID_MS = 1_800_000_000_000  # explicit entry ids, so the precomputed decisions carry the real ones
DECISION_ID = b"1800000000000-0"  # (a) and (b) cannot know the decision entry id: a placeholder, same size


@dataclass(frozen=True, slots=True)
class Writes:
    """What the router writes for one submission: the decision JSON and one feed entry per delivery."""

    decision: bytes
    feeds: tuple[tuple[str, dict[str, bytes | str]], ...]
    quarantine: dict[str, bytes | str] | None


@dataclass(frozen=True, slots=True)
class Workload:
    entries: list[tuple[str, bytes, bytes]]  # ingress stream, entry id, payload
    writes: dict[bytes, Writes]  # entry id -> writes
    streams: list[str]
    deliveries: int
    sizes: list[int]


def build_workload(count: int, ruleset: Ruleset, reference: Reference) -> Workload:
    now = datetime.now(UTC)
    entries, writes, deliveries = [], {}, 0
    for index, sub in enumerate(realistic_mix(count)):
        raw = orjson.dumps(sub)
        stream, entry_id = KEYS.ingress(sub["partner"]), f"{FIRST_ID_MS + index}-0"
        decision, _ = decide_payload(raw, ruleset, reference, now, ingress_owner=sub["partner"])
        quarantined = decision.status == QUARANTINED
        views = render_views(raw, decision) if not quarantined else {}
        sid = decision.submission_id or ""
        feeds = tuple(
            (KEYS.feed(d.recipient, d.priority),
             {"payload": views[d.recipient], "submission_id": sid, "priority": d.priority, "view": d.view,
              "due": d.due.isoformat() if d.due else "", "decision_id": DECISION_ID})
            for d in decision.deliveries)
        quarantine = None
        if quarantined:
            quarantine = {"payload": raw, "reason": decision.reason or "", "stream": stream, "entry_id": entry_id,
                          "submission_id": sid, "decision_id": DECISION_ID}
        entries.append((stream, entry_id.encode(), raw))
        record = decision.to_dict() | {"stream": stream, "entry_id": entry_id}
        writes[entry_id.encode()] = Writes(orjson.dumps(record), feeds, quarantine)
        deliveries += len(feeds)
    return Workload(entries, writes, ingress_streams(ruleset, KEYS), deliveries, sorted(len(e[2]) for e in entries))


# --- the private server -------------------------------------------------------------------------------


class PrivateRedis:
    """The shared harness's server (``bus.servers``), without persistence, plus what this bench needs."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="intelbus-bench-")
        self.server = RedisProc(Path(self.dir), durable=False, extra=("--loglevel", "warning")).start()
        self.port, self.url = self.server.port, self.server.url
        self.client = self.server.client(timeout=60.0)
        self.version = self.client.info("server")["redis_version"]

    def prepare(self, workload: Workload, count: int) -> None:
        """Flush, load ``count`` submissions, create the router group at 0 on every ingress stream."""
        self.client.flushall()
        for start in range(0, count, 1000):
            pipe = self.client.pipeline(transaction=False)
            for stream, entry_id, raw in workload.entries[start:min(start + 1000, count)]:
                pipe.xadd(stream, {"payload": raw}, id=entry_id)
            pipe.execute()
        for stream in workload.streams:
            self.client.xgroup_create(stream, ROUTER_GROUP, id="0", mkstream=True)

    def cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def stop(self) -> None:
        self.client.close()
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


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
    settings = Settings(REDIS_URL=url, batch_size=batch_size, consumer_name="bench-router",
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


async def minimal_loop(url: str, count: int, workload: Workload, read_count: int) -> tuple[float, float]:
    client = aioredis.from_url(url)
    streams = dict.fromkeys(workload.streams, ">")
    acked = 0
    start, cpu = time.perf_counter(), time.process_time()
    while acked < count:
        reply = await client.xreadgroup(ROUTER_GROUP, "bench-a", streams, count=read_count, block=200)
        pipe = client.pipeline(transaction=False)
        for stream, entries in reply or ():
            ids = []
            for entry_id, _fields in entries:
                writes = workload.writes[entry_id]
                pipe.xadd(KEYS.decisions, {"decision": writes.decision})
                for feed, fields in writes.feeds:
                    pipe.xadd(feed, fields)  # type: ignore[arg-type]
                if writes.quarantine is not None:
                    pipe.xadd(KEYS.quarantine, writes.quarantine)  # type: ignore[arg-type]
                ids.append(entry_id)
            pipe.xack(stream, ROUTER_GROUP, *ids)
            acked += len(ids)
        await pipe.execute()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await client.aclose()
    return elapsed, cpu


async def naive_faststream(url: str, count: int, workload: Workload, read_count: int,
                           quiet: bool = True) -> tuple[float, float]:
    # quiet: no per-message log lines (the headline (b), the fastest naive subscriber we could make);
    # not quiet: FastStream's defaults, as a newcomer would write it (a logger writing to a null handler).
    if quiet:
        broker = RedisBroker(url, logger=None)
    else:
        null = logging.getLogger("bench.naive")
        null.addHandler(logging.NullHandler())
        null.propagate = False
        broker = RedisBroker(url, logger=null)
    done = asyncio.Event()
    processed = 0

    async def handle(body: dict[str, Any], msg: RedisStreamMessage) -> None:
        nonlocal processed
        writes = workload.writes[msg.raw_message["message_ids"][0]]
        for feed, fields in writes.feeds:
            headers = {k: v for k, v in fields.items() if k != "payload"}
            await broker.publish(fields["payload"], stream=feed, headers=headers)
        if writes.quarantine is not None:
            await broker.publish(writes.quarantine["payload"], stream=KEYS.quarantine)
        await broker.publish(writes.decision, stream=KEYS.decisions)
        processed += 1
        if processed >= count:
            done.set()

    for stream in workload.streams:
        broker.subscriber(stream=StreamSub(stream, group=ROUTER_GROUP, consumer="bench-b", max_records=read_count))(
            handle)
    start, cpu = time.perf_counter(), time.process_time()
    await broker.start()
    await done.wait()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await asyncio.sleep(0.1)  # let the last ack go out before stopping
    await broker.stop()
    return elapsed, cpu


PAD_FEED = KEYS.feed("bench.pad")  # (c)'s second feed for a submission with a single delivery


def two_feeds(workload: Workload) -> dict[bytes, tuple[tuple[str, dict[str, bytes | str]], ...]]:
    """(c)'s two feed writes per entry: its first two deliveries, padded with ``PAD_FEED`` entries that carry
    the raw payload and the same metadata fields."""
    out = {}
    for _stream, entry_id, raw in workload.entries:
        feeds = workload.writes[entry_id].feeds[:2]
        sid = orjson.loads(raw).get("submission_id", "")
        pad: dict[str, bytes | str] = {"payload": raw, "submission_id": sid, "priority": "routine", "view": "full",
                                       "due": "", "decision_id": DECISION_ID}
        out[entry_id] = feeds + ((PAD_FEED, pad),) * (2 - len(feeds))
    return out


def sync_loop(url: str, count: int, workload: Workload, feeds: dict[bytes, Any],
              total: int = 500) -> tuple[float, float]:
    client = redis.Redis.from_url(url)
    live = list(dict.fromkeys(stream for stream, _, _ in workload.entries[:count]))
    done = 0
    start, cpu = time.perf_counter(), time.process_time()
    while done < count:
        per_stream = max(1, total // len(live))  # about `total` entries per read in all
        reply: Any = client.xreadgroup(ROUTER_GROUP, "bench-c", dict.fromkeys(live, ">"), count=per_stream, block=200)
        pipe = client.pipeline(transaction=True)
        for stream, entries in reply or ():
            if len(entries) < per_stream and len(live) > 1:  # drained: nothing more arrives in this bench
                live.remove(stream.decode())
            for entry_id, fields in entries:
                orjson.loads(fields[b"payload"])
                for feed, feed_fields in feeds[entry_id]:
                    pipe.xadd(feed, feed_fields)
                pipe.xadd(KEYS.decisions, {"decision": workload.writes[entry_id].decision})
                pipe.xack(stream, ROUTER_GROUP, entry_id)
            done += len(entries)
        pipe.execute()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    client.close()
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
