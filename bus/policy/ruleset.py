"""Load, validate and compile a ruleset file into the structures the engine evaluates.

Every error names the file, the line and the key (``ruleset.yaml:88: routing[12].add[0]: unknown team
'durham.fibb'``). The ruleset is identified by the sha256 of the file's bytes, recorded in each decision.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import ValidationError

from bus.errors import RulesetError
from bus.policy.calendar import check_calendar
from bus.policy.conditions import KIND_FIELDS, ConditionError, Predicate, compile_condition, kinds_of
from bus.policy.ruleset_file import Due, HandlingRule, RoutingRule, RulesetFile, Sanitise
from bus.policy.selectors import (
    HANDLING,
    ROUTING,
    Directory,
    Resolver,
    SelectorError,
    compile_selector,
    matches_any,
    union_of,
)
from schemas.kinds import KIND_NAMES

DEFAULT_RULESET = Path(__file__).resolve().parent.parent / "data" / "ruleset.yaml"
PRIORITY_RANK = {"routine": 0, "high": 1, "immediate": 2}
Path_ = tuple[str | int, ...]


class _Invalid(Exception):
    def __init__(self, path: Path_, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


@dataclass(frozen=True, slots=True)
class PartnerRights:
    kinds: frozenset[str]
    police: bool
    originator: tuple[str, ...]


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


@dataclass(frozen=True)
class Ruleset:
    name: str
    digest: str
    source: str
    zone: ZoneInfo
    country: str
    subdivision: str | None
    areas: dict[str, str | None]
    area_names: tuple[str, ...]
    directory: Directory
    partners: dict[str, PartnerRights]
    classifications: frozenset[str]
    handling_conditions: frozenset[str]
    covert_source_types: frozenset[str]
    identifiers: tuple[str, ...]
    name_with_dob: bool
    phone_region: str
    routing: dict[str, tuple[CompiledRouting, ...]]
    handling: dict[str, tuple[CompiledHandling, ...]]
    says: dict[str, str]

    @property
    def team_ids(self) -> frozenset[str]:
        return self.directory.team_ids


_Rule = TypeVar("_Rule", CompiledRouting, CompiledHandling)


def load_ruleset(path: Path | None = None) -> Ruleset:
    path = path or DEFAULT_RULESET
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RulesetError(f"cannot read ruleset {path}: {exc.strerror}") from None
    return parse_ruleset(data, str(path))


def parse_ruleset(data: bytes, source: str = "<ruleset>") -> Ruleset:
    try:
        node = yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)
        raw = yaml.safe_load(data)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RulesetError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RulesetError(f"{source}: a ruleset is a YAML mapping")
    try:
        model = RulesetFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise _located(source, node, tuple(first["loc"]), first["msg"], exc.error_count()) from None
    try:
        return _compile(model, "sha256:" + hashlib.sha256(data).hexdigest(), source)
    except _Invalid as exc:
        raise _located(source, node, exc.path, exc.message, 1) from None


def _located(source: str, node: yaml.Node | None, path: Path_, message: str, count: int) -> RulesetError:
    line = _line_of(node, path)
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "(top)"
    more = f" (and {count - 1} more problem{'s' if count > 2 else ''})" if count > 1 else ""
    return RulesetError(f"{source}:{line}: {where}: {message}{more}")


def _line_of(node: yaml.Node | None, path: Path_) -> int:
    """The 1-based line of the deepest node of ``path`` that exists in the YAML tree."""
    best = node.start_mark.line + 1 if node is not None else 1
    for step in path:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if getattr(k, "value", None) == str(step)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            child = node.value[step]
        if child is None:
            break
        node, best = child, child.start_mark.line + 1
    return best


def _compile(model: RulesetFile, digest: str, source: str) -> Ruleset:
    zone = _zone(model.timezone)
    try:
        check_calendar(model.working_days.country, model.working_days.subdivision)
    except ValueError as exc:
        raise _Invalid(("working_days",), f"unknown holiday calendar: {exc}") from None
    areas, names = _areas(model)
    directory = _directory(model)
    partners = _partners(model, directory)
    says: dict[str, str] = {}
    routing = [_routing_rule(rule, i, directory, says) for i, rule in enumerate(model.routing)]
    handling = [_handling_rule(rule, i, directory, says) for i, rule in enumerate(model.handling)]
    routing_kinds = [kinds_of(rule.when, KIND_NAMES) for rule in model.routing]
    handling_kinds = [kinds_of(rule.when, KIND_NAMES) for rule in model.handling]
    return Ruleset(
        name=model.name, digest=digest, source=source, zone=zone, country=model.working_days.country,
        subdivision=model.working_days.subdivision, areas=areas, area_names=names, directory=directory,
        partners=partners, classifications=frozenset(model.admission.classifications),
        handling_conditions=frozenset(model.admission.handling_conditions),
        covert_source_types=frozenset(model.admission.covert_source_types),
        identifiers=tuple(model.ocg_matching.strong_identifiers), name_with_dob=model.ocg_matching.name_with_dob,
        phone_region=model.ocg_matching.default_phone_region,
        routing=_by_kind(routing, routing_kinds, [r.when for r in model.routing]),
        handling=_by_kind(handling, handling_kinds, [r.when for r in model.handling]), says=says,
    )


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


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _Invalid(("timezone",), f"unknown time zone {name!r}") from None


def _areas(model: RulesetFile) -> tuple[dict[str, str | None], tuple[str, ...]]:
    areas: dict[str, str | None] = {}
    names: list[str] = []
    for force, authorities in model.forces.items():
        for index, authority in enumerate(authorities):
            key = authority.casefold()
            if key in areas:
                raise _Invalid(("forces", force, index), f"area {authority!r} is listed twice")
            areas[key] = force
            names.append(authority)
    areas[model.outside_region.area.casefold()] = None
    names.append(model.outside_region.area)
    return areas, tuple(names)


def _directory(model: RulesetFile) -> Directory:
    force_ids = {f"{force}.{team}" for force in model.forces for team in model.teams.force}
    clash = force_ids & set(model.teams.regional)
    if clash:
        raise _Invalid(("teams", "regional"), f"team ids defined twice: {sorted(clash)}")
    team_ids = frozenset(force_ids | set(model.teams.regional))
    if model.outside_region.stand_in not in model.teams.regional:
        raise _Invalid(("outside_region", "stand_in"), "the stand-in must be a regional team")
    tags: dict[str, set[str]] = {}
    for team_id, team in model.teams.regional.items():
        for tag in team.tags:
            tags.setdefault(tag, set()).add(team_id)
    return Directory(
        team_ids=team_ids, force_teams=frozenset(model.teams.force),
        tags={tag: frozenset(ids) for tag, ids in tags.items()}, stand_in=model.outside_region.stand_in,
        regional_prefixes=frozenset(team.split(".")[0] for team in model.teams.regional),
    )


def _partners(model: RulesetFile, directory: Directory) -> dict[str, PartnerRights]:
    partners: dict[str, PartnerRights] = {}
    for partner_id, spec in model.partners.items():
        originator = tuple(sorted(t for t in directory.team_ids if matches_any(t, spec.organisation)))
        if spec.organisation and not originator:
            raise _Invalid(("partners", partner_id, "organisation"), "matches no team")
        partners[partner_id] = PartnerRights(frozenset(spec.kinds), spec.police, originator)
    council = model.council_partners
    if council is not None:
        for authorities in model.forces.values():
            for authority in authorities:
                partner_id = council.prefix + "-".join(authority.lower().split())
                partners.setdefault(partner_id, PartnerRights(frozenset(council.kinds), council.police, ()))
    return partners


def _routing_rule(rule: RoutingRule, index: int, directory: Directory, says: dict[str, str]) -> CompiledRouting:
    where: Path_ = ("routing", index)
    says.setdefault(rule.rule, rule.says)
    return CompiledRouting(
        rule=rule.rule, says=rule.says, when=_when(rule.when, where),
        add=_selectors(rule.add, (*where, "add"), directory, ROUTING),
        priority=PRIORITY_RANK[rule.priority or "routine"], due=rule.due, withhold_others=rule.withhold_others,
    )


def _handling_rule(rule: HandlingRule, index: int, directory: Directory, says: dict[str, str]) -> CompiledHandling:
    where: Path_ = ("handling", index)
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


def _sanitise(spec: Sanitise | None, where: Path_, directory: Directory) -> CompiledSanitise | None:
    if spec is None:
        return None
    full_view = _selectors(spec.except_, (*where, "except"), directory, HANDLING, allow_empty=True)
    assert full_view is not None
    return CompiledSanitise(tuple(spec.remove), full_view, spec.require)


def _when(when: dict[str, Any], where: Path_) -> Predicate:
    """Validate the whole condition (``_by_kind`` then compiles it for each kind it applies to)."""
    try:
        return compile_condition(when)
    except ConditionError as exc:
        raise _Invalid((*where, "when", *exc.path), str(exc)) from None


def _selectors(texts: list[str] | None, where: Path_, directory: Directory, mode: str,
               allow_empty: bool = False) -> Resolver | None:
    if texts is None or (not texts and not allow_empty):
        return None
    resolvers = []
    for index, text in enumerate(texts):
        try:
            resolvers.append(compile_selector(text, directory, mode))
        except SelectorError as exc:
            raise _Invalid((*where, index), str(exc)) from None
    return union_of(resolvers)
