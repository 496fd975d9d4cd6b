"""What each recipient's payload contains: a pure function of the raw submission and the decision.

A ``full`` view is the submission exactly as the partner sent it (the same bytes). A ``sanitised`` view
is the partner's JSON object without the delivery's ``omitted`` fields, re-encoded: the omitted keys are
removed from the parsed object, so even a payload that repeats a key cannot carry it through.
"""

from __future__ import annotations

from typing import Any

import orjson

from bus.policy.decision import Decision, Delivery


def view_object(submission: dict[str, Any], delivery: Delivery) -> dict[str, Any]:
    if not delivery.omitted:
        return submission
    omitted = frozenset(delivery.omitted)
    return {key: value for key, value in submission.items() if key not in omitted}


def render_views(raw: bytes, decision: Decision) -> dict[str, bytes]:
    """recipient -> payload bytes for every delivery of a routed decision."""
    views: dict[str, bytes] = {}
    parsed: dict[str, Any] | None = None
    for delivery in decision.deliveries:
        if not delivery.omitted:
            views[delivery.recipient] = raw
            continue
        if parsed is None:
            parsed = orjson.loads(raw)
        views[delivery.recipient] = orjson.dumps(view_object(parsed, delivery))
    return views
