"""Fields shared by every submission kind (SUBMISSIONS.md, "Common fields")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.wire_types import IsoDate, SchemaVersion, Timestamp

NARRATIVE_MAX = 20_000

# The RFC 9562 text form of a UUID (hyphenated, any case); checked in Rust, kept as the partner wrote it.
UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
SubmissionId = Annotated[str, Field(pattern=UUID_PATTERN)]
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
    phones: list[str] = Field(default_factory=list)
    accounts: list[str] = Field(default_factory=list)
    vehicles: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)


class SubmissionBase(WireModel):
    schema_version: SchemaVersion
    submission_id: SubmissionId
    partner: str
    submitted_at: Timestamp
    classification: Classification
    area: str
    grading: Grading | None = None
    handling_conditions: list[str] | None = None
    named_recipients: list[str] = Field(default_factory=list)
    threat_to_life: bool = False
    nominals: list[Nominal] = Field(default_factory=list)
    narrative: Narrative | None = None
    sanitised_narrative: str | None = None

    @model_validator(mode="after")
    def _conditions_fit_grading(self) -> SubmissionBase:
        conditions = self.handling_conditions
        if not conditions and not self.named_recipients:
            return self
        conditions = conditions or []
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
