"""The signed checkpoint: what a log held at one moment, in a form an auditor checks with a public key.

The signed body is text, one fact per line (after C2SP's signed note and checkpoint formats)::

    intelbus audit checkpoint v1
    origin intelbus/intel
    time 2026-12-02T19:00:00.123Z
    key 3f2a9c0d1e4b5a67
    log intel:decisions 1234 <base64 RFC 6962 root> 1764698400123-0
    log intel:audit 3 <root> 1764698399001-0

One ``log`` line per log: its name, size (records covered), root, and the id of its last covered record
("-" for none). A checkpoint is stored as a JSON line ``{"body", "signature", "leaves"}``; ``leaves``
(unsigned, checked against the signed roots) lists each log's records added since the previous checkpoint
as ``{"from": index, "data": base64 of (id ms u64, id seq u64, leaf hash) per record}``, so verify can
name the exact record at fault, not only the second in which it lies.
"""

from __future__ import annotations

import base64
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bus.audit.signing import Signer, signature_ok
from bus.errors import AuditError
from bus.ids import id_key

HEADER = "intelbus audit checkpoint v1"
_LEAF = struct.Struct(">QQ32s")
Leaf = tuple[bytes, bytes]  # (entry id, leaf hash)


@dataclass(frozen=True, slots=True)
class LogHead:
    name: str
    size: int
    root: bytes
    last_id: str  # "-": no record yet


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    time: str
    key_id: str
    logs: tuple[LogHead, ...]
    signature: bytes = b""

    def body(self) -> bytes:
        lines = [HEADER, f"origin {self.origin}", f"time {self.time}", f"key {self.key_id}"]
        lines += [f"log {h.name} {h.size} {base64.b64encode(h.root).decode()} {h.last_id}" for h in self.logs]
        return ("\n".join(lines) + "\n").encode()

    def head(self, name: str) -> LogHead | None:
        return next((h for h in self.logs if h.name == name), None)

    def signed_by(self, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
        """None when the signature is good under one of ``keys``; otherwise what is wrong."""
        public = keys.get(self.key_id)
        if public is None:
            return f"signed by key {self.key_id}, which is not a trusted public key"
        if not signature_ok(public, self.signature, self.body()):
            return f"bad signature (key {self.key_id}): the checkpoint was altered or forged"
        return None


def sign(origin: str, time: str, logs: tuple[LogHead, ...], signer: Signer) -> Checkpoint:
    unsigned = Checkpoint(origin, time, signer.key_id, logs)
    return Checkpoint(origin, time, signer.key_id, logs, signer.sign(unsigned.body()))


def to_json(checkpoint: Checkpoint, leaves: Mapping[str, tuple[int, list[Leaf]]] | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"body": checkpoint.body().decode(),
                           "signature": base64.b64encode(checkpoint.signature).decode()}
    if leaves is not None:
        doc["leaves"] = {name: {"from": start, "data": base64.b64encode(pack_leaves(items)).decode()}
                         for name, (start, items) in leaves.items()}
    return doc


def from_json(doc: Any) -> Checkpoint:
    """A checkpoint from its JSON form; ``AuditError`` naming what is malformed."""
    if not isinstance(doc, dict) or not isinstance(doc.get("body"), str) or not isinstance(doc.get("signature"), str):
        raise AuditError("not a checkpoint: needs string fields 'body' and 'signature'")
    try:
        signature = base64.b64decode(doc["signature"], validate=True)
    except ValueError:
        raise AuditError("checkpoint signature is not base64") from None
    return parse_body(doc["body"], signature)


def parse_body(body: str, signature: bytes = b"") -> Checkpoint:
    lines = body.split("\n")
    if len(lines) < 5 or lines[0] != HEADER or lines[-1] != "":
        raise AuditError(f"not an {HEADER!r} body")
    fields = {}
    for line, name in zip(lines[1:4], ("origin", "time", "key"), strict=True):
        label, _, value = line.partition(" ")
        if label != name or not value:
            raise AuditError(f"checkpoint line {line!r}: expected '{name} <value>'")
        fields[name] = value
    logs = tuple(_log_line(line) for line in lines[4:-1])
    return Checkpoint(fields["origin"], fields["time"], fields["key"], logs, signature)


def _log_line(line: str) -> LogHead:
    parts = line.split(" ")
    if len(parts) != 5 or parts[0] != "log" or not parts[2].isdigit():
        raise AuditError(f"checkpoint line {line!r}: expected 'log <name> <size> <root> <last id>'")
    try:
        root = base64.b64decode(parts[3], validate=True)
    except ValueError:
        root = b""
    if len(root) != 32:
        raise AuditError(f"checkpoint line {line!r}: the root is not a base64 SHA-256 hash")
    return LogHead(parts[1], int(parts[2]), root, parts[4])


def leaves_from_json(doc: Any) -> dict[str, tuple[int, list[Leaf]]]:
    """A checkpoint line's leaf lists (empty when it has none or they are malformed: they are only hints,
    checked against the signed roots before anything relies on them)."""
    out: dict[str, tuple[int, list[Leaf]]] = {}
    leaves = doc.get("leaves") if isinstance(doc, dict) else None
    if not isinstance(leaves, dict):
        return out
    for name, item in leaves.items():
        try:
            out[name] = int(item["from"]), unpack_leaves(base64.b64decode(item["data"], validate=True))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def pack_leaves(items: list[Leaf]) -> bytes:
    out = bytearray()
    for entry_id, digest in items:
        out += _LEAF.pack(*id_key(entry_id), digest)
    return bytes(out)


def unpack_leaves(data: bytes) -> list[Leaf]:
    if len(data) % _LEAF.size:
        raise ValueError("leaf list length is not a whole number of records")
    return [(f"{ms}-{seq}".encode(), digest) for ms, seq, digest in _LEAF.iter_unpack(data)]


def dumps(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc)
