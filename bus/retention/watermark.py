"""Watermarks, never guesses (pure): the newest id each stream may be trimmed below, and what sets it.

A stream's bound is the lowest of its readers' and its period's: for each consumer group, its oldest
pending entry (delivered, not yet acknowledged) or else the entry after its last-delivered id (an entry
no group has read yet is never safe); the period (nothing younger than ``keep`` is touched); and a hold on
the whole stream's team. A feed with no group keeps everything. Entries below the bound are then looked at
one by one for holds on a partner, submission or id range (``facts``); the first held one lowers it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bus.ids import id_key, successor
from bus.retention.policy import Hold, show_duration


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    last_delivered: str
    pending: int
    oldest_pending: str | None = None


@dataclass(slots=True)
class Watermark:
    """``below``: trim entries with smaller ids (``XTRIM MINID below``); None: nothing may go. ``reasons``:
    every bound, the binding one first."""

    stream: str
    below: str | None
    reasons: list[str] = field(default_factory=list)

    @property
    def blocked_by(self) -> str:
        return self.reasons[0] if self.reasons else ""


def feed_watermark(stream: str, groups: list[Group], now_ms: int, keep_ms: int, held: list[Hold]) -> Watermark:
    if held:
        return Watermark(stream, None, [str(h) for h in held])
    if not groups:
        return Watermark(stream, None, ["no consumer group yet: a feed nobody reads keeps everything"])
    bounds = [(f"{max(now_ms - keep_ms, 0)}-0", f"period: keep {show_duration(keep_ms)} from when it was written")]
    for group in groups:
        if group.pending:
            bounds.append((group.oldest_pending or "0-0",
                           f"group {group.name}: {group.pending} pending (delivered, not acknowledged) from "
                           f"{group.oldest_pending}"))
        else:
            bounds.append((successor(group.last_delivered),
                           f"group {group.name}: nothing read after {group.last_delivered}"))
    bounds.sort(key=lambda bound: id_key(bound[0]))
    below = bounds[0][0]
    return Watermark(stream, below if id_key(below) > (0, 0) else None, [reason for _, reason in bounds])


def mark_expired(decision_id: str, now_ms: int, window_ms: int) -> bool:
    """A dedupe mark (its value begins with the decision id, whose time is when it was set) past the window;
    a mark that does not begin with an id is kept."""
    try:
        return id_key(decision_id)[0] < now_ms - window_ms
    except ValueError:
        return False
