"""The scout: a threat to life never waits behind its own partner's backlog (DESIGN.md decision 5).

Fairness across partner streams lets one partner's urgent submission overtake another partner's backlog,
but within one stream the router group reads in order. The scout scans ahead on every ingress stream
inside Redis (``lua/scout.lua``: only entries whose payload contains ``threat_to_life`` leave Redis, so
the scan costs the router almost nothing), checks them exactly with one JSON parse, and decides and commits
them at once (``commit.lua`` in ``scout`` mode). Their dedupe mark names the ingress entry, so when the
router group reaches the same entry it only acknowledges it: one decision per entry, as ever. Anything the
scout cannot decide (invalid, quarantined, an engine error) is left to the router group.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.commit import Batch
from bus.policy import ROUTED
from bus.router import Entry, Router
from bus.transport import text, translate_errors

log = logging.getLogger("intelbus.scout")
MARKER = "threat_to_life"
SCOUT_LUA = resources.files("bus").joinpath("lua/scout.lua").read_text()


def is_urgent(fields: dict[bytes, bytes] | None) -> bool:
    """Exact: one payload field, a JSON object whose threat_to_life is true."""
    payload = fields.get(b"payload") if fields and len(fields) == 1 else None
    if not payload or MARKER.encode() not in payload:
        return False
    try:
        submission = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(submission, dict) and submission.get("threat_to_life") is True


def urgent_batch(router: Router, entries: Sequence[Entry]) -> Batch:
    """The entries the scout commits: routed, immediate, and carrying a dedupe mark (so the router
    group will recognise them). Everything else stays with the router group."""
    batch = Batch(router.keys)
    now = router.clock()
    for stream, entry_id, fields in entries:
        try:
            raw, decision = router.decide_entry(stream, entry_id, fields, now)
        except Exception:  # the router group meets it too, with its retries and poison handling
            continue
        immediate = bool(decision.deliveries) and decision.deliveries[0].priority == "immediate"
        if decision.status == ROUTED and immediate and batch.marks(stream, decision):
            batch.add(stream, entry_id, raw, decision)
    return batch


def _entries(reply: Sequence[Any]) -> list[Entry]:
    out: list[Entry] = []
    for stream, entry_id, flat in reply:
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        out.append((text(stream), text(entry_id), fields))
    return out



class Scout:
    def __init__(self, client: aioredis.Redis, router: Router, streams: Sequence[str], count: int = 1000) -> None:
        self._script = client.register_script(SCOUT_LUA)
        self._router = router
        self._keys = [router.keys.scout, *streams]
        self._count = count

    async def once(self) -> int:
        """Scan one page of every stream; route the urgent entries found. Returns entries scanned."""
        async with translate_errors("scouting ingress"):
            reply: Any = await self._script(keys=self._keys, args=[self._count, MARKER])
        urgent = [entry for entry in _entries(reply[1:]) if is_urgent(entry[2])]
        if urgent:
            router = self._router
            assert router.committer is not None
            outcomes = await router.committer.commit(urgent_batch(router, urgent), mode="scout")
            router.stats.count(outcomes)
            log.info("scout routed %d threat-to-life submissions ahead of the queue",
                     sum(o.status == ROUTED for o in outcomes))
        return int(reply[0])

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        delay = interval
        while not stop.is_set():
            try:
                scanned = await self.once()
                delay = interval
            except Exception as exc:  # Redis away: the router group still routes everything, only later
                log.warning("scout paused (retrying in %.1f s): %s", delay, exc)
                scanned, delay = 0, min(delay * 2, 5.0)
            if not scanned:
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
