"""``intelbus audit explain DECISION_ID``: one decision record in words, from the record itself.

Which rule selected or withheld each team, what each recipient's view left out, under which ruleset and
reference data (and whether those are the ones loaded now, so the rule sentences shown are the ones that
decided), and whether the record verifies against the signed checkpoints. Pure: the caller reads Redis.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def explain_record(decision_id: str, record: Mapping[str, Any], says: Mapping[str, str], ruleset: str,
                   reference: str, verdict: str) -> str:
    lines = [f"decision {decision_id}: {str(record.get('status', '?')).upper()} {record.get('kind') or '?'} "
             f"from {record.get('partner') or '?'}, submission {record.get('submission_id') or '(none)'}",
             f"  decided at {record.get('decided_at', '?')}, from {record.get('stream', '?')} entry "
             f"{record.get('entry_id', '?')}"]
    if record.get("claimed_partner"):
        lines.append(f"  the submission claimed to be from {record['claimed_partner']}")
    if record.get("reason"):
        lines.append(f"  reason: {record['reason']}")
    same = record.get("ruleset") == ruleset
    lines += _deliveries(record.get("deliveries") or [], says if same else {})
    lines += _withheld(record.get("withheld") or [], says if same else {})
    lines += [f"  =  OCG link {link.get('ocg_id')} via {link.get('via')}"
              for link in record.get("ocg_links") or [] if isinstance(link, dict)]
    lines += [f"  ?  possible match for review: {_match(match)}"
              for match in record.get("possible_matches") or [] if isinstance(match, dict)]
    loaded = "the one loaded now" if same else "not the one loaded now: rule ids only"
    lines.append(f"  ruleset {record.get('ruleset')} ({loaded})")
    lines.append(f"  reference {record.get('reference')} "
                 f"({'the one loaded now' if record.get('reference') == reference else 'not the one loaded now'})")
    lines.append(f"  record: {verdict}")
    return "\n".join(lines)


def _deliveries(deliveries: list[Any], says: Mapping[str, str]) -> list[str]:
    lines = []
    for d in deliveries:
        if not isinstance(d, dict):
            continue
        omitted = d.get("omitted") or []
        view = "full view" if d.get("view") == "full" else f"sanitised view, without {', '.join(omitted)}"
        lines.append(f"  -> {d.get('recipient')} ({view}), priority {d.get('priority')}, due {d.get('due') or 'none'}")
        lines += [f"       selected by {rule}" + (f": {says[rule]}" if rule in says else "")
                  for rule in d.get("rules") or []]
    return lines


def _withheld(withheld: list[Any], says: Mapping[str, str]) -> list[str]:
    lines = []
    for w in withheld:
        if isinstance(w, dict):
            rule = w.get("rule")
            sentence = f" ({says[rule]})" if isinstance(rule, str) and rule in says else ""
            lines.append(f"  x  {w.get('recipient')} withheld by {rule}{sentence}: {w.get('reason')}")
    return lines


def _match(match: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in match.items())
