"""``intelbus retention run``: archive what must be archived, then remove what the plan says may go, in
bounded steps, each with its erasure record.

For each stream (``targets``): its watermark (``facts.watermark_of``); for ingress, quarantine and the
audit logs, everything below it not yet archived is written to the archive, a segment at a time, each
segment's position and ``archived`` record (segment, SHA-256, ids, count) then written to Redis in one
MULTI/EXEC; then ``XTRIM MINID`` below the watermark and the archive's position, a step at a time: whole
nodes of the stream, at most ``facts.STEP`` entries a call, or, when a hold may name single entries, a page
of ``facts.PAGE`` looked at entry by entry up to the first held one. Each step lowers the bound again, inside
Redis and atomically with the trim, to every consumer group's (a reader added or moved back since the
watermark was taken is never trimmed past). Dedupe marks go by ``HDEL`` a scan step at a time. Each removal
and its erasure record in ``intel:audit`` (stream, the id range removed, the count Redis removed, policy
clause, who ran it) are one call of ``lua/erase.lua``: there is no removal without its record.

A retention run killed at any point loses nothing and archives nothing twice: entries leave Redis only
once their segment's manifest line is written (``bus.archive.store``), and the next run takes up from the
manifest, writing any segment record Redis lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.archive.segment import RawRecord
from bus.archive.store import MAX_BYTES, MAX_RECORDS, Archive, Segment
from bus.audit.log import iter_raw, raw_reader, utc_text
from bus.errors import ArchiveError
from bus.ids import successor
from bus.keys import Keys
from bus.library import Library, Operation
from bus.policy import Ruleset
from bus.retention.facts import (
    ARCHIVE_PAGE,
    STEP,
    Entries,
    HoldCheck,
    archived_bound,
    checkpointed,
    entries_below,
    foreign_archive,
    watermark_of,
)
from bus.retention.plan import expired_marks
from bus.retention.policy import RetentionPolicy, show_duration
from bus.retention.targets import Target, targets
from bus.transport import text, translate_errors

log = logging.getLogger("intelbus.retention")
MARKS_PER_RUN = 20_000  # dedupe marks the router's run looks at per partner at least (a few ms of Redis)
SWEEP_RUNS = 12  # ... and at least this share of them: a whole sweep in at most this many runs
Progress = Callable[[str, int], None]
Lease = Callable[[], Awaitable[bool]]


class LeaseLost(Exception):  # control flow inside a run, never raised out of it
    """The run's lease went to another run: this one stops where it is."""


@dataclass(slots=True)
class Removed:
    by_stream: dict[str, int] = field(default_factory=dict)
    records: int = 0  # erasure records written
    archived: dict[str, int] = field(default_factory=dict)  # entries archived this run, by stream
    segments: int = 0
    blocked: dict[str, str] = field(default_factory=dict)  # streams the archive stopped, and why

    @property
    def total(self) -> int:
        return sum(self.by_stream.values())


class Retention:
    def __init__(self, client: aioredis.Redis, keys: Keys, ruleset: Ruleset, policy: RetentionPolicy, by: str,
                 archive: Archive | None, library: Library | None = None, progress: Progress | None = None,
                 sweep: bool = False, lease: Lease | None = None) -> None:
        self.client, self.keys, self.ruleset, self.policy, self.by = client, keys, ruleset, policy, by
        self.lease = lease  # renews the run's lease before each stream and each segment; False: it went elsewhere
        self.sweep = sweep  # dedupe marks a bounded step a run (the router's loop); False: each hash whole
        self.raw = raw_reader(client)
        self.archive, self.library = archive, library or Library(client)
        self.progress = progress
        self.removed = Removed()

    async def run(self, now_ms: int) -> Removed:
        if not self.library.ready:
            await self.library.prepare()
        archive = self.archive
        if archive is not None:
            try:
                archive.prepare()
            except ArchiveError as exc:
                log.error("retention: %s: nothing is archived or removed from ingress, quarantine or the audit "
                          "logs", exc)
                self.removed.blocked["archive"] = str(exc)
                archive = None
        try:
            await self.streams(archive, now_ms)
        except LeaseLost:
            self.removed.blocked["lease"] = (f"{self.keys.retainer} went to another run (this one outlived its "
                                             "lease): this run stopped, so that two never write the archive at once")
            log.error("retention: %s", self.removed.blocked["lease"])
            return self.removed
        for partner in sorted(self.ruleset.partners):
            if not any(h.value == partner for h in self.policy.holds_of("partner")):
                await self.expire_marks(self.keys.seen(partner), now_ms)
        return self.removed

    async def streams(self, archive: Archive | None, now_ms: int) -> None:
        heads = await checkpointed(self.client, self.keys)
        for target in targets(self.keys, self.ruleset, self.policy):
            await self._renew()
            try:
                await self.retain(target, archive, heads, now_ms)
            except ArchiveError as exc:
                log.error("retention: %s", exc)
                self.removed.blocked[target.stream] = str(exc)

    async def retain(self, target: Target, archive: Archive | None, heads: dict[str, str], now_ms: int) -> None:
        if target.archived:
            if archive is None:
                return
            await self.reconcile(archive, target.stream)
            mark = await watermark_of(self.client, self.keys, target, self.policy, heads, now_ms)
            if mark.below is not None:
                await self.archive_below(archive, target.stream, mark.below)
        await self.trim(target, archive, heads, now_ms)

    async def reconcile(self, archive: Archive, stream: str) -> None:
        """Redis and the archive agree on how much of ``stream`` is archived: Redis is given what a killed
        run did not record; an archive holding less than Redis says is not the one they went to."""
        count, foreign = await foreign_archive(self.client, self.keys, archive, stream)
        if foreign is not None:
            raise ArchiveError(foreign)
        for seg in archive.segments(stream):
            if seg.end > count:
                await self._record(seg)

    async def archive_below(self, archive: Archive, stream: str, below: str) -> None:
        last = archive.position(stream)[1]
        batch: list[RawRecord] = []
        size = 0
        async for page in iter_raw(self.raw, stream, f"({last}" if last else "-", f"({below}", ARCHIVE_PAGE):
            for entry_id, flat in page:
                batch.append((entry_id, flat))
                size += len(entry_id) + sum(map(len, flat))
                if len(batch) >= MAX_RECORDS or size >= MAX_BYTES:
                    await self._segment(archive, stream, batch)
                    batch, size = [], 0
        if batch:
            await self._segment(archive, stream, batch)

    async def _renew(self) -> None:
        if self.lease is not None and not await self.lease():
            raise LeaseLost

    async def _segment(self, archive: Archive, stream: str, batch: list[RawRecord]) -> None:
        await self._renew()
        seg = archive.append(stream, batch, utc_text(datetime.now(UTC)), self.by)
        await self._record(seg)
        self.removed.archived[stream] = self.removed.archived.get(stream, 0) + seg.count
        self.removed.segments += 1

    async def _record(self, seg: Segment) -> None:
        event = {"type": "archived", "stream": seg.stream, "first": seg.first, "last": seg.last,
                 "count": seg.count, "segment": seg.name, "sha256": seg.sha256, "by": self.by, "at": seg.at}
        async with translate_errors(f"recording archive segment {seg.name}"):
            pipe = self.client.pipeline(transaction=True)
            pipe.hset(self.keys.archive, seg.stream, f"{seg.end} {seg.last}")
            pipe.xadd(self.keys.audit, {"event": orjson.dumps(event)})
            await pipe.execute()

    async def trim(self, target: Target, archive: Archive | None, heads: dict[str, str], now_ms: int) -> None:
        stream = target.stream
        mark = await watermark_of(self.client, self.keys, target, self.policy, heads, now_ms)
        if target.archived:
            mark = archived_bound(mark, archive)
        if mark.below is None:
            return
        keep = self.policy.keep_ms[target.keep]
        clause = f"keep.{target.keep} {show_duration(keep)}; bound: {mark.blocked_by}"
        where = {"archived": target.archived}
        check = HoldCheck(self.raw, archive, self.keys, target, self.policy.holds)
        if check.names_entries:
            await self._trim_pages(target, mark.below, check, clause, where)
            return
        while await self._erase(stream, clause, ["xtrim", mark.below, STEP, target.no_reader is not None, "approx"],
                                where):
            pass  # whole nodes below the bound, STEP entries a call, until none is left

    async def _trim_pages(self, target: Target, below: str, check: HoldCheck, clause: str,
                          where: dict[str, Any]) -> None:
        """A page at a time, each entry looked at, up to the first held one."""
        while True:
            page: Entries = await anext(aiter(entries_below(self.raw, target.stream, below)), [])
            step = []
            for entry_id, flat in page:
                if await check.holding(entry_id, flat) is not None:
                    break
                step.append(entry_id)
            if not step:
                return
            removed = await self._erase(target.stream, clause, ["xtrim", successor(step[-1]), len(step),
                                                                target.no_reader is not None, "exact"], where)
            if removed == 0 or len(step) < len(page):
                return

    async def expire_marks(self, seen: str, now_ms: int) -> None:
        """The marks past the window go: every one (``intelbus retention run``), or, in the router's loop
        (``sweep``), a step a run going on from where the last run stopped (its HSCAN cursor is kept in
        ``intel:retention``, so a restart or another router takes it up): at least ``MARKS_PER_RUN`` marks
        and a twelfth of the hash, so a whole sweep takes at most 12 runs (an hour at the default interval)
        however many marks the window holds, and a mark goes at most that late."""
        window = self.policy.dedupe_window_ms
        older_than = f"{max(now_ms - window, 0)}-0"
        budget, start, field = None, 0, f"sweep {seen}"
        if self.sweep:
            async with translate_errors(f"reading {self.keys.retention} and {seen}"):
                pipe = self.client.pipeline(transaction=False)
                pipe.hget(self.keys.retention, field)
                pipe.hlen(seen)
                cursor, size = await pipe.execute()
            start = int(cursor) if cursor and text(cursor).isdigit() else 0
            budget = max(MARKS_PER_RUN, int(size) // SWEEP_RUNS)
        reached = start
        async for cursor, fields in expired_marks(self.client, seen, self.policy, now_ms, start, budget):
            reached = cursor
            if fields:
                await self._erase(seen, f"dedupe_window {show_duration(window)}", ["hdel", *fields],
                                  {"older_than": older_than})
        if self.sweep:  # once a run, not a step: a run killed before it takes up from the last one's cursor
            async with translate_errors(f"writing {self.keys.retention}"):
                await self.client.hset(self.keys.retention, field, str(reached))

    async def _erase(self, name: str, clause: str, how: list[Any], where: dict[str, Any]) -> int:
        event = {"type": "erasure", "stream": name, **where, "clause": clause, "by": self.by,
                 "at": utc_text(datetime.now(UTC))}
        args = [int(arg) if isinstance(arg, bool) else arg for arg in how[1:]]
        async with translate_errors(f"removing from {name}"):
            removed = int(await self.library.call(Operation.ERASE, [name, self.keys.audit, self.keys.trimmed],
                                                  [how[0], orjson.dumps(event), *args]))
        if removed:
            self.removed.by_stream[name] = self.removed.by_stream.get(name, 0) + removed
            self.removed.records += 1
        if self.progress is not None:
            self.progress(name, removed)
        return removed
