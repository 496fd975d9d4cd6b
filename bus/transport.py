"""The one boundary where redis-py errors become intelbus errors, and where clients are made."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any, TypeVar, cast

import hiredis
import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from bus import cluster
from bus.errors import (
    GroupExistsError,
    GroupMissingError,
    LibraryMissingError,
    PermissionDeniedError,
    TransportError,
    UnknownCommandError,
    UnreachableError,
)

# Redis replies "<CODE> message"; redis-py drops the generic code ERR, so for those the message's start says.
_BY_CODE: tuple[tuple[str, type[TransportError]], ...] = (
    ("NOGROUP", GroupMissingError),
    ("UNBLOCKED", GroupMissingError),  # a blocked read whose stream was deleted
    ("BUSYGROUP", GroupExistsError),
    ("NOPERM", PermissionDeniedError),
    ("unknown command", UnknownCommandError),
    ("Function not found", LibraryMissingError),
)


_SCRIPT_PREFIX = re.compile(r"^Error running script \(call to [^)]*\): @\w+:\d+: ")  # Redis 6.2 wraps script errors


def classify(message: str) -> type[TransportError]:
    """The ``TransportError`` subclass a Redis error reply's text (as redis-py gives it) stands for."""
    message = _SCRIPT_PREFIX.sub("", message)
    for code, error in _BY_CODE:
        if message.startswith(code):
            return error
    return TransportError


def text(value: bytes | str | int | None) -> str:
    """A Redis reply value (id, stream name, count) as text; ``None`` as ""."""
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@asynccontextmanager
async def translate_errors(doing: str) -> AsyncIterator[None]:
    """Translate redis-py errors raised inside into the ``TransportError`` subclass their code names."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
        raise UnreachableError(f"{doing}: Redis unreachable ({type(exc).__name__}: {exc})") from exc
    except cluster.MOVED_ERRORS as exc:  # the region's slot is moving (a failover): as good as unreachable
        raise UnreachableError(f"{doing}: the region's Redis Cluster node is changing ({type(exc).__name__}: "
                               f"{exc})") from exc
    except redis_errors.RedisError as exc:
        message = str(exc)
        if isinstance(exc, redis_errors.NoPermissionError) and not message.startswith("NOPERM"):
            message = f"NOPERM {message}"  # redis-py strips the code of this one
        error = classify(message)
        raise error(f"{doing}: Redis refused the command ({type(exc).__name__}: {exc})") from exc


def client(url: str, **options: object) -> aioredis.Redis:
    """An asyncio client; no automatic retries (callers retry whole operations with backoff). TCP keepalive
    on TCP only: a unix socket (the embedded server's) refuses the option. A ``redis+cluster://`` URL gives a
    client of the node serving its region's slot (:mod:`bus.cluster`)."""
    if cluster.is_cluster(url):
        return aioredis.Redis(connection_pool=cluster.pool(url, cluster.SlotConnection, health_check_interval=10,
                                                                  **options))
    if not url.startswith("unix:"):
        options = {"socket_keepalive": True, **options}
    return aioredis.Redis.from_url(url, health_check_interval=10, **options)  # type: ignore[arg-type]


StreamRows = list[tuple[bytes, dict[bytes, bytes]]]
C = TypeVar("C")


async def xrange_rows(client: aioredis.Redis, stream: str, reverse: bool = False, **options: Any) -> StreamRows:
    """XRANGE (or XREVRANGE) typed as what it returns on a bytes client: (id, fields) pairs."""
    async with translate_errors(f"reading {stream}"):
        rows = await (client.xrevrange(stream, **options) if reverse else client.xrange(stream, **options))
    return cast(StreamRows, rows)


class _HiredisPacking:
    """Pack commands with hiredis's C packer: byte-identical to redis-py's asyncio packer (tested), about
    six times faster, which matters for the router's commit (thousands of arguments a batch)."""

    def pack_command(self, *args: Any) -> list[bytes]:
        if isinstance(args[0], str) and " " in args[0]:  # "SCRIPT LOAD" is two words on the wire
            args = (*args[0].split(), *args[1:])
        return [hiredis.pack_command(args)]


def hiredis_pool(url: str, **options: Any) -> aioredis.ConnectionPool:
    """A connection pool for ``url`` whose connections pack with hiredis (TCP, TLS, unix socket or a region's
    node of a cluster)."""
    if cluster.is_cluster(url):
        return cluster.pool(url, connection_class=_packing(cluster.SlotConnection), health_check_interval=10,
                            **options)
    pool = aioredis.ConnectionPool.from_url(url, health_check_interval=10, **options)
    pool.connection_class = _packing(pool.connection_class)
    return pool


def _packing(base: type[C]) -> type[C]:
    return type(f"HiredisPacking{base.__name__}", (_HiredisPacking, base), {})


def packing_client(url: str) -> aioredis.Redis:
    """A client like ``client(url)`` whose connections pack with hiredis."""
    return aioredis.Redis(connection_pool=hiredis_pool(url))


def xread_parts(reply: Any) -> list[tuple[str, list[Any]]]:
    """[(stream, entries)] from an XREADGROUP reply, RESP2-shaped (list of pairs) or RESP3 (dict)."""
    pairs = (reply.items() if isinstance(reply, Mapping) else reply) if reply else []
    result: list[tuple[str, list[Any]]] = []
    for stream, entries in pairs:
        items = list(entries or [])
        if len(items) == 1 and isinstance(items[0], list):  # the RESP3 callback wraps the list once more
            items = list(items[0])
        result.append((text(stream), items))
    return result
