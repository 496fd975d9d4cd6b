"""One model per submission kind (SUBMISSIONS.md, "Kind-specific fields"), and their union."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field

from schemas.common import Grading, Narrative, SubmissionBase, WireModel
from schemas.wire_types import Amount, IsoDate

Theme = Literal[
    "drugs", "county_lines", "firearms", "money_laundering", "fraud", "cse", "modern_slavery",
    "exploitation", "cyber", "organised_immigration", "violence", "other",
]
SourceType = Literal[
    "open_source", "partner_record", "member_of_public", "chis", "undercover", "technical", "surveillance",
]
Concern = Literal["cuckooing", "drug_supply", "nuisance", "exploitation", "closure_candidate"]
GLOSSARY_CODE = re.compile(r"^XX[A-Z0-9]+XX$")
GlossaryCode = Annotated[str, Field(pattern=GLOSSARY_CODE.pattern)]


class IntelligenceReport(SubmissionBase):
    kind: Literal["intelligence_report"]
    grading: Grading
    narrative: Narrative
    themes: Annotated[list[Theme], Field(min_length=1)]
    source_type: SourceType
    source_reference: str | None = None


class Sar(SubmissionBase):
    kind: Literal["sar"]
    narrative: Narrative
    sar_reference: str
    disclosure_date: IsoDate
    defence_type: Literal["none", "daml", "datf"]
    glossary_codes: list[GlossaryCode] = Field(default_factory=list)
    reporter_type: Literal["bank", "money_service_business", "accountant", "solicitor", "estate_agent", "other"]
    reporter_name: str
    amount_gbp: Amount | None = None  # strict: true and "1" are not numbers; finite


class MediaHash(WireModel):
    """A referral carries hashes of media, never media: nothing but these two fields."""

    algorithm: Literal["md5", "sha1", "sha256", "photodna"]
    value: Annotated[str, Field(max_length=256)]


class CseReferral(SubmissionBase):
    kind: Literal["cse_referral"]
    referral_id: str
    kirat_band: Literal["low", "medium", "high", "very_high"]
    platform: str
    child_identified: bool = False
    commercial_indicator: bool = False
    media: list[MediaHash] = Field(default_factory=list)


class PremisesReport(SubmissionBase):
    kind: Literal["premises_report"]
    address: str
    concerns: Annotated[list[Concern], Field(min_length=1)]
    vulnerable_occupant: bool = False


class PrisonIntelligence(SubmissionBase):
    """``area`` is the prisoner's home area."""

    kind: Literal["prison_intelligence"]
    establishment: str
    prison_number: str


class GainRequest(SubmissionBase):
    kind: Literal["gain_request"]
    purpose: str
    requesting_officer: str


class Indicator(WireModel):
    type: Literal["ip", "domain", "hash", "email", "url"]
    value: str


class CyberIncident(SubmissionBase):
    kind: Literal["cyber_incident"]
    incident_type: Literal["ransomware", "business_email_compromise", "ddos", "data_breach", "other"]
    victim_organisation: str
    indicators: list[Indicator] = Field(default_factory=list)


KINDS: tuple[type[SubmissionBase], ...] = (
    IntelligenceReport, Sar, CseReferral, PremisesReport, PrisonIntelligence, GainRequest, CyberIncident,
)
KIND_NAMES: tuple[str, ...] = tuple(
    model.model_fields["kind"].annotation.__args__[0] for model in KINDS  # type: ignore[union-attr]
)

Submission = Annotated[
    IntelligenceReport | Sar | CseReferral | PremisesReport | PrisonIntelligence | GainRequest | CyberIncident,
    Field(discriminator="kind"),
]
