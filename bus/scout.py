"""The scout: a threat to life never waits behind its own partner's backlog (DESIGN.md decision 5).

Fairness across partner streams lets one partner's urgent submission overtake another partner's
backlog, but within one stream the router group reads in order. The scout scans ahead on every ingress
stream inside Redis (``lua/scout.lua``: only entries whose payload says ``"threat_to_life": true``
leave Redis), decides them at once and commits them (``commit.lua`` in scout mode), together with the
scan positions: a position moves past an entry only in the call that commits it. When the router group
reaches a scouted entry it only acknowledges it: one decision per entry, as ever. Anything the scout
cannot decide (invalid, quarantined, not immediate, an engine error) is left to the router group.

The scout has its own clock (issue 11): it runs on its own connection, woken by Redis the moment a
partner writes (``bus.wake``), scans what is new before it pages old backlog (``lua/scout.lua``), keeps
each scan to a small budget (a call never holds Redis for long, and a routine commit never makes it wait
long), and commits on that same connection.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import nullcontext, suppress
from typing import Any

from bus.batch import Engine, plan_entries, urgent
from bus.commit import Committed, Committer
from bus.errors import PermissionDeniedError, TransportError, UnknownCommandError
from bus.keys import ROUTER_GROUP
from bus.lanes import Lanes
from bus.library import Library, Operation
from bus.plan import Plan, Position
from bus.progress import Progress
from bus.settings import Settings
from bus.transport import translate_errors
from bus.wake import Wake
from bus.wire import PAYLOAD, READ_OUT_LIMIT, Entry

log = logging.getLogger("intelbus.scout")
SCAN_ENTRIES = 64  # most entries one scan looks at, over all streams (well under a millisecond of Redis)
SCAN_BYTES = 128 * 1024  # most bytes of entries one scan looks at


def scan_reply(reply: Sequence[Any], keys: Sequence[str]) -> tuple[int, list[Entry], list[Position]]:
    """(entries scanned, candidates, positions to commit) from ``scout.lua``'s reply."""
    candidates: list[Entry] = []
    positions: list[Position] = []
    for record in reply[1:]:
        kind = record[0]
        if kind == b"candidate":
            payload = bytes(record[3])
            size = len(PAYLOAD) + len(payload)
            candidates.append(Entry(keys[int(record[1]) - 1], record[2].decode(), ((PAYLOAD, payload),), size, 1))
        elif kind == b"upto":
            positions.append(Position(*(bytes(part).decode() for part in record[1:5])))
        else:
            log.error("scouting %s failed (the other streams are scanned): %s", keys[int(record[1]) - 1],
                      record[2].decode(errors="replace"))
    return int(reply[0]), candidates, positions


class Scout:
    def __init__(self, library: Library, committer: Committer, engine: Engine, settings: Settings,
                 streams: Sequence[str], progress: Progress, url: str | None = None,
                 lanes: Lanes | None = None) -> None:
        """``url``: where the scout opens its own woken connection; without one it shares ``library``'s
        client and looks every ``block_ms``. ``lanes``: shared with the batch loop, which holds back while
        the scout commits."""
        self._lanes = lanes or Lanes()
        self._library = library
        self._committer = committer
        self._engine = engine
        self._settings = settings
        self._keys = [engine.keys.scout, *streams]
        self._progress = progress
        self._url = url
        self._offset = 0

    async def once(self, library: Library | None = None, committer: Committer | None = None) -> int:
        """Scan once; route the threat-to-life entries found. Returns how many entries were scanned."""
        library, committer = library or self._library, committer or self._committer
        self._offset += 1
        args = [ROUTER_GROUP, SCAN_ENTRIES, min(SCAN_BYTES, self._settings.read_bytes), READ_OUT_LIMIT,
                self._offset]
        async with translate_errors("scouting ingress"):
            reply = await library.call(Operation.SCOUT, self._keys, args)
        scanned, candidates, positions = scan_reply(reply, self._keys)
        if not candidates and not positions:
            return scanned
        async with self._lanes.urgent() if candidates else nullcontext():  # right of way for a found threat
            await self._commit(committer, candidates, positions)
        return scanned

    async def _commit(self, committer: Committer, candidates: list[Entry], positions: list[Position]) -> None:
        plans, failures = plan_entries(self._engine, candidates, self._engine.writes, accept=urgent)
        for failure in failures:  # the router group meets the entry too, with its retries and poison handling
            log.warning("scout could not decide %s %s (left to the router group): %s", failure.entry.stream,
                        failure.entry.entry_id, failure.error)
        plans = plans or [Plan(self._engine.keys)]
        plans[-1].positions = positions
        for plan in plans:
            outcomes, _ = await committer.commit(plan, mode="scout")
            routed = sum(outcome.status == Committed.ROUTED for outcome in outcomes)
            self._progress.stats.scouted += routed
            await self._progress.notify()
            if routed:
                log.info("scout routed %d threat-to-life submissions ahead of the queue", routed)

    async def run(self, stop: asyncio.Event) -> None:
        interval = self._settings.block_ms / 1000
        delay = interval
        channel = _Channel(self._library, self._committer, self._url)
        try:
            while not stop.is_set():
                try:
                    await channel.ensure()
                    scanned = await self.once(channel.library, channel.committer)
                    delay = interval
                except TransportError as exc:  # Redis away: the router group still routes everything, later
                    log.warning("scout paused (retrying in %.1f s): %s", delay, exc)
                    await channel.drop()
                    scanned, delay = 0, min(delay * 2, 5.0)
                except Exception:
                    log.exception("scout failed (retrying; the router group routes everything meanwhile)")
                    scanned = 0
                if not scanned:
                    await channel.wait(stop, delay)
        finally:
            await channel.drop()


class _Channel:
    """The scout's own connection and change listener (``bus.wake``), rebuilt when lost; the shared
    client, looking every ``block_ms``, when there is no url or Redis refuses tracking."""

    def __init__(self, library: Library, committer: Committer, url: str | None) -> None:
        self._library = library
        self._committer = committer
        self._url = url
        self.wake: Wake | None = None
        self.library: Library | None = None
        self.committer: Committer | None = None

    async def ensure(self) -> None:
        if self._url is None or (self.wake is not None and not self.wake.broken):
            return
        await self.drop()
        wake = Wake(self._url)
        try:
            await wake.open()
        except (PermissionDeniedError, UnknownCommandError) as exc:
            log.warning("Redis refused the scout change tracking (%s); it looks for threats to life every "
                        "block_ms instead (an ACL generated before this release? run intelbus acl generate)", exc)
            await wake.close()
            self._url = None
            return
        except TransportError:
            await wake.close()
            raise
        self.wake = wake
        self.library = self._library.using(wake.client)
        self.committer = self._committer.using(wake.client, self.library)

    async def wait(self, stop: asyncio.Event, delay: float) -> None:
        if self.wake is not None:
            await self.wake.wait(stop, delay)
        else:
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def drop(self) -> None:
        if self.wake is not None:
            await self.wake.close()
        self.wake = self.library = self.committer = None
