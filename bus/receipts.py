"""Receipts: what became of each entry a partner wrote, on ``<prefix>:receipt:<partner>``, for that partner.

lua/commit.lua writes one receipt for every decision it writes, in the same atomic call, so a receipt exists
exactly when the entry is decided (a threat to life the scout decided ahead of the group included). The
partner's Redis user may read its own receipt stream and no other (bus.acl); the router writes it.

One stream entry per receipt, fields (all text):

========================  ============================================================================
``entry_id``              the ingress entry it is about: the id the partner's XADD returned
``submission_id``         as the partner wrote it ("" when the entry had none that could be read)
``outcome``               ``routed``, ``quarantined`` or ``duplicate`` (a resubmission: nothing sent again)
``decision_id``           the decision's id on ``<prefix>:decisions`` (quote it to the region's operators)
``reason_class``          quarantined only: the reason's class (bus.reasons: ``H1 classification``, …)
``reason``                quarantined only: the reason, as the decision records it
``original_decision_id``  duplicate only: the decision of the submission it repeats
========================  ============================================================================

A receipt never says who received a submission, how urgent it was judged, or what was withheld from whom:
those are the region's to know, not the partner's. Retention removes receipts after ``keep.receipts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

OUTCOMES = ("routed", "quarantined", "duplicate")
FIELDS = ("entry_id", "submission_id", "outcome", "decision_id", "reason_class", "reason", "original_decision_id")


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt_id: str  # the receipt's own id on the receipt stream
    entry_id: str
    submission_id: str
    outcome: str
    decision_id: str
    reason_class: str = ""
    reason: str = ""
    original_decision_id: str = ""

    @classmethod
    def from_entry(cls, receipt_id: bytes | str, fields: Mapping[bytes, bytes] | Mapping[str, str]) -> Receipt | None:
        """The receipt a stream entry holds; None for an entry that is not one (on Redis 6.2 a partner may
        write its own receipt stream: bus.acl)."""
        values = {_text(name): _text(value) for name, value in fields.items()}
        if values.get("outcome") not in OUTCOMES or not values.get("entry_id") or not values.get("decision_id"):
            return None
        return cls(_text(receipt_id), **{name: values.get(name, "") for name in FIELDS})

    def as_json(self) -> dict[str, Any]:
        return {name: value for name, value in asdict(self).items() if value}

    def __str__(self) -> str:
        said = {"routed": "routed", "duplicate": f"duplicate of decision {self.original_decision_id}",
                "quarantined": f"quarantined ({self.reason_class}): {self.reason}"}[self.outcome]
        name = self.submission_id or "(no readable submission_id)"
        return f"{self.entry_id} {name}: {said} [decision {self.decision_id}]"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
