"""The scout: a threat to life never waits behind its own partner's backlog (DESIGN.md decision 5).

Fairness across partner streams lets one partner's urgent submission overtake another partner's backlog,
but within one stream the router group reads in order. The scout reads ahead on every ingress stream in
its own consumer group (``scout``, NOACK, so it leaves no pending entries), looks for
``"threat_to_life": true`` with a byte test and one JSON parse, and decides and commits those entries at
once (``commit.lua`` in ``scout`` mode). Their dedupe mark names the ingress entry, so when the router
group reaches the same entry it only acknowledges it: one decision per entry, as ever. Anything the scout
cannot decide (invalid, quarantined, an engine error) is left to the router group and its poison handling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress

import orjson
import redis.asyncio as aioredis

from bus.commit import Batch
from bus.errors import GroupMissingError
from bus.keys import SCOUT_GROUP
from bus.policy import ROUTED
from bus.router import Entry, Router, ensure_groups
from bus.transport import translate_errors, xread_parts

log = logging.getLogger("intelbus.scout")
MARKER = b"threat_to_life"


def is_urgent(fields: dict[bytes, bytes] | None) -> bool:
    """Cheap: most payloads do not contain the field at all (it defaults to false)."""
    payload = fields.get(b"payload") if fields and len(fields) == 1 else None
    if not payload or MARKER not in payload:
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


async def scout_once(client: aioredis.Redis, router: Router, streams: Sequence[str], block_ms: int,
                     count: int) -> int:
    async with translate_errors("scouting ingress"):
        reply = await client.xreadgroup(SCOUT_GROUP, router.consumer, dict.fromkeys(streams, ">"), count=count,
                                        block=block_ms, noack=True)
    urgent = [(stream, _text(entry_id), fields) for stream, items in xread_parts(reply)
              for entry_id, fields in items if is_urgent(fields)]
    if not urgent:
        return 0
    assert router.committer is not None
    outcomes = await router.committer.commit(urgent_batch(router, urgent), mode="scout")
    router.stats.count(outcomes)
    log.info("scout routed %d threat-to-life submissions ahead of the queue",
             sum(o.status == ROUTED for o in outcomes))
    return len(urgent)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def scout_loop(client: aioredis.Redis, router: Router, streams: Sequence[str], stop: asyncio.Event,
                     block_ms: int, count: int = 500) -> None:
    ready, delay = False, 0.2
    while not stop.is_set():
        try:
            if not ready:
                await ensure_groups(client, streams, SCOUT_GROUP)
                ready = True
            await scout_once(client, router, streams, block_ms, count)
            delay = 0.2
        except GroupMissingError:
            ready = False
        except Exception as exc:  # Redis away: the router group still routes everything, only later
            log.warning("scout paused (retrying in %.1f s): %s", delay, exc)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 5.0)
