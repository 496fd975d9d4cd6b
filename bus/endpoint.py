"""The router's HTTP endpoint (``INTELBUS_METRICS_PORT``; off when unset): ``/metrics`` (Prometheus),
``/healthz`` (the process answers) and ``/readyz`` (connected to Redis and consuming: 200, else 503).

A few lines of asyncio, not a web framework: three GET paths, each answer closes its connection. Every
figure is read-only; nothing here writes to the bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import redis.asyncio as aioredis

from bus import metrics
from bus.errors import TransportError
from bus.keys import Keys
from bus.policy import Ruleset
from bus.progress import RouterStats
from bus.status.figures import gather
from bus.transport import translate_errors

log = logging.getLogger("intelbus.endpoint")
ANSWER_SECONDS = 10
REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class Endpoint:
    def __init__(self, client: aioredis.Redis, keys: Keys, ruleset: Ruleset, stats: Callable[[], RouterStats],
                 consuming: Callable[[], bool]) -> None:
        self.client, self.keys, self.ruleset, self.stats, self.consuming = client, keys, ruleset, stats, consuming
        self.server: asyncio.Server | None = None
        self.busy = asyncio.Semaphore(4)

    async def start(self, host: str, port: int) -> int:
        """Listen; the port actually bound (``port`` 0: a free one)."""
        self.server = await asyncio.start_server(self._serve, host, port)
        bound = int(self.server.sockets[0].getsockname()[1])
        log.info("metrics and health on http://%s:%d/metrics, /healthz, /readyz", host, bound)
        return bound

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        await self.client.aclose()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
            method, path, *_ = [*request.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
            async with self.busy:  # a few answers at a time, each bounded: a scraper cannot pile them up
                code, body, kind = await asyncio.wait_for(self.answer(method, path.split("?", 1)[0]), ANSWER_SECONDS)
            head = f"HTTP/1.1 {code} {REASONS[code]}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n" \
                   "Connection: close\r\n\r\n"
            writer.write(head.encode() + body)
            await asyncio.wait_for(writer.drain(), ANSWER_SECONDS)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    async def answer(self, method: str, path: str) -> tuple[int, bytes, str]:
        text = "text/plain; charset=utf-8"
        if method != "GET":
            return 405, b"GET only\n", text
        if path == "/healthz":
            return 200, b"alive\n", text
        if path == "/readyz":
            problem = await self._not_ready()
            return (503, f"not ready: {problem}\n".encode(), text) if problem else (200, b"ready\n", text)
        if path == "/metrics":
            try:
                status = await gather(self.client, self.keys, self.ruleset, light=True)
            except TransportError as exc:
                log.warning("metrics without Redis's figures: %s", exc)
                status = None
            ready = status is not None and self.consuming()
            return 200, metrics.render(self.stats(), status, ready), metrics.CONTENT_TYPE
        return 404, b"try /metrics, /healthz or /readyz\n", text

    async def _not_ready(self) -> str:
        if not self.consuming():
            return "the router is not consuming (starting or stopping)"
        try:
            async with translate_errors("PING"):
                await self.client.ping()
        except TransportError as exc:
            return str(exc)
        return ""
