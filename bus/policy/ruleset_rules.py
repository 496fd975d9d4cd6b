"""Compile the ruleset's routing and handling rules into the forms the engine evaluates, indexed by kind.

Conditions and selectors are compiled here (``bus.policy.conditions``, ``bus.policy.selectors``); a problem is
raised as ``Invalid`` with the key path of the rule's offending entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from bus.policy.conditions import (
    KIND_FIELDS,
    ConditionError,
    Facts,
    Predicate,
    compile_condition,
    compile_matcher,
    kinds_of,
)
from bus.policy.ruleset_file import Due, HandlingRule, RoutingRule, RulesetFile, Sanitise
from bus.policy.selectors import HANDLING, ROUTING, Directory, Resolver, SelectorError, compile_selector, union_of
from bus.policy.yaml_lines import Invalid, KeyPath
from schemas.kinds import KIND_NAMES

PRIORITY_RANK = {"routine": 0, "high": 1, "immediate": 2}


@dataclass(frozen=True, slots=True)
class CompiledRouting:
    rule: str
    says: str
    when: Predicate
    add: Resolver | None
    priority: int
    due: Due | None
    withhold_others: str | None


@dataclass(frozen=True, slots=True)
class CompiledSanitise:
    remove: tuple[str, ...]
    full_view: Resolver
    require: str | None


@dataclass(frozen=True, slots=True)
class CompiledHandling:
    rule: str
    says: str
    when: Predicate
    withhold: Resolver | None
    keep_only: Resolver | None
    add: Resolver | None
    sanitise: CompiledSanitise | None
    protect: Resolver | None
    reason: str


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """Each kind's routing and handling rules in file order, and what each rule id says."""

    routing: dict[str, tuple[CompiledRouting, ...]]
    handling: dict[str, tuple[CompiledHandling, ...]]
    says: dict[str, str]
    route_match: dict[str, Callable[[Any, Facts], list[CompiledRouting]]]
    handle_match: dict[str, Callable[[Any, Facts], list[CompiledHandling]]]


_Rule = TypeVar("_Rule", CompiledRouting, CompiledHandling)


def compile_rules(model: RulesetFile, directory: Directory) -> CompiledRules:
    says: dict[str, str] = {}
    routing = [_routing_rule(rule, i, directory, says) for i, rule in enumerate(model.routing)]
    handling = [_handling_rule(rule, i, directory, says) for i, rule in enumerate(model.handling)]
    routing_kinds = [kinds_of(rule.when, KIND_NAMES) for rule in model.routing]
    handling_kinds = [kinds_of(rule.when, KIND_NAMES) for rule in model.handling]
    routing_whens, handling_whens = [r.when for r in model.routing], [r.when for r in model.handling]
    by_kind_routing = _by_kind(routing, routing_kinds, routing_whens)
    by_kind_handling = _by_kind(handling, handling_kinds, handling_whens)
    return CompiledRules(
        routing=by_kind_routing, handling=by_kind_handling, says=says,
        route_match=_matchers(by_kind_routing, routing_kinds, routing_whens),
        handle_match=_matchers(by_kind_handling, handling_kinds, handling_whens),
    )


def _matchers(by_kind: dict[str, tuple[_Rule, ...]], kinds: list[tuple[str, ...]],
              whens: list[dict[str, Any]]) -> dict[str, Callable[[Any, Facts], list[_Rule]]]:
    """Each kind's rules (``by_kind``'s, the same objects) as one function returning the applicable ones."""
    matchers = {}
    for kind, rules in by_kind.items():
        own = [_without_kind(when) for ks, when in zip(kinds, whens, strict=True) if kind in ks]
        matchers[kind] = compile_matcher(list(zip(own, rules, strict=True)), KIND_FIELDS[kind])
    return matchers


def _by_kind(rules: list[_Rule], kinds: list[tuple[str, ...]],
             whens: list[dict[str, Any]]) -> dict[str, tuple[_Rule, ...]]:
    """Each kind's rules, in file order, each condition compiled for that kind (direct field access)."""
    return {
        kind: tuple(replace(rule, when=compile_condition(_without_kind(when), fields=KIND_FIELDS[kind]))
                    for rule, ks, when in zip(rules, kinds, whens, strict=True) if kind in ks)
        for kind in KIND_NAMES
    }


def _without_kind(when: dict[str, Any]) -> dict[str, Any]:
    """Rules are indexed by kind, so a plain kind test is already decided; other kind tests stay."""
    if "kind" in when and kinds_of(when, KIND_NAMES) != KIND_NAMES:
        return {key: value for key, value in when.items() if key != "kind"}
    return when


def _routing_rule(rule: RoutingRule, index: int, directory: Directory, says: dict[str, str]) -> CompiledRouting:
    where: KeyPath = ("routing", index)
    says.setdefault(rule.rule, rule.says)
    return CompiledRouting(
        rule=rule.rule, says=rule.says, when=_when(rule.when, where),
        add=_selectors(rule.add, (*where, "add"), directory, ROUTING),
        priority=PRIORITY_RANK[rule.priority or "routine"], due=rule.due, withhold_others=rule.withhold_others,
    )


def _handling_rule(rule: HandlingRule, index: int, directory: Directory, says: dict[str, str]) -> CompiledHandling:
    where: KeyPath = ("handling", index)
    says.setdefault(rule.rule, rule.says)
    return CompiledHandling(
        rule=rule.rule, says=rule.says, when=_when(rule.when, where),
        withhold=_selectors(rule.withhold, (*where, "withhold"), directory, HANDLING),
        keep_only=_selectors(rule.keep_only, (*where, "keep_only"), directory, HANDLING, allow_empty=True),
        add=_selectors(rule.add, (*where, "add"), directory, HANDLING),
        sanitise=_sanitise(rule.sanitise, (*where, "sanitise"), directory),
        protect=_selectors(rule.protect, (*where, "protect"), directory, HANDLING),
        reason=rule.reason or rule.says,
    )


def _sanitise(spec: Sanitise | None, where: KeyPath, directory: Directory) -> CompiledSanitise | None:
    if spec is None:
        return None
    full_view = _selectors(spec.except_, (*where, "except"), directory, HANDLING, allow_empty=True)
    assert full_view is not None
    return CompiledSanitise(tuple(spec.remove), full_view, spec.require)


def _when(when: dict[str, Any], where: KeyPath) -> Predicate:
    """Validate the whole condition (``_by_kind`` then compiles it for each kind it applies to)."""
    try:
        return compile_condition(when)
    except ConditionError as exc:
        raise Invalid((*where, "when", *exc.path), str(exc)) from None


def _selectors(texts: list[str] | None, where: KeyPath, directory: Directory, mode: str,
               allow_empty: bool = False) -> Resolver | None:
    if texts is None or (not texts and not allow_empty):
        return None
    resolvers = []
    for index, text in enumerate(texts):
        try:
            resolvers.append(compile_selector(text, directory, mode))
        except SelectorError as exc:
            raise Invalid((*where, index), str(exc)) from None
    return union_of(resolvers)
