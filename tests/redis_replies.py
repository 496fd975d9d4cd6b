"""Typed views of redis-py replies, for tests on clients without decode_responses (every reply is bytes).

redis-py types a reply for every client configuration at once (``bytes | str``, ``... | None``); these
helpers check at run time what a bytes client returns and give the narrowed type, so a test says
``decoded(reply)`` instead of repeating the narrowing at every call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import redis.asyncio as aioredis
from redis.typing import EncodableT

from bus.transport import StreamRows


def as_bytes(value: object) -> bytes:
    """A reply value that must be bytes (an entry id, a hash value): not a str, not None (a missing key)."""
    assert isinstance(value, bytes), f"expected a bytes reply, got {value!r}"
    return value


def decoded(value: object) -> str:
    """A bytes reply value as UTF-8 text, exactly ``value.decode()``."""
    return as_bytes(value).decode()


def stream_rows(reply: object) -> StreamRows:
    """An XRANGE / XREVRANGE reply as (entry id, fields) pairs of bytes."""
    assert isinstance(reply, list), f"expected a list of stream entries, got {reply!r}"
    return cast(StreamRows, reply)


async def command(client: aioredis.Redis, *args: EncodableT) -> Any:
    """A raw command (to send what the typed methods cannot: repeated fields, exact argument order)."""
    execute: Callable[..., Awaitable[Any]] = client.execute_command  # redis-py leaves it unannotated
    return await execute(*args)
