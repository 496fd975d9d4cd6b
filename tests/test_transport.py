"""The one Redis boundary: error translation, and hiredis command packing identical to redis-py's."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection, UnixDomainSocketConnection
from redis.typing import EncodableT
from redis_procs import RedisProc
from redis_replies import stream_rows

from bus.errors import GroupMissingError, TransportError
from bus.transport import _HiredisPacking, packing_client, translate_errors

pytestmark = pytest.mark.asyncio

Command = tuple[str, *tuple[EncodableT, ...]]  # a command name, then its arguments

COMMANDS: list[Command] = [
    ("EVALSHA", "f" * 40, 3, "intel:decisions", "intel:quarantine", "intel:ingress:ukfiu", "router", "c", 1),
    ("XADD", "s", "*", "payload", b"\xff\xfe\x00 not utf-8", "n", 12, "f", 1.5),
    ("SCRIPT LOAD", "return 1"), ("PING",), ("HSET", "h", "k", "é unicode ✓"),
]


@pytest.mark.parametrize("args", COMMANDS, ids=[c[0] for c in COMMANDS])
async def test_hiredis_packing_is_byte_identical(args: Command) -> None:
    for base in (Connection, UnixDomainSocketConnection):
        fast = type("Fast", (_HiredisPacking, base), {})()
        assert b"".join(fast.pack_command(*args)) == b"".join(base().pack_command(*args))


async def test_packing_client_talks_to_redis(redis_proc: RedisProc) -> None:
    client = packing_client(redis_proc.url)
    try:
        await client.xadd("s", {"payload": b"\xff\x00"})
        [(_, fields)] = stream_rows(await client.xrange("s"))
        assert fields == {b"payload": b"\xff\x00"}
        assert await client.eval("return ARGV[1]", 0, "ok") == b"ok"
    finally:
        await client.aclose()


async def test_errors_are_translated(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    with pytest.raises(GroupMissingError):
        async with translate_errors("reading"):
            await client.xreadgroup("nogroup", "c", {"missing": ">"})
    redis_proc.kill9()
    with pytest.raises(TransportError, match="Redis unreachable"):
        async with translate_errors("reading"):
            await client.ping()
    await client.aclose()
