"""What the router has done (counts), and ways to wait for it without sleeping.

``Progress.until_idle()`` returns once a read that *began after the call* found nothing new, nothing
pending in the router group and no commit in flight: every entry written before the call is decided
(arq's burst mode, dramatiq's ``join``). ``until(predicate)`` returns once the counts satisfy it (checked
after every commit). Tests wait on these and then assert order and counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from bus.batch import Failure
from bus.commit import Committer, Outcome
from bus.replicas import Tally


@dataclass
class RouterStats:
    routed: int = 0
    quarantined: int = 0
    duplicate: int = 0
    already: int = 0  # decided ahead by the scout (or before a group was lost): acknowledged only
    skipped: int = 0
    failed: int = 0  # processing failures (the entry stayed pending, to be retried)
    poison: int = 0  # quarantined after too many deliveries
    batches: int = 0
    scouted: int = 0  # threat-to-life entries the scout routed ahead of the queue
    trimmed: int = 0  # unread entries a partner trimmed away (audited)
    deleted: int = 0  # pending entries deleted before anyone decided them (audited)
    replication: Tally = field(default_factory=Tally)  # commits acknowledged on fewer replicas than asked

    def count(self, outcomes: Iterable[Outcome]) -> None:
        self.batches += 1
        for outcome in outcomes:
            name = outcome.status.value
            setattr(self, name, getattr(self, name) + 1)


class Progress:
    def __init__(self) -> None:
        self.stats = RouterStats()
        self._started = 0  # reads begun
        self._idle = 0  # the latest read that found everything decided
        self._changed = asyncio.Condition()

    async def record(self, outcomes: Iterable[Outcome]) -> None:
        """Count one commit's outcomes and wake whoever waits on the counts."""
        self.stats.count(outcomes)
        await self.notify()

    async def failed(self, committer: Committer, failures: Sequence[Failure]) -> None:
        """Count entries whose processing failed, their last error kept in Redis (they stay pending)."""
        await committer.record_failures(failures)
        self.stats.failed += len(failures)

    async def notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def until(self, predicate: Callable[[RouterStats], bool]) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: predicate(self.stats))

    def begin(self) -> int:
        self._started += 1
        return self._started

    async def idle(self, read: int) -> None:
        async with self._changed:
            self._idle = max(self._idle, read)
            self._changed.notify_all()

    async def until_idle(self) -> None:
        after = self._started
        async with self._changed:
            await self._changed.wait_for(lambda: self._idle > after)
