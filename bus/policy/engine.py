"""The decision: a pure function of (submission, ruleset, reference data, now).

``decide`` never reads a clock, a file or Redis; ``now`` only stamps the record. ``decide_payload`` is
the same for raw bytes: what cannot be parsed becomes a quarantined decision, never an exception. When
the ingress stream's owner is known, the record's ``partner`` is that owner; a submission naming another
partner keeps the name it claimed in ``claimed_partner`` (and is quarantined as spoofing).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bus.policy.admission import Quarantine, admit
from bus.policy.decision import PRIORITIES, QUARANTINED, ROUTED, Decision, Delivery, Withheld
from bus.policy.handling import Outcome, handle
from bus.policy.reference import OcgLink, PossibleMatch, Reference, match_nominals
from bus.policy.routing import Selection, route
from bus.policy.ruleset import Ruleset
from bus.policy.selectors import Scope
from schemas import Parsed, Submission, SubmissionRejected, parse_payload


def decide(sub: Submission, ruleset: Ruleset, reference: Reference, now: datetime,
           ingress_owner: str | None = None) -> Decision:
    owner = ingress_owner if ingress_owner is not None else sub.partner
    try:
        force = admit(sub, ruleset, owner)
    except Quarantine as stop:
        return _record(sub, owner, ruleset, reference, now).quarantined(stop.reason)
    links, possible = match_nominals(
        reference, sub.nominals, ruleset.identifiers, ruleset.name_with_dob, ruleset.phone_region,
    )
    if links:
        groups = [reference.groups[link.ocg_id] for link in links]
        facts = {"ocg_tiers": frozenset(group.tier for group in groups)}
        leads = tuple(dict.fromkeys(group.lead_team for group in groups))
    else:
        facts, leads = NO_OCG, ()
    scope = Scope(force, tuple(sub.named_recipients), ruleset.partners[sub.partner].originator, leads)
    selection = route(sub, facts, scope, ruleset)
    outcome = handle(sub, facts, scope, selection, ruleset)
    deliveries = _deliveries(selection, outcome)
    withheld = tuple(outcome.withheld.values())
    if not deliveries:
        reasons = "; ".join(dict.fromkeys(f"{w.rule} {w.reason}" for w in withheld)) or "no rule selected a team"
        return _record(sub, owner, ruleset, reference, now).quarantined(
            f"no delivery is left after handling: {reasons}", withheld, possible, links)
    # Admitted: the submission's partner is the owner, so there is no claimed partner.
    return Decision(str(sub.submission_id), owner, sub.kind, ROUTED, None, ruleset.digest, reference.digest, now,
                    deliveries, withheld, tuple(possible), tuple(links), None)


def _record(sub: Submission, owner: str, ruleset: Ruleset, reference: Reference, now: datetime) -> _Record:
    return _Record(str(sub.submission_id), owner, sub.kind, ruleset.digest, reference.digest, now,
                   sub.partner if sub.partner != owner else None)


NO_OCG: dict[str, frozenset[str]] = {"ocg_tiers": frozenset()}


@dataclass(frozen=True, slots=True)
class _Record:
    submission_id: str | None
    partner: str | None
    kind: str | None
    ruleset: str
    reference: str
    now: datetime
    claimed_partner: str | None = None

    def quarantined(self, reason: str, withheld: tuple[Withheld, ...] = (),
                    possible: list[PossibleMatch] | None = None, links: list[OcgLink] | None = None) -> Decision:
        return Decision(
            submission_id=self.submission_id, partner=self.partner, kind=self.kind, status=QUARANTINED,
            reason=reason, ruleset=self.ruleset, reference=self.reference, decided_at=self.now,
            withheld=withheld, possible_matches=tuple(possible or ()), ocg_links=tuple(links or ()),
            claimed_partner=self.claimed_partner,
        )


def _deliveries(selection: Selection, outcome: Outcome) -> tuple[Delivery, ...]:
    priority, due, omitted_of = PRIORITIES[selection.priority], selection.due, outcome.omitted
    deliveries = []
    for team, why in outcome.teams.items():
        omitted = tuple(sorted(omitted_of[team])) if team in omitted_of else ()
        rules = (why[0][0],) if len(why) == 1 else tuple(dict.fromkeys([rule for rule, _ in why]))
        deliveries.append(Delivery(team, "sanitised" if omitted else "full", priority, due, rules, omitted,
                                   tuple(why)))
    return tuple(deliveries)


def decide_payload(raw: bytes, ruleset: Ruleset, reference: Reference, now: datetime,
                   ingress_owner: str | None = None) -> tuple[Decision, Parsed | None]:
    """Parse and decide one payload; a payload that does not parse gets a quarantined decision."""
    try:
        parsed = parse_payload(raw)
    except SubmissionRejected as rejected:
        owner = ingress_owner or rejected.partner
        claimed = rejected.partner if rejected.partner is not None and rejected.partner != owner else None
        record = _Record(rejected.submission_id, owner, rejected.kind, ruleset.digest, reference.digest, now,
                         claimed)
        return record.quarantined(f"invalid submission: {rejected.reason}"), None
    return decide(parsed.submission, ruleset, reference, now, ingress_owner), parsed


def quarantined(reason: str, ruleset: Ruleset, reference: Reference, now: datetime, *,
                submission_id: str | None = None, partner: str | None = None) -> Decision:
    """A decision routing to nobody for a reason found before any policy applies (the entry itself)."""
    return _Record(submission_id, partner, None, ruleset.digest, reference.digest, now).quarantined(reason)
