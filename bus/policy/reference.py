"""Reference data: the OCG register export (``ocg_groups.csv``, ``ocg_members.csv``) and R8 matching.

Loaded once at start from a folder, validated against the ruleset's teams, indexed by normalised
identifier, and identified by a content hash that decisions record. Matching is a pure lookup.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Protocol

from bus.errors import ReferenceDataError
from bus.policy.normalise import normalise_account, normalise_name, normalise_phone, normalise_vehicle

GROUP_COLUMNS = ["ocg_id", "name", "home_force", "tier", "lead_team"]
MEMBER_COLUMNS = ["ocg_id", "full_name", "dob", "phones", "accounts", "vehicles"]
DEFAULT_REFERENCE = Path(__file__).resolve().parent.parent / "data" / "reference"


@dataclass(frozen=True, slots=True)
class OcgGroup:
    ocg_id: str
    name: str
    home_force: str
    tier: str
    lead_team: str


@dataclass(frozen=True, slots=True)
class OcgMember:
    ocg_id: str
    full_name: str
    dob: date | None


@dataclass(frozen=True, slots=True)
class PossibleMatch:
    """Equal names where either side has no date of birth: for review, adds no recipient."""

    nominal: str
    ocg_id: str
    member: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"nominal": self.nominal, "ocg_id": self.ocg_id, "member": self.member, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class OcgLink:
    """A strong match: a nominal and a member share an identifier (or name and date of birth)."""

    ocg_id: str
    via: str


@dataclass(slots=True)
class Reference:
    groups: dict[str, OcgGroup] = field(default_factory=dict)
    by_identifier: dict[tuple[str, str], list[OcgMember]] = field(default_factory=dict)
    by_name: dict[str, list[OcgMember]] = field(default_factory=dict)
    digest: str = "sha256:" + hashlib.sha256(b"").hexdigest()

    @classmethod
    def empty(cls) -> Reference:
        return cls()

    def add_identifier(self, kind: str, value: str | None, member: OcgMember) -> None:
        if value:
            self.by_identifier.setdefault((kind, value), []).append(member)


class _Nominal(Protocol):
    """What matching reads of a nominal (structural, so schemas stay independent of this module)."""

    @property
    def full_name(self) -> str: ...
    @property
    def dob(self) -> date | None: ...
    @property
    def phones(self) -> Sequence[str]: ...
    @property
    def accounts(self) -> Sequence[str]: ...
    @property
    def vehicles(self) -> Sequence[str]: ...


def match_nominals(
    reference: Reference, nominals: Iterable[_Nominal], identifiers: Sequence[str], name_with_dob: bool,
    phone_region: str,
) -> tuple[list[OcgLink], list[PossibleMatch]]:
    links: dict[str, OcgLink] = {}
    possible: list[PossibleMatch] = []
    if not reference.groups:
        return [], []
    for nominal in nominals:
        for kind in identifiers:
            for raw in getattr(nominal, kind):
                value = _normalise(kind, raw, phone_region)
                for member in reference.by_identifier.get((kind, value), ()) if value else ():
                    links.setdefault(member.ocg_id, OcgLink(member.ocg_id, f"{kind[:-1]} of {nominal.full_name}"))
        if name_with_dob:
            _match_name(reference, nominal, links, possible)
    return list(links.values()), possible


def _match_name(
    reference: Reference, nominal: _Nominal, links: dict[str, OcgLink], possible: list[PossibleMatch],
) -> None:
    name = normalise_name(nominal.full_name)
    for member in reference.by_name.get(name, ()) if name else ():
        if nominal.dob is not None and member.dob is not None:
            if nominal.dob == member.dob:
                via = f"name and date of birth of {nominal.full_name}"
                links.setdefault(member.ocg_id, OcgLink(member.ocg_id, via))
        elif member.ocg_id not in links:
            possible.append(PossibleMatch(
                nominal.full_name, member.ocg_id, member.full_name,
                "equal name but no date of birth on one side: review before linking",
            ))


def _normalise(kind: str, raw: str, phone_region: str) -> str | None:
    if kind == "phones":
        return normalise_phone(raw, phone_region)
    if kind == "accounts":
        return normalise_account(raw)
    return normalise_vehicle(raw)


def load_reference(folder: Path, team_ids: frozenset[str], phone_region: str = "GB") -> Reference:
    """Load and validate the two CSV exports in ``folder``; errors name the file and row."""
    groups_path, members_path = folder / "ocg_groups.csv", folder / "ocg_members.csv"
    digest = hashlib.sha256()
    reference = Reference()
    for row_no, row in _rows(groups_path, GROUP_COLUMNS, digest):
        group = _group(row, row_no, groups_path, team_ids)
        if group.ocg_id in reference.groups:
            raise ReferenceDataError(f"{groups_path}:{row_no}: ocg_id {group.ocg_id!r} appears twice")
        reference.groups[group.ocg_id] = group
    for row_no, row in _rows(members_path, MEMBER_COLUMNS, digest):
        _add_member(reference, row, row_no, members_path, phone_region)
    reference.digest = "sha256:" + digest.hexdigest()
    return reference


def _rows(path: Path, columns: list[str], digest: hashlib._Hash) -> Iterable[tuple[int, dict[str, str]]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReferenceDataError(f"cannot read {path}: {exc.strerror}") from None
    digest.update(path.name.encode() + b"\0" + data + b"\0")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReferenceDataError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames != columns:
        raise ReferenceDataError(f"{path}:1: header must be {','.join(columns)} (found {reader.fieldnames})")
    for row_no, row in enumerate(reader, start=2):
        if None in row or any(value is None for value in row.values()):
            raise ReferenceDataError(f"{path}:{row_no}: expected {len(columns)} columns")
        yield row_no, {key: value.strip() for key, value in row.items()}


def _group(row: dict[str, str], row_no: int, path: Path, team_ids: frozenset[str]) -> OcgGroup:
    where = f"{path}:{row_no}"
    if not row["ocg_id"]:
        raise ReferenceDataError(f"{where}: ocg_id is empty")
    if row["tier"] not in ("local", "regional"):
        raise ReferenceDataError(f"{where}: tier must be local or regional (found {row['tier']!r})")
    if row["lead_team"] not in team_ids:
        raise ReferenceDataError(f"{where}: lead_team {row['lead_team']!r} is not a team in the ruleset")
    return OcgGroup(row["ocg_id"], row["name"], row["home_force"], row["tier"], row["lead_team"])


def _add_member(reference: Reference, row: dict[str, str], row_no: int, path: Path, region: str) -> None:
    where = f"{path}:{row_no}"
    if row["ocg_id"] not in reference.groups:
        raise ReferenceDataError(f"{where}: ocg_id {row['ocg_id']!r} is not in ocg_groups.csv")
    try:
        dob = date.fromisoformat(row["dob"]) if row["dob"] else None
    except ValueError:
        raise ReferenceDataError(f"{where}: dob must be YYYY-MM-DD or empty (found {row['dob']!r})") from None
    member = OcgMember(row["ocg_id"], row["full_name"], dob)
    name = normalise_name(row["full_name"])
    if name:
        reference.by_name.setdefault(name, []).append(member)
    for kind in ("phones", "accounts", "vehicles"):
        for raw in filter(None, (part.strip() for part in row[kind].split(";"))):
            value = _normalise(kind, raw, region)
            if value is None:
                raise ReferenceDataError(f"{where}: {kind} value {raw!r} cannot be normalised")
            reference.add_identifier(kind, value, member)
