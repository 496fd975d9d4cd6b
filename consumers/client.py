"""The team client: read a team's feed through the consumer group ``team``, immediate entries first.

A team has two feed streams, both read through the group ``team`` (created at id ``0``, so nothing
written before the first consumer started is skipped):

* ``intel:feed:<team>:immediate``: deliveries of priority ``immediate``, always read first;
* ``intel:feed:<team>``: deliveries of priority ``high`` and ``routine``.

Each entry has these fields, all written by the router:

* ``payload``: the team's view of the submission as UTF-8 JSON (the whole submission, or the sanitised
  view with source-revealing fields removed).
* ``submission_id``: the partner's submission UUID (the same for every team that received it).
* ``priority``: ``immediate``, ``high`` or ``routine``.
* ``view``: ``full`` or ``sanitised`` (which of the two the payload is).
* ``due``: RFC 3339 date-time with offset by which the team should act, or an empty string for none.
* ``decision_id``: entry id, in ``intel:decisions``, of the routing decision behind this delivery.

Delivery is at least once: an entry stays in the group's pending list until acked, and an entry left
pending longer than ``claim_idle_ms`` (its consumer died) is reclaimed by the next ``read``.

Consultation records (DPA 2018 Part 3 s.62, ``bus.audit.consult``): each ``read`` that returns deliveries
(new or reclaimed) and each ``ack``/``ack_many`` writes one record to ``intel:consult:<team>`` (field
``consultation``): the team, this consumer's name, ``read`` or ``ack``, each delivery's ``decision_id`` and
``"<feed stream> <entry id>"``, and the time; never a payload. ``accept`` does the same for entries
another reader (a FastStream subscriber) took from the group. The record of a read is written before the
read returns: if it cannot be written (e.g. ``NOPERM``: the team's ACL user predates consultation records,
so regenerate the ACLs with ``intelbus acl generate``) the read raises ``ConsultationError`` and hands out
nothing; its entries stay pending in the group and a later read reclaims them once idle. An ack whose
record cannot be written raises the same error after the XACK. Entries deleted while pending are acked
without a record (nothing was consulted).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import orjson
import redis.asyncio as aredis

from bus.audit.consult import Action, record
from bus.errors import ConsultationError, GroupExistsError, GroupMissingError, PermissionDeniedError, TransportError
from bus.keys import TEAM_GROUP, Keys
from bus.transport import text, translate_errors, xread_parts

log = logging.getLogger(__name__)

T = TypeVar("T")
Entry = tuple[Any, Any]  # (entry id, field dict); (None, None) for a deleted entry in a 6.2 XAUTOCLAIM
PEL_SCAN_PAGE = 500
MAX_RECONNECT_DELAY = 5.0
DEFAULT_KEYS = Keys()


@dataclass(frozen=True, slots=True)
class Delivery:
    """One feed entry. ``stream``/``entry_id`` identify it for XACK; the other fields are the entry's."""

    stream: str
    entry_id: str
    submission_id: str
    priority: str
    view: str
    due: datetime | None
    decision_id: str
    payload: bytes

    def json(self) -> Any:
        """The payload decoded from JSON."""
        return orjson.loads(self.payload)

    @property
    def routed_at_ms(self) -> int:
        """When the router wrote the entry (milliseconds since the epoch, from the entry id)."""
        return int(self.entry_id.split("-", 1)[0])


def parse_due(value: str) -> datetime | None:
    """RFC 3339 with offset; ``None`` for an empty value (or an unreadable one, logged)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        log.warning("feed entry has an unreadable due %r; treated as none", value)
        return None
    return moment


def to_delivery(stream: str, entry_id: bytes | str, fields: Mapping[Any, Any]) -> Delivery:
    """A ``Delivery`` from one entry's field dict (keys and values as bytes, or str with decode_responses)."""
    def get(name: str) -> Any:
        value = fields.get(name.encode())
        return fields.get(name) if value is None else value

    payload = get("payload")
    return Delivery(stream=stream, entry_id=text(entry_id), submission_id=text(get("submission_id")),
                    priority=text(get("priority")), view=text(get("view")), due=parse_due(text(get("due"))),
                    decision_id=text(get("decision_id")),
                    payload=payload.encode() if isinstance(payload, str) else (payload or b""))


def split_entries(stream: str, entries: Iterable[Entry]) -> tuple[list[Delivery], list[str], int]:
    """(deliveries, ids of entries without fields, number of entries without an id).

    An entry without fields was deleted while pending: ack it and skip it. Redis 6.2's XAUTOCLAIM
    returns such an entry as nil (redis-py: ``(None, None)``), so its id has to be found in the PEL.
    """
    deliveries: list[Delivery] = []
    empty: list[str] = []
    anonymous = 0
    for entry_id, fields in entries:
        if entry_id is None:
            anonymous += 1
        elif not fields:
            empty.append(text(entry_id))
        else:
            deliveries.append(to_delivery(stream, entry_id, fields))
    return deliveries, empty, anonymous


def autoclaim_parts(reply: Sequence[Any]) -> tuple[str, list[Entry], list[str]]:
    """(next cursor, claimed entries, deleted ids) from an XAUTOCLAIM reply: ``[cursor, entries]`` on
    Redis 6.2, ``[cursor, entries, deleted ids]`` on 7.x (which already dropped those from the PEL)."""
    if len(reply) not in (2, 3):
        raise ValueError(f"unexpected XAUTOCLAIM reply with {len(reply)} elements")
    deleted = [text(entry_id) for entry_id in reply[2] or []] if len(reply) == 3 else []
    return text(reply[0]), list(reply[1] or []), deleted


class TeamClient:
    """Reads one team's feed as ``consumer`` in the group ``team``; ack each delivery once handled.

    ``redis`` is a ``redis.asyncio.Redis`` the caller owns; its ``socket_timeout``, if set, must exceed
    ``block_ms``. Redis errors surface as ``TransportError``. A vanished group is recreated at ``0``.
    Each read that returns deliveries and each ack writes a consultation record naming ``consumer`` (see
    the module's docstring); ``ConsultationError`` (a ``TransportError``) when it cannot.
    """

    def __init__(self, redis: aredis.Redis, team: str, consumer: str, keys: Keys = DEFAULT_KEYS,
                 claim_idle_ms: int = 30000) -> None:
        self.redis = redis
        self.team = team
        self.consumer = consumer
        self.keys = keys
        self.claim_idle_ms = claim_idle_ms
        self.immediate, self.routine = keys.feeds(team)
        self._cursors: dict[str, str] = {self.immediate: "0-0", self.routine: "0-0"}

    async def ensure_groups(self) -> None:
        """Create the group ``team`` at id ``0`` (MKSTREAM) on both feed streams; existing ones are kept."""
        for stream in (self.immediate, self.routine):
            try:
                async with translate_errors(f"creating group {TEAM_GROUP} on {stream}"):
                    await self.redis.xgroup_create(stream, TEAM_GROUP, id="0", mkstream=True)
            except GroupExistsError:  # the normal case
                pass

    async def read(self, count: int = 100, block_ms: int = 1000) -> list[Delivery]:
        """Up to ``count`` deliveries, immediate ones first.

        Order of work: reclaim idle immediate entries (XAUTOCLAIM), read new immediate entries, then, while
        fewer than ``count`` were found, reclaim idle routine entries and read new routine ones (all
        without blocking). Only when nothing at all was found does it block up to ``block_ms`` on both
        streams in one XREADGROUP, so a new immediate entry wakes it (that read returns up to ``count``
        per stream). Claiming before routine reads means a dead consumer's urgent work comes back first.
        """
        found: list[Delivery] = []
        for stream in (self.immediate, self.routine):
            if len(found) < count:
                found += await self._guarded(partial(self._claim, stream, count - len(found)))
            if len(found) < count:
                found += await self._guarded(partial(self._read_new, {stream: ">"}, count - len(found), None))
        if not found and block_ms > 0:
            both = {self.immediate: ">", self.routine: ">"}
            found = await self._guarded(partial(self._read_new, both, count, block_ms))
        if found:
            await self._consulted("read", found)
        return found

    async def accept(self, stream: str, entries: Iterable[Entry]) -> list[Delivery]:
        """Deliveries from ``entries`` another reader took from ``stream`` as this consumer of the group
        (the FastStream example's subscribers): acks those deleted while pending, writes the read's
        consultation record and returns the rest. Raises ``ConsultationError`` as ``read`` does."""
        deliveries, empty, anonymous = split_entries(stream, entries)
        await self._drop_deleted(stream, empty, anonymous)
        if deliveries:
            await self._consulted("read", deliveries)
        return deliveries

    async def ack(self, delivery: Delivery) -> int:
        """XACK one delivery on its stream; returns 1, or 0 if it was not pending (already acked)."""
        return await self.ack_many([delivery])

    async def ack_many(self, deliveries: Iterable[Delivery]) -> int:
        """XACK deliveries, grouped by stream, in one round trip; returns how many were pending.

        Then writes one consultation record (``ack``) naming every delivery given, pending or not."""
        acked = list(deliveries)
        by_stream: dict[str, list[str]] = {}
        for delivery in acked:
            by_stream.setdefault(delivery.stream, []).append(delivery.entry_id)
        if not by_stream:
            return 0
        async with translate_errors(f"acking deliveries of team {self.team}"), \
                self.redis.pipeline(transaction=False) as pipe:
            for stream, ids in by_stream.items():
                pipe.xack(stream, TEAM_GROUP, *ids)
            results = await pipe.execute()
        await self._consulted("ack", acked)
        return sum(int(n) for n in results)

    def __aiter__(self) -> AsyncIterator[Delivery]:
        return self.deliveries()

    async def deliveries(self, count: int = 100, block_ms: int = 1000) -> AsyncGenerator[Delivery, None]:
        """Yield deliveries forever (the caller acks them). Creates the groups first; on ``TransportError``
        it logs, waits (doubling up to 5 s) and carries on, so a service survives a Redis restart."""
        delay = 0.1
        ready = False
        while True:
            try:
                if not ready:
                    await self.ensure_groups()
                    ready = True
                batch = await self.read(count, block_ms)
                delay = 0.1
            except TransportError as exc:
                log.warning("team %s feed read failed, retrying in %.1f s: %s", self.team, delay, exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)
                continue
            for delivery in batch:
                yield delivery

    async def _consulted(self, action: Action, deliveries: Sequence[Delivery]) -> None:
        """Write the consultation record of a read or an ack; ``ConsultationError`` saying what to do if not."""
        try:
            await record(self.redis, self.keys, self.team, self.consumer, action, deliveries)
        except TransportError as exc:
            self._cursors = dict.fromkeys(self._cursors, "0-0")  # the next claim rescans from the start
            raise ConsultationError(self._unrecorded(action, len(deliveries), exc)) from exc

    def _unrecorded(self, action: Action, n: int, exc: TransportError) -> str:
        stream = self.keys.consultations(self.team)
        if action == "read":
            what = (f"read {n} deliveries but could not write their consultation record to {stream}, so they "
                    f"are not handed out: they stay pending in group {TEAM_GROUP} and a later read reclaims them "
                    f"once idle for {self.claim_idle_ms} ms")
        else:
            what = f"acked {n} deliveries but could not write the consultation record of the ack to {stream}"
        if isinstance(exc, PermissionDeniedError):
            fix = (f"the Redis user may not append to {stream} (an ACL from before consultation records): "
                   "regenerate the ACLs with `intelbus acl generate` and load the new users.acl into Redis")
        else:
            fix = str(exc)
        return f"team {self.team}, consumer {self.consumer}: {what}; {fix}"

    async def _guarded(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run a read; on a missing group, recreate the groups at 0 (with a WARNING) and run it again."""
        try:
            return await operation()
        except GroupMissingError:
            pass
        log.warning("consumer group %r of team %s was missing (stream deleted or Redis restarted empty); "
                    "recreated at 0: entries may have been re-delivered or lost", TEAM_GROUP, self.team)
        await self.ensure_groups()
        return await operation()

    async def _claim(self, stream: str, count: int) -> list[Delivery]:
        """XAUTOCLAIM entries idle longer than ``claim_idle_ms`` (from any consumer) for this consumer."""
        async with translate_errors(f"reclaiming idle entries of {stream}"):
            reply = await self.redis.xautoclaim(stream, TEAM_GROUP, self.consumer, self.claim_idle_ms,
                                                self._cursors[stream], count=count)
        cursor, entries, deleted = autoclaim_parts(reply)
        self._cursors[stream] = cursor
        deliveries, empty, anonymous = split_entries(stream, entries)
        if deliveries:
            log.info("reclaimed %d entries of %s left idle by another consumer", len(deliveries), stream)
        if deleted:
            log.warning("Redis dropped %d deleted entries from the pending list of %s", len(deleted), stream)
        await self._drop_deleted(stream, empty, anonymous)
        return deliveries

    async def _read_new(self, streams: dict[Any, Any], count: int, block_ms: int | None) -> list[Delivery]:
        async with translate_errors(f"reading {', '.join(streams)}"):
            reply = await self.redis.xreadgroup(TEAM_GROUP, self.consumer, streams, count=count, block=block_ms)
        found: dict[str, list[Delivery]] = {}
        for stream, entries in xread_parts(reply):
            deliveries, empty, anonymous = split_entries(stream, entries)
            await self._drop_deleted(stream, empty, anonymous)
            found[stream] = deliveries
        return found.get(self.immediate, []) + found.get(self.routine, [])

    async def _drop_deleted(self, stream: str, empty: list[str], anonymous: int) -> None:
        """Ack pending entries that no longer exist; nil entries (6.2) are found in our own PEL first."""
        if anonymous:
            empty = empty + await self._deleted_in_own_pel(stream)
        if empty:
            log.warning("acking %d deleted entries left pending in %s: %s", len(empty), stream, empty[:10])
            async with translate_errors(f"acking deleted entries of {stream}"):
                await self.redis.xack(stream, TEAM_GROUP, *empty)

    async def _deleted_in_own_pel(self, stream: str) -> list[str]:
        """Ids of this consumer's pending entries whose fields are gone (history read from id 0)."""
        deleted: list[str] = []
        after = "0"
        while True:
            async with translate_errors(f"scanning the pending entries of {stream}"):
                reply = await self.redis.xreadgroup(TEAM_GROUP, self.consumer, {stream: after}, count=PEL_SCAN_PAGE)
            entries = [entry for _, items in xread_parts(reply) for entry in items]
            deleted += [text(entry_id) for entry_id, fields in entries if not fields]
            if len(entries) < PEL_SCAN_PAGE:
                return deleted
            after = text(entries[-1][0])
