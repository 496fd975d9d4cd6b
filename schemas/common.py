"""Fields shared by every submission kind (SUBMISSIONS.md, "Common fields")."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NARRATIVE_MAX = 20_000


def _iso_date_text(value: object) -> object:
    """Accept only the YYYY-MM-DD spelling (pydantic alone would take other date spellings)."""
    if isinstance(value, str):
        if not ISO_DATE.match(value):
            raise ValueError("must be a date written YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a calendar date (YYYY-MM-DD)") from None
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
Classification = Literal["OFFICIAL", "OFFICIAL-SENSITIVE", "SECRET", "TOP SECRET"]
Role = Literal["suspect", "victim", "witness", "associate", "unknown"]
Narrative = Annotated[str, Field(max_length=NARRATIVE_MAX)]


class WireModel(BaseModel):
    """Unknown fields are errors: a field the bus does not know would be lost in every delivery."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Grading3x5x2(WireModel):
    scheme: Literal["3x5x2"]
    source: Literal["1", "2", "3"]
    intelligence: Literal["A", "B", "C", "D", "E"]
    handling: Literal["P", "C"]


class Grading5x5x5(WireModel):
    scheme: Literal["5x5x5"]
    source: Literal["A", "B", "C", "D", "E"]
    intelligence: Literal["1", "2", "3", "4", "5"]
    handling: Literal["1", "2", "3", "4", "5"]


Grading = Annotated[Grading3x5x2 | Grading5x5x5, Field(discriminator="scheme")]


class Nominal(WireModel):
    full_name: str
    dob: IsoDate | None = None
    role: Role = "unknown"
    phones: list[str] = []
    accounts: list[str] = []
    vehicles: list[str] = []
    emails: list[str] = []


class SubmissionBase(WireModel):
    schema_version: Literal[1]
    submission_id: UUID
    partner: str
    submitted_at: AwareDatetime
    classification: Classification
    area: str
    grading: Grading | None = None
    handling_conditions: list[str] | None = None
    named_recipients: list[str] = []
    threat_to_life: bool = False
    nominals: list[Nominal] = []
    narrative: Narrative | None = None
    sanitised_narrative: str | None = None

    @model_validator(mode="after")
    def _conditions_fit_grading(self) -> SubmissionBase:
        conditions = self.handling_conditions or []
        if conditions:
            grading = self.grading
            if not (isinstance(grading, Grading3x5x2) and grading.handling == "C"):
                raise ValueError("handling_conditions are allowed only with 3x5x2 handling code C")
        named_only = "named_recipients_only" in conditions
        if named_only and not self.named_recipients:
            raise ValueError("named_recipients is required when named_recipients_only is given")
        if self.named_recipients and not named_only:
            raise ValueError("named_recipients is allowed only with the condition named_recipients_only")
        return self
