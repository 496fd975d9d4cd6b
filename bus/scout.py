"""The scout: a threat to life never waits behind its own partner's backlog (DESIGN.md decision 5).

Fairness across partner streams lets one partner's urgent submission overtake another partner's
backlog, but within one stream the router group reads in order. The scout scans ahead on every ingress
stream inside Redis (``lua/scout.lua``: only entries whose payload says ``"threat_to_life": true``
leave Redis), decides them at once and commits them (``commit.lua`` in scout mode), together with the
scan positions: a position moves past an entry only in the call that commits it. When the router group
reaches a scouted entry it only acknowledges it: one decision per entry, as ever. Anything the scout
cannot decide (invalid, quarantined, not immediate, an engine error) is left to the router group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

from bus.batch import Engine, plan_entries, urgent
from bus.commit import Committed, Committer
from bus.errors import TransportError
from bus.keys import ROUTER_GROUP
from bus.library import Library, Operation
from bus.plan import Plan
from bus.progress import Progress
from bus.settings import Settings
from bus.transport import translate_errors
from bus.wire import PAYLOAD, READ_OUT_LIMIT, Entry

log = logging.getLogger("intelbus.scout")
SCAN_ENTRIES = 1000  # most entries one scan looks at, over all streams (a few milliseconds of Redis)


def scan_reply(reply: Sequence[Any], keys: Sequence[str]) -> tuple[int, list[Entry], list[tuple[str, str]]]:
    """(entries scanned, candidates, positions to commit) from ``scout.lua``'s reply."""
    candidates: list[Entry] = []
    positions: list[tuple[str, str]] = []
    for record in reply[1:]:
        kind, stream = record[0], keys[int(record[1]) - 1]
        if kind == b"candidate":
            payload = bytes(record[3])
            size = len(PAYLOAD) + len(payload)
            candidates.append(Entry(stream, record[2].decode(), ((PAYLOAD, payload),), size, 1))
        elif kind == b"upto":
            positions.append((stream, record[2].decode()))
        else:
            log.error("scouting %s failed (the other streams are scanned): %s", stream,
                      record[2].decode(errors="replace"))
    return int(reply[0]), candidates, positions


class Scout:
    def __init__(self, library: Library, committer: Committer, engine: Engine, settings: Settings,
                 streams: Sequence[str], progress: Progress) -> None:
        self._library = library
        self._committer = committer
        self._engine = engine
        self._settings = settings
        self._keys = [engine.keys.scout, *streams]
        self._progress = progress
        self._offset = 0

    async def once(self) -> int:
        """Scan once; route the threat-to-life entries found. Returns how many entries were scanned."""
        self._offset += 1
        args = [ROUTER_GROUP, SCAN_ENTRIES, self._settings.read_bytes, READ_OUT_LIMIT, self._offset]
        async with translate_errors("scouting ingress"):
            reply = await self._library.call(Operation.SCOUT, self._keys, args)
        scanned, candidates, positions = scan_reply(reply, self._keys)
        if not candidates and not positions:
            return scanned
        plans, failures = plan_entries(self._engine, candidates, self._engine.writes, accept=urgent)
        for failure in failures:  # the router group meets the entry too, with its retries and poison handling
            log.warning("scout could not decide %s %s (left to the router group): %s", failure.entry.stream,
                        failure.entry.entry_id, failure.error)
        plans = plans or [Plan(self._engine.keys)]
        plans[-1].positions = positions
        for plan in plans:
            outcomes, _ = await self._committer.commit(plan, mode="scout")
            routed = sum(outcome.status == Committed.ROUTED for outcome in outcomes)
            self._progress.stats.scouted += routed
            await self._progress.notify()
            if routed:
                log.info("scout routed %d threat-to-life submissions ahead of the queue", routed)
        return scanned

    async def run(self, stop: asyncio.Event) -> None:
        interval = self._settings.block_ms / 1000
        delay = interval
        while not stop.is_set():
            try:
                scanned = await self.once()
                delay = interval
            except TransportError as exc:  # Redis away: the router group still routes everything, only later
                log.warning("scout paused (retrying in %.1f s): %s", delay, exc)
                scanned, delay = 0, min(delay * 2, 5.0)
            except Exception:
                log.exception("scout failed (retrying; the router group routes everything meanwhile)")
                scanned = 0
            if not scanned:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
