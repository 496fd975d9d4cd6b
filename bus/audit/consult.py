"""Consultation records (DPA 2018 Part 3 s.62): which consumer of a team consulted which deliveries, and when.

Every read through ``consumers.TeamClient`` that returned deliveries (new or reclaimed), and every
acknowledgement, writes one record (one per call, not one per entry) to the team's own stream
``<prefix>:consult:<team>``, field ``consultation``, by ``XADD`` without ``MAXLEN``::

    {"team": "durham.fib", "consumer": "analyst-1", "action": "read",
     "decision_ids": ["1765966500000-0", "1765966500000-1"],
     "entries": ["intel:feed:durham.fib:immediate 1765966500001-0", "intel:feed:durham.fib 1765966500002-0"],
     "at": "2026-12-17T10:15:02.123Z"}

* ``action``: ``read`` (the deliveries were handed to the consumer) or ``ack`` (it acknowledged them);
* ``decision_ids`` and ``entries``: one item per delivery, in the order they were read or acked:
  the delivery's ``decision_id`` (its decision in ``<prefix>:decisions``) and ``"<feed stream> <entry id>"``;
* ``at``: when the client wrote the record, RFC 3339 in UTC with milliseconds (the record's entry id
  carries Redis's own time as well).

A record names deliveries, never their content: no payload, no field of the submission (not even its
``submission_id``). It is itself an audit record: the router's checkpointer covers each team's stream with
its signed checkpoints, and only that team may append to it (``bus.acl``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Literal, Protocol

import orjson
import redis.asyncio as aioredis

from bus.keys import Keys
from bus.transport import text, translate_errors

Action = Literal["read", "ack"]
ACTIONS: tuple[Action, ...] = ("read", "ack")
FIELD = "consultation"


class Consulted(Protocol):
    """What a record needs of a delivery (``consumers.Delivery`` has it): where it is and its decision."""

    @property
    def stream(self) -> str: ...

    @property
    def entry_id(self) -> str: ...

    @property
    def decision_id(self) -> str: ...


def timestamp(at: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-12-17T10:15:02.123Z``; ``at`` must carry an offset."""
    if at.tzinfo is None:
        raise ValueError(f"a consultation time needs an offset: {at!r}")
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def consultation(team: str, consumer: str, action: Action, deliveries: Iterable[Consulted], at: datetime) -> bytes:
    """The record's JSON (pure): who (``team``, ``consumer``) did ``action`` to which deliveries, when."""
    if action not in ACTIONS:
        raise ValueError(f"a consultation is a read or an ack, not {action!r}")
    items = list(deliveries)
    return orjson.dumps({
        "team": team, "consumer": consumer, "action": action,
        "decision_ids": [delivery.decision_id for delivery in items],
        "entries": [f"{delivery.stream} {delivery.entry_id}" for delivery in items],
        "at": timestamp(at),
    })


async def record(client: aioredis.Redis, keys: Keys, team: str, consumer: str, action: Action,
                 deliveries: Iterable[Consulted], *, at: datetime | None = None) -> str:
    """XADD one record to ``<prefix>:consult:<team>``; returns its entry id. ``at`` defaults to now.

    Redis errors raise the ``TransportError`` their code names (``PermissionDeniedError`` when the team's
    ACL user may not append to the stream)."""
    body = consultation(team, consumer, action, deliveries, at or datetime.now(UTC))
    stream = keys.consultations(team)
    async with translate_errors(f"writing a consultation record to {stream}"):
        entry_id = await client.xadd(stream, {FIELD: body})
    return text(entry_id)
