"""Retention, the router's heavy housekeeper, on a thread of its own, with its own event loop and Redis
connections.

Sharing the routing loop, retention waited a turn of that loop for every Redis reply; under a full load a
turn is a batch being decided, so a run that needs a few hundred replies took 12 s and more, ran once in a
28 s soak while Redis memory grew tenfold (``bench/soak.py``); and a segment's encoding and compression
(0.3-0.8 s for 50,000 records) would stall routing and the urgent lane outright. On its own loop it waits
only for Redis and for the GIL, which Python hands between threads every few milliseconds.

The audit checkpointer stays on the routing loop (``bus.service``): it is busy whenever the logs grow, and
measured on a thread it cost routing about 15% of its throughput in GIL hand-overs (``bench/router.py``,
audit on), where on the loop it costs about 10%. A retention run costs routing the same way, but only
while it runs (every ``INTELBUS_RETENTION_INTERVAL_MS``).

A housekeeper that fails (a bug, not Redis being away: each loop rides those out itself) is logged at once
and its error raised again by ``stop``; any others go on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from contextlib import suppress
from typing import Protocol

log = logging.getLogger("intelbus.router")


class Housekeeper(Protocol):
    async def run(self, stop: asyncio.Event) -> None: ...


class Housekeeping:
    def __init__(self, housekeepers: Sequence[Housekeeper]) -> None:
        self.housekeepers = list(housekeepers)
        self._thread = threading.Thread(target=self._main, name="intelbus-housekeeping", daemon=True)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.failure: BaseException | None = None

    def start(self) -> None:
        if self.housekeepers:
            self._thread.start()

    async def stop(self) -> None:
        """Ask each housekeeper to finish (the checkpointer signs once more) and wait until all have."""
        if not self._thread.is_alive() and not self._ready.is_set():
            return
        await asyncio.to_thread(self._ready.wait)
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with suppress(RuntimeError):  # every housekeeper already ended (failed): its loop closed meanwhile
                self._loop.call_soon_threadsafe(self._stop.set)
        await asyncio.to_thread(self._thread.join)
        if self.failure is not None:
            raise self.failure

    def _main(self) -> None:
        try:
            asyncio.run(self._all())
        except BaseException as exc:
            self.failure = exc
        finally:
            self._ready.set()

    async def _all(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        self._ready.set()
        failures = [r for r in await asyncio.gather(*(self._one(h, self._stop) for h in self.housekeepers),
                                                    return_exceptions=True) if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    @staticmethod
    async def _one(housekeeper: Housekeeper, stop: asyncio.Event) -> None:
        try:
            await housekeeper.run(stop)
        except Exception:
            log.exception("%s stopped", type(housekeeper).__name__)
            raise
