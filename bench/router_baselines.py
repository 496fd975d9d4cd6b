"""bench/router.py's baselines: (a) a minimal redis-py loop, (b) a naive FastStream subscriber, (c) a
synchronous redis-py loop; each does the router's I/O with the writes precomputed, and returns (wall
seconds, this process's CPU seconds) for ``count`` submissions."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import RedisStreamMessage
from router_workload import DECISION_ID, KEYS, Workload

from bus.keys import ROUTER_GROUP


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
