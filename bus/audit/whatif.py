"""What if: past submissions decided again under a candidate ruleset, and what would change (DESIGN.md 1, 9).

Nothing is written to the bus. ``what_if`` reads the decision log between two bounds (``bus.audit.log``),
fetches each record's ingress entry (one pipelined round trip of XRANGE per page of the log, fields exactly
as Redis holds them), decides it again exactly as the router does (``bus.batch.Engine.writes``: the same
decider, the stream's owner as ``ingress_owner``, an entry that is not one ``payload`` field quarantined
the same way) at the record's own ``decided_at``, and compares. The comparison (``compare``) and the
summary (``summarise``) are pure.

Not every record is re-decided, and none is skipped silently:

- ``duplicate`` records come from the dedupe marks, not the ruleset: counted, not compared;
- poison quarantines (``poison: …``) come from repeated processing failures, not the ruleset: listed;
- a record whose ingress entry is gone (trimmed, deleted), that names no entry, or that cannot be read is
  listed as unavailable, by decision id;
- an entry whose re-decision raises is listed as failed, with the error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from bus.audit.log import iter_log
from bus.batch import Engine, error_text
from bus.keys import Keys
from bus.policy import DUPLICATE, QUARANTINED, Reference, Ruleset
from bus.transport import translate_errors
from bus.wire import READ_OUT_LIMIT, Entry

PAGE = 500
"""Decision records per page: one XRANGE of the log and one pipelined round trip of ingress lookups."""
POISON_PREFIX = "poison:"
COLUMNS = ("added", "removed", "view", "priority", "due")
ChangeKind = Literal["added", "removed", "view", "priority", "due"]
Record = Mapping[str, Any]
Tally = dict[str, dict[str, int]]
WHY_DUPLICATE = "decided by the dedupe marks, not by the ruleset: the same submission_id sent again"
WHY_POISON = "quarantined after repeated processing failures, not by the ruleset"


# ---- the pure comparison -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Difference:
    """One team's change: ``added`` / ``removed`` (``rules`` selected it: the candidate's for added, the
    original's for removed; ``withheld_by`` the rule that withheld it in the other decision), or its
    ``view`` / ``priority`` / ``due`` changed (``rules``: those of both deliveries)."""

    change: ChangeKind
    team: str
    before: str | None = None
    after: str | None = None
    rules: tuple[str, ...] = ()
    withheld_by: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"change": self.change, "team": self.team, "before": self.before, "after": self.after,
                "rules": list(self.rules), "withheld_by": self.withheld_by}


@dataclass(frozen=True, slots=True)
class Comparison:
    """What differs between the original record and the candidate's decision of the same submission."""

    status: tuple[str, str] | None = None  # (before, after): routed <-> quarantined
    reason: tuple[str | None, str | None] | None = None  # the quarantine reason, when it differs
    differences: tuple[Difference, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.status or self.reason or self.differences)

    @property
    def rules(self) -> tuple[str, ...]:
        """Every rule that selected, shaped or withheld a team that changed."""
        return tuple(dict.fromkeys(rule for d in self.differences for rule in _rules_of(d)))


def compare(before: Record, after: Record) -> Comparison:
    """The differences between two decision records of one submission (dicts as ``Decision.to_dict``)."""
    old, new = _deliveries(before), _deliveries(after)
    differences = [*_added(old, new, _withheld(before)), *_removed(old, new, _withheld(after)),
                   *_reshaped(old, new)]
    status = (str(before.get("status")), str(after.get("status")))
    reason = (before.get("reason"), after.get("reason"))
    return Comparison(status if status[0] != status[1] else None, reason if reason[0] != reason[1] else None,
                      tuple(differences))


def _deliveries(record: Record) -> dict[str, Record]:
    return {d["recipient"]: d for d in record.get("deliveries") or ()}


def _withheld(record: Record) -> dict[str, str]:
    out: dict[str, str] = {}
    for w in record.get("withheld") or ():
        out.setdefault(w["recipient"], w["rule"])
    return out


def _added(old: Mapping[str, Record], new: Mapping[str, Record], withheld_before: Mapping[str, str]
           ) -> Iterator[Difference]:
    for team, delivery in new.items():
        if team not in old:
            yield Difference("added", team, None, _view_text(delivery), tuple(delivery["rules"]),
                             withheld_before.get(team))


def _removed(old: Mapping[str, Record], new: Mapping[str, Record], withheld_after: Mapping[str, str]
             ) -> Iterator[Difference]:
    for team, delivery in old.items():
        if team not in new:
            yield Difference("removed", team, _view_text(delivery), None, tuple(delivery["rules"]),
                             withheld_after.get(team))


def _reshaped(old: Mapping[str, Record], new: Mapping[str, Record]) -> Iterator[Difference]:
    for team, after in new.items():
        before = old.get(team)
        if before is not None:
            yield from _delivery_changes(team, before, after)


def _delivery_changes(team: str, before: Record, after: Record) -> Iterator[Difference]:
    rules = tuple(dict.fromkeys([*before["rules"], *after["rules"]]))
    if _view(before) != _view(after):
        yield Difference("view", team, _view_text(before), _view_text(after), rules)
    if before["priority"] != after["priority"]:
        yield Difference("priority", team, before["priority"], after["priority"], rules)
    if before.get("due") != after.get("due"):
        yield Difference("due", team, before.get("due"), after.get("due"), rules)


def _view(delivery: Record) -> tuple[str, tuple[str, ...]]:
    return delivery["view"], tuple(sorted(delivery.get("omitted") or ()))


def _view_text(delivery: Record) -> str:
    omitted = delivery.get("omitted") or ()
    return f"{delivery['view']} without {', '.join(omitted)}" if omitted else str(delivery["view"])


def _rules_of(difference: Difference) -> tuple[str, ...]:
    withheld = (difference.withheld_by,) if difference.withheld_by else ()
    return (*difference.rules, *withheld)


def summarise(comparisons: Iterable[Comparison]) -> dict[str, Any]:
    """Counts of each kind of change (``COLUMNS``) by rule and by team, and of status and reason changes.
    A difference counts once under each rule that selected, shaped or withheld it."""
    by_rule: Tally = {}
    by_team: Tally = {}
    status: Counter[str] = Counter()
    reasons = 0
    for comparison in comparisons:
        for difference in comparison.differences:
            _count(by_team, difference.team, difference.change)
            for rule in dict.fromkeys(_rules_of(difference)):
                _count(by_rule, rule, difference.change)
        if comparison.status:
            status[" -> ".join(comparison.status)] += 1
        reasons += comparison.reason is not None
    return {"by_rule": dict(sorted(by_rule.items(), key=lambda item: _rule_order(item[0]))),
            "by_team": dict(sorted(by_team.items())), "status": dict(sorted(status.items())),
            "reason_changed": reasons}


def _count(tally: Tally, name: str, change: str) -> None:
    tally.setdefault(name, dict.fromkeys(COLUMNS, 0))[change] += 1


def _rule_order(rule: str) -> tuple[str, int, str]:
    """R2 before R10: the letters, then the number."""
    head = rule.rstrip("0123456789")
    tail = rule[len(head):]
    return head, int(tail) if tail else -1, rule


def describe(comparison: Comparison) -> str:
    """What changed, in words (one line)."""
    parts = []
    if comparison.status:
        parts.append(" -> ".join(comparison.status))
    if comparison.reason:
        before, after = comparison.reason
        parts.append(f"reason {_quoted(before)} -> {_quoted(after)}")
    parts += [_difference_text(d) for d in comparison.differences]
    return "; ".join(parts)


def _quoted(reason: str | None) -> str:
    return "none" if reason is None else f'"{reason}"'


def _difference_text(d: Difference) -> str:
    rules = ", ".join(d.rules)
    if d.change == "added":
        was = f"; was withheld by {d.withheld_by}" if d.withheld_by else ""
        return f"{d.team} added, {d.after} view (selected by {rules or 'no rule'}{was})"
    if d.change == "removed":
        now = f"; now withheld by {d.withheld_by}" if d.withheld_by else ""
        return f"{d.team} removed (was selected by {rules or 'no rule'}{now})"
    return f"{d.team} {d.change} {d.before or 'none'} -> {d.after or 'none'} ({rules})"


# ---- what the log holds, and the report ----------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Target:
    """A record to decide again: its ingress entry and the time it was decided at."""

    decision_id: str
    record: Record
    stream: str
    entry_id: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record not re-decided (``kind`` duplicate or poison; ``why``: the poison record's reason)."""

    decision_id: str
    submission_id: str | None
    kind: Literal["duplicate", "poison"]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "submission_id": self.submission_id, "why": self.why}


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A record whose submission could not be decided again (``failed``: re-deciding it raised)."""

    decision_id: str
    submission_id: str | None
    why: str
    failed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "submission_id": self.submission_id, "why": self.why}


@dataclass(frozen=True, slots=True)
class Change:
    decision_id: str
    record: Record  # the original
    comparison: Comparison

    def to_dict(self) -> dict[str, Any]:
        c, r = self.comparison, self.record
        return {"decision_id": self.decision_id, "submission_id": r.get("submission_id"),
                "partner": r.get("partner"), "kind": r.get("kind"), "stream": r.get("stream"),
                "entry_id": r.get("entry_id"),
                "status": None if c.status is None else {"before": c.status[0], "after": c.status[1]},
                "reason": None if c.reason is None else {"before": c.reason[0], "after": c.reason[1]},
                "differences": [d.to_dict() for d in c.differences], "rules": list(c.rules),
                "summary": describe(c)}


Outcome = Skipped | Unavailable | Change


def target(decision_id: str, fields: Mapping[bytes, bytes], keys: Keys) -> Target | Outcome:
    """What to do with one row of the decision log: decide it again (a ``Target``) or why not."""
    try:
        record = orjson.loads(fields[b"decision"])
    except (KeyError, orjson.JSONDecodeError):
        return Unavailable(decision_id, None, "the log entry holds no readable decision record")
    if not isinstance(record, dict):
        return Unavailable(decision_id, None, "the log entry's decision is not a JSON object")
    sid = record.get("submission_id")
    if record.get("status") == DUPLICATE:
        return Skipped(decision_id, sid, "duplicate", WHY_DUPLICATE)
    if record.get("status") == QUARANTINED and str(record.get("reason") or "").startswith(POISON_PREFIX):
        return Skipped(decision_id, sid, "poison", str(record["reason"]))
    where = _where(record, keys)
    if isinstance(where, str):
        return Unavailable(decision_id, sid, where)
    return Target(decision_id, record, *where)


def _where(record: Record, keys: Keys) -> tuple[str, str, datetime] | str:
    stream, entry_id = record.get("stream"), record.get("entry_id")
    if not isinstance(stream, str) or not isinstance(entry_id, str) or not stream or not entry_id:
        return "the record names no ingress entry (no stream/entry_id): its original bytes cannot be found"
    if not stream.startswith(keys.ingress_prefix):
        return f"{stream} is not an ingress stream (prefix {keys.ingress_prefix})"
    try:
        decided_at = datetime.fromisoformat(str(record.get("decided_at")))
    except ValueError:
        return f"the record's decided_at is not a date-time: {record.get('decided_at')!r}"
    return stream, entry_id, decided_at


def entry_of(target: Target, reply: Sequence[Any]) -> Entry | None:
    """The ingress entry from an unparsed ``XRANGE stream id id`` reply, as the router reads it (fields in
    order; over the read-out limit: not read out); ``None`` when it is gone."""
    if not reply:
        return None
    entry_id, flat = reply[0]
    fields = tuple(zip(flat[::2], flat[1::2], strict=True))
    size = sum(len(part) for part in flat)
    return Entry(target.stream, entry_id.decode(), fields if size <= READ_OUT_LIMIT else None, size, len(fields))


def judge(engine: Engine, target: Target, reply: Sequence[Any] | BaseException) -> Outcome:
    """Decide the fetched entry again at the record's time and compare (pure: ``reply`` is fetched)."""
    sid = target.record.get("submission_id")
    if isinstance(reply, BaseException):
        return Unavailable(target.decision_id, sid, f"reading {target.stream} {target.entry_id}: {reply}")
    entry = entry_of(target, reply)
    if entry is None:
        return Unavailable(target.decision_id, sid, f"ingress entry {target.stream} {target.entry_id} is gone "
                                                    "(trimmed or deleted): its original bytes are not available")
    try:
        decision = engine.writes(entry, target.decided_at).decision.to_dict()
    except Exception as exc:  # a candidate that fails on one entry does not stop the others
        return Unavailable(target.decision_id, sid, f"re-deciding raised {error_text(exc)}", failed=True)
    if None not in (sid, decision["submission_id"]) and decision["submission_id"] != sid:
        return Unavailable(target.decision_id, sid, f"ingress entry {target.stream} {target.entry_id} now holds "
                                                    f"another submission ({decision['submission_id']})")
    return Change(target.decision_id, target.record, compare(target.record, decision))


@dataclass
class Report:
    """Everything ``what_if`` found; ``to_dict`` is the JSON document."""

    ruleset: str
    reference: str
    since: str = "-"
    until: str = "+"
    examined: int = 0
    unchanged: int = 0
    duplicates: int = 0
    changes: list[Change] = field(default_factory=list)
    poison: list[Skipped] = field(default_factory=list)
    unavailable: list[Unavailable] = field(default_factory=list)
    failed: list[Unavailable] = field(default_factory=list)
    originals: Counter[str] = field(default_factory=Counter)  # ruleset digests of the records re-decided

    def note(self, outcome: Outcome) -> None:
        self.examined += 1
        match outcome:
            case Skipped(kind="duplicate"):
                self.duplicates += 1
            case Skipped():
                self.poison.append(outcome)
            case Unavailable(failed=True):
                self.failed.append(outcome)
            case Unavailable():
                self.unavailable.append(outcome)
            case Change():
                self._compared(outcome)

    def _compared(self, change: Change) -> None:
        self.originals[str(change.record.get("ruleset"))] += 1
        if change.comparison.changed:
            self.changes.append(change)
        else:
            self.unchanged += 1

    def totals(self) -> dict[str, int]:
        return {"examined": self.examined, "unchanged": self.unchanged, "changed": len(self.changes),
                "duplicates_not_redecided": self.duplicates, "poison_not_redecided": len(self.poison),
                "unavailable": len(self.unavailable), "failed": len(self.failed)}

    def summary(self) -> dict[str, Any]:
        return summarise(change.comparison for change in self.changes) | {"totals": self.totals()}

    def to_dict(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset, "reference": self.reference, "since": self.since, "until": self.until,
                "original_rulesets": dict(self.originals), "changes": [c.to_dict() for c in self.changes],
                "unavailable": [u.to_dict() for u in self.unavailable],
                "failed": [u.to_dict() for u in self.failed], "poison": [p.to_dict() for p in self.poison],
                "not_redecided": {"duplicate": WHY_DUPLICATE, "poison": WHY_POISON},
                "summary": self.summary()}


# ---- the I/O: read the log, fetch the entries ----------------------------------------------------------

async def what_if(client: aioredis.Redis, keys: Keys, ruleset: Ruleset, reference: Reference,
                  since: str = "-", until: str = "+", *, on_page: Callable[[int], None] | None = None,
                  page: int = PAGE) -> Report:
    """Decide every submission of the decision log between ``since`` and ``until`` (XRANGE bounds, see
    ``bus.audit.log.bound``) again under ``ruleset`` and ``reference``; read only, nothing is written.
    ``on_page`` is told how many records each page held (for progress)."""
    engine = Engine(ruleset, reference, keys)
    report = Report(ruleset.digest, reference.digest, since, until)
    async for rows in iter_log(client, keys.decisions, since, until, page=page):
        items = [target(decision_id.decode(), fields, keys) for decision_id, fields in rows]
        targets = [item for item in items if isinstance(item, Target)]
        replies = dict(zip((t.decision_id for t in targets), await _fetch(client, targets), strict=True))
        for item in items:
            report.note(judge(engine, item, replies[item.decision_id]) if isinstance(item, Target) else item)
        if on_page is not None:
            on_page(len(rows))
    return report


async def _fetch(client: aioredis.Redis, targets: Sequence[Target]) -> list[Any]:
    """Each target's ingress entry, unparsed (fields in order, repeated names kept), in one round trip; an
    error reply (a wrong id, a key that is no stream) is returned in its place."""
    if not targets:
        return []
    pipe = client.pipeline(transaction=False)
    pipe.response_callbacks = {}  # this pipeline only: redis-py would fold an entry's fields into a dict
    for t in targets:
        pipe.xrange(t.stream, min=t.entry_id, max=t.entry_id, count=1)
    async with translate_errors("reading ingress entries for what-if"):
        return list(await pipe.execute(raise_on_error=False))
