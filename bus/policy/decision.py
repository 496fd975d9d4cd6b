"""The decision record: one per submission, the audit record of who received what and why.

JSON shape (also documented in README.md, "Streams")::

    {"submission_id", "partner", ["claimed_partner",] "kind", "status": "routed"|"quarantined"|"duplicate",
     "reason",
     "deliveries": [{"recipient", "view": "full"|"sanitised", "priority", "due", "rules", "omitted"}],
     "withheld": [{"recipient", "reason", "rule"}], "possible_matches": [...], "ocg_links": [...],
     "ruleset": "sha256:…", "reference": "sha256:…", "decided_at"}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from bus.policy.reference import OcgLink, PossibleMatch


class Status(StrEnum):
    ROUTED = "routed"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


ROUTED, QUARANTINED, DUPLICATE = Status.ROUTED, Status.QUARANTINED, Status.DUPLICATE
Priority = Literal["routine", "high", "immediate"]
PRIORITIES: tuple[Priority, ...] = ("routine", "high", "immediate")
IMMEDIATE: Priority = "immediate"


@dataclass(frozen=True, slots=True)
class Delivery:
    recipient: str
    view: Literal["full", "sanitised"]
    priority: Priority
    due: datetime | None
    rules: tuple[str, ...]
    omitted: tuple[str, ...] = ()
    says: tuple[tuple[str, str], ...] = ()  # (rule, sentence) pairs, for --explain; not serialised

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient, "view": self.view, "priority": self.priority,
            "due": self.due.isoformat() if self.due else None, "rules": list(self.rules),
            "omitted": list(self.omitted),
        }


@dataclass(frozen=True, slots=True)
class Withheld:
    recipient: str
    reason: str
    rule: str

    def to_dict(self) -> dict[str, str]:
        return {"recipient": self.recipient, "reason": self.reason, "rule": self.rule}


@dataclass(frozen=True, slots=True)
class Decision:
    submission_id: str | None
    partner: str | None  # the owner of the ingress stream it came on (or, offline, the one it claims)
    kind: str | None
    status: Status
    reason: str | None
    ruleset: str
    reference: str
    decided_at: datetime
    deliveries: tuple[Delivery, ...] = ()
    withheld: tuple[Withheld, ...] = ()
    possible_matches: tuple[PossibleMatch, ...] = ()
    ocg_links: tuple[OcgLink, ...] = ()
    claimed_partner: str | None = None  # the partner the submission names, when not the stream's owner

    @property
    def immediate(self) -> bool:
        return bool(self.deliveries) and self.deliveries[0].priority == IMMEDIATE

    def to_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "submission_id": self.submission_id, "partner": self.partner, "kind": self.kind,
            "status": str(self.status), "reason": self.reason,  # str of a StrEnum: its value, without .value's cost
            "deliveries": _deliveries(self.deliveries),
            "withheld": [w.to_dict() for w in self.withheld],
            "possible_matches": [m.to_dict() for m in self.possible_matches],
            "ocg_links": [{"ocg_id": link.ocg_id, "via": link.via} for link in self.ocg_links],
            "ruleset": self.ruleset, "reference": self.reference,
            "decided_at": self.decided_at.isoformat(),
        }
        if self.claimed_partner is not None:
            record["claimed_partner"] = self.claimed_partner
        return record


def _deliveries(deliveries: tuple[Delivery, ...]) -> list[dict[str, Any]]:
    """``[d.to_dict() for d in deliveries]``, writing each due time once: a decision's deliveries share one."""
    out = []
    due: datetime | None = None
    text: str | None = None
    for d in deliveries:
        if d.due is not due:
            due = d.due
            text = due.isoformat() if due else None
        out.append({"recipient": d.recipient, "view": d.view, "priority": d.priority, "due": text,
                    "rules": list(d.rules), "omitted": list(d.omitted)})
    return out
