"""Admission: the checks before any routing (H1, partner checks, area, condition codes).

Each failure is a ``Quarantine`` with the sentence a partner or operator can act on.
"""

from __future__ import annotations

from typing import Any

from bus.policy.ruleset import Ruleset


class Quarantine(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def admit(sub: Any, ruleset: Ruleset, ingress_owner: str) -> str | None:
    """Check a parsed submission; return its force (None outside the region) or raise Quarantine."""
    if sub.partner != ingress_owner:
        raise Quarantine(
            f"spoofing: the submission says partner {sub.partner!r} but arrived on the ingress stream "
            f"of {ingress_owner!r}; a partner may only publish as itself"
        )
    rights = ruleset.partners.get(sub.partner)
    if rights is None:
        raise Quarantine(f"unknown partner {sub.partner!r}: not in the ruleset's partner registry")
    if sub.kind not in rights.kinds:
        raise Quarantine(
            f"partner {sub.partner!r} may not publish {sub.kind!r} (it may publish: {', '.join(sorted(rights.kinds))})"
        )
    if sub.classification not in ruleset.classifications:
        raise Quarantine(
            f"H1 classification: {sub.classification} is above the bus's accreditation "
            f"({', '.join(sorted(ruleset.classifications))}); it is never routed"
        )
    force = _force_of(sub.area, ruleset)
    _check_covert(sub, ruleset, rights.police)
    _check_conditions(sub, ruleset)
    return force


def _force_of(area: str, ruleset: Ruleset) -> str | None:
    found = ruleset.areas.get(area.casefold())  # the candidate; same_letters says whether it is one
    if found is None or not same_letters(area, found[0]):
        raise Quarantine(f"area {area!r} is not a local authority of the region; valid areas: "
                         f"{', '.join(ruleset.area_names)} (any letter case)")
    return found[1]


def same_letters(given: str, name: str) -> bool:
    """Whether ``given`` is ``name`` in some letter case: each character the name's own, or its lower or upper
    case, one for one (what the exported schema's pattern says, ``schemas.export.case_insensitive_pattern``).
    Case folding alone would also take a look-alike such as ``ſunderland`` (long s), which the schema refuses."""
    if given.isascii() and name.isascii():  # every area a partner writes correctly: the same, at C speed
        return given.lower() == name.lower()
    return len(given) == len(name) and all(g in (n, n.lower(), n.upper()) for g, n in zip(given, name, strict=True))


def _check_covert(sub: Any, ruleset: Ruleset, police: bool) -> None:
    # The field's value, read from the model's fields: getattr on a kind without the field takes pydantic's
    # slow path (an AttributeError raised and caught), several microseconds a submission.
    source_type = vars(sub).get("source_type")
    if source_type in ruleset.covert_source_types and not police:
        raise Quarantine(
            f"source_type {source_type!r} is a covert source; only police partners may submit "
            "covert-sourced intelligence"
        )


def _check_conditions(sub: Any, ruleset: Ruleset) -> None:
    for code in sub.handling_conditions or ():
        if code not in ruleset.handling_conditions:
            raise Quarantine(f"H2: unknown handling condition {code!r} (known: "
                             f"{', '.join(sorted(ruleset.handling_conditions))})")
    for team in sub.named_recipients:
        if team not in ruleset.team_ids:
            raise Quarantine(f"named_recipients: {team!r} is not a team id of the region")
