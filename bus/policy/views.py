"""What each recipient's payload contains: a pure function of the raw submission and the decision.

A ``full`` view is the submission exactly as the partner sent it (the same bytes). A ``sanitised`` view
is the partner's JSON object without the delivery's ``omitted`` fields, re-encoded from the object the
payload was parsed into (once, strictly: a payload that repeats a key is refused, so every team sees
what the bus decided on).
"""

from __future__ import annotations

from typing import Any

import orjson

from bus.policy.decision import Decision, Delivery
from schemas.strict_json import load_strict


def view_object(submission: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    if not delivery.omitted:
        return submission
    omitted = frozenset(delivery.omitted)
    return {key: value for key, value in submission.items() if key not in omitted}


def render_views(raw: bytes, decision: Decision, document: dict[str, Any] | None = None) -> dict[str, bytes]:
    """recipient -> payload bytes for every delivery of a routed decision. ``document`` is the parsed
    payload (``schemas.Parsed.document``); without it the payload is parsed here (strictly)."""
    views: dict[str, bytes] = {}
    for delivery in decision.deliveries:
        if not delivery.omitted:
            views[delivery.recipient] = raw
            continue
        if document is None:
            document = load_strict(raw)
        views[delivery.recipient] = orjson.dumps(view_object(document, delivery))
    return views
