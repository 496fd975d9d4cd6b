"""Ingress entries exactly as Redis holds them, and the replies of the server-side operations.

An ``Entry`` keeps every field name and value in order (a partner may repeat a name or add fields: each
is seen, and kept in quarantine). An entry larger than the read-out limit never leaves Redis: only its
size and field count do (``fields`` is ``None``), so a partner's 5 MB entries cost the router nothing
but a quarantine record that points at them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bus.transport import text
from schemas import MAX_PAYLOAD_BYTES

PAYLOAD = b"payload"
READ_OUT_LIMIT = MAX_PAYLOAD_BYTES + 1024
"""Largest entry (names and values) read out of Redis: a valid payload plus room for field names. A
larger entry is oversized whatever it holds; it stays whole in its ingress stream."""
MAX_COPIED_FIELDS = 1000
"""Quarantine copies an entry of at most this many fields; one with more stays whole in ingress."""


@dataclass(frozen=True, slots=True)
class Entry:
    stream: str
    entry_id: str
    fields: tuple[tuple[bytes, bytes], ...] | None  # None: over the read-out limit, not read out
    size: int  # bytes of every name and value
    field_count: int
    deliveries: int = 1
    last_error: str = ""

    @property
    def payload(self) -> bytes | None:
        """The payload when the entry is exactly one field, ``payload``; otherwise ``None``."""
        if self.fields is not None and len(self.fields) == 1 and self.fields[0][0] == PAYLOAD:
            return self.fields[0][1]
        return None

    @property
    def first_payload(self) -> bytes | None:
        """The first ``payload`` value, whatever else the entry holds (to find a submission_id)."""
        return next((value for name, value in self.fields or () if name == PAYLOAD), None)

    @property
    def copyable(self) -> bool:
        return self.fields is not None and self.field_count <= MAX_COPIED_FIELDS

    def problem(self) -> str | None:
        """Why the entry is not a submission at all (None when it is one field, payload)."""
        if self.fields is None:
            return (f"entry is {self.size} bytes across {self.field_count} field(s); a submission is one field, "
                    f"payload, of at most {MAX_PAYLOAD_BYTES} bytes: not read, kept whole in {self.stream} "
                    f"at {self.entry_id}")
        if self.payload is not None:
            return None
        names = [name for name, _ in self.fields]
        payloads = names.count(PAYLOAD)
        if payloads > 1:
            return (f"entry has {payloads} fields named payload (field names in order: {_names(names)}); "
                    "a submission is one field, payload, so none of them is routed")
        if payloads == 0:
            return f"entry has no payload field (it has: {_names(names)}); a submission is one field, payload"
        extra = [name for name in names if name != PAYLOAD]
        return (f"entry has fields besides payload ({_names(extra)}); they would be lost, so it is not routed "
                "(fields in order are kept in quarantine)")


def _names(names: Sequence[bytes], limit: int = 10) -> str:
    shown = [name[:60].decode("utf-8", "replace") for name in names[:limit]]
    more = f", and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(shown) + more


def entry_from(stream: str, entry_id: bytes, field_count: int, size: int, flat: Sequence[bytes],
               deliveries: int = 1, last_error: bytes = b"") -> Entry:
    """An ``Entry`` from a record's tail: ``flat`` is name1, value1, ... or empty when not read out."""
    fields = tuple(zip(flat[::2], flat[1::2], strict=True)) if flat else None
    return Entry(stream, entry_id.decode(), fields, int(size), int(field_count), int(deliveries),
                 last_error.decode("utf-8", "replace"))


@dataclass(frozen=True, slots=True)
class StreamNote:
    """Something the read operation reports about one stream (besides its entries)."""

    stream: str
    kind: str  # created | trimmed | error
    detail: tuple[str, ...] = ()


@dataclass(slots=True)
class ReadReply:
    entries: list[Entry]
    notes: list[StreamNote]
    pending: int  # router-group entries pending before the read, over every stream visited
    number: int = 0  # which read this was (bus.progress)


def read_reply(reply: Sequence[Any], keys: Sequence[str], number: int = 0) -> ReadReply:
    """Parse ``read.lua``'s records; ``keys`` are the KEYS it was called with."""
    out = ReadReply([], [], 0, number)
    for record in reply:
        kind, stream = record[0].decode(), keys[int(record[1]) - 1]
        if kind == "entry":
            out.entries.append(entry_from(stream, record[2], record[3], record[4], record[5:]))
        elif kind == "stream":
            out.pending += int(record[2])
        else:
            out.notes.append(StreamNote(stream, kind, tuple(text(value) for value in record[2:])))
    return out


def claim_reply(reply: Sequence[Any], stream: str) -> tuple[list[Entry], list[tuple[str, int]]]:
    """Parse ``claim.lua``'s records: (entries, [(deleted entry id, deliveries)])."""
    entries: list[Entry] = []
    deleted: list[tuple[str, int]] = []
    for record in reply:
        if record[0] == b"entry":
            entries.append(entry_from(stream, record[1], record[4], record[5], record[6:], record[2], record[3]))
        else:
            deleted.append((record[1].decode(), int(record[2])))
    return entries, deleted


def quarantined_fields(fields: dict[bytes, bytes]) -> tuple[tuple[bytes, bytes], ...] | None:
    """The original entry's fields, in order, from a quarantine entry that copied them (``kept`` copy);
    ``None`` when the entry was left whole in its ingress stream (``kept`` ingress)."""
    if fields.get(b"kept") != b"copy":
        return None
    count = int(fields[b"fields"])
    return tuple((fields[b"field:%d" % n], fields[b"value:%d" % n]) for n in range(1, count + 1))
