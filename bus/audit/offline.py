"""``intelbus audit verify --file EXPORT``: an export checked with the public key alone, Redis or not.

Checked: the header comes first and names this format; the checkpoint is signed by a trusted key; each
range's records re-hash, with the range's proof, to the checkpoint's root for its log (one leaf hash per
record, about one inner hash, and a few dozen per range for its edges); a range's records are all there,
in order, and nothing stands outside a range; ranges rise within each log, and in an export not filtered
by content (the whole log, or a time slice) each starts where the last ended, so a record removed from it
is named; the end line is there and counts the records (a cut-off file is named).

When a range does not re-hash to the root, its records' own leaf hashes say which: if they hash to the root
the record whose content no longer gives its leaf is named as changed; if not, the range is named.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bus.audit.checkpoint import Checkpoint, LogHead, from_json
from bus.audit.export import FORMAT
from bus.audit.merkle import range_root, record_leaf
from bus.audit.verify import Fault
from bus.errors import AuditError

MAX_RANGE = 65_536  # a verifier holds one range's leaves: a bigger one is refused, not read into memory


@dataclass(slots=True)
class ExportReport:
    path: Path
    records: int = 0
    checkpoint: Checkpoint | None = None
    faults: list[Fault] = field(default_factory=list)
    seconds: float = 0.0
    complete: bool = False  # every record of every log the checkpoint covers is in the file
    filters: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.faults:
            return f"audit verify: NOT intact, {len(self.faults)} fault(s); first: {self.faults[0]}"
        cp = self.checkpoint
        signed = f"checkpoint of {cp.origin} at {cp.time}, key {cp.key_id}" if cp else "no checkpoint"  # which bus
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        whole = "complete: every record of every log it covers" if self.complete else \
            f"a slice ({orjson.dumps(self.filters).decode()}, as its unsigned header says): each record in it is " \
            "proved, not that none is missing"
        return f"audit verify: intact: {self.path}: {self.records:,} records proved in the {signed}; {whole}; " \
               f"{rate:,.0f} records/s"


@dataclass(slots=True)
class _Run:
    """One range line and the records read under it so far."""

    head: LogHead
    start: int
    end: int
    proof: list[bytes]
    line: int
    next: int = 0
    leaves: list[bytes] = field(default_factory=list)
    seen: list[tuple[str, int, Any]] = field(default_factory=list)  # (id, line, its leaf as the file gives it)


class _Reader:
    def __init__(self, keys: Mapping[str, Ed25519PublicKey], report: ExportReport) -> None:
        self.keys, self.report = keys, report
        self.header: dict[str, Any] | None = None
        self.heads: dict[str, LogHead] = {}
        self.ended_at: dict[str, int] = {}  # per log: where its last range ended
        self.began_at: dict[str, int] = {}  # per log: where its first range began
        self.run: _Run | None = None
        self.by_content = False
        self.ended = False

    def line(self, number: int, doc: Any) -> None:
        kind = doc.get("type") if type(doc) is dict else None
        if kind == "record":
            self._record(number, doc)
        elif self.ended:
            raise _Stop(f"line {number}: more after the end line")
        elif self.header is None:
            if kind != "export" or doc.get("format") != FORMAT:
                found = doc.get("format") if type(doc) is dict and kind == "export" else None
                raise _Stop(f"line {number}: not an {FORMAT} export" + (f" (it says {found})" if found else
                                                                          " (no header)"))
            self.header = doc
        elif kind == "range":
            self._unfinished(number)
            self._range(number, doc)
        elif kind == "checkpoint":
            self._checkpoint(number, doc)
        elif kind == "end":
            self._unfinished(number)
            self._end(number, doc)
        else:
            raise _Stop(f"line {number}: unknown line type {kind!r}")

    def _checkpoint(self, number: int, doc: dict[str, Any]) -> None:
        if self.report.checkpoint is not None:
            raise _Stop(f"line {number}: a second checkpoint")
        try:
            checkpoint = from_json(doc.get("checkpoint"))
        except AuditError as exc:
            raise _Stop(f"line {number}: {exc}") from None
        problem = checkpoint.signed_by(self.keys)
        if problem is not None:
            raise _Stop(f"line {number}: the checkpoint of {checkpoint.time}: {problem}")
        self.report.checkpoint = checkpoint
        self.heads = {head.name: head for head in checkpoint.logs}
        self.by_content = bool((self.header or {}).get("by_content"))

    def _range(self, number: int, doc: dict[str, Any]) -> None:
        if self.report.checkpoint is None:
            raise _Stop(f"line {number}: a range before any checkpoint")
        head, start, end = self.heads.get(doc.get("log")), doc.get("start"), doc.get("end")  # type: ignore[arg-type]
        if head is None or type(start) is not int or type(end) is not int or not 0 <= start < end <= head.size:
            raise _Stop(f"line {number}: a range with no log the checkpoint covers, or not within it")
        if end - start > MAX_RANGE:
            raise _Stop(f"line {number}: a range of {end - start:,} records (at most {MAX_RANGE:,} are read at once)")
        last = self.ended_at.get(head.name)
        if last is not None and start < last:
            raise _Stop(f"line {number}: {head.name} range #{start}..#{end - 1} overlaps the one before it "
                        f"(up to #{last - 1}): records were reordered or repeated")
        if last is not None and start > last and not self.by_content:
            raise _Stop(f"{head.name} records #{last}..#{start - 1} are missing before line {number}: deleted "
                        "from the export")
        self.ended_at[head.name] = end
        self.began_at.setdefault(head.name, start)
        self.run = _Run(head, start, end, _hashes(doc.get("proof"), number), number, start)

    def _record(self, number: int, doc: dict[str, Any]) -> None:
        run, index, entry_id = self.run, doc.get("index"), doc.get("id")
        if run is None:
            raise _Stop(f"line {number}: a record outside any range line: inserted, or its range line deleted")
        if type(index) is not int or type(entry_id) is not str or doc.get("log") != run.head.name:
            raise _Stop(f"line {number}: a record with no index or id, or of another log than its range's")
        if index != run.next:
            _order_fault(run, index, _where(run.head.name, entry_id, index, number))
        run.leaves.append(record_leaf(entry_id.encode(),
                                      _flat(doc.get("fields"), run.head.name, entry_id, index, number)))
        run.seen.append((entry_id, number, doc.get("leaf")))
        run.next = index + 1
        if run.next == run.end:
            self._close(run)

    def _close(self, run: _Run) -> None:
        self.run = None
        head = run.head
        if range_root(run.start, run.leaves, head.size, run.proof) == head.root:
            self.report.records += len(run.leaves)
            return
        listed = [_hash(leaf) for _, _, leaf in run.seen]
        if all(listed) and range_root(run.start, listed, head.size, run.proof) == head.root:  # type: ignore[arg-type]
            at = next(i for i, leaf in enumerate(run.leaves) if leaf != listed[i])
            entry_id, number, _ = run.seen[at]
            raise _Stop(f"{_where(head.name, entry_id, run.start + at, number)} was changed: it does not hash to "
                        "its leaf in the signed log")
        first, last = run.seen[0], run.seen[-1]
        raise _Stop(f"{head.name} records #{run.start}..#{run.end - 1} (ids {first[0]}..{last[0]}, lines "
                    f"{first[1]}..{last[1]}) do not hash to the signed root: a record was changed, or the range "
                    f"line {run.line} or the records' leaf hashes were edited")

    def _unfinished(self, number: int) -> None:
        run = self.run
        if run is not None:
            raise _Stop(f"{run.head.name} records #{run.next}..#{run.end - 1} are missing before line {number}: "
                        "deleted from the export")

    def _end(self, number: int, doc: dict[str, Any]) -> None:
        if doc.get("records") != self.report.records:
            raise _Stop(f"line {number}: the end line counts {doc.get('records')} records, the file holds "
                        f"{self.report.records}: records were deleted or inserted")
        self.ended = True
        filters = (self.header or {}).get("filters")
        self.report.filters = filters if isinstance(filters, dict) else {"filters": filters}
        gaps = [gap for gap in map(self._gap, self.heads.values()) if gap]
        self.report.complete = not gaps
        if gaps and not self.report.filters and not self.by_content:  # it says it is the whole log: it must be
            raise _Stop(f"{gaps[0]} are missing: deleted from the export (an export with no filter holds every "
                        "record up to its checkpoint)")

    def _gap(self, head: LogHead) -> str:
        """The records of ``head``'s log up to the checkpoint that the file does not cover ("" when none)."""
        began, ended = self.began_at.get(head.name), self.ended_at.get(head.name, 0)
        if head.size == 0 or (began == 0 and ended == head.size):
            return ""
        if began is None:
            return f"{head.name} records #0..#{head.size - 1} (all of them)"
        first, last = (0, began - 1) if began > 0 else (ended, head.size - 1)
        return f"{head.name} records #{first}..#{last}"


class _Stop(Exception):
    pass


def _order_fault(run: _Run, index: int, where: str) -> None:
    if index < run.next:
        raise _Stop(f"{where} is out of order (after #{run.next - 1}): records were reordered or repeated")
    if index >= run.end:
        raise _Stop(f"{where} is outside its range (#{run.start}..#{run.end - 1}, line {run.line}): inserted")
    raise _Stop(f"{run.head.name} records #{run.next}..#{index - 1} are missing before {where}: deleted from "
                "the export")


def _where(log: str, entry_id: str, index: int, number: int) -> str:
    return f"{log} record {entry_id} (#{index}, line {number})"


def _flat(fields: Any, *at: Any) -> list[bytes]:
    if type(fields) is list and len(fields) == 1:  # every audit record: one text field, the fast path
        pair = fields[0]
        if type(pair) is list and len(pair) == 2 and type(pair[0]) is str and type(pair[1]) is str:
            return [pair[0].encode(), pair[1].encode()]
    where = _where(*at)
    if not isinstance(fields, list):
        raise _Stop(f"{where}: no fields")
    flat = []
    for pair in fields:
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Stop(f"{where}: a field that is not a [name, value] pair")
        flat += [_bytes(part, where) for part in pair]
    return flat


def _bytes(value: Any, where: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and isinstance(value.get("b64"), str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except ValueError:  # binascii.Error is one
            pass
    raise _Stop(f"{where}: a field value that is neither text nor base64")


def _hashes(proof: Any, number: int) -> list[bytes]:
    digests = [_hash(p) for p in proof] if type(proof) is list else [None]
    if not all(digests):
        raise _Stop(f"line {number}: a range proof that is not a list of base64 SHA-256 hashes")
    return digests  # type: ignore[return-value]


def _hash(text: Any) -> bytes | None:
    try:
        digest = binascii.a2b_base64(text, strict_mode=True)
    except (TypeError, ValueError):  # binascii.Error is a ValueError; so is a non-ASCII string
        return None
    return digest if len(digest) == 32 else None


def _lines(path: Path) -> Iterator[tuple[int, Any]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            if len(line) <= 2 and not line.strip():  # a blank line (a record line is never this short)
                continue
            try:
                yield number, orjson.loads(line)
            except orjson.JSONDecodeError:
                raise _Stop(f"line {number}: not JSON (the file was edited or cut)") from None


def verify_export(path: Path, keys: Mapping[str, Ed25519PublicKey]) -> ExportReport:
    report = ExportReport(path)
    started = time.perf_counter()
    reader = _Reader(keys, report)
    try:
        for number, doc in _lines(path):
            reader.line(number, doc)
        if not reader.ended:
            raise _Stop("no end line: the export was cut short (truncated)")
    except _Stop as stop:
        report.faults.append(Fault(str(path), str(stop)))
    report.seconds = time.perf_counter() - started
    return report
