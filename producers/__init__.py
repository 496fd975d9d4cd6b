"""The partner client: publish submissions to a partner's ingress stream, validated before sending.

``PartnerClient`` (publish one or many; retrying is safe because the bus deduplicates by
``submission_id``; it raises ``SubmissionRejected`` before sending anything invalid and
``TransportError`` when Redis is away or refuses, both ``BusError``, exported here; it waits for the
``Receipt`` of what it published, or raises ``ReceiptsMissing``) and
``retry_transport`` (backoff on ``TransportError``). The ``intelbus publish`` command is ``bus.cli.publish``.
"""

from bus.errors import ReceiptsMissing, TransportError
from bus.receipts import Receipt
from producers.client import (
    PartnerClient,
    SubmissionLike,
    encode_submission,
    retry_transport,
)
from schemas import BusError, SubmissionRejected
from schemas.parse import MAX_PAYLOAD_BYTES

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "BusError",
    "PartnerClient",
    "Receipt",
    "ReceiptsMissing",
    "SubmissionLike",
    "SubmissionRejected",
    "TransportError",
    "encode_submission",
    "retry_transport",
]
