"""Quarantine reasons by class, from a fixed list: what a table row, a label or a partner's receipt may show.

A reason may quote what the partner wrote (``unknown partner 'x'``, field names, a wrong ``kind``); its class
never does. The list follows the sentences the bus writes (bus.wire, bus.batch, bus.policy.admission and
.engine): a new kind of reason that fits none of them is ``other`` until it is added here.
"""

from __future__ import annotations

REASON_CLASSES = (  # (how the bus's reason starts, its class)
    ("spoofing:", "spoofing"), ("unknown partner ", "unknown partner"), ("partner ", "kind not allowed"),
    ("H1 ", "H1 classification"), ("H2:", "H2 handling condition"), ("area ", "unknown area"),
    ("source_type ", "covert source"), ("covert-sourced", "covert source"), ("named_recipients:", "named recipients"),
    ("invalid submission:", "invalid submission"), ("poison:", "poison"), ("entry ", "malformed entry"),
    ("no delivery is left", "no delivery left"),
)


def reason_class(reason: str) -> str:
    """A quarantine reason's class, from a fixed list: never text a partner wrote (a reason may quote the
    partner's values, e.g. ``unknown partner 'x'``, and a class is a table row and a label)."""
    return next((name for start, name in REASON_CLASSES if reason.startswith(start)), "other")
