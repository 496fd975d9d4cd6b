"""A decision in words, for a person: which rule selected or withheld each team, and why."""

from __future__ import annotations

from bus.policy.decision import ROUTED, Decision


def explain(decision: Decision) -> str:
    head = (f"{decision.submission_id or '(no submission_id)'}  {decision.kind or '?'} from "
            f"{decision.partner or '?'}: {decision.status.upper()}")
    lines = [head]
    if decision.reason:
        lines.append(f"  reason: {decision.reason}")
    if decision.status == ROUTED and decision.deliveries:
        first = decision.deliveries[0]
        due = first.due.isoformat() if first.due else "none"
        lines.append(f"  priority {first.priority}, due {due}")
    for delivery in decision.deliveries:
        view = "full view" if delivery.view == "full" else f"sanitised view, without {', '.join(delivery.omitted)}"
        lines.append(f"  -> {delivery.recipient} ({view})")
        sentences = dict.fromkeys(f"{rule}: {says}" for rule, says in delivery.says) or delivery.rules
        lines.extend(f"       {line}" for line in sentences)
    for withheld in decision.withheld:
        lines.append(f"  x  {withheld.recipient} withheld by {withheld.rule}: {withheld.reason}")
    for link in decision.ocg_links:
        lines.append(f"  =  OCG link {link.ocg_id} via {link.via}")
    for match in decision.possible_matches:
        lines.append(f"  ?  possible match for review: {match.nominal} ~ {match.member} ({match.ocg_id}): "
                     f"{match.reason}")
    lines.append(f"  ruleset {decision.ruleset}, reference {decision.reference}")
    return "\n".join(lines)
