"""Handling (H2–H7, and DATF's "withhold every other team"): what each selected team may receive.

A pure pass over the selection. Three properties hold by construction:
- a restriction, once applied, binds every later addition (an added team that an earlier rule would
  have withheld is withheld, with that earlier rule's reason);
- sanitisation is applied after every addition, so no added team can receive an unsanitised view;
- protected teams (H7) are never withheld by DATF or any handling rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bus.policy.conditions import Facts
from bus.policy.decision import Withheld
from bus.policy.routing import Selection
from bus.policy.ruleset import Ruleset
from bus.policy.ruleset_rules import CompiledHandling, CompiledSanitise
from bus.policy.selectors import Scope

Allowed = Callable[[str], bool]


@dataclass(slots=True)
class Outcome:
    teams: dict[str, list[tuple[str, str]]]
    omitted: dict[str, set[str]] = field(default_factory=dict)
    withheld: dict[str, Withheld] = field(default_factory=dict)
    restrictions: list[tuple[str, str, Allowed]] = field(default_factory=list)
    protected: frozenset[str] = frozenset()

    def withhold(self, team: str, rule: str, reason: str) -> None:
        if team in self.protected or team not in self.teams:
            return
        del self.teams[team]
        self.withheld.setdefault(team, Withheld(team, reason, rule))

    def restrict(self, rule: str, reason: str, allowed: Allowed) -> None:
        for team in [t for t in self.teams if not allowed(t)]:
            self.withhold(team, rule, reason)
        self.restrictions.append((rule, reason, allowed))

    def add(self, team: str, rule: str, says: str) -> None:
        if team in self.teams:
            self.teams[team].append((rule, says))
            return
        if team in self.withheld:
            return
        for earlier_rule, reason, allowed in self.restrictions:
            if not allowed(team) and team not in self.protected:
                self.withheld[team] = Withheld(team, reason, earlier_rule)
                return
        self.teams[team] = [(rule, says)]


def handle(sub: Any, facts: Facts, scope: Scope, selection: Selection, ruleset: Ruleset) -> Outcome:
    matching = ruleset.handle_match[sub.kind](sub, facts)
    protected = frozenset(t for rule in matching if rule.protect for t in rule.protect(scope)) \
        if any(rule.protect for rule in matching) else frozenset()
    # The selection is not used after handling: its lists are taken over, not copied.
    outcome = Outcome(selection.teams, protected=protected)
    for exclusive, keep in selection.exclusive:
        kept = frozenset(keep)
        outcome.restrict(exclusive.rule, exclusive.withhold_others or exclusive.says, kept.__contains__)
    sanitising: list[tuple[CompiledHandling, CompiledSanitise]] = []
    for rule in matching:
        _apply(rule, scope, outcome)
        if rule.sanitise is not None:
            sanitising.append((rule, rule.sanitise))
    for rule, spec in sanitising:
        _sanitise(sub, rule, spec, scope, outcome)
    for team in protected & outcome.teams.keys():
        outcome.teams[team].append(_protecting_rule(matching, team, scope))
    return outcome


def _apply(rule: CompiledHandling, scope: Scope, outcome: Outcome) -> None:
    if rule.withhold is not None:
        barred = rule.withhold(scope)  # a small tuple: membership is as fast as a set's, without building one
        outcome.restrict(rule.rule, rule.reason, lambda team: team not in barred)
    if rule.keep_only is not None:
        outcome.restrict(rule.rule, rule.reason, rule.keep_only(scope).__contains__)
    if rule.add is not None:
        for team in rule.add(scope):
            outcome.add(team, rule.rule, rule.says)


def _sanitise(sub: Any, rule: CompiledHandling, spec: CompiledSanitise, scope: Scope, outcome: Outcome) -> None:
    full_view = spec.full_view(scope)
    missing = spec.require is not None and not getattr(sub, spec.require, None)
    for team in [t for t in outcome.teams if t not in full_view]:
        if missing and team not in outcome.protected:
            outcome.withhold(team, rule.rule, rule.reason)
            continue
        outcome.omitted.setdefault(team, set()).update(spec.remove)
        outcome.teams[team].append((rule.rule, rule.says))


def _protecting_rule(matching: list[CompiledHandling], team: str, scope: Scope) -> tuple[str, str]:
    rule = next(r for r in matching if r.protect and team in r.protect(scope))
    return rule.rule, rule.says
