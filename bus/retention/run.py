"""``intelbus retention run``: remove what the plan says may go, in bounded steps, each with its erasure record.

A feed is trimmed with ``XTRIM MINID`` (exact) at most ``facts.PAGE`` entries a step, its watermark taken
again before each step (a reader may have been added or reset since); dedupe marks go by ``HDEL`` a scan
step at a time. Each step and its erasure record in ``intel:audit`` (stream, first and last id or the
window, count, policy clause, who ran it) are one MULTI/EXEC: there is no removal without its record.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.audit.log import utc_text
from bus.ids import successor
from bus.keys import Keys
from bus.policy import Ruleset
from bus.retention.facts import Entries, HoldCheck, entries_below, groups_of
from bus.retention.plan import expired_marks
from bus.retention.policy import RetentionPolicy, show_duration
from bus.retention.watermark import feed_watermark
from bus.transport import translate_errors

Progress = Callable[[str, int], None]


@dataclass(slots=True)
class Removed:
    by_stream: dict[str, int] = field(default_factory=dict)
    records: int = 0  # erasure records written

    @property
    def total(self) -> int:
        return sum(self.by_stream.values())


class Retention:
    def __init__(self, client: aioredis.Redis, keys: Keys, ruleset: Ruleset, policy: RetentionPolicy, by: str,
                 progress: Progress | None = None) -> None:
        self.client, self.keys, self.ruleset, self.policy, self.by = client, keys, ruleset, policy, by
        self.progress = progress
        self.removed = Removed()

    async def run(self, now_ms: int) -> Removed:
        for team in sorted(self.ruleset.team_ids):
            for stream in self.keys.feeds(team):
                await self.trim_feed(stream, team, now_ms)
        for partner in sorted(self.ruleset.partners):
            if not any(h.value == partner for h in self.policy.holds_of("partner")):
                await self.expire_marks(self.keys.seen(partner), now_ms)
        return self.removed

    async def trim_feed(self, stream: str, team: str, now_ms: int) -> None:
        held = [h for h in self.policy.holds_of("team") if h.value == team]
        check = HoldCheck(self.client, self.keys.decisions, stream, list(self.policy.holds))
        keep = self.policy.keep_ms["feeds"]
        while True:  # the watermark again before every step: a reader may have been added or reset since
            mark = feed_watermark(stream, await groups_of(self.client, stream), now_ms, keep, held)
            if mark.below is None:
                return
            page: Entries = await anext(aiter(entries_below(self.client, stream, mark.below)), [])
            step = []
            for entry_id, fields in page:
                if await check.holding(entry_id, fields) is not None:
                    break
                step.append(entry_id)
            if not step:
                return
            clause = f"keep.feeds {show_duration(keep)}; bound: {mark.blocked_by}"
            removed = await self._erase(stream, len(step), clause, ["XTRIM", stream, "MINID", successor(step[-1])],
                                        {"first": step[0], "last": step[-1]})
            if removed == 0 or len(step) < len(page):
                return

    async def expire_marks(self, seen: str, now_ms: int) -> None:
        window = self.policy.dedupe_window_ms
        older_than = f"{max(now_ms - window, 0)}-0"
        async for fields in expired_marks(self.client, seen, self.policy, now_ms):
            await self._erase(seen, len(fields), f"dedupe_window {show_duration(window)}",
                              ["HDEL", seen, *fields], {"older_than": older_than})

    async def _erase(self, name: str, count: int, clause: str, command: list[Any], where: dict[str, str]) -> int:
        event = {"type": "erasure", "stream": name, **where, "count": count, "clause": clause, "by": self.by,
                 "at": utc_text(datetime.now(UTC))}
        async with translate_errors(f"removing from {name}"):
            pipe = self.client.pipeline(transaction=True)
            pipe.execute_command(*command)
            pipe.xadd(self.keys.audit, {"event": orjson.dumps(event)})
            removed, _ = await pipe.execute()
        self.removed.by_stream[name] = self.removed.by_stream.get(name, 0) + int(removed)
        self.removed.records += 1
        if self.progress is not None:
            self.progress(name, int(removed))
        return int(removed)
