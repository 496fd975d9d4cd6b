"""The submission interface v1 (SUBMISSIONS.md) as pydantic v2 models, with JSON Schema export.

Depends on nothing else of intelbus: a partner can validate with ``schemas`` alone.
"""

from schemas.common import Grading3x5x2, Grading5x5x5, Nominal
from schemas.errors import BusError, SubmissionRejected
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
from schemas.parse import MAX_PAYLOAD_BYTES, Parsed, parse_payload, parse_submission, peek_submission_id

__all__ = [
    "KIND_NAMES",
    "MAX_PAYLOAD_BYTES",
    "BusError",
    "CseReferral",
    "CyberIncident",
    "GainRequest",
    "Grading3x5x2",
    "Grading5x5x5",
    "IntelligenceReport",
    "Nominal",
    "Parsed",
    "PremisesReport",
    "PrisonIntelligence",
    "Sar",
    "Submission",
    "SubmissionRejected",
    "parse_payload",
    "parse_submission",
    "peek_submission_id",
]
