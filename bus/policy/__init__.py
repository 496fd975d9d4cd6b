"""The decision core: pure, synchronous, no I/O. ``decide`` is the entry point."""

from bus.policy.decision import DUPLICATE, QUARANTINED, ROUTED, Decision, Delivery, Withheld
from bus.policy.engine import decide, decide_payload, quarantined
from bus.policy.loading import load_policy
from bus.policy.reference import DEFAULT_REFERENCE, Reference, load_reference
from bus.policy.ruleset import DEFAULT_RULESET, Ruleset, load_ruleset, parse_ruleset
from bus.policy.views import render_views, view_object

__all__ = [
    "DEFAULT_REFERENCE",
    "DEFAULT_RULESET",
    "DUPLICATE",
    "QUARANTINED",
    "ROUTED",
    "Decision",
    "Delivery",
    "Reference",
    "Ruleset",
    "Withheld",
    "decide",
    "decide_payload",
    "load_policy",
    "load_reference",
    "load_ruleset",
    "parse_ruleset",
    "quarantined",
    "render_views",
    "view_object",
]
