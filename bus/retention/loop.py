"""Retention inside the router (``INTELBUS_RETENTION_RUN``, on by default): ``intelbus retention run`` every
``INTELBUS_RETENTION_INTERVAL_MS`` (the first after one interval: a router starts fast), by whichever router
holds the lease ``intel:retainer``, on the router's housekeeping thread (``bus.housekeeping``); each run's figures
go to the hash ``intel:retention`` for operators. The archive is ``<data folder>/archive`` (``bus.archive``). The
dedupe marks are swept a bounded step a run, each going on from the last (``Retention.expire_marks``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from datetime import UTC, datetime

import orjson
import redis.asyncio as aioredis

from bus.archive.reader import archive_dir
from bus.archive.store import Archive
from bus.audit.log import utc_text
from bus.errors import TransportError
from bus.keys import Keys
from bus.lease import hold
from bus.library import Library
from bus.policy import Ruleset
from bus.retention.policy import RetentionPolicy, load_retention
from bus.retention.run import Retention
from bus.settings import Settings
from bus.transport import client as redis_client
from bus.transport import translate_errors

log = logging.getLogger("intelbus.retention")
RENEW_S = 5.0  # a run's lease is renewed in Redis at most this often (its three round trips, on a busy router)


class RetentionLoop:
    def __init__(self, client: aioredis.Redis, keys: Keys, ruleset: Ruleset, policy: RetentionPolicy, owner: str,
                 interval_ms: int, archive: Archive | None) -> None:
        self.client, self.keys, self.ruleset, self.policy, self.owner = client, keys, ruleset, policy, owner
        self.archive, self.library = archive, Library(client)
        self.interval = interval_ms / 1000
        self.runs = 0  # runs this router made (it held the lease)
        self.ran = asyncio.Event()  # set after each run: tests wait for it, not for a clock

    async def run(self, stop: asyncio.Event) -> None:
        """Run retention every interval until ``stop``; closes the client."""
        try:
            while not stop.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval)
                if stop.is_set():
                    return
                try:
                    await self.once()
                except TransportError as exc:
                    log.warning("retention skipped: %s", exc)
        finally:
            await self.client.aclose()

    async def once(self) -> bool:
        """One run, if this router holds the lease; its figures (or its error) to ``intel:retention``."""
        ttl_ms = max(int(self.interval * 3000), 60_000)
        renewed = [0.0]

        async def lease() -> bool:
            """Held: renewed in Redis at most every RENEW_S (a lease lasts a minute at least), else trusted."""
            if time.monotonic() - renewed[0] < RENEW_S:
                return True
            held = await hold(self.client, self.keys.retainer, self.owner, ttl_ms)
            renewed[0] = time.monotonic() if held else 0.0
            return held

        if not await lease():
            return False
        started = time.perf_counter()
        status = {"at": utc_text(datetime.now(UTC)), "by": self.owner, "policy": self.policy.source}
        try:
            removed = await Retention(self.client, self.keys, self.ruleset, self.policy, self.owner, self.archive,
                                      self.library, sweep=True, lease=lease).run(int(time.time() * 1000))
        except TransportError as exc:
            status |= {"error": str(exc)}
            await self._status(status)
            raise
        seconds = time.perf_counter() - started
        status |= {"removed": str(removed.total), "erasure_records": str(removed.records),
                   "archived": str(sum(removed.archived.values())), "segments": str(removed.segments),
                   "error": "; ".join(f"{k}: {v}" for k, v in removed.blocked.items()),
                   "by_key": orjson.dumps(removed.by_stream).decode(), "seconds": f"{seconds:.3f}"}
        await self._status(status)
        if removed.total or removed.segments:
            log.info("retention: %d archived in %d segments; %d removed from %d keys (%d erasure records)",
                     sum(removed.archived.values()), removed.segments, removed.total, len(removed.by_stream),
                     removed.records)
        self.runs += 1
        self.ran.set()
        return True

    async def _status(self, status: dict[str, str]) -> None:
        async with translate_errors(f"writing {self.keys.retention}"):
            await self.client.hset(self.keys.retention, mapping=status)  # type: ignore[arg-type]


def make_retention(settings: Settings, keys: Keys, ruleset: Ruleset, url: str, owner: str) -> RetentionLoop | None:
    """The router's retention loop (None when ``retention_run`` is off); a retention file that cannot work
    stops the router at start (``RetentionError``), not at the first run."""
    if not settings.retention_run:
        return None
    policy = load_retention(settings.retention)
    return RetentionLoop(redis_client(url), keys, ruleset, policy, owner, settings.retention_interval_ms,
                         Archive(archive_dir(settings.region_dir)))
