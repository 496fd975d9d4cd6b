"""What Redis says of the bus now: per stream and group, what waits, what is pending, and how old (read-only).

What waits is Redis's ``lag`` where it knows it; where it does not (NULL after ``XGROUP SETID`` or
deletions, absent before Redis 7) the entries after the group's last-delivered id are counted, up to
``COUNT_LIMIT`` (beyond it the figure says so: ``at_least``), never taken as 0. Ages are from the entry
ids' times.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.ids import id_ms
from bus.keys import IMMEDIATE, ROUTER_GROUP, TEAM_GROUP, Keys
from bus.policy import Ruleset
from bus.transport import text, translate_errors, xrange_rows

COUNT_LIMIT = 100_000
SCAN_LIMIT = 20_000  # decision records a status reads back for its quarantine classes and rate (about 14 MB)
WINDOWS = {"hour": 3_600_000, "day": 86_400_000}


@dataclass(slots=True)
class StreamFigures:
    stream: str
    length: int
    group: bool  # the group exists
    waiting: int  # entries after the group's last-delivered id (not yet read); all of them with no group
    waiting_at_least: bool  # more than COUNT_LIMIT were there
    oldest_waiting_ms: int | None  # age of the oldest of them
    pending: int  # delivered, not acknowledged
    oldest_pending_ms: int | None  # age of the oldest pending entry (since it was written)
    consumers: int
    idle_ms: int | None  # the least idle consumer's idle time: how recently anyone read

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Status:
    at_ms: int
    ingress: dict[str, StreamFigures] = field(default_factory=dict)  # by partner
    feeds: dict[str, StreamFigures] = field(default_factory=dict)  # by "<team>" and "<team>:immediate"
    quarantined: dict[str, dict[str, int]] = field(default_factory=dict)  # window -> reason class -> count
    decisions_last_minute: int = 0
    last_checkpoint_ms: int | None = None
    retention: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"at_ms": self.at_ms, "ingress": {k: v.as_json() for k, v in self.ingress.items()},
                "feeds": {k: v.as_json() for k, v in self.feeds.items()}, "quarantined": self.quarantined,
                "decisions_last_minute": self.decisions_last_minute, "last_checkpoint_ms": self.last_checkpoint_ms,
                "retention": self.retention}


async def gather(client: aioredis.Redis, keys: Keys, ruleset: Ruleset, now_ms: int | None = None,
                 light: bool = False) -> Status:
    """``light`` (a metrics scrape): the per-stream figures only, none of the log scans (quarantine classes,
    decisions in the last minute), which the router's own counters give a scraper anyway."""
    now = now_ms if now_ms is not None else int(time.time() * 1000)
    status = Status(now)
    for partner in sorted(ruleset.partners):
        status.ingress[partner] = await stream_figures(client, keys.ingress(partner), ROUTER_GROUP, now)
    for team in sorted(ruleset.team_ids):
        status.feeds[f"{team}:{IMMEDIATE}"] = await stream_figures(client, keys.feed(team, IMMEDIATE), TEAM_GROUP, now)
        status.feeds[team] = await stream_figures(client, keys.feed(team), TEAM_GROUP, now)
    if not light:
        status.quarantined = await quarantine_classes(client, keys, now)
        status.decisions_last_minute = await _count_since(client, keys.decisions, now - 60_000)
    async with translate_errors(f"reading {keys.checkpoints} and {keys.retention}"):
        last = await xrange_rows(client, keys.checkpoints, reverse=True, count=1)
        status.last_checkpoint_ms = id_ms(last[0][0]) if last else None
        status.retention = {text(k): text(v) for k, v in (await client.hgetall(keys.retention)).items()}
    return status


async def stream_figures(client: aioredis.Redis, stream: str, group: str, now: int) -> StreamFigures:
    async with translate_errors(f"reading {stream}"):
        length = int(await client.xlen(stream))
        info = next((g for g in (await client.xinfo_groups(stream) if length or await client.exists(stream) else [])
                     if text(g["name"]) == group), None)
        if info is None:
            first = await xrange_rows(client, stream, count=1)
            return StreamFigures(stream, length, False, length, False, now - id_ms(first[0][0]) if first else None,
                                 0, None, 0, None)
        waiting, more, oldest = await _after(client, stream, text(info["last-delivered-id"]), now, info.get("lag"))
        pending = int(info["pending"])
        oldest_pending = None
        if pending:
            first_pending = await client.xpending_range(stream, group, min="-", max="+", count=1)
            oldest_pending = now - id_ms(text(first_pending[0]["message_id"])) if first_pending else None
        consumers = await client.xinfo_consumers(stream, group)
        idle = min((int(c["idle"]) for c in consumers), default=None)
    return StreamFigures(stream, length, True, waiting, more, oldest, pending, oldest_pending, len(consumers), idle)


async def _after(client: aioredis.Redis, stream: str, last_delivered: str, now: int,
                 lag: Any) -> tuple[int, bool, int | None]:
    """How many entries come after ``last_delivered`` (Redis's ``lag`` when it knows it, else counted up to
    COUNT_LIMIT), and the age of the first."""
    start, counted, oldest = f"({last_delivered}", 0, None
    if isinstance(lag, int):
        first = await xrange_rows(client, stream, min=start, max="+", count=1)
        return (lag, False, now - id_ms(first[0][0])) if first else (0, False, None)
    while counted < COUNT_LIMIT:
        rows = await xrange_rows(client, stream, min=start, max="+", count=min(10_000, COUNT_LIMIT - counted))
        if not rows:
            return counted, False, oldest
        if oldest is None:
            oldest = now - id_ms(rows[0][0])
        counted += len(rows)
        start = f"({text(rows[-1][0])}"
    more = bool(await xrange_rows(client, stream, min=start, max="+", count=1))
    return counted, more, oldest


async def quarantine_classes(client: aioredis.Redis, keys: Keys, now: int) -> dict[str, dict[str, int]]:
    """Quarantine decisions of the last hour and day by reason class (:func:`reason_class`), from the
    decision log (small records: the quarantine stream holds copied payloads of up to 256 KiB each), at most
    ``SCAN_LIMIT`` decisions back: a ``capped`` count says it stopped there."""
    out: dict[str, dict[str, int]] = {window: {} for window in WINDOWS}
    start, read = "+", 0
    oldest = now - max(WINDOWS.values())
    while read < SCAN_LIMIT:
        rows = await xrange_rows(client, keys.decisions, reverse=True, max=start, min=str(oldest), count=1000)
        read += len(rows)
        for entry_id, fields in rows:
            doc = _decision(fields.get(b"decision"))
            if doc.get("status") != "quarantined":
                continue
            reason = reason_class(str(doc.get("reason") or ""))
            for window, span in WINDOWS.items():
                if id_ms(entry_id) >= now - span:
                    out[window][reason] = out[window].get(reason, 0) + 1
        if len(rows) < 1000:
            return out
        start = f"({text(rows[-1][0])}"
    for classes in out.values():
        classes["capped"] = SCAN_LIMIT
    return out


REASON_CLASSES = (  # (how the bus's reason starts, its class): bus.wire, bus.batch, bus.policy.admission
    ("spoofing:", "spoofing"), ("unknown partner ", "unknown partner"), ("partner ", "kind not allowed"),
    ("H1 ", "H1 classification"), ("H2:", "H2 handling condition"), ("area ", "unknown area"),
    ("source_type ", "covert source"), ("covert-sourced", "covert source"), ("named_recipients:", "named recipients"),
    ("invalid submission:", "invalid submission"), ("poison:", "poison"), ("entry ", "malformed entry"),
)


def reason_class(reason: str) -> str:
    """A quarantine reason's class, from a fixed list: never text a partner wrote (a reason may quote the
    partner's values, e.g. ``unknown partner 'x'``, and a class is a table row and a label)."""
    return next((name for start, name in REASON_CLASSES if reason.startswith(start)), "other")


def _decision(data: bytes | None) -> dict[str, Any]:
    try:
        doc = orjson.loads(data or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


async def _count_since(client: aioredis.Redis, stream: str, since_ms: int) -> int:
    return len(await xrange_rows(client, stream, min=str(since_ms), max="+", count=SCAN_LIMIT))


def to_json(status: Status) -> str:
    return orjson.dumps(status.as_json(), option=orjson.OPT_INDENT_2).decode()
