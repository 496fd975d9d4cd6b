"""Running commit plans (``lua/commit.lua``, one call per plan) and keeping processing failures in Redis.

A plan Redis refuses as a whole (a script error, a limit) is split in halves and retried, down to the
one entry that causes it, whose error is then recorded like any processing failure: its neighbours are
committed regardless. A failure is recorded in the failures hash (``"<stream> <entry id>"`` -> error),
where a router that dies does not take it along; recovery reads it back, and the commit drops it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import redis.asyncio as aioredis

from bus.batch import Failure, error_text
from bus.errors import TransportError, UnreachableError
from bus.keys import ROUTER_GROUP, Keys
from bus.library import Library, Operation
from bus.plan import Mode, Plan
from bus.replicas import NO_WAIT, Durability, Tally, Waiter
from bus.transport import text, translate_errors
from bus.wire import Entry

log = logging.getLogger("intelbus.commit")
REFUSED = "refused:"  # lua/commit.lua's note: this feed or receipt stream refused the entry's write to it


class Committed(StrEnum):
    ROUTED = "routed"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"
    ALREADY = "already"  # decided before (by the scout, or before a group was recreated): only acknowledged
    SKIPPED = "skipped"  # not this router's to commit any more (reclaimed by another), or already known


@dataclass(frozen=True, slots=True)
class Outcome:
    entry: Entry
    status: Committed
    decision_id: str


class Committer:
    """``durability``: the replicas each commit waits for (``bus.replicas``); ``tally`` counts the commits
    that reached fewer (they stand; a failover could lose them, and their entries would be decided again on
    the promoted replica)."""

    def __init__(self, client: aioredis.Redis, library: Library, keys: Keys, consumer: str,
                 group: str = ROUTER_GROUP, durability: Durability = NO_WAIT, tally: Tally | None = None) -> None:
        self._client = client
        self._library = library
        self._keys = keys
        self._consumer = consumer
        self._group = group
        # never strict: a commit stands once Redis ran it, and waiting the full timeout on every commit while the
        # promoted master has no replica would only slow routing, threats to life included
        self._waiter = Waiter(client, replace(durability, strict=False), tally)

    def using(self, client: aioredis.Redis, library: Library) -> Committer:
        """This committer, on another client (the scout's own connection)."""
        return Committer(client, library, self._keys, self._consumer, self._group, self._waiter.durability,
                         self._waiter.tally)

    async def _call(self, keys: list[str], args: list[Any]) -> Any:
        if not self._waiter.durability.waits:
            async with translate_errors("commit"):
                return await self._library.call(Operation.COMMIT, keys, args)
        waited = await self._waiter.run("commit", lambda pipe: self._library.queue(pipe, Operation.COMMIT, keys, args))
        if waited.short and waited.reached < waited.asked:
            log.warning("a commit reached %d of %d replicas within %d ms: it stands, but a failover now could "
                        "lose it (its entries would then be decided again)", waited.reached, waited.asked,
                        self._waiter.durability.timeout_ms)
        return waited.replies[0]

    async def commit(self, plan: Plan, mode: Mode = "router") -> tuple[list[Outcome], list[Failure]]:
        """Commit one plan; (outcomes, failures of entries Redis refused on their own)."""
        if not plan.entries and not plan.positions:
            return [], []
        keys, args = plan.call_args(self._group, self._consumer, mode)
        try:
            reply = await self._call(keys, args)
        except UnreachableError:
            raise
        except TransportError as exc:
            return await self._split(plan, mode, exc)
        outcomes = []
        for entry, result in zip(plan.entries, reply, strict=True):
            outcome = Outcome(entry, Committed(text(result[0])), text(result[1]))
            for note in text(result[2]).split() if len(result) > 2 else ():
                log.warning("%s %s (decision %s): %s refused its entry (its ids are exhausted: on Redis 6.2 its "
                            "reader may write it, and someone wrote the largest id); the decision and the other "
                            "writes stand", entry.stream, entry.entry_id, outcome.decision_id,
                            note.removeprefix(REFUSED))
            outcomes.append(outcome)
        return outcomes, []

    async def _split(self, plan: Plan, mode: Mode, exc: TransportError) -> tuple[list[Outcome], list[Failure]]:
        if len(plan.entries) <= 1:
            return [], [Failure(entry, f"Redis refused its commit: {error_text(exc)}") for entry in plan.entries]
        log.warning("commit of %d entries refused, splitting it to find the entry at fault: %s",
                    len(plan.entries), exc)
        half = len(plan.writes) // 2
        outcomes: list[Outcome] = []
        failures: list[Failure] = []
        for index, part in enumerate((plan.writes[:half], plan.writes[half:])):
            sub = Plan(self._keys)
            for writes in part:
                sub.add(writes)
            sub.positions = plan.positions if index == 1 else []  # the scout's positions go with the last part
            done, failed = await self.commit(sub, mode)
            outcomes += done
            failures += failed
        return outcomes, failures

    async def record_failures(self, failures: Sequence[Failure]) -> None:
        """Keep each entry's last error where recovery will find it (the entry stays pending)."""
        if not failures:
            return
        for failure in failures:
            log.error("could not process %s %s (left pending, will be retried): %s", failure.entry.stream,
                      failure.entry.entry_id, failure.error)
        mapping = {f"{failure.entry.stream} {failure.entry.entry_id}": failure.error for failure in failures}
        async with translate_errors("recording processing failures"):
            await self._client.hset(self._keys.failures, mapping=mapping)  # type: ignore[arg-type]
