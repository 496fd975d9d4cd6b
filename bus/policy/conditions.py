"""Compile a rule's ``when:`` mapping into a fast predicate.

A condition reads fields of the submission (dotted for nested ones: ``grading.scheme``) and facts the
engine derived (``ocg_tiers``). Values are checked against the schema when the ruleset loads, so a typo
such as ``themes: {any: [drugz]}`` is an error with its line, not a rule that silently never fires.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel

from schemas.common import Grading3x5x2, Grading5x5x5
from schemas.kinds import KINDS

Facts = Mapping[str, Any]
Predicate = Callable[[Any, Facts], bool]
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
    for fact, values in FACTS.items():
        table[fact] = set(values) if values else None
    return table


FIELDS = _field_table()


def _getter(path: str) -> Callable[[Any, Facts], Any]:
    if path in FACTS:
        return lambda _sub, facts: facts.get(path)
    head, _, tail = path.partition(".")
    if not tail:
        return lambda sub, _facts: getattr(sub, head, None)

    def nested(sub: Any, _facts: Facts) -> Any:
        inner = getattr(sub, head, None)
        return getattr(inner, tail, None) if isinstance(inner, BaseModel) else None

    return nested


def compile_condition(when: Mapping[str, Any], path: tuple[str | int, ...] = ()) -> Predicate:
    tests = [_compile_one(key, value, (*path, key)) for key, value in when.items()]
    if not tests:
        return lambda _sub, _facts: True
    if len(tests) == 1:
        return tests[0]
    return lambda sub, facts: all(test(sub, facts) for test in tests)


def _compile_one(key: str, spec: Any, path: tuple[str | int, ...]) -> Predicate:
    if key == "any_of":
        if not isinstance(spec, list) or not spec or not all(isinstance(item, dict) for item in spec):
            raise ConditionError(path, "any_of takes a non-empty list of condition mappings")
        options = [compile_condition(item, (*path, index)) for index, item in enumerate(spec)]
        return lambda sub, facts: any(option(sub, facts) for option in options)
    if key not in FIELDS:
        raise ConditionError(path, f"unknown field {key!r}; known: {', '.join(sorted(FIELDS))}")
    get = _getter(key)
    if isinstance(spec, dict):
        return _compile_matcher(key, spec, get, path)
    _check_values(key, [spec], path)
    return lambda sub, facts: get(sub, facts) == spec


def _compile_matcher(key: str, spec: dict[str, Any], get: Callable[[Any, Facts], Any],
                     path: tuple[str | int, ...]) -> Predicate:
    if len(spec) != 1 or next(iter(spec)) not in ("in", "any", "none"):
        raise ConditionError(path, "a matcher is exactly one of {in: [..]}, {any: [..]} or {none: [..]}")
    op, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values:
        raise ConditionError((*path, op), f"{op} takes a non-empty list")
    _check_values(key, values, (*path, op))
    wanted = frozenset(values)
    if op == "in":
        return lambda sub, facts: get(sub, facts) in wanted
    if op == "any":
        return lambda sub, facts: not wanted.isdisjoint(get(sub, facts) or ())
    return lambda sub, facts: (value := get(sub, facts)) is not None and wanted.isdisjoint(value)


def _check_values(key: str, values: list[Any], path: tuple[str | int, ...]) -> None:
    allowed = FIELDS[key]
    if allowed is None:
        return
    for value in values:
        if value not in allowed:
            shown = ", ".join(sorted(map(str, allowed)))
            raise ConditionError(path, f"{value!r} is not a value of {key} (allowed: {shown})")
