"""``intelbus feed tail TEAM [--json] [--peek [--from-start]]``: print a team's deliveries as they arrive.

The tail reads through the team's consumer group and acks, so it takes deliveries *from* the team's other
consumers (each entry goes to one consumer of the group): use it to watch a quiet feed or to drain one.
``--peek`` reads without a group (XRANGE, polled): nothing is taken from the team's consumers and nothing
is acknowledged; it starts at the feeds' newest entries (``--from-start``: at their oldest still held).
Each read that printed deliveries is still a consultation record (consumer ``peek-<host>-<pid>``).
It reads and acks through ``consumers.TeamClient``, as consumer ``tail-<host>-<pid>``, so each read and
each ack is a consultation record in ``intel:consult:<team>`` naming that consumer (``bus.audit.consult``).

Human output, one line per delivery::

    2026-12-17T10:15:02Z IMMEDIATE full      due 2026-12-17T11:15:00+00:00  5f0c6a9e-…  sar/ukfiu  "Customer seeks…"

``--json``: one JSON object per line with ``stream``, ``entry_id``, ``submission_id``, ``priority``,
``view``, ``due`` (RFC 3339 or null), ``decision_id`` and ``payload`` (decoded JSON, or the text if the
payload is not JSON).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import redis.asyncio as aredis

from bus.audit import consult
from bus.keys import Keys
from bus.transport import text, translate_errors, xrange_rows
from consumers.client import Delivery, TeamClient, to_delivery

SNIPPET = 60
BATCH = 100


def default_consumer() -> str:
    return f"tail-{socket.gethostname()}-{os.getpid()}"


def _decoded(delivery: Delivery) -> Any:
    try:
        return delivery.json()
    except orjson.JSONDecodeError:
        return delivery.payload.decode("utf-8", "replace")


def _snippet(payload: Any) -> str:
    if not isinstance(payload, dict):
        text = str(payload)
    else:
        text = next((str(payload[key]) for key in ("narrative", "sanitised_narrative", "summary")
                     if payload.get(key)), "")
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET else text[:SNIPPET - 1] + "…"


def human_line(delivery: Delivery) -> str:
    """One line: routed time, priority, view, due, submission id, kind/partner and a narrative snippet."""
    routed = datetime.fromtimestamp(delivery.routed_at_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    due = delivery.due.isoformat() if delivery.due else "-"
    payload = _decoded(delivery)
    origin = f"{payload.get('kind', '?')}/{payload.get('partner', '?')}" if isinstance(payload, dict) else "?/?"
    snippet = _snippet(payload)
    return (f"{routed} {delivery.priority.upper():<9} {delivery.view:<9} due {due:<25} {delivery.submission_id}  "
            f"{origin}" + (f'  "{snippet}"' if snippet else ""))


def json_line(delivery: Delivery) -> str:
    record = {"stream": delivery.stream, "entry_id": delivery.entry_id, "submission_id": delivery.submission_id,
              "priority": delivery.priority, "view": delivery.view,
              "due": delivery.due.isoformat() if delivery.due else None, "decision_id": delivery.decision_id,
              "payload": _decoded(delivery)}
    return orjson.dumps(record).decode()


async def tail(redis: aredis.Redis, team: str, keys: Keys, json_output: bool, out: TextIO = sys.stdout,
               consumer: str | None = None, count: int | None = None, block_ms: int = 1000) -> int:
    """Print and ack deliveries of ``team`` until ``count`` have been printed (forever if ``None``).

    Each delivery is acked right after its line is written; returns the number printed. With ``count``,
    each read asks for at most the number still wanted; a blocking read may still return one more entry
    per stream than that, and those are left pending (the group reclaims them after its idle time).
    Redis errors raise ``TransportError`` (a command should fail loudly, not spin), and so does a
    consultation record that cannot be written (``ConsultationError``: nothing of that read is printed).
    Records: one per read that returned deliveries (also those left pending unprinted), one per ack.
    """
    client = TeamClient(redis, team, consumer or default_consumer(), keys)
    await client.ensure_groups()
    printed = 0
    while count is None or printed < count:
        wanted = BATCH if count is None else min(BATCH, count - printed)
        for delivery in await client.read(count=wanted, block_ms=block_ms):
            if count is not None and printed >= count:
                break
            out.write((json_line(delivery) if json_output else human_line(delivery)) + "\n")
            out.flush()
            await client.ack(delivery)
            printed += 1
    return printed


async def _newest(redis: aredis.Redis, stream: str) -> str:
    """Where new entries of ``stream`` begin: its newest id ("0-0" when it holds none: every entry to come
    is newer than that)."""
    async with translate_errors(f"reading {stream}"):
        rows = await xrange_rows(redis, stream, reverse=True, count=1)
    return text(rows[0][0]) if rows else "0-0"


async def peek(redis: aredis.Redis, team: str, keys: Keys, json_output: bool, out: TextIO = sys.stdout,
               count: int | None = None, from_start: bool = False, poll_s: float = 0.5,
               consumer: str | None = None, started: Callable[[], None] = lambda: None) -> int:
    """Print deliveries of ``team`` without its group (immediate first) until ``count`` (forever if
    ``None``); returns the number printed. Nothing is acknowledged or taken from the team's consumers.
    Each read that found deliveries writes its consultation record first (one that cannot be written
    raises ``TransportError``, and nothing of that read is printed).
    ``started`` is called once the start positions are taken (what comes after is printed)."""
    who = consumer or f"peek-{socket.gethostname()}-{os.getpid()}"
    streams = keys.feeds(team)
    positions = {stream: "0-0" if from_start else await _newest(redis, stream) for stream in streams}
    started()
    printed = 0
    while count is None or printed < count:
        wanted = BATCH if count is None else min(BATCH, count - printed)
        found: list[Delivery] = []
        for stream in streams:
            rows = await xrange_rows(redis, stream, min=f"({positions[stream]}", max="+", count=wanted - len(found))
            found += [to_delivery(stream, entry_id, fields) for entry_id, fields in rows]
            if rows:
                positions[stream] = text(rows[-1][0])
            if len(found) >= wanted:
                break
        if not found:
            await asyncio.sleep(poll_s)
            continue
        await consult.record(redis, keys, team, who, "read", found)
        for delivery in found:
            out.write((json_line(delivery) if json_output else human_line(delivery)) + "\n")
        out.flush()
        printed += len(found)
    return printed
