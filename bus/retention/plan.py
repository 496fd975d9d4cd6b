"""``intelbus retention plan``: per stream (and dedupe hash), what may be removed now and what blocks it.

Feeds and dedupe marks are removed by ``intelbus retention run``. Ingress, the audit logs and quarantine
leave Redis only once written to the archive (DESIGN: nothing dropped; the audit log stays verifiable),
and the archive is not part of this release yet: their rows say so and their counts are never trimmable.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, cast

import redis.asyncio as aioredis

from bus.batch import dedupe_key
from bus.keys import Keys
from bus.policy import Ruleset
from bus.retention.facts import HoldCheck, entries_below, groups_of
from bus.retention.policy import RetentionPolicy, show_duration
from bus.retention.watermark import Watermark, feed_watermark, mark_expired
from bus.transport import text, translate_errors

ARCHIVE_FIRST = "archive: leaves Redis only once archived, and this release has no archive yet"
HSCAN_COUNT = 500


@dataclass(slots=True)
class Row:
    stream: str
    kind: str  # ingress | feed | audit | quarantine | dedupe
    length: int
    memory: int  # bytes, MEMORY USAGE
    removable: int  # entries (or marks) that would go now
    below: str | None  # a stream's MINID; for dedupe marks: the window
    blocked_by: str

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


async def plan(client: aioredis.Redis, keys: Keys, ruleset: Ruleset, policy: RetentionPolicy, now_ms: int) -> list[Row]:
    rows = []
    for team in sorted(ruleset.team_ids):
        for stream in keys.feeds(team):
            row, _ = await feed_row(client, keys, stream, team, policy, now_ms)
            rows.append(row)
    for partner in sorted(ruleset.partners):
        rows.append(await dedupe_row(client, keys.seen(partner), partner, policy, now_ms))
    kept = [*((keys.ingress(p), "ingress") for p in sorted(ruleset.partners)), (keys.quarantine, "quarantine"),
            (keys.decisions, "audit"), (keys.audit, "audit"), (keys.checkpoints, "audit"),
            *((keys.consultations(t), "audit") for t in sorted(ruleset.team_ids))]
    for stream, kind in kept:
        length, memory = await _size(client, stream, hashed=False)
        rows.append(Row(stream, kind, length, memory, 0, None, ARCHIVE_FIRST))
    return rows


async def feed_row(client: aioredis.Redis, keys: Keys, stream: str, team: str, policy: RetentionPolicy,
                   now_ms: int) -> tuple[Row, Watermark]:
    """A feed's row, and its watermark with the first held entry below it taken into account."""
    held = [h for h in policy.holds_of("team") if h.value == team]
    mark = feed_watermark(stream, await groups_of(client, stream), now_ms, policy.keep_ms["feeds"], held)
    length, memory = await _size(client, stream, hashed=False)
    removable = 0
    if mark.below is not None:
        check = HoldCheck(client, keys.decisions, stream, list(policy.holds))
        removable, mark = await _first_held(client, stream, mark, check)
    return Row(stream, "feed", length, memory, removable, mark.below, mark.blocked_by), mark


async def _first_held(client: aioredis.Redis, stream: str, mark: Watermark, check: HoldCheck) -> tuple[int, Watermark]:
    assert mark.below is not None
    count = 0
    async for page in entries_below(client, stream, mark.below):
        for entry_id, fields in page:
            hold = await check.holding(entry_id, fields)
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
    removable = sum([len(fields) async for fields in expired_marks(client, seen, policy, now_ms)])
    return Row(seen, "dedupe", length, memory, removable, window, f"period: {window}")


async def expired_marks(client: aioredis.Redis, seen: str, policy: RetentionPolicy, now_ms: int) -> Any:
    """The dedupe marks of ``seen`` set before the window, a scan step at a time (held submissions stay)."""
    held = {dedupe_key(h.value) for h in policy.holds_of("submission")}
    cursor = 0
    while True:
        async with translate_errors(f"scanning {seen}"):
            cursor, marks = cast(tuple[int, dict[bytes, bytes]], await client.hscan(seen, cursor, count=HSCAN_COUNT))
        gone = [field for field, value in marks.items()
                if text(field) not in held and mark_expired(text(value).split(" ", 1)[0] or "0-0", now_ms,
                                                            policy.dedupe_window_ms)]
        if gone:
            yield gone
        if cursor == 0:
            return


async def _size(client: aioredis.Redis, name: str, hashed: bool) -> tuple[int, int]:
    async with translate_errors(f"measuring {name}"):
        length = int(await (client.hlen(name) if hashed else client.xlen(name)))
        memory = await client.memory_usage(name) if length else 0
    return length, int(memory or 0)

