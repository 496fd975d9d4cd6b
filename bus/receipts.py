"""Receipts: what became of each entry a partner wrote, on ``<prefix>:receipt:<partner>``, for that partner.

lua/commit.lua writes one receipt for every decision it writes, in the same atomic call, so a receipt exists
exactly when the entry is decided (a threat to life the scout decided ahead of the group included). The
partner's Redis user may read its own receipt stream and no other (bus.acl); the router writes it.

One stream entry per receipt, fields (all text):

========================  ============================================================================
``entry_id``              the ingress entry it is about: the id the partner's XADD returned
``submission_id``         as the partner wrote it ("" when the entry had none that could be read)
``outcome``               ``accepted``, ``quarantined`` or ``duplicate`` (a resubmission: nothing sent again)
``decision_id``           the decision's id on ``<prefix>:decisions`` (quote it to the region's operators)
``reason_class``          quarantined only: the reason's class (bus.reasons: ``H1 classification``, …)
``reason``                quarantined only: why, about the entry as the partner wrote it
``original_decision_id``  duplicate only: the decision of the submission it repeats
========================  ============================================================================

A receipt says only what the partner itself caused: whether the entry was admitted (:func:`told`). Never who
received it, how urgent it was judged, what was withheld from whom, or that handling left it with no
recipient: each of those follows from the region's policy and reference data (an entry routed only because
a nominal in it matches an organised crime group would otherwise tell the partner that it matches), so an
admitted entry is ``accepted`` whatever routing made of it, and a threat to life the scout routed ahead of
the backlog gets its receipt when the group reaches it (lua/commit.lua), so its timing says nothing either.
The reason of a refusal is stated only for the admission and wire checks, which run before any routing or
reference data is consulted: they quote the partner's own values and what the region publishes to partners
in its JSON Schema anyway (its areas, accredited classifications, condition codes, team ids); for the rest
(``poison``, ``other``) a receipt gives the class and a fixed sentence, never the router's error text.
Retention removes receipts after ``keep.receipts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bus.reasons import reason_class

ACCEPTED, QUARANTINED, DUPLICATE = "accepted", "quarantined", "duplicate"
OUTCOMES = (ACCEPTED, QUARANTINED, DUPLICATE)
AFTER_ADMISSION = "no delivery left"  # the class of a quarantine that routing and handling made: accepted
CLASS_ONLY = {  # classes whose reason may carry what is not the partner's: a fixed sentence instead
    "poison": "processing it failed repeatedly; the region's operators have its decision",
    "other": "the region's operators have its decision and the reason",
}
FIELDS = ("entry_id", "submission_id", "outcome", "decision_id", "reason_class", "reason", "original_decision_id")


def told(quarantined: bool, reason: str) -> tuple[str, str, str]:
    """(outcome, reason_class, reason) a receipt states for a decision that quarantined the entry or not (a
    duplicate's receipt is written by lua/commit.lua), and its reason."""
    if not quarantined:
        return ACCEPTED, "", ""
    kind = reason_class(reason)
    if kind == AFTER_ADMISSION:
        return ACCEPTED, "", ""
    return QUARANTINED, kind, CLASS_ONLY.get(kind, reason)


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
        said = {"accepted": "accepted", "duplicate": f"duplicate of decision {self.original_decision_id}",
                "quarantined": f"quarantined ({self.reason_class}): {self.reason}"}[self.outcome]
        name = self.submission_id or "(no readable submission_id)"
        return f"{self.entry_id} {name}: {said} [decision {self.decision_id}]"


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
