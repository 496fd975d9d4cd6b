"""What the console reads from Redis (read-only commands only: XREVRANGE, XRANGE): quarantined entries, one
entry's content, and decisions matching an audit search. Pure shaping of what Redis returned; no HTML."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from bus.audit.export import Filters
from bus.audit.log import raw_reader
from bus.ids import id_ms
from bus.keys import Keys
from bus.status.figures import json_record
from bus.transport import text, translate_errors, xrange_rows
from bus.wire import quarantined_fields

PAGE = 25  # quarantined entries a page (XREVRANGE brings each whole: a copied entry is up to ~257 KiB)
CONTENT_LIMIT = 16 * 1024 * 1024  # an entry kept whole in ingress larger than this, or of no stated size, is not
# read by the console (bus.wire's reason states the size; a poison entry kept whole does not)
SIZE = re.compile(r"^entry is ([0-9]+) bytes across")
RESULTS = 100  # decisions an audit search shows at most
SEARCH_LIMIT = 50_000  # decision records an audit search reads at most (newest first)


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A quarantine entry without its content: where it came from, why, and the decision that says so."""

    entry_id: str
    stream: str
    source_id: str  # the entry's id in its ingress stream
    reason: str
    submission_id: str
    decision_id: str
    kept: str  # copy: its fields are in the quarantine entry; ingress: it stayed whole in its ingress stream
    fields: int
    copied: tuple[tuple[bytes, bytes], ...] | None = None  # those fields, as read with the entry (kept copy)

    @property
    def at_ms(self) -> int:
        return id_ms(self.entry_id)


def _quarantined(entry_id: bytes, fields: dict[bytes, bytes]) -> Quarantined:
    def get(name: str) -> str:
        return fields.get(name.encode(), b"").decode("utf-8", "replace")
    count = get("fields")
    return Quarantined(text(entry_id), get("stream"), get("entry_id"), get("reason"), get("submission_id"),
                       get("decision_id"), get("kept"), int(count) if count.isdigit() else 0,
                       quarantined_fields(fields))


async def quarantine_page(client: aioredis.Redis, keys: Keys, before: str | None = None,
                          count: int = PAGE) -> tuple[list[Quarantined], str | None]:
    """Up to ``count`` quarantined entries, newest first, older than ``before`` (an entry id); and the id to
    ask for the next page with (None when this page is the last)."""
    rows = await xrange_rows(client, keys.quarantine, reverse=True, max=f"({before}" if before else "+",
                             min="-", count=count + 1)
    shown = [_quarantined(entry_id, fields) for entry_id, fields in rows[:count]]
    return shown, (shown[-1].entry_id if len(rows) > count else None)


async def quarantined(client: aioredis.Redis, keys: Keys, entry_id: str) -> Quarantined | None:
    rows = await xrange_rows(client, keys.quarantine, min=entry_id, max=entry_id)
    return _quarantined(*rows[0]) if rows else None


def size(entry: Quarantined) -> int | None:
    """The size of an entry kept whole in its ingress stream, as the bus's reason states it (bus.wire)."""
    found = SIZE.match(entry.reason) if entry.kept != "copy" else None
    return int(found.group(1)) if found else None


async def content(client: aioredis.Redis, keys: Keys, entry: Quarantined) -> list[tuple[bytes, bytes]] | None:
    """The entry's fields exactly as the partner wrote them, in order (repeated names included): the
    quarantine copy read with the entry, or, for one kept in its ingress stream, read from there; None when
    Redis no longer holds it (retention archived and trimmed it: ``intelbus retention``'s archive has it)."""
    if entry.copied is not None:
        return list(entry.copied)
    if not entry.stream.startswith(keys.ingress_prefix):
        return None
    async with translate_errors(f"reading {entry.stream}"):
        raw = await raw_reader(client).execute_command(  # type: ignore[no-untyped-call]
            "XRANGE", entry.stream, entry.source_id, entry.source_id)
    if not raw:
        return None
    flat: list[bytes] = raw[0][1]
    return list(zip(flat[::2], flat[1::2], strict=True))


@dataclass(slots=True)
class Found:
    """An audit search's answer: matching decisions (newest first) and how far back it looked."""

    decisions: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    consultations: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    scanned: int = 0
    capped: bool = False  # stopped at SEARCH_LIMIT records or RESULTS matches: older ones were not looked at


async def search(client: aioredis.Redis, keys: Keys, filters: Filters) -> Found:
    """Decisions in ``filters.since``..``until`` (entry ids or ``-``/``+``) that match its submission and
    team (``bus.audit.export.Filters``), newest first; with a team, its consultation records in the range."""
    found, start = Found(), filters.until
    while found.scanned < SEARCH_LIMIT and len(found.decisions) < RESULTS:
        rows = await xrange_rows(client, keys.decisions, reverse=True, max=start, min=filters.since, count=1000)
        found.scanned += len(rows)
        for entry_id, fields in rows:
            record = json_record(fields.get(b"decision"))
            if filters.decision(record) and len(found.decisions) < RESULTS:
                found.decisions.append((text(entry_id), record))
        if len(rows) < 1000:
            break
        start = f"({text(rows[-1][0])}"
    else:
        found.capped = True
    if filters.team is not None:
        rows = await xrange_rows(client, keys.consultations(filters.team), reverse=True, max=filters.until,
                                 min=filters.since, count=RESULTS)
        found.consultations = [(text(i), json_record(f.get(b"consultation"))) for i, f in rows]
    return found
