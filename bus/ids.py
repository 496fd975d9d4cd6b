"""Stream entry ids as numbers (``<ms>-<seq>``): to compare them as Redis orders them, to read their time,
and to name the id just after one (``XTRIM MINID`` past it). Pure; text or bytes alike."""

from __future__ import annotations

import re

MAX_SEQ = 18446744073709551615  # 2**64 - 1: the largest part of an id Redis accepts
MAX_ID = f"{MAX_SEQ}-{MAX_SEQ}"
ENTRY_ID = re.compile(r"^[0-9]{1,20}-[0-9]{1,20}$")
"""What an explicit entry id looks like as text: ``<ms>-<seq>``, each part at most 20 digits."""


def id_key(entry_id: bytes | str) -> tuple[int, int]:
    """A stream id as numbers, to compare ids as Redis orders them (``"5"`` is ``5-0``)."""
    ms, _, seq = entry_id.partition(b"-") if isinstance(entry_id, bytes) else entry_id.partition("-")
    return int(ms), int(seq or 0)


def id_ms(entry_id: bytes | str) -> int:
    """When Redis wrote the entry: its id's milliseconds."""
    return id_key(entry_id)[0]


def successor(entry_id: str) -> str:
    """The smallest id after ``entry_id`` (``MAX_ID`` has none: itself)."""
    ms, seq = id_key(entry_id)
    if seq < MAX_SEQ:
        return f"{ms}-{seq + 1}"
    return f"{ms + 1}-0" if ms < MAX_SEQ else MAX_ID


def predecessor(entry_id: str) -> str:
    """The largest id before ``entry_id`` (``0-0`` has none: itself): what ``XREAD`` reads after to include it."""
    ms, seq = id_key(entry_id)
    if seq > 0:
        return f"{ms}-{seq - 1}"
    return f"{ms - 1}-{MAX_SEQ}" if ms > 0 else "0-0"
