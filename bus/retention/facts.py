"""What Redis says of a stream's readers and entries, for the watermarks (the I/O edge of retention)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.batch import dedupe_key
from bus.ids import id_key
from bus.retention.policy import Hold
from bus.retention.watermark import Group
from bus.transport import text, translate_errors, xrange_rows

PAGE = 500  # entries per read and per trim step: each XTRIM removes at most this many (a millisecond or two)


async def groups_of(client: aioredis.Redis, stream: str) -> list[Group]:
    """Every consumer group on ``stream`` with its last-delivered id and oldest pending entry ([] if none)."""
    async with translate_errors(f"reading the groups of {stream}"):
        if not await client.exists(stream):
            return []
        infos: list[dict[Any, Any]] = await client.xinfo_groups(stream)
        groups = []
        for info in infos:
            name, pending = text(info["name"]), int(info["pending"])
            oldest = None
            if pending:
                summary = await client.xpending(stream, name)
                oldest = text(summary["min"])
            groups.append(Group(name, text(info["last-delivered-id"]), pending, oldest))
    return groups


Entries = list[tuple[str, dict[bytes, bytes]]]


async def entries_below(client: aioredis.Redis, stream: str, below: str) -> AsyncIterator[Entries]:
    """The entries with ids below ``below``, a page at a time, oldest first."""
    start = "-"
    while True:
        rows = await xrange_rows(client, stream, min=start, max=f"({below}", count=PAGE)
        if not rows:
            return
        yield [(text(entry_id), fields) for entry_id, fields in rows]
        if len(rows) < PAGE:
            return
        start = f"({text(rows[-1][0])}"


class HoldCheck:
    """Whether a feed entry is covered by a hold on its submission, its partner or its id range."""

    def __init__(self, client: aioredis.Redis, decisions: str, stream: str, holds: list[Hold]) -> None:
        self.client, self.decisions, self.stream = client, decisions, stream
        self.submissions = {dedupe_key(h.value): h for h in holds if h.kind == "submission"}  # case-blind
        self.partners = {h.value: h for h in holds if h.kind == "partner"}
        self.ranges = [h for h in holds if h.kind == "stream" and h.value == stream]

    async def holding(self, entry_id: str, fields: dict[bytes, bytes]) -> Hold | None:
        for held in self.ranges:
            if id_key(held.first) <= id_key(entry_id) <= id_key(held.last):
                return held
        hold = self.submissions.get(dedupe_key(text(fields.get(b"submission_id"))))
        if hold is None and self.partners:
            partner = await self._partner(text(fields.get(b"decision_id")))
            # a partner that cannot be read may be a held one: keep the entry
            hold = self.partners.get(partner) if partner is not None else next(iter(self.partners.values()))
        return hold

    async def _partner(self, decision_id: str) -> str | None:
        """The partner of the decision that made a feed entry (a feed entry does not name it)."""
        if not decision_id:
            return None
        rows = await xrange_rows(self.client, self.decisions, min=decision_id, max=decision_id)
        try:
            partner = orjson.loads(rows[0][1][b"decision"]).get("partner") if rows else None
        except (orjson.JSONDecodeError, KeyError, AttributeError):
            return None
        return partner if isinstance(partner, str) else None
