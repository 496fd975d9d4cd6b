"""Deciding a batch of ingress entries, each on its own (DESIGN.md decision 8): pure, no I/O.

Everything an entry goes through (its fields, parse, decision, views, packing) happens inside that
entry's boundary: an entry that raises is set aside as a ``Failure`` with its error and left pending,
and the others are planned as if it were not there. Plans are cut by size, so no commit call carries
more than ``COMMIT_BYTES`` of arguments (a few milliseconds of Redis time) whatever partners write.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bus.keys import Keys
from bus.plan import Plan, Writes
from bus.policy import ROUTED, Decision, Reference, Ruleset, decide_payload, quarantined
from bus.wire import Entry
from schemas import Parsed, peek_submission_id

COMMIT_BYTES = 2 * 1024 * 1024
MAX_ERROR_TEXT = 1000
Decider = Callable[..., tuple[Decision, Parsed | None]]


def dedupe_key(submission_id: str) -> str:
    """UUIDs compare without regard to letter case (SUBMISSIONS.md): the dedupe mark's key."""
    return submission_id.lower()


@dataclass(frozen=True, slots=True)
class Failure:
    entry: Entry
    error: str


@dataclass(frozen=True, slots=True)
class Engine:
    """The pure decision core as the router uses it: one entry in, its writes out."""

    ruleset: Ruleset
    reference: Reference
    keys: Keys
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    decider: Decider = decide_payload  # tests inject faults here

    def quarantine(self, entry: Entry, reason: str, now: datetime) -> Decision:
        payload = entry.first_payload
        return quarantined(reason, self.ruleset, self.reference, now, partner=self.keys.partner_of(entry.stream),
                           submission_id=peek_submission_id(payload) if payload is not None else None)

    def writes(self, entry: Entry, now: datetime) -> Writes:
        raw = entry.payload  # set exactly when the entry has no problem (one field, payload)
        if raw is None:
            problem = entry.problem()
            assert problem is not None
            return Writes(entry, self.quarantine(entry, problem, now), clear_failure=bool(entry.last_error))
        owner = self.keys.partner_of(entry.stream)
        decision, parsed = self.decider(raw, self.ruleset, self.reference, now, ingress_owner=owner)
        if parsed is None:
            return Writes(entry, decision, raw, None, None, bool(entry.last_error))
        submission = parsed.submission
        key = dedupe_key(submission.submission_id) if submission.partner == owner else None
        return Writes(entry, decision, raw, parsed.document, key, bool(entry.last_error))

    def poison(self, entry: Entry, limit: int, now: datetime) -> Writes:
        """Quarantine an entry delivered more than ``limit`` times: routed to nobody, kept whole."""
        last = entry.last_error or ("none was recorded: each router that read it stopped before deciding it "
                                    "(killed, or crashed by it)")
        reason = (f"poison: processing failed {entry.deliveries - 1} times (limit {limit}); last error: {last}")
        return Writes(entry, self.quarantine(entry, reason, now), clear_failure=True)


def error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:MAX_ERROR_TEXT]


class Planner:
    """Plans (each under ``COMMIT_BYTES`` and ``max_entries``) for entries fed in any number of ``add`` calls,
    all decided at one ``now``: the caller may yield between chunks without cutting a commit call per chunk."""

    def __init__(self, engine: Engine, make: Callable[[Entry, datetime], Writes],
                 accept: Callable[[Writes], bool] = lambda writes: True, max_entries: int | None = None) -> None:
        self._engine, self._make, self._accept = engine, make, accept
        self._max_entries = max_entries
        self._now = engine.clock()
        self._plans = [Plan(engine.keys)]
        self.failures: list[Failure] = []

    def add(self, entries: Iterable[Entry]) -> None:
        """Plan the entries that ``make`` turns into writes ``accept``-ed; set aside those whose processing
        raised."""
        plans = self._plans
        for entry in entries:
            try:
                writes = self._make(entry, self._now)
                if not self._accept(writes):
                    continue
                last = plans[-1]
                if last.entries and (last.size >= COMMIT_BYTES or len(last.entries) == self._max_entries):
                    plans.append(Plan(self._engine.keys))
                plans[-1].add(writes)
            except Exception as exc:  # whatever the entry holds, it cannot take its neighbours down
                self.failures.append(Failure(entry, error_text(exc)))

    @property
    def plans(self) -> list[Plan]:
        return [plan for plan in self._plans if plan.entries]


def plan_entries(engine: Engine, entries: Iterable[Entry], make: Callable[[Entry, datetime], Writes],
                 accept: Callable[[Writes], bool] = lambda writes: True) -> tuple[list[Plan], list[Failure]]:
    """Plans (each under ``COMMIT_BYTES``) for the entries that ``make`` turns into writes ``accept``-ed;
    failures for the entries whose processing raised."""
    planner = Planner(engine, make, accept)
    planner.add(entries)
    return planner.plans, planner.failures


def urgent(writes: Writes) -> bool:
    """What the scout commits ahead of the group: routed, immediate, with a dedupe mark (so that the
    group's later reading is recognised). Anything else waits for the router group."""
    decision = writes.decision
    return decision.status == ROUTED and decision.immediate and writes.dedupe_key is not None


THREAT_TO_LIFE = re.compile(rb'"threat_to_life"\s*:\s*true')
"""The text lua/scout.lua looks for (its ``urgent``): a payload that says it is a threat to life."""


def says_threat_to_life(entry: Entry) -> bool:
    """Whether the entry's payload says ``"threat_to_life": true``, before it is parsed: what goes first in a
    batch. Only an order: the decision is the engine's, whatever the text says."""
    payload = entry.payload
    return payload is not None and THREAT_TO_LIFE.search(payload) is not None


def split_poison(entries: Sequence[Entry], limit: int) -> tuple[list[Entry], list[Entry]]:
    """(entries to retry, entries delivered more than ``limit`` times)."""
    return [e for e in entries if e.deliveries <= limit], [e for e in entries if e.deliveries > limit]
