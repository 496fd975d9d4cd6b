"""The console's consultation log: one JSON line per content an operator was shown, hash-chained.

The console writes nothing to the bus, so what an operator consulted is recorded outside Redis, in a file
(default ``<data_dir>/console/consultations.jsonl``), *before* the content is sent: when the record cannot
be written and synced to disk, the content is not shown. Each line is::

    {"at": "2026-12-17T10:15:02.123Z", "operator": "operator", "from": "127.0.0.1",
     "action": "show quarantined entry", "entry": "intel:quarantine 1765966500000-0",
     "decision_id": "1765966499999-0", "held": true,
     "prev": "<sha256 hex of the previous line, or 64 zeros>"}

(``held``: Redis still held the content; false when retention had trimmed it and nothing was shown.)

``prev`` chains each line to the one before it, so a line changed, removed or inserted anywhere but at
the end breaks the chain at the next line (:func:`verify`, ``intelbus console --verify-log``). An
appended line takes an exclusive ``flock`` on the file, so several consoles may share one log.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import orjson

from bus.errors import AuditError

GENESIS = "0" * 64
TAIL = 64 * 1024  # a line is well under this: the tail read finds the last one


def digest(line: bytes) -> str:
    return hashlib.sha256(line).hexdigest()


def _last_line(handle: int) -> bytes | None:
    size = os.lseek(handle, 0, os.SEEK_END)
    if size == 0:
        return None
    start = max(0, size - TAIL)
    os.lseek(handle, start, os.SEEK_SET)
    tail = os.read(handle, size - start)
    if not tail.endswith(b"\n"):  # a write cut short (a crash): appending would hide the record in it
        raise OSError(0, "it ends in a partial line (a write was cut short); repair it by hand, then restart")
    return tail[:-1].rsplit(b"\n", 1)[-1]


def append(path: Path, record: Mapping[str, object]) -> str:
    """Write one record (``prev`` added) and fsync it; returns the new line's digest. Raises
    ``AuditError`` when the file cannot be written (the caller then shows nothing)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
    except OSError as exc:
        raise AuditError(f"cannot open the console's consultation log {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        last = _last_line(handle)
        line = orjson.dumps({**record, "prev": digest(last) if last is not None else GENESIS}) + b"\n"
        size, written = os.lseek(handle, 0, os.SEEK_END), 0
        try:
            while written < len(line):
                written += os.write(handle, line[written:])
            os.fsync(handle)
        except OSError:
            os.ftruncate(handle, size)  # no partial line left behind (a full disk): the next append can work
            raise
        return digest(line.rstrip(b"\n"))
    except OSError as exc:
        raise AuditError(f"cannot write the console's consultation log {path}: {exc.strerror}") from exc
    finally:
        os.close(handle)


def verify(path: Path) -> int:
    """How many records the log holds, each chained to the one before; ``AuditError`` names the first
    line that is not JSON or whose ``prev`` is not the digest of the line before it."""
    try:
        lines = path.read_bytes().splitlines()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise AuditError(f"cannot read the console's consultation log {path}: {exc.strerror}") from exc
    expected = GENESIS
    for number, line in enumerate(lines, 1):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            raise AuditError(f"{path} line {number}: not a JSON record") from None
        if not isinstance(record, dict) or record.get("prev") != expected:
            raise AuditError(f"{path} line {number}: the chain is broken (a line before it was changed, removed "
                             "or inserted)")
        expected = digest(line)
    return len(lines)
