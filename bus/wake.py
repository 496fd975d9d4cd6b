"""Waking the scout the moment a partner writes (issue 11: the urgent path has its own clock).

Redis client-side tracking, RESP2 redirect mode: the scout's scans run on one connection with
``CLIENT TRACKING ON REDIRECT <listener> NOLOOP``, so every ingress stream a scan reads (the scan script's reads
count) is remembered, and the first write to it afterwards (a partner's XADD, or a trim) sends one
invalidation message to the listening connection (not its own writes: the scout commits on this connection
too, and moving its positions must not wake it). The router group's reads and acknowledgements are not
writes to the stream's entries and send nothing. A key is invalidated once and then forgotten until the next
scan reads it again, so a partner that writes 100,000 entries in a burst costs one message per scan, not one
per entry, and no payload ever travels: only the stream's name.

Nothing is missed between a scan and the wait that follows it: a scan runs atomically inside Redis, so a
write is either before it (the scan sees the entry) or after it (the key is tracked: a message comes). The
scout still looks every ``block_ms`` if no message comes, so a Redis that refuses tracking (an ACL file
generated before this release, a proxy) costs latency, never correctness.
"""

from __future__ import annotations

import asyncio
import logging
import math
from contextlib import suppress
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bus.errors import UnreachableError
from bus.transport import hiredis_pool, translate_errors

log = logging.getLogger("intelbus.scout")
INVALIDATE = "__redis__:invalidate"


def _where(connection: AbstractConnection | None) -> tuple[object, object]:
    """The node a connection is to: (host, port), or the unix socket's path."""
    return (getattr(connection, "host", None), getattr(connection, "port", getattr(connection, "path", None)))


class Wake:
    """``client``: where the scout runs its scans; ``event``: set when a stream it read has changed (or
    when the listener is lost, so that the scout looks at once and then rebuilds this)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self.event = asyncio.Event()
        self.broken = False
        self._listener: AbstractConnection | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = hiredis_pool(url, retry=Retry(NoBackoff(), 0))  # a lost connection is an error, never silent
        self.client = aioredis.Redis(connection_pool=self._pool, single_connection_client=True)
        self._listen_pool = hiredis_pool(url, retry=Retry(NoBackoff(), 0), protocol=2)  # RESP2: messages are replies

    async def open(self) -> None:
        """Connect the listener and turn tracking on for ``client``. Raises ``TransportError`` (a
        ``PermissionDeniedError`` when the router's ACL predates tracking)."""
        listener: AbstractConnection = self._listen_pool.make_connection()  # type: ignore[no-untyped-call]
        self._listener = listener
        async with translate_errors("connecting the scout's change listener"):
            await listener.connect()  # type: ignore[no-untyped-call]
            await listener.send_command("CLIENT", "ID")
            listener_id = await listener.read_response()
            await listener.send_command("SUBSCRIBE", INVALIDATE)
            await listener.read_response()
            await self.client.client_tracking_on(clientid=int(listener_id), noloop=True)
        if _where(self.client.connection) != _where(listener):  # a cluster's slot moved between the two connects
            raise UnreachableError("the scout's connections reached different nodes (a failover under way?)")
        self._task = asyncio.create_task(self._listen(listener))

    async def _listen(self, listener: AbstractConnection) -> None:
        try:
            while True:
                message: Any = await listener.read_response(timeout=math.inf)  # None: redis-py's 5 s default
                if isinstance(message, list) and message and message[0] == b"message":
                    self.event.set()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the listener is gone: look now, and let the scout rebuild it
            log.warning("the scout's change listener was lost (%s: %s); reconnecting", type(exc).__name__, exc)
            self.broken = True
            self.event.set()

    async def wait(self, stop: asyncio.Event, timeout: float) -> None:
        """Until a change, ``stop``, or ``timeout`` seconds (the fallback look); then clear the event."""
        waits = [asyncio.ensure_future(self.event.wait()), asyncio.ensure_future(stop.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
        self.event.clear()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None:
            with suppress(Exception):
                await self._listener.disconnect()
        with suppress(Exception):
            await self.client.aclose()
        for pool in (self._pool, self._listen_pool):
            with suppress(Exception):
                await pool.disconnect()
