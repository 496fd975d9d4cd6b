"""What Redis says of a stream's readers and entries, for the watermarks (the I/O edge of retention)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import orjson
import redis.asyncio as aioredis

from bus.archive.reader import fetch
from bus.archive.store import Archive
from bus.audit.checkpoint import from_json
from bus.audit.log import iter_raw
from bus.batch import dedupe_key
from bus.errors import ArchiveError, AuditError
from bus.ids import id_key, successor
from bus.keys import Keys
from bus.retention.policy import Hold, RetentionPolicy
from bus.retention.targets import Target, subject
from bus.retention.watermark import Group, Watermark, lowest, watermark
from bus.transport import text, translate_errors, xrange_rows

PAGE = 500  # entries per read where each is looked at for holds, and so per trim step then
ARCHIVE_PAGE = 2_000  # entries per read for the archive (a millisecond or two of Redis each)
STEP = 10_000  # most entries one trim call removes, in whole nodes of the stream (well under a millisecond)


async def groups_of(client: aioredis.Redis, stream: str) -> list[Group]:
    """Every consumer group on ``stream`` with its last-delivered id and oldest pending entry ([] if none)."""
    async with translate_errors(f"reading the groups of {stream}"):
        pipe = client.pipeline(transaction=False)
        pipe.exists(stream)
        pipe.xinfo_groups(stream)
        exists, infos = await pipe.execute(raise_on_error=False)
        if not exists:
            return []
        if isinstance(infos, Exception):
            raise infos
        pending = [text(info["name"]) for info in infos if int(info["pending"])]
        pipe = client.pipeline(transaction=False)
        for name in pending:
            pipe.xpending(stream, name)
        oldest = {name: text(summary["min"]) for name, summary in zip(pending, await pipe.execute(), strict=True)}
    return [Group(text(info["name"]), text(info["last-delivered-id"]), int(info["pending"]),
                  oldest.get(text(info["name"]))) for info in infos]


Entries = list[tuple[str, list[bytes]]]  # (id, [field, value, ...]) exactly as Redis holds it


async def entries_below(raw: aioredis.Redis, stream: str, below: str, start: str = "-") -> AsyncIterator[Entries]:
    """The entries with ids below ``below`` (from ``start``), a page at a time, oldest first (``raw``: a
    ``raw_reader`` client, so every field comes as it is, repeated names included)."""
    async for rows in iter_raw(raw, stream, start, f"({below}", PAGE):
        yield [(entry_id.decode(), flat) for entry_id, flat in rows]


async def scout_position(client: aioredis.Redis, keys: Keys, stream: str) -> str | None:
    """How far the scout has scanned ``stream`` (None: not yet)."""
    async with translate_errors(f"reading {keys.scout}"):
        position = await client.hget(keys.scout, stream)
    return text(position) if position else None


async def checkpointed(client: aioredis.Redis, keys: Keys) -> dict[str, str]:
    """Per audit log, the last record the newest checkpoint in Redis covers ({} when there is none)."""
    async with translate_errors(f"reading {keys.checkpoints}"):
        rows = await xrange_rows(client, keys.checkpoints, reverse=True, count=1)
    if not rows:
        return {}
    try:
        checkpoint = from_json(orjson.loads(rows[0][1].get(b"checkpoint", b"")))
    except (orjson.JSONDecodeError, AuditError):
        return {}
    return {head.name: head.last_id for head in checkpoint.logs if head.last_id != "-"}


class HoldCheck:
    """Whether an entry is covered by a hold on its submission, partner or team, or on its id range."""

    def __init__(self, client: aioredis.Redis, archive: Archive | None, keys: Keys, target: Target,
                 holds: Sequence[Hold]) -> None:
        self.client, self.archive, self.keys, self.target = client, archive, keys, target
        self.submissions = {dedupe_key(h.value): h for h in holds if h.kind == "submission"}  # case-blind
        self.partners = {h.value: h for h in holds if h.kind == "partner"}
        self.teams = {h.value: h for h in holds if h.kind == "team"}
        self.ranges = [h for h in holds if h.kind == "stream" and h.value == target.stream]

    @property
    def names_entries(self) -> bool:
        """Whether some hold may cover single entries of the stream (each is then looked at)."""
        return bool(self.ranges or self.submissions or self.partners or self.teams)

    async def holding(self, entry_id: str, flat: list[bytes]) -> Hold | None:
        for held in self.ranges:
            if id_key(held.first) <= id_key(entry_id) <= id_key(held.last):
                return held
        if not (self.submissions or self.partners or self.teams):
            return None
        about = subject(self.target, self.keys, flat)
        for hold in (*map(self.submissions.get, about.submissions), *map(self.partners.get, about.partners),
                     *map(self.teams.get, about.teams)):
            if hold is not None:
                return hold
        return await self._by_decision(about.decision_ids) if self.partners and self.target.kind == "feed" else None

    async def _by_decision(self, decision_ids: set[str]) -> Hold | None:
        """A feed entry's partner hold, through its decision (a feed entry does not name its partner)."""
        for decision_id in decision_ids or {""}:
            partner = await self._partner(decision_id)
            # a partner that cannot be read may be a held one: keep the entry
            hold = self.partners.get(partner) if partner is not None else next(iter(self.partners.values()))
            if hold is not None:
                return hold
        return None

    async def _partner(self, decision_id: str) -> str | None:
        """The partner of the decision that made a feed entry (a feed entry does not name it)."""
        if not decision_id:
            return None
        async with translate_errors(f"reading {self.keys.decisions}"):
            found = await fetch(self.client, self.archive, self.keys.decisions, [decision_id])
        flat = found.get(decision_id)
        try:
            partner = orjson.loads(flat[1]).get("partner") if flat and len(flat) > 1 else None
        except (orjson.JSONDecodeError, AttributeError):
            return None
        return partner if isinstance(partner, str) else None


async def watermark_of(client: aioredis.Redis, keys: Keys, target: Target, policy: RetentionPolicy,
                       heads: dict[str, str], now_ms: int) -> Watermark:
    """``target``'s bound before the archive is taken into account: its period, groups, other readers (the
    scout on ingress; the newest checkpoint ``heads`` on an audit log) and the holds on the whole of it."""
    extra = []
    if target.kind == "ingress":
        scanned = await scout_position(client, keys, target.stream)
        if scanned is not None:
            extra.append((successor(scanned), f"scout: scanned up to {scanned}"))
    mark = watermark(target.stream, await groups_of(client, target.stream), now_ms, policy.keep_ms[target.keep],
                     list(target.held), no_reader=target.no_reader, bounds=tuple(extra))
    if target.keep_newest:
        async with translate_errors(f"reading {target.stream}"):
            newest = await xrange_rows(client, target.stream, reverse=True, count=1)
        mark = lowest(mark, text(newest[0][0]) if newest else None, "its newest entry stays in Redis")
    if target.checkpointed:
        last = heads.get(target.stream)
        mark = lowest(mark, successor(last) if last else None,
                      f"audit: the newest signed checkpoint covers up to {last}" if last
                      else "audit: no signed checkpoint covers it yet")
    return mark


async def redis_archived(client: aioredis.Redis, keys: Keys, stream: str) -> int:
    """How many entries of ``stream`` Redis says were archived (``intel:archive``: "<count> <last id>")."""
    async with translate_errors(f"reading {keys.archive}"):
        said = text(await client.hget(keys.archive, stream) or b"0")
    try:
        return int(said.split()[0])
    except (ValueError, IndexError):
        raise ArchiveError(f"{keys.archive} {stream}: {said!r} is not an archive position") from None


async def foreign_archive(client: aioredis.Redis, keys: Keys, archive: Archive, stream: str) -> tuple[int, str | None]:
    """(what Redis says was archived of ``stream``, why ``archive`` is not the one it went to, or None)."""
    count, held = await redis_archived(client, keys, stream), archive.position(stream)[0]
    if count <= held:
        return count, None
    return count, (f"Redis says {count:,} entries of {stream} were archived, but {archive.folder} holds {held:,}: "
                   "it is not the archive they went to (another host's data folder, or one restored from an older "
                   f"backup); nothing more of {stream} is archived or removed until that archive is here")


def archived_bound(mark: Watermark, archive: Archive | None) -> Watermark:
    """``mark`` lowered to what the archive holds of its stream (no archive, or nothing archived: nothing)."""
    if archive is None:
        return lowest(mark, None, "archive: no archive folder (it leaves Redis only once archived)")
    last = archive.position(mark.stream)[1]
    return lowest(mark, successor(last) if last else None,
                  f"archive: archived up to {last}" if last else "archive: not archived yet")
