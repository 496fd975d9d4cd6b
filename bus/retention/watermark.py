"""Watermarks, never guesses (pure): the newest id each stream may be trimmed below, and what sets it.

A stream's bound is the lowest of its readers' and its period's: for each consumer group, its oldest
pending entry (delivered, not yet acknowledged) or else the entry after its last-delivered id (an entry
no group has read yet is never safe); readers that are not groups (the scout's scan position on ingress;
on an audit log, the last record the newest signed checkpoint covers); the period (nothing younger than
``keep`` is touched); for what leaves only once archived, the archive's position (``lowest``); and a hold
on the whole stream (its team or partner). A feed with no group keeps everything, and so does an ingress
stream no router has read. Entries below the bound are then looked at
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


def watermark(stream: str, groups: list[Group], now_ms: int, keep_ms: int, held: list[Hold], *,
              no_reader: str | None = None, bounds: tuple[tuple[str, str], ...] = ()) -> Watermark:
    """The bound of ``stream``: its period's, each group's, and ``bounds`` ((id, reason): a reader that is not
    a group, such as the scout or the audit checkpointer). ``no_reader``: without a group nothing may go,
    for this reason (a feed nobody reads yet; an ingress stream no router has read)."""
    if held:
        return Watermark(stream, None, [str(h) for h in held])
    if not groups and no_reader is not None:
        return Watermark(stream, None, [no_reader])
    found = [(f"{max(now_ms - keep_ms, 0)}-0", f"period: keep {show_duration(keep_ms)} from when it was written"),
             *bounds]
    for group in groups:
        if group.pending:
            found.append((group.oldest_pending or "0-0",
                          f"group {group.name}: {group.pending} pending (delivered, not acknowledged) from "
                          f"{group.oldest_pending}"))
        else:
            found.append((successor(group.last_delivered),
                          f"group {group.name}: nothing read after {group.last_delivered}"))
    found.sort(key=lambda bound: id_key(bound[0]))
    below = found[0][0]
    return Watermark(stream, below if id_key(below) > (0, 0) else None, [reason for _, reason in found])


def feed_watermark(stream: str, groups: list[Group], now_ms: int, keep_ms: int, held: list[Hold]) -> Watermark:
    return watermark(stream, groups, now_ms, keep_ms, held,
                     no_reader="no consumer group yet: a feed nobody reads keeps everything")


def lowest(mark: Watermark, below: str | None, reason: str) -> Watermark:
    """``mark`` lowered to ``below`` (None: nothing may go) when that is lower, ``reason`` then binding."""
    if mark.below is None:
        return mark
    if below is None or id_key(below) < id_key(mark.below):
        return Watermark(mark.stream, below if below is None or id_key(below) > (0, 0) else None,
                         [reason, *mark.reasons])
    return Watermark(mark.stream, mark.below, [*mark.reasons, reason])


def mark_expired(decision_id: str, now_ms: int, window_ms: int) -> bool:
    """A dedupe mark (its value begins with the decision id, whose time is when it was set) past the window;
    a mark that does not begin with an id is kept."""
    try:
        return id_key(decision_id)[0] < now_ms - window_ms
    except ValueError:
        return False
