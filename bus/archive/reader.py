"""A log as one: its archived entries, then what Redis still holds after them (every ``intelbus audit``
command reads this way, so a log verifies, exports and replays the same before and after retention).

An entry archived but not yet trimmed (a run cut short between the two) is in both places; it is read
once, from the archive. Redis replies are unparsed (``bus.audit.log.raw_reader``): fields in order.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import redis.asyncio as aioredis

from bus.archive.segment import RawRecord
from bus.archive.store import Archive, lower_key, upper_key
from bus.audit.log import iter_raw
from bus.ids import id_key

PAGE = 2000


def archive_dir(data_dir: Path) -> Path:
    return data_dir / "archive"


async def pages(client: aioredis.Redis, archive: Archive | None, stream: str, start: str = "-", end: str = "+",
                page: int = PAGE, verify: bool = False) -> AsyncIterator[list[RawRecord]]:
    """Pages of (id, flat fields) of ``stream`` from ``start`` to ``end`` (XRANGE bounds), archive first;
    ``verify``: each archive segment read must hash to its manifest line."""
    live_from = start
    last = archive.position(stream)[1] if archive is not None else None
    if archive is not None and last is not None:
        chunk: list[RawRecord] = []
        for record in archive.records(stream, start, end, verify):
            chunk.append(record)
            if len(chunk) == page:
                yield chunk
                chunk = []
        if chunk:
            yield chunk
        if upper_key(end) <= id_key(last):
            return
        if start == "-" or lower_key(start) <= id_key(last):
            live_from = f"({last}"
    async for rows in iter_raw(client, stream, live_from, end, page):
        yield rows


async def fetch(client: aioredis.Redis, archive: Archive | None, stream: str,
                entry_ids: Sequence[str]) -> dict[str, list[bytes]]:
    """The entries of ``stream`` with these ids that exist, from the archive or else from Redis."""
    found: dict[str, list[bytes]] = {}
    missing = []
    for entry_id in entry_ids:
        flat = archive.lookup(stream, entry_id) if archive is not None else None
        if flat is None:
            missing.append(entry_id)
        else:
            found[entry_id] = flat
    if missing:
        pipe = client.pipeline(transaction=False)
        pipe.response_callbacks = {}
        for entry_id in missing:
            pipe.xrange(stream, min=entry_id, max=entry_id, count=1)
        for entry_id, rows in zip(missing, await pipe.execute(raise_on_error=False), strict=True):
            if isinstance(rows, list) and rows:
                found[entry_id] = rows[0][1]
    return found
