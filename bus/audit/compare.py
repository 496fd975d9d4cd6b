"""What if, the pure half: how a re-decided submission differs from its recorded decision, in words and
in a summary by rule and team (``bus.audit.whatif`` runs it over the log). No I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

COLUMNS = ("added", "removed", "view", "priority", "due")
ChangeKind = Literal["added", "removed", "view", "priority", "due"]
Record = Mapping[str, Any]
Tally = dict[str, dict[str, int]]


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
