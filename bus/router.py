"""The router: FastStream batch subscribers over every partner's ingress stream, deciding with the pure
engine and committing each batch atomically (``bus.commit``).

One subscriber per partner stream (FastStream reads one stream per subscriber): partners interleave on
the event loop, so one partner's backlog cannot starve another, and one batch's Redis commit overlaps
another batch's decisions. FastStream does not XACK (``AckPolicy.MANUAL``): the commit script does,
together with everything else. Groups are created at ``0`` before subscribers start, so entries
written before the router ever ran are routed (FastStream alone would start at ``$``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis.asyncio as aioredis
from faststream import AckPolicy
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.message import RedisBatchStreamMessage

from bus.commit import Batch, Committer, Outcome
from bus.keys import ROUTER_GROUP, Keys
from bus.policy import QUARANTINED, Decision, Reference, Ruleset, decide_payload
from bus.settings import Settings
from bus.transport import text, translate_errors

log = logging.getLogger("intelbus.router")
Entry = tuple[str, str, dict[bytes, bytes] | None]  # stream, entry id, fields


async def _raw_parser(message: Any) -> RedisBatchStreamMessage:
    """Skip FastStream's envelope parsing: partners write plain fields, and payloads may not be UTF-8."""
    return RedisBatchStreamMessage(raw_message=message, body=b"", consumer=None, group=None)  # type: ignore[arg-type]


async def _raw_decoder(message: RedisBatchStreamMessage) -> list[Entry]:
    raw = message.raw_message
    stream = raw["channel"]
    return [(stream, text(entry_id), fields) for entry_id, fields in zip(raw["message_ids"], raw["data"], strict=True)]



def consumer_name(settings: Settings) -> str:
    return settings.consumer_name or f"router-{socket.gethostname()}-{os.getpid()}"


@dataclass
class RouterStats:
    routed: int = 0
    quarantined: int = 0
    duplicate: int = 0
    already: int = 0  # decided ahead by the scout: acknowledged, nothing written again
    skipped: int = 0
    failed: int = 0
    batches: int = 0

    def count(self, outcomes: Sequence[Outcome]) -> None:
        self.batches += 1
        for outcome in outcomes:
            setattr(self, outcome.status, getattr(self, outcome.status) + 1)


@dataclass
class Router:
    """Decides and commits batches; I/O only through ``Committer`` (one script call per batch)."""

    settings: Settings
    ruleset: Ruleset
    reference: Reference
    keys: Keys
    consumer: str
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    stats: RouterStats = field(default_factory=RouterStats)
    committer: Committer | None = None
    errors: dict[str, str] = field(default_factory=dict)  # "<stream> <entry id>" -> last processing error
    decider: Callable[..., tuple[Decision, Any]] = decide_payload  # the pure engine; tests inject faults

    def plan(self, entries: Sequence[Entry]) -> tuple[Batch, list[tuple[str, str, str]]]:
        """Pure: decide each entry; entries that fail to process are left out (they stay pending)."""
        batch, failures = Batch(self.keys), []
        now = self.clock()
        for stream, entry_id, fields in entries:
            try:
                raw, decision = self.decide_entry(stream, entry_id, fields, now)
            except Exception as exc:  # an engine bug must not take the router or the batch down
                failures.append((stream, entry_id, f"{type(exc).__name__}: {exc}"))
                continue
            batch.add(stream, entry_id, raw, decision)
        return batch, failures

    def decide_entry(self, stream: str, entry_id: str, fields: dict[bytes, bytes] | None,
                now: datetime) -> tuple[bytes, Decision]:
        owner = self.keys.partner_of(stream)
        problem = _entry_problem(fields)
        if problem is not None:
            raw = (fields or {}).get(b"payload", b"")
            return raw, Decision(submission_id=None, partner=owner, kind=None, status=QUARANTINED, reason=problem,
                                 ruleset=self.ruleset.digest, reference=self.reference.digest, decided_at=now)
        assert fields is not None
        raw = fields[b"payload"]
        decision, _ = self.decider(raw, self.ruleset, self.reference, now, ingress_owner=owner)
        return raw, decision

    async def handle(self, entries: list[Entry]) -> list[Outcome]:
        batch, failures = self.plan(entries)
        for stream, entry_id, error in failures:
            self.stats.failed += 1
            self.errors[f"{stream} {entry_id}"] = error
            log.error("could not process %s %s (left pending, will be retried): %s", stream, entry_id, error)
        assert self.committer is not None
        outcomes = await self.committer.commit(batch)
        self.stats.count(outcomes)
        if self.errors:  # forget the errors of entries that have now been committed
            failed = {f"{stream} {entry_id}" for stream, entry_id, _ in failures}
            for stream, entry_id, _ in entries:
                key = f"{stream} {entry_id}"
                if key not in failed:
                    self.errors.pop(key, None)
        return outcomes


def _entry_problem(fields: dict[bytes, bytes] | None) -> str | None:
    if not fields:
        return "entry has no fields: a submission is one field, payload, holding the JSON"
    if b"payload" not in fields:
        names = ", ".join(sorted(k.decode(errors="replace") for k in fields))
        return f"entry has no payload field (it has: {names}); a submission is one field, payload"
    if len(fields) > 1:
        extra = ", ".join(sorted(k.decode(errors="replace") for k in fields if k != b"payload"))
        return f"entry has fields besides payload ({extra}); they would be lost, so it is not routed"
    return None


async def ensure_groups(client: aioredis.Redis, streams: Sequence[str], group: str = ROUTER_GROUP) -> list[str]:
    """Create missing groups at 0 (MKSTREAM); return the streams whose group had to be created."""
    created = []
    async with translate_errors("creating consumer groups"):
        for stream in streams:
            try:
                await client.xgroup_create(stream, group, id="0", mkstream=True)
                created.append(stream)
            except Exception as exc:  # BUSYGROUP: it exists, which is the normal case
                if "BUSYGROUP" not in str(exc):
                    raise
    return created


def build_broker(router: Router, url: str, streams: Sequence[str]) -> tuple[RedisBroker, list[Any]]:
    """The FastStream broker with one batch subscriber per ingress stream, all sharing one handler."""
    broker = RedisBroker(url, logger=logging.getLogger("intelbus.faststream"), log_level=logging.DEBUG)
    subscribers = []
    for stream in streams:
        subscriber = broker.subscriber(
            stream=StreamSub(stream, group=ROUTER_GROUP, consumer=router.consumer, batch=True,
                             max_records=router.settings.batch_size, polling_interval=router.settings.block_ms),
            ack_policy=AckPolicy.MANUAL, parser=_raw_parser, decoder=_raw_decoder,
            title=f"router:{stream}", description="Partner submissions; field payload (SUBMISSIONS.md).",
        )
        subscriber(router.handle)
        subscribers.append(subscriber)
    return broker, subscribers


async def supervise_groups(client: aioredis.Redis, subscribers: Sequence[Any], streams: Sequence[str],
                           stop: asyncio.Event, interval: float = 1.0) -> None:
    """FastStream stops a subscriber whose group vanished: recreate the group at 0 and restart it.
    Redis being away is not fatal here: the check is retried every ``interval``."""
    while not stop.is_set():
        try:
            await _restart_lost(client, subscribers, streams)
        except Exception as exc:
            log.warning("group check failed (retrying in %.1f s): %s", interval, exc)
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


async def _restart_lost(client: aioredis.Redis, subscribers: Sequence[Any], streams: Sequence[str]) -> None:
    for subscriber, stream in zip(subscribers, streams, strict=True):
        if subscriber.running:
            continue
        created = await ensure_groups(client, [stream])
        log.critical(
            "consumer group %s on %s was missing (stream deleted, or Redis restarted without its data); "
            "%s it at 0: entries written since are routed, entries that were pending may have been lost "
            "or may be routed again (duplicates are caught by submission_id)",
            ROUTER_GROUP, stream, "recreated" if created else "found",
        )
        await subscriber.start()
