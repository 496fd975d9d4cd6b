"""``intelbus audit verify`` over the live logs: every signed checkpoint checked, every record re-hashed in
log order, and the first record at fault in each log named with what is wrong.

What is checked, in this order:

1. every checkpoint found (the Redis stream and the file outside Redis) is well formed, for this bus's
   origin, and signed by a trusted public key; two checkpoints of one log at one size agree;
2. each log, re-hashed record by record, gives every checkpoint's signed root at that checkpoint's size;
3. where a checkpoint's leaf list is at hand (checked against its signed root by step 2), each record is
   compared with the one checkpointed at its place, which names it: changed, deleted, inserted,
   reordered; a log shorter than its newest checkpoint was truncated.

Without leaf lists, a fault is placed between two checkpoints (at most a second of records).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bus.archive.reader import fetch, pages
from bus.archive.store import Archive
from bus.audit.checkpoint import Checkpoint, Leaf, from_json, leaves_from_json
from bus.audit.log import RawRecord, document
from bus.audit.merkle import Frontier, record_leaf
from bus.errors import ArchiveError, AuditError
from bus.ids import id_key
from bus.transport import translate_errors

Found = tuple[str, Any]
PAGE = 1000
REORDER_WINDOW = 10_000  # how far either side a changed record's content is looked for, to say "reordered"


@dataclass(frozen=True, slots=True)
class Fault:
    log: str
    what: str

    def __str__(self) -> str:
        return f"{self.log}: {self.what}"


@dataclass(frozen=True, slots=True)
class Head:
    size: int
    root: bytes
    last_id: str
    where: str
    time: str


@dataclass(slots=True)
class Trusted:
    """What the checkpoints say, once their signatures are checked: heads and leaf lists per log."""

    heads: dict[str, dict[int, Head]] = field(default_factory=dict)
    leaves: dict[str, dict[int, Leaf]] = field(default_factory=dict)
    bodies: set[bytes] = field(default_factory=set)  # each checkpoint once, however many copies were found
    newest: Checkpoint | None = None
    key_ids: set[str] = field(default_factory=set)
    faults: list[Fault] = field(default_factory=list)

    def add(self, where: str, doc: Any, keys: Mapping[str, Ed25519PublicKey], origin: str) -> None:
        try:
            checkpoint = from_json(doc)
        except AuditError as exc:
            self.faults.append(Fault("checkpoints", f"{where} is not a checkpoint: {exc}"))
            return
        problem = checkpoint.signed_by(keys)
        if problem is None and checkpoint.origin != origin:
            problem = f"made for {checkpoint.origin!r}, not this bus ({origin!r})"
        if problem is not None:
            self.faults.append(Fault("checkpoints", f"{where} ({checkpoint.time}): {problem}"))
            return
        self.bodies.add(checkpoint.body())
        if self.newest is None or (checkpoint.time, _total(checkpoint)) > (self.newest.time, _total(self.newest)):
            self.newest = checkpoint
        self.key_ids.add(checkpoint.key_id)
        self._heads(where, checkpoint)
        for name, (start, items) in leaves_from_json(doc).items():
            known = self.leaves.setdefault(name, {})
            for offset, leaf in enumerate(items):
                known.setdefault(start + offset, leaf)

    def _heads(self, where: str, checkpoint: Checkpoint) -> None:
        for head in checkpoint.logs:
            heads = self.heads.setdefault(head.name, {})
            seen = heads.get(head.size)
            if seen is not None and seen.root != head.root:
                self.faults.append(Fault(head.name, f"two signed checkpoints disagree at size {head.size}: "
                                                    f"{seen.where} and {where} (a fork: the key was misused)"))
            if head.size:
                heads.setdefault(head.size, Head(head.size, head.root, head.last_id, where, checkpoint.time))


    @property
    def checkpoints(self) -> int:
        return len(self.bodies)


def _total(checkpoint: Checkpoint) -> int:
    return sum(head.size for head in checkpoint.logs)


@dataclass(slots=True)
class LogResult:
    name: str
    records: int = 0
    covered: int = 0  # records under the newest checkpoint
    fault: Fault | None = None


def trust(found: Iterable[Found], keys: Mapping[str, Ed25519PublicKey], origin: str) -> Trusted:
    trusted = Trusted()
    for where, doc in found:
        trusted.add(where, doc, keys, origin)
    return trusted


class LogWalk:
    """One log re-hashed in order against what the checkpoints say of it."""

    def __init__(self, name: str, trusted: Trusted, leaves: list[bytes] | None = None) -> None:
        self.result = LogResult(name)
        self.leaves = leaves  # given: every leaf is kept (for range proofs)
        self.heads = sorted(trusted.heads.get(name, {}).values(), key=lambda h: h.size)
        self.expected = trusted.leaves.get(name, {})
        self.frontier = Frontier()
        self.next_head = 0
        self.last_ok = b"-"  # the id of the last record that checked out

    @property
    def done(self) -> bool:
        return self.result.fault is not None

    def feed(self, page: list[RawRecord]) -> None:
        expected, add, index = self.expected, self.frontier.add, self.frontier.size
        keep = self.leaves.append if self.leaves is not None else None
        check_at = self.heads[self.next_head].size if self.next_head < len(self.heads) else -1
        for entry_id, flat in page:
            leaf = record_leaf(entry_id, flat)
            known = expected.get(index)
            if known is not None and (known[1] != leaf or known[0] != entry_id):
                self._fault(self._name_record(index, entry_id, flat, known))
                return
            add(leaf)
            if keep is not None:
                keep(leaf)
            index += 1
            if index == check_at:
                self._check_head(entry_id)
                if self.done:
                    return
                check_at = self.heads[self.next_head].size if self.next_head < len(self.heads) else -1
            self.last_ok = entry_id

    def finish(self) -> LogResult:
        size = self.frontier.size
        if not self.done:
            self.result.records = size
            if self.heads and self.heads[-1].size > size:
                self._truncated(self.heads[-1])
            elif not self.heads and size:
                self._fault(f"no trusted checkpoint covers its {size} records")
        self.result.covered = max((h.size for h in self.heads if h.size <= size), default=0)
        return self.result

    def _check_head(self, entry_id: bytes) -> None:
        head = self.heads[self.next_head]
        self.next_head += 1
        if self.frontier.root() == head.root:
            return
        low = self.heads[self.next_head - 2].size if self.next_head >= 2 else 0
        self._fault(f"records #{low}..#{head.size - 1} (after {self.last_ok.decode()}, up to {entry_id.decode()}) do "
                    f"not match the checkpoint of {head.time} ({head.where}): one of them was changed, deleted, "
                    "inserted or moved, or the checkpoint's leaf list was")

    def _truncated(self, head: Head) -> None:
        size = self.frontier.size
        first = self.expected.get(size)
        missing = f"from {first[0].decode()}" if first else f"after {self.last_ok.decode()}"
        self._fault(f"truncated: the checkpoint of {head.time} covers {head.size} records, the stream holds "
                    f"{size}; records #{size}..#{head.size - 1} ({missing}) are gone")

    def _name_record(self, index: int, entry_id: bytes, flat: list[bytes], known: Leaf) -> str:
        live, want = entry_id.decode(), known[0].decode()
        if known[0] == entry_id:
            moved = self._moved_from(flat, index)
            if moved is not None:
                return (f"record {live} (#{index}) was reordered: it holds what was checkpointed as "
                        f"{self.expected[moved][0].decode()} (#{moved})")
            return f"record {live} (#{index}) was changed since it was checkpointed"
        if id_key(known[0]) < id_key(entry_id):
            return f"record {want} (#{index}) was deleted (the stream goes on with {live})"
        return f"record {live} (#{index}) was inserted: no checkpoint has it (the checkpoint has {want} there)"

    def _moved_from(self, flat: list[bytes], index: int) -> int | None:
        """The nearby checkpointed place whose record has this content (a swap), if any."""
        for j in range(max(0, index - REORDER_WINDOW), index + REORDER_WINDOW):
            known = self.expected.get(j)
            if j != index and known is not None and record_leaf(known[0], flat) == known[1]:
                return j
        return None

    def archive_fault(self, what: str) -> None:
        self._fault(f"archive: {what}")

    def _fault(self, what: str) -> None:
        self.result.records = self.frontier.size
        self.result.fault = Fault(self.result.name, what)


@dataclass(slots=True)
class Report:
    logs: list[LogResult]
    trusted: Trusted
    seconds: float

    @property
    def faults(self) -> list[Fault]:
        return [*self.trusted.faults, *(r.fault for r in self.logs if r.fault is not None)]

    @property
    def records(self) -> int:
        return sum(r.records for r in self.logs)

    def summary(self) -> str:
        if self.faults:
            return f"audit verify: NOT intact, {len(self.faults)} fault(s); first: {self.faults[0]}"
        covered = sum(r.covered for r in self.logs)
        rate = self.records / self.seconds if self.seconds > 0 else 0.0
        keys = ", ".join(sorted(self.trusted.key_ids)) or "none"
        return (f"audit verify: intact: {self.records:,} records in {len(self.logs)} logs, {covered:,} under "
                f"{self.trusted.checkpoints:,} signed checkpoints (keys {keys}), {self.records - covered:,} newer "
                f"than the last; {rate:,.0f} records/s")


async def verify_live(client: aioredis.Redis, logs: Iterable[str], trusted: Trusted,
                      progress: Any = None, archive: Archive | None = None) -> Report:
    """Re-hash each log (a ``raw_reader`` client; its archived records first) against ``trusted``;
    ``progress(n)`` after each page."""
    started = time.perf_counter()
    names = list(dict.fromkeys([*logs, *trusted.heads]))
    results = []
    for name in names:
        walk = LogWalk(name, trusted)
        try:
            async for page in _pages(client, name, archive):
                walk.feed(page)
                if progress is not None:
                    progress(len(page))
                if walk.done:
                    break
        except ArchiveError as exc:  # a segment changed, damaged or missing: a fault of this log, named
            walk.archive_fault(str(exc))
        results.append(walk.finish())
    return Report(results, trusted, time.perf_counter() - started)


async def _pages(client: aioredis.Redis, name: str, archive: Archive | None) -> AsyncIterator[list[RawRecord]]:
    """Pages of ``name`` (archive, then live) with the next one already asked for while this one is hashed
    (Redis works on the other core meanwhile); each archive segment must hash to its manifest line."""
    found = aiter(pages(client, archive, name, page=PAGE, verify=True))
    ahead = asyncio.ensure_future(anext(found, None))
    while (page := await ahead) is not None:
        ahead = asyncio.ensure_future(anext(found, None))
        await asyncio.sleep(0)  # let it send the XRANGE before this page is hashed
        yield page


async def verdict_for(client: aioredis.Redis, log: str, entry_id: str, trusted: Trusted,
                      archive: Archive | None = None) -> tuple[dict[str, Any], str]:
    """One record of ``log`` (a ``raw_reader`` client; archived or live): its JSON document and, in words,
    whether it verifies: the log is re-hashed up to the first signed checkpoint that covers it."""
    async with translate_errors(f"reading {log}"):
        found = await fetch(client, archive, log, [entry_id])
    if entry_id not in found:
        raise AuditError(f"no record {entry_id} in {log}")
    record = document(found[entry_id])
    walk = LogWalk(log, trusted)
    index: int | None = None
    async for page in _pages(client, log, archive):
        if index is None:
            at = [i for i, (rid, _) in enumerate(page) if rid.decode() == entry_id]
            index = walk.frontier.size + at[0] if at else None
        walk.feed(page)
        if walk.done or (index is not None and walk.next_head and walk.heads[walk.next_head - 1].size > index):
            break
    return record, _verdict(walk, index)


def _verdict(walk: LogWalk, index: int | None) -> str:
    fault = walk.result.fault
    if fault is not None:
        return f"does NOT verify: {fault.what}"
    if index is None:
        return "does NOT verify: it vanished while the log was read"
    covering = next((h for h in walk.heads if h.size > index), None)
    if covering is None:
        return (f"#{index} in its log, newer than the last signed checkpoint: not covered yet (the router signs "
                "one within a second while traffic flows)")
    return f"verifies: #{index} in its log, under the signed checkpoint of {covering.time} ({covering.where})"

