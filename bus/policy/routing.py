"""Routing (R1–R10): which teams each applicable rule selects, and the submission's priority and due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bus.policy.calendar import end_of_working_day, hours_after
from bus.policy.conditions import Facts
from bus.policy.ruleset import Ruleset
from bus.policy.ruleset_rules import CompiledRouting
from bus.policy.selectors import Scope


@dataclass(slots=True)
class Selection:
    """Teams in the order first selected, each with the (rule, says) pairs that selected it."""

    teams: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    priority: int = 0
    due: datetime | None = None
    exclusive: list[tuple[CompiledRouting, tuple[str, ...]]] = field(default_factory=list)


def route(sub: Any, facts: Facts, scope: Scope, ruleset: Ruleset) -> Selection:
    selection = Selection()
    for rule in ruleset.route_match[sub.kind](sub, facts):  # the kind's rules whose condition holds, in order
        _apply(selection, rule, rule.add(scope) if rule.add else (), sub, ruleset)
    return selection


def _apply(selection: Selection, rule: CompiledRouting, added: tuple[str, ...], sub: Any, ruleset: Ruleset) -> None:
    """One applicable rule: its teams (with why), and the priority and due it gives."""
    why = (rule.rule, rule.says)
    for team in added:
        selection.teams.setdefault(team, []).append(why)
    selection.priority = max(selection.priority, rule.priority)
    if rule.due is not None:
        due = _due(rule, sub, ruleset)
        if selection.due is None or due < selection.due:
            selection.due = due
    if rule.withhold_others:
        selection.exclusive.append((rule, added))


def _due(rule: CompiledRouting, sub: Any, ruleset: Ruleset) -> datetime:
    spec = rule.due
    assert spec is not None
    start = getattr(sub, spec.after)
    if spec.working_days is not None:
        return end_of_working_day(start, spec.working_days, ruleset.country, ruleset.subdivision, ruleset.zone)
    assert spec.hours is not None
    return hours_after(start, spec.hours, ruleset.zone)
