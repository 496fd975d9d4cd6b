"""The router's main loop: read a bounded batch (``lua/read.lua``), decide it (``bus.batch``), commit it
(``bus.commit``); the next batch is read and decided while the last one commits.

Reads go through the server-side operation, not a framework subscriber, because only there can a read
be bounded by bytes (a partner's 5 MB entries stay in Redis) and see an entry's fields as Redis holds
them (a repeated ``payload`` is two fields, not one). When a read finds nothing new the loop waits
``block_ms`` and looks again; a group found missing is recreated at 0 by the read itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

import redis.asyncio as aioredis

from bus.batch import Engine, Failure, Planner, plan_entries, says_threat_to_life
from bus.commit import Committer, Outcome
from bus.errors import GroupExistsError, TransportError
from bus.keys import ROUTER_GROUP
from bus.lanes import Lanes
from bus.library import Library, Operation
from bus.plan import Plan
from bus.progress import Progress
from bus.settings import Settings
from bus.transport import translate_errors
from bus.wire import READ_OUT_LIMIT, Entry, ReadReply, StreamNote, read_reply

log = logging.getLogger("intelbus.router")
PLAN_ENTRIES = 25
"""Entries decided between two looks at the event loop (a couple of milliseconds of Python): the scout
shares the loop, so this bounds how long it waits for the process, whatever the batch size."""
COMMIT_ENTRIES = 100
"""Most entries in one commit call. Under ``appendfsync always`` a call's writes are fsynced before Redis
serves anyone else: 100 entries are some 300 KB, about 2 ms (200: 600 KB, up to 15-25 ms on this class of
disk, which the urgent lane then waits; 25: a quarter more router CPU per submission). bench/urgent.py and
bench/sar_backlog.py measure the two sides."""


def consumer_name(settings: Settings) -> str:
    return settings.consumer_name or f"router-{socket.gethostname()}-{os.getpid()}"


async def ensure_groups(client: aioredis.Redis, streams: Sequence[str], group: str = ROUTER_GROUP,
                        counted: bool = True) -> list[str]:
    """Create missing groups at 0 (MKSTREAM); return the streams whose group had to be created. ``counted``
    (Redis 7): with a read counter from the start (ENTRIESREAD 0), without which trims of entries the
    group never read would not show in its lag."""
    created = []
    for stream in streams:
        try:
            async with translate_errors(f"creating group {group} on {stream}"):
                await client.xgroup_create(stream, group, id="0", mkstream=True, entries_read=0 if counted else None)
            created.append(stream)
        except GroupExistsError:  # the normal case
            pass
    return created


class BatchLoop:
    """Reads, decides and commits the router group's entries until stopped."""

    def __init__(self, library: Library, committer: Committer, engine: Engine, settings: Settings,
                 streams: Sequence[str], consumer: str, progress: Progress, lanes: Lanes | None = None) -> None:
        self._library = library
        self._lanes = lanes or Lanes()
        self._committer = committer
        self._engine = engine
        self._settings = settings
        self._keys = [engine.keys.audit, *streams]
        self._consumer = consumer
        self._progress = progress
        self._stats = progress.stats
        self._offset = 0
        self._reported: set[tuple[str, str, tuple[str, ...]]] = set()

    async def read(self) -> ReadReply:
        self._offset += 1
        number = self._progress.begin()
        args = [ROUTER_GROUP, self._consumer, self._settings.batch_size, self._settings.read_bytes,
                READ_OUT_LIMIT, self._offset, self._engine.keys.ingress_prefix]
        await self._lanes.routine()
        async with translate_errors("reading ingress"):
            reply = await self._library.call(Operation.READ, self._keys, args)
        parsed = read_reply(reply, self._keys, number)
        for note in parsed.notes:
            self._report(note)
        return parsed

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: the next read runs in Redis while this batch is decided, and this batch's commit
        while the next is decided. On ``stop`` whatever was read is still decided and committed."""
        work = _InHand()
        idle = self._settings.block_ms / 1000
        delay = idle
        while not stop.is_set() or work.ahead is not None:
            try:
                busy = await self._cycle(work, stop)
                delay = idle
                if busy:
                    continue
            except TransportError as exc:  # Redis away or refusing: nothing is lost, the entries stay pending
                log.warning("routing paused (retrying in %.1f s): %s", delay, exc)
                delay = min(delay * 2, 5.0)
                await work.settle()
            except Exception:  # a bug must not stop routing: the batch stays pending and is reclaimed
                log.exception("routing a batch failed (its entries stay pending and will be retried)")
                await work.settle()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
        if work.commit is not None:  # SIGTERM: finish the batch in hand
            with suppress(TransportError):
                await work.commit

    async def _cycle(self, work: _InHand, stop: asyncio.Event) -> bool:
        """Take one batch from read to commit in flight; True while there is more to do at once."""
        batch = await (work.ahead or self.read())
        work.ahead = None
        if batch.entries and not stop.is_set():
            work.ahead = asyncio.create_task(self.read())
            await asyncio.sleep(0)  # its request is on the wire before the decisions start
        entries = await self._threats_first(batch.entries)
        plans, failures = await self._plan(entries)
        if work.commit is not None:
            await work.commit
            work.commit = None
        await self._progress.failed(self._committer, failures)
        if plans:
            work.commit = asyncio.create_task(self._commit(plans))
            return True
        if batch.pending == 0 and not batch.entries:
            await self._progress.idle(batch.number)
        return False

    async def _threats_first(self, entries: Sequence[Entry]) -> Sequence[Entry]:
        """Decide and commit the batch's threats to life before the rest of it (the scout finds those the
        group has not read yet; these are ones it read first); return the rest."""
        urgent = [says_threat_to_life(entry) for entry in entries]
        if not any(urgent):
            return entries
        first = [entry for entry, flag in zip(entries, urgent, strict=True) if flag]
        plans, failures = plan_entries(self._engine, first, self._engine.writes)
        await self._progress.failed(self._committer, failures)
        await self._commit(plans, urgent=True)
        return [entry for entry, flag in zip(entries, urgent, strict=True) if not flag]

    async def _plan(self, entries: Sequence[Entry]) -> tuple[list[Plan], list[Failure]]:
        """Plan a batch ``PLAN_ENTRIES`` at a time, letting the scout in between (it shares this event loop),
        so that it never waits behind more than a few milliseconds of deciding, into commit calls of at
        most ``COMMIT_ENTRIES``, so that neither it nor anyone else waits long behind one in Redis."""
        planner = Planner(self._engine, self._engine.writes, max_entries=COMMIT_ENTRIES)
        for start in range(0, len(entries), PLAN_ENTRIES):
            planner.add(entries[start:start + PLAN_ENTRIES])
            await asyncio.sleep(0)
        return planner.plans, planner.failures

    async def _commit(self, plans: list[Plan], urgent: bool = False) -> None:
        for plan in plans:
            if not urgent:
                await self._lanes.routine()
            outcomes, failures = await self._committer.commit(plan)
            await self._progress.failed(self._committer, failures)
            await self._progress.record(outcomes)
            _log_outcomes(outcomes)

    def _report(self, note: StreamNote) -> None:
        partner = self._engine.keys.partner_of(note.stream)
        if note.kind == "created":
            log.critical("consumer group %s on %s was missing (stream deleted, or Redis restarted without its "
                         "data); recreated it at 0: entries written since are routed, entries that were pending "
                         "may have been lost or may be routed again (duplicates are caught by submission_id)",
                         ROUTER_GROUP, note.stream)
        elif note.kind == "trimmed":
            count, after, first = note.detail
            self._stats.trimmed += int(count)
            log.critical("partner %s trimmed %s unread entries from %s (after %s, before %s) before the router "
                         "read them: they can never be decided (written to the audit stream)",
                         partner, count, note.stream, after, first or "the end")
        elif (key := (note.stream, note.kind, note.detail)) not in self._reported:
            self._reported.add(key)  # a stream failing on every read is logged once, not on every read
            log.error("reading %s failed (the other streams are read): %s", note.stream, " ".join(note.detail))


@dataclass
class _InHand:
    """What the batch loop has in flight: the last batch's commit, the next batch's read."""

    commit: asyncio.Task[None] | None = None
    ahead: asyncio.Task[ReadReply] | None = None

    async def settle(self) -> None:
        """After a failure, let the other work finish (its own error is already reported, or is the same
        outage); a read abandoned this way leaves its entries pending, for recovery."""
        for task in (self.commit, self.ahead):
            if task is not None:
                with suppress(Exception):
                    await task
        self.commit = self.ahead = None


def _log_outcomes(outcomes: Sequence[Outcome]) -> None:
    if log.isEnabledFor(logging.DEBUG):
        for outcome in outcomes:
            log.debug("%s %s %s -> %s", outcome.entry.stream, outcome.entry.entry_id, outcome.status,
                      outcome.decision_id)

