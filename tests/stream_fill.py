"""Filling a stream fast for retention and archive tests: ``count`` entries with ids ``<start_ms + i>-0``,
pipelined 10,000 at a time (one XADD round trip each would take a minute at 100,000)."""

from __future__ import annotations

from collections.abc import Callable

import redis.asyncio as aioredis
from redis.typing import EncodableT, FieldT

Fields = dict[FieldT, EncodableT]
CHUNK = 10_000


async def fill(client: aioredis.Redis, stream: str, count: int, fields: Callable[[int], Fields],
               start_ms: int) -> None:
    for start in range(0, count, CHUNK):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(start + CHUNK, count)):
            pipe.xadd(stream, fields(i), id=f"{start_ms + i}-0")
        await pipe.execute()
