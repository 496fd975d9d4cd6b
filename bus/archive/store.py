"""The retention archive: append-only segment files and their manifest in ``<data folder>/archive``.

``manifest.jsonl`` has one line per segment, in the order they were written: which stream, its first and
last id, how many entries, how many of that stream were archived before it (``start``: an audit record's
place in its Merkle tree), the file's SHA-256 and size, when and by whom. A segment is in the archive once
its manifest line is; the line is written (fsynced) only after the segment file is whole. So a writer
killed at any point leaves either a segment file no line names (removed, and written again, by the next
writer) or a torn last line (cut off by the next writer): never an entry archived twice or half.

A stream's archive is contiguous: each segment starts where the last ended (checked on every load). One
writer at a time (retention's lease, ``intel:retainer``); readers need no lock.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import orjson

from bus.archive import segment
from bus.archive.segment import SUFFIX, RawRecord
from bus.errors import ArchiveError
from bus.ids import id_key

log = logging.getLogger("intelbus.archive")
MAX_RECORDS = 50_000  # entries per segment
MAX_BYTES = 64_000_000  # about this much (uncompressed) per segment


@dataclass(frozen=True, slots=True)
class Segment:
    name: str  # file name in segments/
    stream: str
    first: str
    last: str
    count: int
    start: int  # entries of the stream archived before this segment
    sha256: str
    size: int  # bytes of the file
    at: str
    by: str

    @property
    def end(self) -> int:
        return self.start + self.count

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Archive:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = folder / "segments"
        self.manifest = folder / "manifest.jsonl"
        self._loaded: tuple[int, int] | None = None  # (size, mtime) of the manifest last parsed
        self._parsed = 0  # bytes of the manifest parsed (whole lines)
        self._tail = b""  # the last line parsed, which must still end there for the next look to go on from it
        self._segments: list[Segment] = []
        self._by_stream: dict[str, list[Segment]] = {}
        self._cached: tuple[str, dict[bytes, list[bytes]]] | None = None  # one decoded segment, for lookups

    # ---- reading ---------------------------------------------------------------------------------------

    def segments(self, stream: str | None = None) -> list[Segment]:
        self._load()
        return list(self._segments) if stream is None else list(self._by_stream.get(stream, ()))

    def position(self, stream: str) -> tuple[int, str | None]:
        """(entries of ``stream`` archived, the last one's id; None when none is)."""
        mine = self.segments(stream)
        return (mine[-1].end, mine[-1].last) if mine else (0, None)

    def records(self, stream: str, start: str = "-", end: str = "+", verify: bool = False) -> Iterator[RawRecord]:
        """The archived entries of ``stream`` between two XRANGE-style bounds, oldest first; ``verify``:
        each segment file must hash to its manifest line."""
        low, high = lower_key(start), upper_key(end)
        for seg in self.segments(stream):
            if id_key(seg.last) < low or id_key(seg.first) > high:
                continue
            for entry_id, flat in self._entries(seg, verify):
                key = id_key(entry_id)
                if low <= key <= high:
                    yield entry_id, flat

    def lookup(self, stream: str, entry_id: str) -> list[bytes] | None:
        """One archived entry's fields (None if the archive does not hold it)."""
        key = id_key(entry_id)
        for seg in self.segments(stream):
            if id_key(seg.first) <= key <= id_key(seg.last):
                if self._cached is None or self._cached[0] != seg.name:
                    self._cached = seg.name, dict(self._entries(seg, verify=False))
                return self._cached[1].get(entry_id.encode())
        return None

    def _entries(self, seg: Segment, verify: bool) -> Iterator[RawRecord]:
        header, entries = segment.read(self.files / seg.name, seg.sha256 if verify else None)
        if header.get("stream") != seg.stream or header.get("count") != seg.count:
            raise ArchiveError(f"{self.files / seg.name}: its header is not the manifest's ({seg.stream}, "
                               f"{seg.count} entries)")
        return entries

    def _load(self) -> None:
        """Parse what the manifest gained since the last look: lines added at its end. All of it on the first
        look, or when it changed otherwise (cut, or rewritten: its last parsed line is no longer where it
        was). A line that cannot be taken in leaves nothing half taken: the next look starts from the top."""
        try:
            stat = self.manifest.stat()
        except FileNotFoundError:
            self._forget()
            return
        except OSError as exc:
            raise ArchiveError(f"cannot read the archive manifest {self.manifest}: {exc.strerror}") from None
        if self._loaded == (stat.st_size, stat.st_mtime_ns):
            return
        tail = self._tail
        try:
            with self.manifest.open("rb") as handle:
                handle.seek(self._parsed - len(tail))
                data = handle.read()
        except OSError as exc:
            raise ArchiveError(f"cannot read the archive manifest {self.manifest}: {exc.strerror}") from None
        if self._loaded is None or not data.startswith(tail) or stat.st_size <= self._parsed:
            self._forget()
            data = self.manifest.read_bytes()
        else:
            data = data[len(tail):]
        complete = data[:data.rfind(b"\n") + 1]  # a torn last line (a writer killed mid-line) is not yet in
        lines = complete.splitlines(keepends=True)
        try:
            self._take([_segment(line, f"{self.manifest}:{len(self._segments) + n}")
                        for n, line in enumerate(lines, 1)])
        except ArchiveError:
            self._forget()
            raise
        self._parsed += len(complete)
        self._tail = lines[-1] if lines else self._tail
        self._loaded = (stat.st_size, stat.st_mtime_ns)

    def _forget(self) -> None:
        self._segments, self._by_stream, self._loaded, self._parsed, self._tail = [], {}, None, 0, b""

    def _take(self, new: list[Segment]) -> None:
        """Add ``new`` (the manifest's next lines), each following the last of its stream, or none of them."""
        ends = {name: mine[-1] for name, mine in self._by_stream.items() if mine}
        for number, seg in enumerate(new, len(self._segments) + 1):
            before = ends.get(seg.stream)
            follows = (before.end if before else 0) == seg.start and (
                before is None or id_key(seg.first) > id_key(before.last))
            if not follows:
                raise ArchiveError(f"{self.manifest}:{number}: segment {seg.name} does not follow the last of "
                                   f"{seg.stream} (a manifest line was removed, repeated or edited)")
            ends[seg.stream] = seg
        for seg in new:
            self._by_stream.setdefault(seg.stream, []).append(seg)
            self._segments.append(seg)

    # ---- writing (one writer: retention's lease) --------------------------------------------------------

    def prepare(self) -> list[str]:
        """Make the archive writable after any crash: cut a torn manifest line, remove segment files no line
        names (each is written again). Returns what was cleaned up, in words."""
        cleaned = []
        try:
            self.files.mkdir(parents=True, exist_ok=True)
            if self.manifest.exists():
                data = self.manifest.read_bytes()
                whole = data.rfind(b"\n") + 1
                if whole < len(data):
                    with self.manifest.open("r+b") as handle:
                        handle.truncate(whole)
                        os.fsync(handle.fileno())
                    cleaned.append(f"cut a torn last line ({len(data) - whole} bytes) from {self.manifest}")
            named = {s.name for s in self.segments()}
            for path in sorted(self.files.iterdir()):
                if path.name not in named:
                    path.unlink()
                    cleaned.append(f"removed {path.name}, which no manifest line names (a write cut short)")
        except OSError as exc:
            raise ArchiveError(f"cannot prepare the archive {self.folder}: {exc.strerror}") from None
        for line in cleaned:
            log.warning("archive: %s", line)
        return cleaned

    def append(self, stream: str, records: Sequence[RawRecord], at: str, by: str) -> Segment:
        """Write ``records`` (the next entries of ``stream``, in order) as one segment, then its manifest line."""
        if not records:
            raise ValueError("an empty segment")
        start, last = self.position(stream)
        first = records[0][0].decode()
        if last is not None and id_key(first) <= id_key(last):
            raise ArchiveError(f"{stream}: {first} is already archived (the archive ends at {last})")
        name = f"{len(self._segments) + 1:08d}{SUFFIX}"  # position() loaded the manifest just now
        final = records[-1][0].decode()
        header = {"segment": name, "stream": stream, "count": len(records), "first": first, "last": final}
        sha256, size = segment.write(self.files / name, header, records)
        seg = Segment(name, stream, first, final, len(records), start, sha256, size, at, by)
        try:
            fd = os.open(self.manifest, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line := orjson.dumps(seg.as_json()) + b"\n")
                os.fsync(fd)
                stat = os.fstat(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise ArchiveError(f"cannot write the archive manifest {self.manifest}: {exc.strerror}") from None
        if self._loaded is not None and self._parsed + len(line) == stat.st_size:  # nothing else wrote meanwhile
            self._take([seg])
            self._parsed, self._tail, self._loaded = stat.st_size, line, (stat.st_size, stat.st_mtime_ns)
        return seg


def _segment(line: bytes, where: str) -> Segment:
    try:
        seg = Segment(**orjson.loads(line))
        typed = all(isinstance(getattr(seg, name), str) for name in ("name", "stream", "first", "last", "sha256"))
        ok = (typed and all(isinstance(n, int) and n >= 0 for n in (seg.count, seg.start, seg.size)) and seg.count > 0
              and id_key(seg.first) <= id_key(seg.last) and seg.name.endswith(SUFFIX) and "/" not in seg.name)
    except (orjson.JSONDecodeError, TypeError, ValueError, AttributeError):
        ok = False
    if not ok:
        raise ArchiveError(f"{where}: not a manifest line")
    return seg


def lower_key(start: str) -> tuple[int, int]:
    """The smallest id an XRANGE start bound (``-``, ``<id>``, ``(<id>``) lets in."""
    if start == "-":
        return (0, 0)
    if start.startswith("("):
        ms, seq = id_key(start[1:])
        return (ms, seq + 1)
    return id_key(start)


def upper_key(end: str) -> tuple[int, int]:
    """The largest id an XRANGE end bound (``+``, ``<ms>``, ``<id>``, ``(<id>``) lets in."""
    top = 18446744073709551615
    if end == "+":
        return (top, top)
    if end.startswith("("):
        ms, seq = id_key(end[1:])
        return (ms, seq - 1) if seq else (ms - 1, top)
    return id_key(end) if "-" in end else (int(end), top)
