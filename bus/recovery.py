"""Recovery of abandoned and poisonous ingress entries (DESIGN.md decision 4).

Every router periodically reclaims router-group entries idle longer than ``claim_idle_ms``, its own
included: entries a dead router fetched, and entries whose processing failed (their error is kept in
the failures hash). ``lua/claim.lua`` takes first-time retries together and an entry retried before on
its own, and counts deliveries exactly; an entry delivered more than ``max_deliveries`` times is
quarantined with the count and its last error. The commit re-checks ownership, so a slow router
cannot commit an entry that was claimed away from it, and an entry the scout already decided is only
acknowledged. Pending entries deleted before anyone decided them are acknowledged and audited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from datetime import datetime

from bus.batch import Engine, Failure, plan_entries, split_poison
from bus.commit import Committer
from bus.errors import GroupMissingError, TransportError
from bus.keys import ROUTER_GROUP
from bus.library import Library, Operation
from bus.plan import Plan, Writes
from bus.progress import Progress
from bus.settings import Settings
from bus.transport import translate_errors
from bus.wire import READ_OUT_LIMIT, Entry, claim_reply

log = logging.getLogger("intelbus.recovery")


class Recovery:
    def __init__(self, library: Library, committer: Committer, engine: Engine, settings: Settings,
                 streams: Sequence[str], consumer: str, progress: Progress) -> None:
        self._library = library
        self._committer = committer
        self._engine = engine
        self._settings = settings
        self._streams = list(streams)
        self._consumer = consumer
        self._progress = progress
        self._stats = progress.stats

    async def claim(self, stream: str) -> list[Entry]:
        keys = self._engine.keys
        args = [ROUTER_GROUP, self._consumer, self._settings.claim_idle_ms, self._settings.batch_size,
                self._settings.read_bytes, READ_OUT_LIMIT, keys.ingress_prefix]
        async with translate_errors(f"reclaiming {stream}"):
            reply = await self._library.call(Operation.CLAIM, [stream, keys.failures, keys.audit], args)
        entries, deleted = claim_reply(reply, stream)
        for entry_id, deliveries in deleted:
            self._stats.deleted += 1
            log.critical("%s %s was deleted while pending (delivered %d times, never decided): partner %s "
                         "trimmed its own stream; acknowledged and written to the audit stream", stream,
                         entry_id, deliveries, keys.partner_of(stream))
        return entries

    async def once(self) -> int:
        """One pass over every stream; returns how many entries were reclaimed."""
        handled = 0
        for stream in self._streams:
            try:
                entries = await self.claim(stream)
            except GroupMissingError:  # the batch loop's next read recreates it; the other streams go on
                continue
            if not entries:
                continue
            retry, poison = split_poison(entries, self._settings.max_deliveries)
            if poison:
                await self._commit(plan_entries(self._engine, poison, self._poison))
                self._stats.poison += len(poison)
                log.error("quarantined %d poison entries from %s", len(poison), stream)
            if retry:
                log.warning("reclaimed %d idle entries from %s", len(retry), stream)
                await self._commit(plan_entries(self._engine, retry, self._engine.writes))
            handled += len(entries)
        return handled

    def _poison(self, entry: Entry, now: datetime) -> Writes:
        return self._engine.poison(entry, self._settings.max_deliveries, now)

    async def _commit(self, planned: tuple[list[Plan], list[Failure]]) -> None:
        plans, failures = planned
        await self._progress.failed(self._committer, failures)
        for plan in plans:
            outcomes, refused = await self._committer.commit(plan)
            await self._progress.failed(self._committer, refused)
            await self._progress.record(outcomes)

    async def run(self, stop: asyncio.Event) -> None:
        interval = max(0.05, self._settings.claim_idle_ms / 2000)
        while not stop.is_set():
            try:
                while await self.once():
                    if stop.is_set():
                        return
            except TransportError as exc:  # Redis away, or a group missing: retried next round, never fatal
                log.warning("recovery round failed (retrying in %.1f s): %s", interval, exc)
            except Exception:
                log.exception("recovery round failed (retrying)")
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
