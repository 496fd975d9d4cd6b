"""Load, validate and compile a ruleset file into the structures the engine evaluates.

Every error names the file, the line and the key (``ruleset.yaml:88: routing[12].add[0]: unknown team
'durham.fibb'``). The ruleset is identified by the sha256 of the file's bytes, recorded in each decision.

This module owns the ``Ruleset`` and its entry points; the file's shape is ``bus.policy.ruleset_file``, its
sections are compiled by ``bus.policy.ruleset_region`` and ``bus.policy.ruleset_rules``, and error lines are
found by ``bus.policy.yaml_lines``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic import ValidationError

from bus.errors import RulesetError
from bus.policy.conditions import Facts
from bus.policy.ruleset_file import RulesetFile
from bus.policy.ruleset_region import (
    Areas,
    PartnerRights,
    areas_of,
    check_working_days,
    directory_of,
    partners_of,
    zone_of,
)
from bus.policy.ruleset_rules import (
    PRIORITY_RANK,
    CompiledHandling,
    CompiledRouting,
    CompiledSanitise,
    compile_rules,
)
from bus.policy.selectors import Directory
from bus.policy.yaml_lines import Invalid, located

__all__ = [
    "DEFAULT_RULESET",
    "PRIORITY_RANK",
    "CompiledHandling",
    "CompiledRouting",
    "CompiledSanitise",
    "PartnerRights",
    "Ruleset",
    "load_ruleset",
    "parse_ruleset",
]

DEFAULT_RULESET = Path(__file__).resolve().parent.parent / "data" / "ruleset.yaml"


@dataclass(frozen=True)
class Ruleset:
    name: str
    digest: str
    source: str
    zone: ZoneInfo
    country: str
    subdivision: str | None
    areas: Areas  # casefolded name -> (the name as written, its force; None outside the region)
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
    route_match: dict[str, Callable[[Any, Facts], list[CompiledRouting]]]  # kind -> its applicable rules
    handle_match: dict[str, Callable[[Any, Facts], list[CompiledHandling]]]

    @property
    def team_ids(self) -> frozenset[str]:
        return self.directory.team_ids


def load_ruleset(path: Path | None = None) -> Ruleset:
    path = path or DEFAULT_RULESET
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RulesetError(f"cannot read ruleset {path}: {exc.strerror}") from None
    return parse_ruleset(data, str(path))


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: a tenth of the router's start-up


def parse_ruleset(data: bytes, source: str = "<ruleset>") -> Ruleset:
    try:
        raw = _load(data)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RulesetError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise RulesetError(f"{source}: a ruleset is a YAML mapping")
    try:
        model = RulesetFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise located(source, _nodes(data), tuple(first["loc"]), first["msg"], exc.error_count()) from None
    try:
        return _compile(model, "sha256:" + hashlib.sha256(data).hexdigest(), source)
    except Invalid as exc:
        raise located(source, _nodes(data), exc.path, exc.message, 1) from None


def _load(data: bytes) -> object:
    try:
        return yaml.load(data, Loader=_FAST_LOADER)  # a safe loader: libyaml's, or PyYAML's
    except (yaml.YAMLError, UnicodeDecodeError):
        return yaml.safe_load(data)  # raises again, with PyYAML's own message (line and column)


def _nodes(data: bytes) -> yaml.Node | None:
    """The document's nodes, for the line of an error: composed only when there is one to report."""
    return yaml.compose(data.decode("utf-8"), Loader=yaml.SafeLoader)


def _compile(model: RulesetFile, digest: str, source: str) -> Ruleset:
    zone = zone_of(model.timezone)
    check_working_days(model.working_days)
    areas, names = areas_of(model)
    directory = directory_of(model)
    partners = partners_of(model, directory)
    rules = compile_rules(model, directory)
    return Ruleset(
        name=model.name, digest=digest, source=source, zone=zone, country=model.working_days.country,
        subdivision=model.working_days.subdivision, areas=areas, area_names=names, directory=directory,
        partners=partners, classifications=frozenset(model.admission.classifications),
        handling_conditions=frozenset(model.admission.handling_conditions),
        covert_source_types=frozenset(model.admission.covert_source_types),
        identifiers=tuple(model.ocg_matching.strong_identifiers), name_with_dob=model.ocg_matching.name_with_dob,
        phone_region=model.ocg_matching.default_phone_region,
        routing=rules.routing, handling=rules.handling, says=rules.says, route_match=rules.route_match,
        handle_match=rules.handle_match,
    )
