"""``intelbus feed tail TEAM [--json]``: print a team's deliveries as they arrive, and ack them.

The tail reads through the team's consumer group, so it takes deliveries *from* the team's other
consumers (each entry goes to one consumer of the group): use it to watch a quiet feed or to drain one.
It reads and acks through ``consumers.TeamClient``, as consumer ``tail-<host>-<pid>``, so each read and
each ack is a consultation record in ``intel:consult:<team>`` naming that consumer (``bus.audit.consult``).

Human output, one line per delivery::

    2026-12-17T10:15:02Z IMMEDIATE full      due 2026-12-17T11:15:00+00:00  5f0c6a9e-…  sar/ukfiu  "Customer seeks…"

``--json``: one JSON object per line with ``stream``, ``entry_id``, ``submission_id``, ``priority``,
``view``, ``due`` (RFC 3339 or null), ``decision_id`` and ``payload`` (decoded JSON, or the text if the
payload is not JSON).
"""

from __future__ import annotations

import os
import socket
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import redis.asyncio as aredis

from bus.keys import Keys
from consumers.client import Delivery, TeamClient

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
