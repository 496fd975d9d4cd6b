"""Compile the ruleset's description of the region: time zone, holiday calendar, areas, teams and partners.

Each function checks one section's meaning (the shape is already checked by ``bus.policy.ruleset_file``) and
raises ``Invalid`` with the key path of the first problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bus.policy.calendar import check_calendar
from bus.policy.ruleset_file import RulesetFile, WorkingDays
from bus.policy.selectors import Directory, matches_any
from bus.policy.yaml_lines import Invalid


@dataclass(frozen=True, slots=True)
class PartnerRights:
    kinds: frozenset[str]
    police: bool
    originator: tuple[str, ...]


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(("timezone",), f"unknown time zone {name!r}") from None


def check_working_days(working_days: WorkingDays) -> None:
    try:
        check_calendar(working_days.country, working_days.subdivision)
    except ValueError as exc:
        raise Invalid(("working_days",), f"unknown holiday calendar: {exc}") from None


Areas = dict[str, tuple[str, str | None]]


def areas_of(model: RulesetFile) -> tuple[Areas, tuple[str, ...]]:
    """Each area (casefolded) to its name as the file writes it and its force (``None`` outside the region), and
    the areas' names in file order."""
    areas: Areas = {}
    names: list[str] = []
    for force, authorities in model.forces.items():
        for index, authority in enumerate(authorities):
            key = authority.casefold()
            if key in areas:
                raise Invalid(("forces", force, index), f"area {authority!r} is listed twice")
            areas[key] = (authority, force)
            names.append(authority)
    areas[model.outside_region.area.casefold()] = (model.outside_region.area, None)
    names.append(model.outside_region.area)
    return areas, tuple(names)


def directory_of(model: RulesetFile) -> Directory:
    force_ids = {f"{force}.{team}" for force in model.forces for team in model.teams.force}
    clash = force_ids & set(model.teams.regional)
    if clash:
        raise Invalid(("teams", "regional"), f"team ids defined twice: {sorted(clash)}")
    team_ids = frozenset(force_ids | set(model.teams.regional))
    if model.outside_region.stand_in not in model.teams.regional:
        raise Invalid(("outside_region", "stand_in"), "the stand-in must be a regional team")
    tags: dict[str, set[str]] = {}
    for team_id, team in model.teams.regional.items():
        for tag in team.tags:
            tags.setdefault(tag, set()).add(team_id)
    return Directory(
        team_ids=team_ids, force_teams=frozenset(model.teams.force),
        tags={tag: frozenset(ids) for tag, ids in tags.items()}, stand_in=model.outside_region.stand_in,
        regional_prefixes=frozenset(team.split(".")[0] for team in model.teams.regional),
    )


def partners_of(model: RulesetFile, directory: Directory) -> dict[str, PartnerRights]:
    partners: dict[str, PartnerRights] = {}
    for partner_id, spec in model.partners.items():
        originator = tuple(sorted(t for t in directory.team_ids if matches_any(t, spec.organisation)))
        if spec.organisation and not originator:
            raise Invalid(("partners", partner_id, "organisation"), "matches no team")
        partners[partner_id] = PartnerRights(frozenset(spec.kinds), spec.police, originator)
    council = model.council_partners
    if council is not None:
        for authorities in model.forces.values():
            for authority in authorities:
                partner_id = council.prefix + "-".join(authority.lower().split())
                partners.setdefault(partner_id, PartnerRights(frozenset(council.kinds), council.police, ()))
    return partners
