"""The root of intelbus's one exception tree, and the error a partner sees.

They live here, in the leaf package, so that partner code (and ``producers``) can validate and catch
without importing the router; ``bus.errors`` re-exports both and draws the whole tree.
"""

from __future__ import annotations


class BusError(Exception):
    """Base of every error intelbus raises on purpose."""


class SubmissionRejected(BusError):
    """A submission that is not routed. ``reason`` is the sentence a partner sees; ``submission_id``,
    ``partner`` and ``kind`` are what the payload carried, when they could be read (as written)."""

    def __init__(self, reason: str, submission_id: str | None = None, *, partner: str | None = None,
                 kind: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.submission_id = submission_id
        self.partner = partner
        self.kind = kind
