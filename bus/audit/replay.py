"""Replaying the decision log (``intel:decisions``) for operators and auditors: its archived records first
(``bus.archive.reader``), then what Redis holds."""

from __future__ import annotations

from typing import Any, TextIO

import orjson
import redis.asyncio as aioredis

from bus.archive.reader import pages
from bus.archive.store import Archive
from bus.audit.log import document, raw_reader
from bus.keys import Keys

PAGE = 1000


async def replay(client: aioredis.Redis, keys: Keys, out: TextIO, as_json: bool = False,
                 submission: str | None = None, archive: Archive | None = None) -> int:
    """Print every decision in log order (paged, so any length of log works); return how many."""
    shown = 0
    async for page in pages(raw_reader(client), archive, keys.decisions, page=PAGE):
        for entry_id, flat in page:
            record = document(flat)
            if submission and record.get("submission_id") != submission:
                continue
            record["decision_id"] = entry_id.decode()
            out.write(orjson.dumps(record).decode() + "\n" if as_json else _line(record))
            shown += 1
    return shown


def _line(record: dict[str, Any]) -> str:
    deliveries = record.get("deliveries") or []
    teams = ", ".join(f"{d['recipient']}[{d['view']}]" for d in deliveries if isinstance(d, dict))
    detail = teams or str(record.get("reason"))
    return (f"{record['decision_id']}  {record.get('status'):<11} {record.get('kind')} from "
            f"{record.get('partner')} {record.get('submission_id')}: {detail}\n")
