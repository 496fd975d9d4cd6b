"""Recovery of abandoned and poisonous ingress entries (DESIGN.md decision 4).

Every router periodically XAUTOCLAIMs entries idle longer than ``claim_idle_ms`` in the router group,
its own included: entries a dead router fetched, and entries whose processing failed. A claimed entry is
processed again unless it has been delivered ``max_deliveries`` times; then it is quarantined with the
count and the last error. The commit script re-checks ownership, so a slow router cannot commit an entry
that was claimed away from it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

import redis.asyncio as aioredis

from bus.commit import Batch
from bus.keys import ROUTER_GROUP
from bus.policy import QUARANTINED, Decision
from bus.router import Entry, Router
from bus.transport import text, translate_errors

log = logging.getLogger("intelbus.recovery")


def _id_order(entry_id: str) -> tuple[int, int]:
    """Stream ids compare as (milliseconds, sequence), not as text."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)



async def claim(client: aioredis.Redis, stream: str, consumer: str, idle_ms: int, count: int) -> list[Entry]:
    """One XAUTOCLAIM page. Entries deleted while pending are acknowledged and logged: Redis 7 drops them
    from the pending list itself; Redis 6.2 returns them as (None, None) and keeps them, so they are
    found in this consumer's pending list and acknowledged here."""
    async with translate_errors(f"reclaiming {stream}"):
        reply: Any = await client.xautoclaim(stream, ROUTER_GROUP, consumer, idle_ms, "0-0", count=count)
        entries = [(stream, text(entry_id), fields or None) for entry_id, fields in reply[1] if entry_id]
        if any(entry_id is None for entry_id, _ in reply[1]):
            await _ack_deleted(client, stream, consumer, {entry_id for _, entry_id, _ in entries})
    return entries


async def _ack_deleted(client: aioredis.Redis, stream: str, consumer: str, live: set[str]) -> None:
    rows = await client.xpending_range(stream, ROUTER_GROUP, "-", "+", 1000, consumername=consumer)
    for row in rows:
        entry_id = text(row["message_id"])
        if entry_id not in live and not await client.xrange(stream, entry_id, entry_id):
            await client.xack(stream, ROUTER_GROUP, entry_id)
            log.warning("%s %s was deleted while pending; acknowledged, nothing to route", stream, entry_id)


async def delivery_counts(client: aioredis.Redis, stream: str, entries: Sequence[Entry]) -> dict[str, int]:
    if not entries:
        return {}
    ids = sorted((entry_id for _, entry_id, _ in entries), key=_id_order)
    async with translate_errors(f"reading delivery counts of {stream}"):
        rows = await client.xpending_range(stream, ROUTER_GROUP, ids[0], ids[-1], len(ids) * 4)
    return {text(row["message_id"]): int(row["times_delivered"]) for row in rows}


def poison_batch(router: Router, entries: Sequence[Entry], counts: dict[str, int],
                 errors: dict[str, str]) -> Batch:
    """Quarantine entries delivered too often: routed to nobody, kept whole, with count and last error."""
    batch = Batch(router.keys)
    now = router.clock()
    for stream, entry_id, fields in entries:
        owner = router.keys.partner_of(stream)
        attempts = counts.get(entry_id, 1) - 1  # this delivery is the quarantine, not an attempt
        reason = (f"poison: processing failed {attempts} times (limit {router.settings.max_deliveries}); "
                  f"last error: "
                  f"{errors.get(f'{stream} {entry_id}', 'unknown (the router processing it died)')}")
        decision = Decision(submission_id=None, partner=owner, kind=None, status=QUARANTINED, reason=reason,
                            ruleset=router.ruleset.digest, reference=router.reference.digest, decided_at=now)
        batch.add(stream, entry_id, (fields or {}).get(b"payload", b""), decision)
    return batch


async def recover_once(client: aioredis.Redis, router: Router, streams: Sequence[str]) -> int:
    """Claim idle entries on every stream and process them (or quarantine them as poison)."""
    handled = 0
    for stream in streams:
        entries = await claim(client, stream, router.consumer, router.settings.claim_idle_ms,
                              router.settings.batch_size)
        if not entries:
            continue
        counts = await delivery_counts(client, stream, entries)
        limit = router.settings.max_deliveries
        poison = [e for e in entries if counts.get(e[1], 0) > limit]
        retry = [e for e in entries if counts.get(e[1], 0) <= limit]
        if poison:
            assert router.committer is not None
            outcomes = await router.committer.commit(poison_batch(router, poison, counts, router.errors))
            router.stats.count(outcomes)
            log.error("quarantined %d poison entries from %s", len(poison), stream)
        if retry:
            log.warning("reclaimed %d idle entries from %s", len(retry), stream)
            await router.handle(retry)
        handled += len(entries)
    return handled


async def recovery_loop(client: aioredis.Redis, router: Router, streams: Sequence[str], stop: asyncio.Event,
                        interval: float) -> None:
    while not stop.is_set():
        try:
            while await recover_once(client, router, streams):
                if stop.is_set():
                    return
        except Exception as exc:  # Redis away, or a group missing: retried next round, never fatal
            log.warning("recovery round failed (retrying in %.1f s): %s", interval, exc)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
