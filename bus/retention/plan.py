"""``intelbus retention plan``: per stream (and dedupe hash), what may be removed now and what blocks it.

For ingress, quarantine and the audit logs, "may go" counts what a run would archive first and then
remove; the archived column is what the archive holds of the stream already. Nothing is written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from bus.archive.store import Archive
from bus.audit.log import raw_reader
from bus.batch import dedupe_key
from bus.errors import ArchiveError
from bus.keys import Keys
from bus.policy import Ruleset
from bus.retention.facts import HoldCheck, checkpointed, entries_below, foreign_archive, watermark_of
from bus.retention.policy import RetentionPolicy, show_duration
from bus.retention.targets import Target, targets
from bus.retention.watermark import Watermark, lowest, mark_expired
from bus.transport import text, translate_errors

HSCAN_COUNT = 500


@dataclass(slots=True)
class Row:
    stream: str
    kind: str  # ingress | feed | receipt | audit | quarantine | dedupe
    length: int
    memory: int  # bytes, MEMORY USAGE
    removable: int  # entries (or marks) that would go now
    below: str | None  # a stream's MINID; for dedupe marks: the window
    blocked_by: str
    archived: int | None = None  # entries the archive holds (None: a kind that is not archived)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def plan(client: aioredis.Redis, keys: Keys, ruleset: Ruleset, policy: RetentionPolicy, now_ms: int,
               archive: Archive | None) -> list[Row]:
    rows = []
    heads = await checkpointed(client, keys)
    for target in targets(keys, ruleset, policy):
        rows.append(await stream_row(client, keys, target, policy, heads, now_ms, archive))
    for partner in sorted(ruleset.partners):
        rows.append(await dedupe_row(client, keys.seen(partner), partner, policy, now_ms))
    return rows


async def stream_row(client: aioredis.Redis, keys: Keys, target: Target, policy: RetentionPolicy,
                     heads: dict[str, str], now_ms: int, archive: Archive | None) -> Row:
    mark = await watermark_of(client, keys, target, policy, heads, now_ms)
    archived = None
    if target.archived:
        if archive is None:
            mark = lowest(mark, None, "archive: no archive folder (it leaves Redis only once archived)")
        else:
            archived = archive.position(target.stream)[0]
            try:
                foreign = (await foreign_archive(client, keys, archive, target.stream))[1]
            except ArchiveError as exc:  # what the run stops at, the plan says blocks
                foreign = str(exc)
            if foreign is not None:
                mark = lowest(mark, None, f"archive: {foreign}")
    length, memory = await _size(client, target.stream, hashed=False)
    removable = 0
    if mark.below is not None:
        check = HoldCheck(client, archive, keys, target, policy.holds)
        removable, mark = await _first_held(raw_reader(client), target.stream, mark, check)
    return Row(target.stream, target.kind, length, memory, removable, mark.below, mark.blocked_by, archived)


async def _first_held(raw: aioredis.Redis, stream: str, mark: Watermark, check: HoldCheck) -> tuple[int, Watermark]:
    assert mark.below is not None
    count = 0
    async for page in entries_below(raw, stream, mark.below):
        for entry_id, flat in page:
            hold = await check.holding(entry_id, flat)
            if hold is not None:
                return count, Watermark(stream, entry_id if count else None, [str(hold), *mark.reasons])
            count += 1
    return count, mark


async def dedupe_row(client: aioredis.Redis, seen: str, partner: str, policy: RetentionPolicy, now_ms: int) -> Row:
    length, memory = await _size(client, seen, hashed=True)
    window = f"dedupe_window {show_duration(policy.dedupe_window_ms)}"
    held = [h for h in policy.holds_of("partner") if h.value == partner]
    if held:
        return Row(seen, "dedupe", length, memory, 0, window, str(held[0]))
    removable = sum([len(fields) async for _, fields in expired_marks(client, seen, policy, now_ms)])
    return Row(seen, "dedupe", length, memory, removable, window, f"period: {window}")


async def expired_marks(client: aioredis.Redis, seen: str, policy: RetentionPolicy, now_ms: int, cursor: int = 0,
                        budget: int | None = None) -> Any:
    """The dedupe marks of ``seen`` set before the window, a scan step at a time (held submissions stay), as
    (the scan's cursor after the step, the marks): from ``cursor`` to the end of the scan, or, with
    ``budget``, until about that many marks were looked at (the caller goes on from the cursor next time)."""
    held = {dedupe_key(h.value) for h in policy.holds_of("submission")}
    looked = 0
    while True:
        async with translate_errors(f"scanning {seen}"):
            cursor, marks = cast(tuple[int, dict[bytes, bytes]], await client.hscan(seen, cursor, count=HSCAN_COUNT))
        gone = [field for field, value in marks.items()
                if text(field) not in held and mark_expired(text(value).split(" ", 1)[0] or "0-0", now_ms,
                                                            policy.dedupe_window_ms)]
        looked += len(marks)
        yield cursor, gone
        if cursor == 0 or (budget is not None and looked >= budget):
            return


async def _size(client: aioredis.Redis, name: str, hashed: bool) -> tuple[int, int]:
    async with translate_errors(f"measuring {name}"):
        length = int(await (client.hlen(name) if hashed else client.xlen(name)))
        memory = await client.memory_usage(name) if length else 0
    return length, int(memory or 0)

