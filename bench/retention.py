"""How fast retention trims an acknowledged feed, against bare XTRIM loops, and how long each of its steps
holds Redis.

Fills a private redis-server's feed with COUNT acknowledged entries (a group whose last-delivered id is the
top, none pending), then times, alternately on fresh copies: (e) exact steps: XRANGE a page of 500 ids,
XTRIM MINID past it (how retention trimmed before whole-node steps); (n) whole nodes: XTRIM MINID ~ top
LIMIT 10000 until none is left (the baseline: the least any bounded trimming does); and (r) ``Retention.run``
(the watermark, holds, and each step with the groups' bound and its erasure record in one call of
lua/erase.lua). Prints entries/s of each, r/n and r/e, and from Redis's slowlog the longest single erase
call (every command is logged during (r)). Run it on purpose: ``.venv/bin/python bench/retention.py``.
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


async def exact(client: aioredis.Redis, stream: str) -> int:
    removed = 0
    while True:
        rows = await client.xrange(stream, count=500)
        if not rows:
            return removed
        last = rows[-1][0].decode()
        ms, seq = last.split("-")
        removed += await client.xtrim(stream, minid=f"{ms}-{int(seq) + 1}")


async def nodes(client: aioredis.Redis, stream: str) -> int:
    top = (await client.xinfo_stream(stream))["last-generated-id"].decode()
    ms, seq = top.split("-")
    removed = 0
    while step := await client.xtrim(stream, minid=f"{ms}-{int(seq) + 1}", approximate=True, limit=10_000):
        removed += step
    return removed + await client.xtrim(stream, minid=f"{ms}-{int(seq) + 1}")


async def retention(client: aioredis.Redis, stream: str) -> int:
    removed = await Retention(client, KEYS, RULESET, load_retention(), "bench", None).run(int(time.time() * 1000))
    return removed.total


async def longest_call(client: aioredis.Redis) -> tuple[int, int]:
    """(the longest FCALL or EVALSHA in the slowlog, in µs; how many there were)."""
    log = await client.slowlog_get(1_000_000)
    calls = [entry["duration"] for entry in log
             if entry["command"].split(b" ")[0].lower() in (b"fcall", b"evalsha")]
    return max(calls, default=0), len(calls)


async def main(count: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="intelbus-bench-retention-"))
    server = RedisProc(folder / "redis", durable=False).start()
    client = aioredis.Redis.from_url(server.url)
    try:
        rates: dict[str, list[float]] = {"exact": [], "nodes": [], "retention": []}
        longest: list[tuple[int, int]] = []
        for _ in range(repeat):
            for name, trim in (("exact", exact), ("nodes", nodes), ("retention", retention)):
                stream = await fill(client, count)
                if name == "retention":
                    await client.config_set("slowlog-max-len", 1_000_000)
                    await client.config_set("slowlog-log-slower-than", 0)
                    await client.slowlog_reset()
                started = time.perf_counter()
                removed = await trim(client, stream)
                rates[name].append(removed / (time.perf_counter() - started))
                if name == "retention":
                    await client.config_set("slowlog-log-slower-than", 10_000)
                    longest.append(await longest_call(client))
                assert removed == count and await client.xlen(stream) == 0, (name, removed)
        print(f"{count:,} acknowledged feed entries (about 700 B each) on a private redis-server {server.port}")
        for label, name in (("(e) exact 500-entry steps:", "exact"), ("(n) whole-node steps:", "nodes"),
                            ("(r) retention run:", "retention")):
            runs = ", ".join(f"{r:,.0f}" for r in rates[name])
            print(f"{label:<32}{statistics.median(rates[name]):>12,.0f} entries/s (runs: {runs})")
        retained = statistics.median(rates["retention"])
        print(f"r/n = {retained / statistics.median(rates['nodes']):.2f}, "
              f"r/e = {retained / statistics.median(rates['exact']):.2f}")
        print("longest erase call in Redis: " + ", ".join(f"{us:,} µs of {n} calls" for us, n in longest))
    finally:
        await client.aclose()
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.repeat))
