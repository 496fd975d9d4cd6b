"""Waiting for replicas (``WAIT``): what an acknowledged write means on a Redis with replicas (a cluster).

Redis replicates asynchronously: a write the master acknowledged can be lost if the master dies before a
replica has it and that replica is promoted. ``WAIT <replicas> <timeout>`` after a write returns how many
replicas have every write of *this connection* so far, so the write and its WAIT must go on one connection:
here they are one pipeline. ``Durability(replicas=0)`` (the default, and all a single Redis can give) sends
no WAIT. The contract (README, "Running on a Redis Cluster"):

- a partner's publish returns once the entries are on the replicas it waits for; a router's commit waits
  too, so a master's death loses at most what the replicas had not acknowledged, and a lost commit leaves its
  entries pending on the promoted replica, where they are decided again (once: a commit is one script call,
  replicated whole or not at all);
- it waits for ``replicas``, or for as many as the cluster lists as healthy for the region's master when that
  is fewer (after a failover the promoted master has none until its old master rejoins as its replica):
  such a write is acknowledged *degraded* (counted, logged), because refusing every write would stop the
  region's intake, threat to life included, on one node's death;
- ``strict``: never degraded; a publish that did not reach ``replicas`` in time raises
  :class:`bus.errors.NotReplicatedError` (publishing again is safe: the bus deduplicates), and the partner
  retries until the replicas are back. A commit is never strict and never undone: one acknowledged short
  is counted (``intelbus_commits_unreplicated_total``) and logged;
- not waited for: a team's consultation records and the audit checkpointer's signed checkpoints (a failover
  can lose the newest; ``intelbus audit verify`` then names what is missing).

WAIT makes loss unlikely, not impossible (a replica that had the write can still lose a promotion race),
as the Redis Cluster specification says.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from bus.cluster import slot_row
from bus.transport import translate_errors

RECHECK_SECONDS = 1.0  # how often a waiter asks the cluster how many healthy replicas the region's master has

log = logging.getLogger("intelbus.replicas")


@dataclass(frozen=True, slots=True)
class Durability:
    replicas: int = 0  # replicas each write must reach before it counts as acknowledged; 0: no WAIT
    timeout_ms: int = 1000  # how long one WAIT may take: below the connection's read timeout (redis-py: 5 s)
    strict: bool = False  # never acknowledge with fewer (see the module docstring)

    @property
    def waits(self) -> bool:
        return self.replicas > 0


NO_WAIT = Durability()


@dataclass(slots=True)
class Tally:
    """Writes acknowledged on fewer replicas than ``Durability.replicas`` (degraded, or a WAIT that timed out),
    shared by the waiters of one router (its batch loop's and its scout's connections) for its metrics."""

    short: int = 0


@dataclass(frozen=True, slots=True)
class Waited:
    replies: list[Any]  # of the commands queued, in order
    reached: int  # replicas that had them in time (0 when nothing was waited for)
    asked: int  # what this write waited for (fewer than durability.replicas when degraded)
    short: bool  # fewer than durability.replicas have it: degraded, or (strict) not acknowledged


class Waiter:
    """WAITs after a client's writes, for ``durability.replicas`` or (unless strict) as many as the cluster
    lists as healthy for the master of the client's slot (asked again every ``RECHECK_SECONDS``). On a single
    Redis (no slot) it waits for ``durability.replicas``. ``tally`` counts the writes acknowledged short."""

    def __init__(self, client: aioredis.Redis, durability: Durability, tally: Tally | None = None) -> None:
        self.client = client
        self.durability = durability
        self.tally = Tally() if tally is None else tally
        self._listed: int | None = None
        self._checked = 0.0

    async def _target(self) -> int:
        asked = self.durability.replicas
        slot = self.client.connection_pool.connection_kwargs.get("slot")
        if not asked or self.durability.strict or slot is None:
            return asked
        if self._listed is None or time.monotonic() - self._checked > RECHECK_SECONDS:
            reply = await self.client.execute_command("CLUSTER", "SLOTS")  # type: ignore[no-untyped-call]
            listed = healthy_replicas(reply, slot)
            if listed != self._listed and listed < asked:
                log.warning("the region's master has %d healthy replicas, fewer than the %d each write waits for: "
                            "writes are acknowledged on %d until more rejoin", listed, asked, listed)
            self._listed, self._checked = listed, time.monotonic()
        return min(asked, self._listed)

    async def run(self, doing: str, queue: Callable[[Any], None]) -> Waited:
        """Run the commands ``queue(pipe)`` adds, then WAIT, on one connection: a pipeline, or on a
        single-connection client its one connection, a command after another (the scout's has client tracking
        on, and a pipeline would take another connection from the pool). The first error of the writes is
        raised (a ``TransportError``). A WAIT that fails after the writes succeeded (an ACL without WAIT)
        counts as reaching no replica, logged: the writes stand."""
        async with translate_errors(doing):
            target = await self._target()
            pipe: Any = _OneConnection(self.client) if self.client.single_connection_client else \
                self.client.pipeline(transaction=False)
            async with pipe:
                queue(pipe)
                if target:
                    pipe.execute_command("WAIT", target, self.durability.timeout_ms)
                replies = list(await pipe.execute(raise_on_error=False))
            waited = replies.pop() if target else 0
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
        if isinstance(waited, Exception):
            log.warning("%s: stored, but WAIT failed (%s): counted as reaching no replica", doing, waited)
            waited = 0
        reached = int(waited)
        short = reached < self.durability.replicas
        if short and not self.durability.strict:  # strict: the caller refuses it instead
            self.tally.short += 1
        if target and reached < target:
            self._listed = None  # a replica listed as healthy did not answer in time: ask again next write
        return Waited(replies, reached, target, short)


class _OneConnection:
    """A pipeline's interface on a single-connection client: the commands queued, then run one after another
    on its one connection (``execute`` returns each reply, or each error reply, as a pipeline does)."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._calls: list[tuple[Callable[..., Awaitable[Any]], tuple[Any, ...]]] = []

    async def __aenter__(self) -> _OneConnection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Callable[..., None]:  # fcall, evalsha, execute_command: queued
        method = getattr(self._client, name)
        return lambda *args: self._calls.append((method, args))

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        replies: list[Any] = []
        for method, args in self._calls:
            try:
                replies.append(await method(*args))
            except redis_errors.ResponseError as exc:
                if raise_on_error:
                    raise
                replies.append(exc)
        return replies


def healthy_replicas(reply: Any, slot: int) -> int:
    """Replicas of the master serving ``slot`` in a ``CLUSTER SLOTS`` reply (it leaves failed ones out)."""
    row = slot_row(reply, slot)
    return 0 if row is None else len(row) - 3
