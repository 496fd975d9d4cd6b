"""The one boundary where redis-py errors become intelbus errors, and where clients are made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from bus.errors import GroupMissingError, TransportError


@asynccontextmanager
async def translate_errors(doing: str) -> AsyncIterator[None]:
    """Translate redis-py errors raised inside into ``TransportError`` (or ``GroupMissingError``)."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        raise TransportError(f"{doing}: Redis unreachable ({type(exc).__name__}: {exc})") from exc
    except redis_errors.RedisError as exc:
        if "NOGROUP" in str(exc):
            raise GroupMissingError(f"{doing}: {exc}") from exc
        raise TransportError(f"{doing}: Redis refused the command ({type(exc).__name__}: {exc})") from exc


def client(url: str, **options: object) -> aioredis.Redis:
    """An asyncio client; no automatic retries (callers retry whole operations with backoff)."""
    return aioredis.Redis.from_url(url, health_check_interval=10, socket_keepalive=True, **options)  # type: ignore[arg-type]


StreamRows = list[tuple[bytes, dict[bytes, bytes]]]


async def xrange_rows(client: aioredis.Redis, stream: str, reverse: bool = False, **options: Any) -> StreamRows:
    """XRANGE (or XREVRANGE) typed as what it returns on a bytes client: (id, fields) pairs."""
    async with translate_errors(f"reading {stream}"):
        rows = await (client.xrevrange(stream, **options) if reverse else client.xrange(stream, **options))
    return cast(StreamRows, rows)
