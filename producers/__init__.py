"""The partner client: publish submissions to a partner's ingress stream, validated before sending.

``PartnerClient`` (publish one or many; retrying is safe because the bus deduplicates by
``submission_id``), ``retry_transport`` (backoff on ``TransportError``) and ``publish_file`` (the
``intelbus publish`` command's body).
"""

from producers.client import (
    PartnerClient,
    SubmissionLike,
    encode_submission,
    retry_transport,
)
from producers.publish_cmd import PublishSummary, publish_file
from schemas.parse import MAX_PAYLOAD_BYTES

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "PartnerClient",
    "PublishSummary",
    "SubmissionLike",
    "encode_submission",
    "publish_file",
    "retry_transport",
]
