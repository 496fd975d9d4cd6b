"""The decision: a pure function of (submission, ruleset, reference data, now).

``decide`` never reads a clock, a file or Redis; ``now`` only stamps the record. ``decide_payload`` is
the same for raw bytes: what cannot be parsed becomes a quarantined decision, never an exception.
"""

from __future__ import annotations

from datetime import datetime

import orjson

from bus.errors import SubmissionRejected
from bus.policy.admission import Quarantine, admit
from bus.policy.decision import PRIORITIES, QUARANTINED, ROUTED, Decision, Delivery
from bus.policy.handling import Outcome, handle
from bus.policy.reference import Reference, match_nominals
from bus.policy.routing import Selection, route
from bus.policy.ruleset import Ruleset
from bus.policy.selectors import Scope
from schemas import Submission, parse_submission


def decide(sub: Submission, ruleset: Ruleset, reference: Reference, now: datetime,
           ingress_owner: str | None = None) -> Decision:
    base = Decision(
        submission_id=str(sub.submission_id), partner=sub.partner, kind=sub.kind, status=ROUTED, reason=None,
        ruleset=ruleset.digest, reference=reference.digest, decided_at=now,
    )
    try:
        force = admit(sub, ruleset, ingress_owner if ingress_owner is not None else sub.partner)
    except Quarantine as stop:
        return _quarantined(base, stop.reason)
    links, possible = match_nominals(
        reference, sub.nominals, ruleset.identifiers, ruleset.name_with_dob, ruleset.phone_region,
    )
    groups = [reference.groups[link.ocg_id] for link in links]
    facts = {"ocg_tiers": frozenset(group.tier for group in groups)}
    rights = ruleset.partners[sub.partner]
    scope = Scope(force, tuple(sub.named_recipients), rights.originator,
                  tuple(dict.fromkeys(group.lead_team for group in groups)))
    selection = route(sub, facts, scope, ruleset)
    outcome = handle(sub, facts, scope, selection, ruleset)
    deliveries = _deliveries(selection, outcome)
    withheld = tuple(outcome.withheld.values())
    result = Decision(
        submission_id=base.submission_id, partner=base.partner, kind=base.kind, status=ROUTED, reason=None,
        ruleset=base.ruleset, reference=base.reference, decided_at=now, deliveries=deliveries,
        withheld=withheld, possible_matches=tuple(possible), ocg_links=tuple(links),
    )
    if not deliveries:
        reasons = "; ".join(dict.fromkeys(f"{w.rule} {w.reason}" for w in withheld)) or "no rule selected a team"
        return Decision(
            submission_id=base.submission_id, partner=base.partner, kind=base.kind, status=QUARANTINED,
            reason=f"no delivery is left after handling: {reasons}", ruleset=base.ruleset,
            reference=base.reference, decided_at=now, withheld=withheld, possible_matches=tuple(possible),
            ocg_links=tuple(links),
        )
    return result


def _deliveries(selection: Selection, outcome: Outcome) -> tuple[Delivery, ...]:
    priority = PRIORITIES[selection.priority]
    deliveries = []
    for team, why in outcome.teams.items():
        omitted = tuple(sorted(outcome.omitted.get(team, ())))
        deliveries.append(Delivery(
            recipient=team, view="sanitised" if omitted else "full", priority=priority, due=selection.due,
            rules=tuple(dict.fromkeys(rule for rule, _ in why)), omitted=omitted,
            says=tuple(dict.fromkeys(says for _, says in why)),
        ))
    return tuple(deliveries)


def _quarantined(base: Decision, reason: str) -> Decision:
    return Decision(
        submission_id=base.submission_id, partner=base.partner, kind=base.kind, status=QUARANTINED,
        reason=reason, ruleset=base.ruleset, reference=base.reference, decided_at=base.decided_at,
    )


def decide_payload(raw: bytes, ruleset: Ruleset, reference: Reference, now: datetime,
                   ingress_owner: str | None = None) -> tuple[Decision, Submission | None]:
    """Parse and decide one payload; a payload that does not parse gets a quarantined decision."""
    try:
        sub = parse_submission(raw)
    except SubmissionRejected as rejected:
        partner, kind = _peek(raw)
        return Decision(
            submission_id=rejected.submission_id, partner=ingress_owner or partner, kind=kind,
            status=QUARANTINED, reason=f"invalid submission: {rejected.reason}", ruleset=ruleset.digest,
            reference=reference.digest, decided_at=now,
        ), None
    return decide(sub, ruleset, reference, now, ingress_owner), sub


def _peek(raw: bytes) -> tuple[str | None, str | None]:
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None, None
    if not isinstance(obj, dict):
        return None, None
    partner, kind = obj.get("partner"), obj.get("kind")
    return (partner if isinstance(partner, str) else None), (kind if isinstance(kind, str) else None)
