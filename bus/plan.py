"""What one call of ``lua/commit.lua`` writes: a pure plan built entry by entry, with no I/O.

``Plan.add`` turns one ingress entry and its decision into the script's arguments; every key the script
touches is declared in KEYS and referred to by index. The argument layout (``ENTRY_FIELDS``) is the one
``commit.lua``'s header documents: the two are read together. An entry's arguments are built whole
before they join the plan, so an entry that cannot be planned leaves the plan as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from bus.keys import Keys
from bus.policy import DUPLICATE, QUARANTINED, Decision, render_views
from bus.receipts import told
from bus.wire import Entry

Mode = Literal["router", "scout"]
Kept = Literal["copy", "ingress"]
ENTRY_FIELDS = ("head", "submission_id", "dedupe_key", "decision", "duplicate", "reason", "receipt_outcome",
                "receipt_class", "receipt_reason", "raw", "deliveries")
"""The fixed arguments of one entry in commit.lua's ARGV, in order; its views and copied fields follow."""


@dataclass(frozen=True, slots=True)
class Writes:
    """One entry's decision and what its deliveries carry."""

    entry: Entry
    decision: Decision
    raw: bytes = b""  # the payload, for full views
    document: dict[str, Any] | None = None  # the parsed payload, for sanitised views
    dedupe_key: str | None = None  # set: the dedupe mark is checked and written under this key
    clear_failure: bool = False  # the entry had a recorded processing failure: drop it once committed


@dataclass(frozen=True, slots=True)
class Position:
    """A scan position the scout's commit moves (``lua/scout.lua``'s 'upto'): the positions hash field, the
    id scanned up to, and the field and value naming its backlog region ("": none). commit.lua moves it
    only while the region is the one scanned."""

    field: str
    entry_id: str
    region_field: str = ""
    region: str = ""


@dataclass(slots=True)
class Plan:
    keys: Keys
    key_list: list[str] = field(default_factory=list)
    key_index: dict[str, int] = field(default_factory=dict)
    args: list[bytes | str | int] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    writes: list[Writes] = field(default_factory=list)  # kept so that a refused plan can be split
    positions: list[Position] = field(default_factory=list)  # scout mode: what the commit moves
    size: int = 0  # bytes of arguments, to bound one call's work

    def __post_init__(self) -> None:
        for key in (self.keys.decisions, self.keys.quarantine, self.keys.scouted, self.keys.failures,
                    self.keys.scout):
            self._key(key)

    def _key(self, key: str) -> int:
        index = self.key_index.get(key)
        if index is None:
            self.key_list.append(key)
            index = self.key_index[key] = len(self.key_list)
        return index

    def add(self, writes: Writes) -> None:
        """Add one entry's arguments; everything that can fail happens before the plan is touched."""
        entry, decision, dedupe = writes.entry, writes.decision, writes.dedupe_key
        record = decision.to_dict()
        record["stream"], record["entry_id"] = entry.stream, entry.entry_id
        encoded = orjson.dumps(record)
        owner = self.keys.partner_of(entry.stream)
        duplicate = b""
        if dedupe is not None:
            duplicate = orjson.dumps(record | {
                "status": str(DUPLICATE), "deliveries": [], "withheld": [],
                "reason": f"duplicate: this partner already sent submission_id {decision.submission_id}; "
                          "nothing is routed again (original_decision_id is the first decision)"})
        quarantined = decision.status == QUARANTINED
        sanitised: list[bytes] = []
        spec = []
        if decision.deliveries:
            views = {} if quarantined else render_views(writes.raw, decision, writes.document)
            for delivery, shown in zip(decision.deliveries, record["deliveries"], strict=True):
                ref = 0  # the raw payload: a full view
                if delivery.omitted:
                    sanitised.append(views[delivery.recipient])
                    ref = len(sanitised)
                feed = self._key(self.keys.feed(delivery.recipient, delivery.priority))
                spec.append(f"{feed},{delivery.priority},{delivery.view},{shown['due'] or ''},{ref};")
        kept: Kept = "copy" if entry.copyable else "ingress"
        copied = [part for pair in entry.fields or () for part in pair] if quarantined and kept == "copy" else []
        seen = self._key(self.keys.seen(owner)) if dedupe is not None else 0
        head = (f"{self._key(entry.stream)}|{entry.entry_id}|{seen}|{len(sanitised)}|{kept}|{len(copied) // 2}|"
                f"{int(writes.clear_failure)}|{self._key(self.keys.receipts(owner))}")
        raw = writes.raw if decision.deliveries else b""
        reason = decision.reason or "" if quarantined else ""
        receipt = told(quarantined, reason)
        submission_id = decision.submission_id or ""
        self.args += [
            head, submission_id, dedupe or "", encoded, duplicate, reason, *receipt, raw, "".join(spec), *sanitised,
            *copied,
        ]
        self.entries.append(entry)
        self.writes.append(writes)
        # the reason and submission_id are written again with the quarantine entry, the receipt and the feeds
        self.size += (len(encoded) + len(duplicate) + len(raw) + sum(map(len, sanitised)) + sum(map(len, copied))
                      + len(reason) + len(receipt[2]) + len(submission_id) * (2 + len(spec)))

    def call_args(self, group: str, consumer: str, mode: Mode) -> tuple[list[str], list[Any]]:
        positions = [part for p in self.positions for part in (p.field, p.entry_id, p.region_field, p.region)]
        return self.key_list, [group, consumer, mode, len(self.entries), len(self.positions), *self.args,
                               *positions]
