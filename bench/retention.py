"""How fast retention trims an acknowledged feed, against bare XTRIM steps of the same size.

Fills a private redis-server's feed with COUNT acknowledged entries (a group whose last-delivered id is the
top, none pending), then times, alternately on fresh copies: (b) the bare loop: XRANGE a page of 500 ids,
XTRIM MINID past it (the baseline: the least any exact, bounded trimming does), and (r) ``Retention.run``
(the watermark taken again before each step, holds checked, each step and its erasure record in one
call of lua/erase.lua). Prints entries/s of each and r/b. Run it on purpose: ``.venv/bin/python bench/retention.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis

from bus.keys import TEAM_GROUP, Keys
from bus.policy import load_ruleset
from bus.retention.policy import load_retention
from bus.retention.run import Retention
from bus.servers import RedisProc

KEYS = Keys()
RULESET = load_ruleset(None)
TEAM = sorted(RULESET.team_ids)[0]
T0 = 1_700_000_000_000


async def fill(client: aioredis.Redis, count: int) -> str:
    stream = KEYS.feed(TEAM)
    await client.delete(stream, KEYS.audit)
    for start in range(0, count, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + 10_000, count)):
            pipe.xadd(stream, {"payload": b'{"k": "' + b"x" * 600 + b'"}', "submission_id": f"S-{i}",
                               "decision_id": f"{T0 + i}-0"}, id=f"{T0 + i}-0")
        await pipe.execute()
    await client.xgroup_create(stream, TEAM_GROUP, id="$")
    return stream


async def bare(client: aioredis.Redis, stream: str) -> int:
    removed = 0
    while True:
        rows = await client.xrange(stream, count=500)
        if not rows:
            return removed
        last = rows[-1][0].decode()
        ms, seq = last.split("-")
        removed += await client.xtrim(stream, minid=f"{ms}-{int(seq) + 1}")


async def retention(client: aioredis.Redis, stream: str) -> int:
    removed = await Retention(client, KEYS, RULESET, load_retention(), "bench", None).run(int(time.time() * 1000))
    return removed.total


async def main(count: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="intelbus-bench-retention-"))
    server = RedisProc(folder / "redis", durable=False).start()
    client = aioredis.Redis.from_url(server.url)
    try:
        rates: dict[str, list[float]] = {"bare": [], "retention": []}
        for _ in range(repeat):
            for name, trim in (("bare", bare), ("retention", retention)):
                stream = await fill(client, count)
                started = time.perf_counter()
                removed = await trim(client, stream)
                rates[name].append(removed / (time.perf_counter() - started))
                assert removed == count and await client.xlen(stream) == 0, (name, removed)
        print(f"{count:,} acknowledged feed entries (about 700 B each) on a private redis-server {server.port}")
        for label, name in (("(b) bare XRANGE + XTRIM steps:", "bare"), ("(r) retention run:", "retention")):
            runs = ", ".join(f"{r:,.0f}" for r in rates[name])
            print(f"{label:<32}{statistics.median(rates[name]):>10,.0f} entries/s (runs: {runs})")
        print(f"r/b = {statistics.median(rates['retention']) / statistics.median(rates['bare']):.2f}")
        stats = (await client.info("commandstats")).get("cmdstat_xtrim", {})
        print(f"XTRIM of up to 500 entries: {stats.get('usec_per_call', 0):,.0f} µs per call in Redis "
              f"({stats.get('calls', 0):,} calls)")
    finally:
        await client.aclose()
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.repeat))
