"""Recipient selectors: the ruleset's way of naming teams (see the head of ``data/ruleset.yaml``).

A selector is compiled once at load into a function of the decision's ``Scope`` that returns team ids.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

ROUTING = "routing"
HANDLING = "handling"


@dataclass(frozen=True, slots=True)
class Scope:
    """What selectors can depend on for one submission."""

    force: str | None
    named: tuple[str, ...]
    originator: tuple[str, ...]
    ocg_leads: tuple[str, ...]


Resolver = Callable[[Scope], tuple[str, ...]]


class SelectorError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Directory:
    """The team registry a selector resolves against."""

    team_ids: frozenset[str]
    force_teams: frozenset[str]
    tags: dict[str, frozenset[str]]
    stand_in: str
    regional_prefixes: frozenset[str] = frozenset()


def compile_selector(text: str, directory: Directory, mode: str) -> Resolver:
    alternatives = [part.strip() for part in text.split(" or ")]
    resolvers = [_compile_term(part, directory, mode) for part in alternatives]
    if len(resolvers) == 1:
        return resolvers[0]

    def first_non_empty(scope: Scope) -> tuple[str, ...]:
        for resolve in resolvers:
            found = resolve(scope)
            if found:
                return found
        return ()

    return first_non_empty


def union_of(resolvers: Sequence[Resolver]) -> Resolver:
    """The teams of all ``resolvers``, in order, once each (none: no team). A union of fixed selectors is
    itself fixed: computed once, here."""
    if len(resolvers) == 1:
        return resolvers[0]
    if all(resolve in _FIXED for resolve in resolvers):
        return _fixed(tuple(dict.fromkeys(team for resolve in resolvers for team in _FIXED[resolve])))

    def union(scope: Scope) -> tuple[str, ...]:
        found: tuple[str, ...] = ()
        for resolve in resolvers:
            found += resolve(scope)
        return tuple(dict.fromkeys(found))

    return union


_FIXED: weakref.WeakKeyDictionary[Resolver, tuple[str, ...]] = weakref.WeakKeyDictionary()
"""The selectors whose teams do not depend on the submission, and their teams (for ``union_of``)."""


def _fixed(members: tuple[str, ...]) -> Resolver:
    resolve: Resolver = lambda _scope: members  # noqa: E731 -- a plain function: the fastest call there is
    _FIXED[resolve] = members
    return resolve


_SCOPED: dict[str, Resolver] = {
    "named_recipients": lambda scope: scope.named,
    "originator": lambda scope: scope.originator,
    "OCG.lead": lambda scope: scope.ocg_leads,
}


def _compile_term(term: str, directory: Directory, mode: str) -> Resolver:
    if term in _SCOPED:
        return _SCOPED[term]
    if term.startswith("F."):
        return _force_term(term[2:], directory, mode)
    return _fixed(_fixed_members(term, directory))


def _fixed_members(term: str, directory: Directory) -> tuple[str, ...]:
    """Selectors whose teams do not depend on the submission: tag:, *.<team>, <prefix>.*, <id>."""
    if term.startswith("tag:"):
        members = tuple(sorted(directory.tags.get(term[4:], frozenset())))
        problem = f"no team carries tag {term[4:]!r}"
    elif term.startswith("*."):
        if term[2:] not in directory.force_teams:
            raise SelectorError(f"{term}: {term[2:]!r} is not one of the force teams")
        members = tuple(sorted(t for t in directory.team_ids if t.endswith(term[1:])
                               and t.split(".")[0] not in directory.regional_prefixes))
        problem = f"{term!r} matches no team"
    elif term.endswith(".*"):
        members = tuple(sorted(t for t in directory.team_ids if t.startswith(term[:-1])))
        problem = f"{term!r} matches no team"
    else:
        members = (term,) if term in directory.team_ids else ()
        problem = f"unknown team {term!r}"
    if not members:
        raise SelectorError(problem)
    return members


def _force_term(suffix: str, directory: Directory, mode: str) -> Resolver:
    if suffix not in directory.force_teams:
        known = ", ".join(sorted(directory.force_teams))
        raise SelectorError(f"F.{suffix}: {suffix!r} is not one of the force teams ({known})")
    if mode == ROUTING:
        stand_in = (directory.stand_in,)
        return lambda scope: (f"{scope.force}.{suffix}",) if scope.force else stand_in
    return lambda scope: (f"{scope.force}.{suffix}",) if scope.force else ()


def matches_any(team: str, patterns: Sequence[str]) -> bool:
    """For partner ``organisation`` patterns: exact ids or ``prefix.*``."""
    return any(team.startswith(p[:-1]) if p.endswith(".*") else team == p for p in patterns)
