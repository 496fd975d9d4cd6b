"""``intelbus audit verify --file EXPORT``: an export checked with the public key alone, Redis or not.

Checked: the header comes first and names this format; the checkpoint is signed by a trusted key; each
record's inclusion proof leads from its own re-computed leaf to the checkpoint's root for its log, at its
index; indices rise within each log; an export not filtered by content (the whole log, or a time slice)
holds every index of its range, so a record removed from it is named; the end line is there and counts
the records (a cut-off file is named).
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
from bus.audit.merkle import record_leaf, verify_inclusion
from bus.audit.verify import Fault
from bus.errors import AuditError


@dataclass(slots=True)
class ExportReport:
    path: Path
    records: int = 0
    checkpoint: Checkpoint | None = None
    faults: list[Fault] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        if self.faults:
            return f"audit verify: NOT intact, {len(self.faults)} fault(s); first: {self.faults[0]}"
        cp = self.checkpoint
        signed = f"checkpoint of {cp.time}, key {cp.key_id}" if cp else "no checkpoint"
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        return f"audit verify: intact: {self.path}: {self.records:,} records proved in the {signed}; " \
               f"{rate:,.0f} records/s"


class _Reader:
    def __init__(self, keys: Mapping[str, Ed25519PublicKey], report: ExportReport) -> None:
        self.keys, self.report = keys, report
        self.header: dict[str, Any] | None = None
        self.last_index: dict[str, int] = {}
        self.proved: dict[str, dict[tuple[int, int], bytes]] = {}  # per log: tree nodes proved so far
        self.heads: dict[str, LogHead] = {}
        self.by_content = False
        self.ended = False

    def line(self, number: int, doc: Any) -> None:
        kind = doc.get("type") if type(doc) is dict else None
        if self.ended:
            raise _Stop(f"line {number}: more after the end line")
        if self.header is None:
            if kind != "export" or doc.get("format") != FORMAT:
                raise _Stop(f"line {number}: not an {FORMAT} export (no header)")
            self.header = doc
        elif kind == "checkpoint":
            self._checkpoint(number, doc)
        elif kind == "record":
            self._record(number, doc)
        elif kind == "end":
            self._end(number, doc)
        else:
            raise _Stop(f"line {number}: unknown line type {kind!r}")

    def _checkpoint(self, number: int, doc: dict[str, Any]) -> None:
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

    def _record(self, number: int, doc: dict[str, Any]) -> None:
        if self.report.checkpoint is None:
            raise _Stop(f"line {number}: a record before any checkpoint")
        log, index, entry_id = doc.get("log"), doc.get("index"), doc.get("id")
        head = self.heads.get(log)  # type: ignore[arg-type]
        if head is None or type(index) is not int or type(entry_id) is not str:
            raise _Stop(f"line {number}: a record with no log the checkpoint covers, index or id")
        last = self.last_index.get(head.name)
        if last is not None and (index <= last or (index != last + 1 and not self.by_content)):
            self._order_fault(head.name, index, last, _where(head.name, entry_id, index, number))
        self.last_index[head.name] = index
        leaf = record_leaf(entry_id.encode(), _flat(doc.get("fields"), head.name, entry_id, index, number))
        known = self.proved.setdefault(head.name, {})
        if not verify_inclusion(leaf, index, head.size, _proof(doc.get("proof"), head.name, entry_id, index, number),
                                head.root, known):
            raise _Stop(f"{_where(head.name, entry_id, index, number)} was changed, or is not in the signed log at "
                        "that place: its proof fails")
        self.report.records += 1

    @staticmethod
    def _order_fault(log: str, index: int, last: int, where: str) -> None:
        if index <= last:
            raise _Stop(f"{where} is out of order (after #{last}): records were reordered or repeated")
        raise _Stop(f"{log} records #{last + 1}..#{index - 1} are missing before {where}: deleted from the export")

    def _end(self, number: int, doc: dict[str, Any]) -> None:
        if doc.get("records") != self.report.records:
            raise _Stop(f"line {number}: the end line counts {doc.get('records')} records, the file holds "
                        f"{self.report.records}: records were deleted or inserted")
        self.ended = True


class _Stop(Exception):
    pass


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
        return base64.b64decode(value["b64"])
    raise _Stop(f"{where}: a field value that is neither text nor base64")


def _proof(proof: Any, *at: Any) -> Iterator[bytes]:
    """The proof's hashes, decoded only as far as the check reads them (it stops at a proved node)."""
    if type(proof) is not list:
        raise _Stop(f"{_where(*at)}: no inclusion proof")
    return (_hash(p, at) for p in proof)


def _hash(text: Any, at: tuple[Any, ...]) -> bytes:
    try:
        return binascii.a2b_base64(text)
    except (TypeError, binascii.Error):
        raise _Stop(f"{_where(*at)}: a proof hash that is not base64") from None


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
