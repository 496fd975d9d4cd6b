"""One archive segment file: zstandard-compressed JSON lines (pure format, and the file's write and read).

The first line is the segment's header (``{"segment", "stream", "count", "first", "last"}``); each next line
one stream entry exactly as Redis held it: ``{"id": "<ms>-<seq>", "f": [field, value, ...]}``, or, when any
field or value is not UTF-8 (a partner may write any bytes), ``{"id": ..., "b": [base64, ...]}``. Every byte
comes back as it went in, so an audit record's leaf hash is the same from the archive as from Redis.

A segment is written to ``<name>.tmp``, fsynced, renamed into place and its folder fsynced: a file with
the final name is whole. It belongs to the archive only once the manifest names it (``manifest``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import zstandard

from bus.errors import ArchiveError

RawRecord = tuple[bytes, list[bytes]]
SUFFIX = ".jsonl.zst"
LEVEL = 3  # zstandard's default: ~5x on JSON submissions at a few hundred MB/s


def encode(entry_id: bytes, flat: Sequence[bytes]) -> bytes:
    try:
        return orjson.dumps({"id": entry_id.decode(), "f": [part.decode("utf-8") for part in flat]})
    except UnicodeDecodeError:
        return orjson.dumps({"id": entry_id.decode(), "b": [base64.b64encode(part).decode() for part in flat]})


def decode(line: bytes, where: str) -> RawRecord:
    try:
        doc = orjson.loads(line)
        entry_id = doc["id"].encode()
        if "f" in doc:
            return entry_id, [part.encode("utf-8") for part in doc["f"]]
        return entry_id, [base64.b64decode(part, validate=True) for part in doc["b"]]
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError, ValueError):
        raise ArchiveError(f"{where}: not an archived entry") from None


def write(path: Path, header: dict[str, Any], records: Sequence[RawRecord]) -> tuple[str, int]:
    """Write the segment whole (tmp, fsync, rename, fsync the folder); (sha256 of the file, its size)."""
    tmp = path.with_name(path.name + ".tmp")
    body = b"\n".join([orjson.dumps(header), *(encode(entry_id, flat) for entry_id, flat in records)]) + b"\n"
    data = zstandard.ZstdCompressor(level=LEVEL).compress(body)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        sync_dir(path.parent)
    except OSError as exc:
        raise ArchiveError(f"cannot write the archive segment {path}: {exc.strerror}") from None
    return hashlib.sha256(data).hexdigest(), len(data)


def read(path: Path, sha256: str | None = None) -> tuple[dict[str, Any], Iterator[RawRecord]]:
    """The segment's header and its entries; with ``sha256``, the file must hash to it (else ``ArchiveError``)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ArchiveError(f"cannot read the archive segment {path}: {exc.strerror}") from None
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ArchiveError(f"{path}: its SHA-256 is not the manifest's: the segment was changed or damaged")
    try:
        lines = zstandard.ZstdDecompressor().decompress(data).splitlines()
    except zstandard.ZstdError as exc:
        raise ArchiveError(f"{path}: not a zstandard segment ({exc})") from None
    if not lines:
        raise ArchiveError(f"{path}: empty segment")
    try:
        header = orjson.loads(lines[0])
    except orjson.JSONDecodeError:
        header = None
    if not isinstance(header, dict):
        raise ArchiveError(f"{path}: its first line is not a segment header")
    return header, (decode(line, f"{path}:{number}") for number, line in enumerate(lines[1:], 2) if line)


def sync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
