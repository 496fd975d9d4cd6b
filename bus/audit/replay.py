"""Replaying the decision log (``intel:decisions``) for operators and auditors."""

from __future__ import annotations

from typing import Any, TextIO

import orjson
import redis.asyncio as aioredis

from bus.keys import Keys
from bus.transport import xrange_rows

PAGE = 1000


async def replay(client: aioredis.Redis, keys: Keys, out: TextIO, as_json: bool = False,
                 submission: str | None = None) -> int:
    """Print every decision in log order (paged, so any length of log works); return how many."""
    shown, cursor = 0, "-"
    while True:
        page = await xrange_rows(client, keys.decisions, min=cursor, count=PAGE)
        for entry_id, fields in page:
            record = orjson.loads(fields[b"decision"])
            if submission and record.get("submission_id") != submission:
                continue
            record["decision_id"] = entry_id.decode()
            out.write(orjson.dumps(record).decode() + "\n" if as_json else _line(record))
            shown += 1
        if len(page) < PAGE:
            return shown
        cursor = f"({page[-1][0].decode()}"


def _line(record: dict[str, Any]) -> str:
    deliveries = record.get("deliveries") or []
    teams = ", ".join(f"{d['recipient']}[{d['view']}]" for d in deliveries if isinstance(d, dict))
    detail = teams or str(record.get("reason"))
    return (f"{record['decision_id']}  {record.get('status'):<11} {record.get('kind')} from "
            f"{record.get('partner')} {record.get('submission_id')}: {detail}\n")
