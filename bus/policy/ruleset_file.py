"""The shape of a ruleset file (pydantic models). Meaning is checked by ``ruleset_region`` and ``ruleset_rules``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.common import Classification
from schemas.kinds import SourceType

KindName = Literal[
    "intelligence_report", "sar", "cse_referral", "premises_report", "prison_intelligence",
    "gain_request", "cyber_incident",
]
Priority = Literal["immediate", "high", "routine"]


class FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WorkingDays(FileModel):
    country: str
    subdivision: str | None = None


class OutsideRegion(FileModel):
    area: str
    stand_in: str


class RegionalTeam(FileModel):
    name: str
    tags: list[str] = []


class Teams(FileModel):
    force: dict[str, str] = Field(description="team suffix -> description; each force has them all")
    regional: dict[str, RegionalTeam]


class Partner(FileModel):
    name: str
    kinds: list[KindName]
    police: bool = False
    organisation: list[str] = []


class CouncilPartners(FileModel):
    prefix: str
    kinds: list[KindName]
    police: bool = False


class Admission(FileModel):
    classifications: list[Classification]
    handling_conditions: list[str]
    covert_source_types: list[SourceType]


class OcgMatching(FileModel):
    strong_identifiers: list[Literal["phones", "accounts", "vehicles"]]
    name_with_dob: bool = True
    default_phone_region: str = "GB"


class Due(FileModel):
    after: Literal["disclosure_date", "submitted_at"]
    working_days: int | None = Field(default=None, ge=1, le=60)
    hours: int | None = Field(default=None, ge=1, le=24 * 366)

    @model_validator(mode="after")
    def _one_measure(self) -> Due:
        if (self.working_days is None) == (self.hours is None):
            raise ValueError("give exactly one of working_days or hours")
        if self.working_days is not None and self.after != "disclosure_date":
            raise ValueError("working_days counts from a date: use after: disclosure_date")
        return self


class RoutingRule(FileModel):
    rule: str = Field(pattern=r"^[A-Z][A-Za-z0-9._-]*$")
    says: str = Field(min_length=1)
    when: dict[str, Any] = {}
    add: list[str] = []
    priority: Priority | None = None
    due: Due | None = None
    withhold_others: str | None = None


class Sanitise(FileModel):
    remove: list[str] = Field(min_length=1)
    except_: list[str] = Field(default=[], alias="except")
    require: str | None = None


class HandlingRule(FileModel):
    rule: str = Field(pattern=r"^[A-Z][A-Za-z0-9._-]*$")
    says: str = Field(min_length=1)
    when: dict[str, Any] = {}
    withhold: list[str] | None = None
    keep_only: list[str] | None = None
    add: list[str] = []
    sanitise: Sanitise | None = None
    protect: list[str] = []
    reason: str | None = None

    @model_validator(mode="after")
    def _reason_when_withholding(self) -> HandlingRule:
        withholds = self.withhold is not None or self.keep_only is not None
        if (withholds or (self.sanitise and self.sanitise.require)) and not self.reason:
            raise ValueError("a rule that can withhold needs a reason (recorded for each team it withholds)")
        if not (withholds or self.add or self.sanitise or self.protect):
            raise ValueError("a handling rule needs one of withhold, keep_only, add, sanitise or protect")
        return self


class RulesetFile(FileModel):
    name: str
    version: int
    timezone: str
    working_days: WorkingDays
    forces: dict[str, list[str]] = Field(min_length=1)
    outside_region: OutsideRegion
    teams: Teams
    partners: dict[str, Partner]
    council_partners: CouncilPartners | None = None
    admission: Admission
    ocg_matching: OcgMatching
    routing: list[RoutingRule]
    handling: list[HandlingRule] = []
