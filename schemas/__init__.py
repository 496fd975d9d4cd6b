"""The submission interface v1 (SUBMISSIONS.md) as pydantic v2 models, with JSON Schema export."""

from schemas.common import Grading3x5x2, Grading5x5x5, Nominal
from schemas.kinds import (
    KIND_NAMES,
    CseReferral,
    CyberIncident,
    GainRequest,
    IntelligenceReport,
    PremisesReport,
    PrisonIntelligence,
    Sar,
    Submission,
)
from schemas.parse import MAX_PAYLOAD_BYTES, parse_submission

__all__ = [
    "KIND_NAMES",
    "MAX_PAYLOAD_BYTES",
    "CseReferral",
    "CyberIncident",
    "GainRequest",
    "Grading3x5x2",
    "Grading5x5x5",
    "IntelligenceReport",
    "Nominal",
    "PremisesReport",
    "PrisonIntelligence",
    "Sar",
    "Submission",
    "parse_submission",
]
