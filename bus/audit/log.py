"""Reading an audit log stream in log order, page by page, between two bounds (RFC 3339 or stream ids)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.errors import BusError
from bus.transport import translate_errors, xrange_rows

PAGE = 2000
Record = tuple[bytes, dict[bytes, bytes]]
_STREAM_ID = re.compile(r"^\d+(-\d+)?$")


def bound(text: str, *, upper: bool = False) -> str:
    """A stream id bound for XRANGE from an RFC 3339 date-time (with offset) or a stream id.

    A date-time stands for the first id of its millisecond (``upper``: the last one), so ``--until T``
    includes everything written during T's millisecond."""
    text = text.strip()
    if _STREAM_ID.match(text):
        return text
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BusError(f"not an RFC 3339 date-time or a stream id: {text!r}") from None
    if moment.tzinfo is None:
        raise BusError(f"give the date-time an offset (e.g. {text}Z): {text!r}")
    ms = int(moment.timestamp() * 1000)
    return f"{ms}-18446744073709551615" if upper else f"{ms}-0"


async def iter_log(client: aioredis.Redis, stream: str, start: str = "-", end: str = "+",
                   page: int = PAGE) -> AsyncIterator[list[Record]]:
    """Pages of (id, fields) in log order from ``start`` to ``end`` (inclusive), any length of log."""
    cursor = start
    while True:
        rows = await xrange_rows(client, stream, min=cursor, max=end, count=page)
        if rows:
            yield rows
        if len(rows) < page:
            return
        cursor = f"({rows[-1][0].decode()}"


RawRecord = tuple[bytes, list[bytes]]  # (id, [field, value, field, value, ...]) exactly as Redis holds it


def raw_reader(client: aioredis.Redis) -> aioredis.Redis:
    """A client on ``client``'s connections whose XRANGE replies come unparsed: every field in order, repeated
    names included (redis-py's parser folds an entry into a dict, which would hide a second field of the
    same name). ``client`` itself is left as it was; closing the reader closes the connections as closing
    ``client`` would."""
    reader = aioredis.Redis(connection_pool=client.connection_pool)
    reader.auto_close_connection_pool = client.auto_close_connection_pool
    reader.response_callbacks.pop("XRANGE", None)
    return reader


async def iter_raw(client: aioredis.Redis, stream: str, start: str = "-", end: str = "+",
                   page: int = PAGE) -> AsyncIterator[list[RawRecord]]:
    """Like ``iter_log`` on a ``raw_reader`` client: pages of (id, flat field list)."""
    cursor = start
    while True:
        async with translate_errors(f"reading {stream}"):
            rows = await client.execute_command("XRANGE", stream, cursor, end, "COUNT", page)  # type: ignore[no-untyped-call]
        if rows:
            yield [(entry_id, fields) for entry_id, fields in rows]
        if len(rows) < page:
            return
        cursor = f"({rows[-1][0].decode()}"


def document(flat: list[bytes]) -> dict[str, Any]:
    """An audit record's one JSON field (decision, event or consultation) as a dict ({} when not one)."""
    if len(flat) < 2:
        return {}
    try:
        doc = orjson.loads(flat[1])
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}


def utc_text(moment: datetime) -> str:
    """RFC 3339 in UTC with milliseconds, e.g. ``2026-12-17T10:15:02.123Z``: every audit record's time."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pairs(flat: list[bytes]) -> list[tuple[bytes, bytes]]:
    return list(zip(flat[::2], flat[1::2], strict=True))
