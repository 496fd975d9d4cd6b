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
from redis.exceptions import ResponseError

from bus.ids import id_ms
from bus.keys import IMMEDIATE, ROUTER_GROUP, TEAM_GROUP, Keys
from bus.policy import Ruleset
from bus.reasons import reason_class
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
    wanted = [(status.ingress, p, keys.ingress(p), ROUTER_GROUP) for p in sorted(ruleset.partners)]
    for team in sorted(ruleset.team_ids):
        wanted += [(status.feeds, f"{team}:{IMMEDIATE}", keys.feed(team, IMMEDIATE), TEAM_GROUP),
                   (status.feeds, team, keys.feed(team), TEAM_GROUP)]
    figures = await streams_figures(client, [(stream, group) for _, _, stream, group in wanted], now)
    for (into, name, _, _), found in zip(wanted, figures, strict=True):
        into[name] = found
    if not light:
        status.quarantined, status.decisions_last_minute = await log_scans(client, keys, now)
    async with translate_errors(f"reading {keys.checkpoints} and {keys.retention}"):
        last = await xrange_rows(client, keys.checkpoints, reverse=True, count=1)
        status.last_checkpoint_ms = id_ms(last[0][0]) if last else None
        status.retention = {text(k): text(v) for k, v in (await client.hgetall(keys.retention)).items()}
    return status


def _replies(results: list[Any]) -> list[Any]:
    """A pipeline's replies, its first error raised (inside ``translate_errors``: a ``TransportError``)."""
    for result in results:
        if isinstance(result, Exception):
            raise result
    return results


async def streams_figures(client: aioredis.Redis, streams: list[tuple[str, str]], now: int) -> list[StreamFigures]:
    """Each (stream, group)'s figures in two pipelined round trips whatever the number of streams (a scrape
    of ~90 streams one command at a time cost the router ~29 ms of CPU): lengths and groups, then per
    stream its oldest waiting entry, pending summary and consumers. Only a stream whose lag Redis cannot
    say is counted on its own (``_after``)."""
    async with translate_errors(f"reading {len(streams)} streams' groups"):
        lengths, infos = await _groups(client, streams)
        async with client.pipeline(transaction=False) as pipe:
            for (stream, group), info in zip(streams, infos, strict=True):
                if info is None:
                    pipe.xrange(stream, count=1)
                    continue
                pipe.xrange(stream, min=f"({text(info['last-delivered-id'])}", max="+", count=1)
                pipe.xpending(stream, group)
                pipe.xinfo_consumers(stream, group)
            replies = iter(_replies(await pipe.execute(raise_on_error=False)))
    out = []
    for (stream, _), length, info in zip(streams, lengths, infos, strict=True):
        rows = next(replies)
        oldest = now - id_ms(rows[0][0]) if rows else None
        if info is None:
            out.append(StreamFigures(stream, length, False, length, False, oldest, 0, None, 0, None))
            continue
        summary, consumers = next(replies), next(replies)
        lag = info.get("lag")
        if isinstance(lag, int):
            waiting, more = (lag if rows else 0), False
        else:
            async with translate_errors(f"reading {stream}"):
                waiting, more, oldest = await _after(client, stream, text(info["last-delivered-id"]), now)
        pending = int(info["pending"])
        oldest_pending = now - id_ms(text(summary["min"])) if pending and summary.get("min") else None
        idle = min((int(c["idle"]) for c in consumers), default=None)
        out.append(StreamFigures(stream, length, True, waiting, more, oldest, pending, oldest_pending,
                                 len(consumers), idle))
    return out


async def _groups(client: aioredis.Redis,
                  streams: list[tuple[str, str]]) -> tuple[list[int], list[dict[str, Any] | None]]:
    """Each stream's length and its group's XINFO GROUPS entry (None: no such group, or no stream)."""
    async with client.pipeline(transaction=False) as pipe:
        for stream, _ in streams:
            pipe.xlen(stream)
            pipe.xinfo_groups(stream)
        replies = await pipe.execute(raise_on_error=False)
    lengths, infos = [], []
    for (_, group), length, groups in zip(streams, replies[::2], replies[1::2], strict=True):
        missing = isinstance(groups, ResponseError) and "no such key" in str(groups).lower()
        _replies([length] if missing else [length, groups])
        lengths.append(int(length))
        infos.append(None if missing else next((g for g in groups if text(g["name"]) == group), None))
    return lengths, infos


async def _after(client: aioredis.Redis, stream: str, last_delivered: str, now: int) -> tuple[int, bool, int | None]:
    """How many entries come after ``last_delivered`` (for a group whose lag Redis cannot say), counted up to
    COUNT_LIMIT, and the age of the first."""
    start, counted, oldest = f"({last_delivered}", 0, None
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


async def log_scans(client: aioredis.Redis, keys: Keys, now: int) -> tuple[dict[str, dict[str, int]], int]:
    """What only a scan of the decision log says: quarantines by class (hour, day), decisions last minute."""
    return await quarantine_classes(client, keys, now), await _count_since(client, keys.decisions, now - 60_000)


async def quarantine_classes(client: aioredis.Redis, keys: Keys, now: int) -> dict[str, dict[str, int]]:
    """Quarantine decisions of the last hour and day by reason class (:func:`bus.reasons.reason_class`), from the
    decision log (small records: the quarantine stream holds copied payloads of up to 256 KiB each), at most
    ``SCAN_LIMIT`` decisions back: a ``capped`` count says it stopped there."""
    out: dict[str, dict[str, int]] = {window: {} for window in WINDOWS}
    start, read = "+", 0
    oldest = now - max(WINDOWS.values())
    while read < SCAN_LIMIT:
        rows = await xrange_rows(client, keys.decisions, reverse=True, max=start, min=str(oldest), count=1000)
        read += len(rows)
        for entry_id, fields in rows:
            doc = json_record(fields.get(b"decision"))
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


def json_record(data: bytes | None) -> dict[str, Any]:
    """A log record's JSON object (a decision, a consultation); {} for anything else (never an error)."""
    try:
        doc = orjson.loads(data or b"{}")
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


async def _count_since(client: aioredis.Redis, stream: str, since_ms: int) -> int:
    return len(await xrange_rows(client, stream, min=str(since_ms), max="+", count=SCAN_LIMIT))


def to_json(status: Status) -> str:
    return orjson.dumps(status.as_json(), option=orjson.OPT_INDENT_2).decode()
