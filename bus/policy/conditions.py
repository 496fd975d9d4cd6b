"""Compile a rule's ``when:`` mapping into a fast predicate.

A condition reads fields of the submission (dotted for nested ones: ``grading.scheme``) and facts the
engine derived (``ocg_tiers``). Values are checked against the schema when the ruleset loads, so a typo
such as ``themes: {any: [drugz]}`` is an error with its line, not a rule that silently never fires.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from schemas.common import Grading3x5x2, Grading5x5x5
from schemas.kinds import KINDS

Facts = Mapping[str, Any]
Predicate = Callable[[Any, Facts], bool]
_Rule = TypeVar("_Rule")
FACTS: dict[str, frozenset[str] | None] = {"ocg_tiers": frozenset({"local", "regional"})}


class ConditionError(ValueError):
    """A bad condition; ``path`` says where inside the ``when`` mapping."""

    def __init__(self, path: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path = path


def _literal_values(annotation: Any) -> set[Any] | None:
    """The allowed values of a Literal (possibly inside list[...] or Optional[...]), else None."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        return set(typing.get_args(annotation))
    if origin in (list, typing.Union, types.UnionType, typing.Annotated):
        found: set[Any] = set()
        for arg in typing.get_args(annotation):
            values = _literal_values(arg)
            if values:
                found |= values
        return found or None
    return None


def _field_table() -> dict[str, set[Any] | None]:
    table: dict[str, set[Any] | None] = {}
    for model in KINDS:
        for name, info in model.model_fields.items():
            values = _literal_values(info.annotation)
            table[name] = (table.get(name) or set()) | values if values else table.get(name)
    for grading in (Grading3x5x2, Grading5x5x5):
        for name, info in grading.model_fields.items():
            values = _literal_values(info.annotation) or set()
            table[f"grading.{name}"] = (table.get(f"grading.{name}") or set()) | values
    for fact, fact_values in FACTS.items():
        table[fact] = set(fact_values) if fact_values else None
    return table


FIELDS = _field_table()
KIND_FIELDS: dict[str, frozenset[str]] = {
    model.model_fields["kind"].annotation.__args__[0]: frozenset(model.model_fields)  # type: ignore[union-attr]
    for model in KINDS
}


class _Builder:
    """Builds one Python expression for a whole condition; constants travel in a namespace."""

    def __init__(self, fields: frozenset[str] | None) -> None:
        self.constants: dict[str, Any] = {}
        self.fields = fields  # the kind's fields when compiling for one kind, else None

    def const(self, value: Any) -> str:
        name = f"c{len(self.constants)}"
        self.constants[name] = value
        return name

    def getter(self, path: str) -> str:
        if path in FACTS:
            return f"facts.get({self.const(path)})"
        head, _, tail = path.partition(".")
        if self.fields is not None:  # one kind: direct attribute access, or None for a field it lacks
            if head not in self.fields:
                return "None"
            return f"sub.{head}" if not tail else f"(_n.{tail} if (_n := sub.{head}) is not None else None)"
        if not tail:
            return f"getattr(sub, {self.const(head)}, None)"
        return f"getattr(getattr(sub, {self.const(head)}, None), {self.const(tail)}, None)"


def compile_condition(when: Mapping[str, Any], path: tuple[str | int, ...] = (),
                      fields: frozenset[str] | None = None) -> Predicate:
    """Validate ``when`` and compile it to one function. Values are validated, then passed as
    constants (never spliced into source), so the generated code is exactly the condition's shape.
    With ``fields`` (one kind's field names) it compiles for submissions of that kind only."""
    builder = _Builder(fields)
    source = _conjunction(when, path, builder)
    namespace = {"__builtins__": {"getattr": getattr}, **builder.constants}
    predicate: Predicate = eval(f"lambda sub, facts: {source}", namespace)
    return predicate


def compile_matcher(rules: Sequence[tuple[Mapping[str, Any], _Rule]],
                    fields: frozenset[str]) -> Callable[[Any, Facts], list[_Rule]]:
    """One function for one kind's rules, in order: the rules whose condition holds, in that order. It
    evaluates exactly the conditions ``[rule for when, rule in rules if compile_condition(when)(sub, facts)]``
    would, in one call per submission instead of one per rule (conditions are pure, so when they are
    evaluated does not matter). Conditions are validated by ``compile_condition`` first."""
    builder = _Builder(fields)
    lines = ["def match(sub, facts):", "    out = []"]
    for when, rule in rules:
        lines.append(f"    if {_conjunction(when, (), builder)}:")
        lines.append(f"        out.append({builder.const(rule)})")
    lines.append("    return out")
    namespace = {"__builtins__": {"getattr": getattr}, **builder.constants}
    exec("\n".join(lines), namespace)
    matcher: Callable[[Any, Facts], list[_Rule]] = namespace["match"]
    return matcher


def _conjunction(when: Mapping[str, Any], path: tuple[str | int, ...], builder: _Builder) -> str:
    parts = [_compile_one(key, value, (*path, key), builder) for key, value in when.items()]
    return " and ".join(f"({part})" for part in parts) if parts else "True"


def _compile_one(key: str, spec: Any, path: tuple[str | int, ...], builder: _Builder) -> str:
    if key == "any_of":
        if not isinstance(spec, list) or not spec or not all(isinstance(item, dict) for item in spec):
            raise ConditionError(path, "any_of takes a non-empty list of condition mappings")
        options = [_conjunction(item, (*path, index), builder) for index, item in enumerate(spec)]
        return " or ".join(f"({option})" for option in options)
    if key not in FIELDS:
        raise ConditionError(path, f"unknown field {key!r}; known: {', '.join(sorted(FIELDS))}")
    get = builder.getter(key)
    if isinstance(spec, dict):
        return _compile_matcher(key, spec, get, path, builder)
    if isinstance(spec, list):
        raise ConditionError(path, "a list needs a matcher: {in: [..]}, {any: [..]} or {none: [..]}")
    _check_values(key, [spec], path)
    if isinstance(spec, bool):
        return f"{get} is {spec!r}"
    return f"{get} == {builder.const(spec)}"


def _compile_matcher(key: str, spec: dict[str, Any], get: str, path: tuple[str | int, ...],
                     builder: _Builder) -> str:
    if len(spec) != 1 or next(iter(spec)) not in ("in", "any", "none"):
        raise ConditionError(path, "a matcher is exactly one of {in: [..]}, {any: [..]} or {none: [..]}")
    op, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise ConditionError((*path, op), f"{op} takes a non-empty list")
    _check_values(key, values, (*path, op))
    wanted = builder.const(frozenset(values))
    if op == "in":
        return f"{get} in {wanted}"
    if op == "any":
        return f"not {wanted}.isdisjoint({get} or ())"
    value = builder.const(None)
    return f"({get}) is not {value} and {wanted}.isdisjoint({get})"


def kinds_of(when: Mapping[str, Any], all_kinds: tuple[str, ...]) -> tuple[str, ...]:
    """The kinds a rule can apply to, from its top-level ``kind`` condition (all kinds without one).

    Rules are indexed by kind at load, so evaluating a submission only visits its own kind's rules.
    """
    spec = when.get("kind")
    if spec is None:
        return all_kinds
    if isinstance(spec, dict) and set(spec) == {"in"} and isinstance(spec["in"], list):
        return tuple(k for k in all_kinds if k in spec["in"])
    if isinstance(spec, str):
        return tuple(k for k in all_kinds if k == spec)
    return all_kinds



def _check_values(key: str, values: list[Any], path: tuple[str | int, ...]) -> None:
    allowed = FIELDS[key]
    if allowed is None:
        return
    for value in values:
        if value not in allowed:
            shown = ", ".join(sorted(map(str, allowed)))
            raise ConditionError(path, f"{value!r} is not a value of {key} (allowed: {shown})")
