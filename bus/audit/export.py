"""``intelbus audit export``: the audit logs (or a slice of them) as a file an auditor verifies away from
Redis with the public key alone.

A JSON-lines export holds, in order: a header (format, origin, filters, logs), the newest signed checkpoint
(body and signature), then per log its chosen records in runs of neighbours (at most ``RANGE_RECORDS``
each): a range line (log, first and past-the-last index, and the range proof: the hashes of the subtrees
beside the run, ``merkle.Tree.range_proof``) followed by one line per record (log, index in its log, id,
every field and value exactly, and its leaf hash, which names a changed record when a range fails), and
an end line. Only records
under that checkpoint are exported; newer ones wait for the next (it is at most a second old while traffic
flows). The live logs are verified as they are read: a log that does not verify is not exported.

Filters select decision records by partner, team (delivered to or withheld from), status, rule (that
selected or withheld a team) and submission; consultation records go with the decisions they name (and
``--team`` keeps only that team's); audit events go with exports that filter by time (or by partner, for
events that name one). CSV is the same records for people with spreadsheets: it carries no proofs.
"""

from __future__ import annotations

import base64
import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import orjson
import redis.asyncio as aioredis

from bus.archive.reader import pages
from bus.archive.store import Archive
from bus.audit.checkpoint import Checkpoint, to_json
from bus.audit.log import RawRecord, document, utc_text
from bus.audit.merkle import Tree, record_leaf
from bus.audit.verify import LogWalk, Trusted
from bus.errors import AuditError
from bus.ids import id_key, id_ms
from bus.keys import Keys

FORMAT = "intelbus-audit-export/2"
RANGE_RECORDS = 1024  # records under one range proof: a verifier holds this many leaves at a time
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class Filters:
    since: str = "-"
    until: str = "+"
    partner: str | None = None
    team: str | None = None
    status: str | None = None
    rule: str | None = None
    submission: str | None = None

    @property
    def by_content(self) -> bool:
        return any(v is not None for v in (self.partner, self.team, self.status, self.rule, self.submission))

    def decision(self, record: dict[str, Any]) -> bool:
        checks = (
            self.partner is None or record.get("partner") == self.partner,
            self.status is None or record.get("status") == self.status,
            self.submission is None or record.get("submission_id") == self.submission,
            self.team is None or self.team in _recipients(record),
            self.rule is None or self.rule in _rules(record),
        )
        return all(checks)

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__ if getattr(self, k) not in (None, "-", "+")}


def _recipients(record: dict[str, Any]) -> set[Any]:
    return {d.get("recipient") for d in [*record.get("deliveries", []), *record.get("withheld", [])]
            if isinstance(d, dict)}


def _rules(record: dict[str, Any]) -> set[Any]:
    rules = {r for d in record.get("deliveries", []) if isinstance(d, dict) for r in d.get("rules", [])}
    return rules | {w.get("rule") for w in record.get("withheld", []) if isinstance(w, dict)}


@dataclass(slots=True)
class Selection:
    """What one log contributes: the leaves of its whole checkpointed part and the indices chosen."""

    log: str
    size: int
    leaves: list[bytes] = field(default_factory=list)
    chosen: list[int] = field(default_factory=list)
    first_id: bytes | None = None


class Exporter:
    def __init__(self, client: aioredis.Redis, keys: Keys, trusted: Trusted, filters: Filters,
                 progress: Progress | None = None, archive: Archive | None = None) -> None:
        if trusted.newest is None:
            raise AuditError("no trusted signed checkpoint: nothing can be exported that an auditor could verify")
        self.client, self.keys, self.trusted, self.filters = client, keys, trusted, filters
        self.checkpoint: Checkpoint = trusted.newest
        self.progress = progress
        self.archive = archive  # a log's archived records come first (bus.archive.reader)
        self.decision_ids: set[str] = set()

    async def select(self) -> list[Selection]:
        """Pass one: every log verified up to the checkpoint, and the records the filters keep."""
        selections = []
        for head in self.checkpoint.logs:
            if not self._wanted(head.name) or head.size == 0:
                continue
            selections.append(await self._select(head.name, head.size))
        return selections

    def _wanted(self, log: str) -> bool:
        consult = self.keys.consultations("")
        if log.startswith(consult):
            return self.filters.team is None or log == self.keys.consultations(self.filters.team)
        if log == self.keys.audit:
            return self.filters.team is None and self.filters.status is None and self.filters.rule is None \
                and self.filters.submission is None
        return True

    async def _select(self, log: str, size: int) -> Selection:
        selection = Selection(log, size)
        walk = LogWalk(log, self.trusted, selection.leaves)
        index = 0
        async for page in pages(self.client, self.archive, log, verify=True):
            page = page[:size - index]
            walk.feed(page)
            if walk.done:
                raise AuditError(f"the log (archive and live) does not verify, so it is not exported: "
                                 f"{walk.result.fault}")
            selection.chosen += [index + i for i, record in enumerate(page) if self._keep(log, record)]
            index += len(page)
            if self.progress is not None:
                self.progress(len(page))
            if index >= size:
                break
        if index < size:
            raise AuditError(f"{log} holds {index} records but the checkpoint covers {size}: run intelbus audit "
                             "verify")
        return selection

    def _keep(self, log: str, record: RawRecord) -> bool:
        entry_id, flat = record
        if not _in_range(entry_id, self.filters.since, self.filters.until):
            return False
        doc = document(flat)
        if log == self.keys.decisions:
            keep = self.filters.decision(doc)
            if keep:
                self.decision_ids.add(entry_id.decode())
            return keep
        if log == self.keys.audit:
            return self.filters.partner is None or doc.get("partner") == self.filters.partner
        if not _beyond_team(self.filters):  # a consultation log: all of it, or the one team's (see _wanted)
            return True
        return bool(self.decision_ids.intersection(doc.get("decision_ids", [])))

    async def write_jsonl(self, out: IO[bytes], selections: list[Selection]) -> int:
        """Pass two: the chosen records, re-read and re-hashed (they must still be what pass one saw)."""
        out.write(orjson.dumps({"type": "export", "format": FORMAT, "origin": self.checkpoint.origin,
                                "exported_at": utc_text(datetime.now(UTC)), "filters": self.filters.as_json(),
                                "by_content": self.filters.by_content,
                                "logs": [s.log for s in selections]}) + b"\n")
        out.write(orjson.dumps({"type": "checkpoint", "checkpoint": to_json(self.checkpoint)}) + b"\n")
        written = 0
        for selection in selections:
            tree = Tree(selection.leaves)
            bounds = dict(runs(selection.chosen, RANGE_RECORDS))
            async for index, entry_id, flat in self._chosen(selection):
                end = bounds.get(index)
                if end is not None:
                    out.write(orjson.dumps({"type": "range", "log": selection.log, "start": index, "end": end,
                                            "proof": [_b64(h) for h in tree.range_proof(index, end)]}) + b"\n")
                leaf = record_leaf(entry_id, flat)
                if leaf != selection.leaves[index]:
                    raise AuditError(f"{selection.log} record {entry_id.decode()} changed during the export")
                out.write(orjson.dumps({"type": "record", "log": selection.log, "index": index,
                                        "id": entry_id.decode(), "fields": _fields(flat), "leaf": _b64(leaf)})
                          + b"\n")
                written += 1
        out.write(orjson.dumps({"type": "end", "records": written}) + b"\n")
        return written

    async def write_csv(self, out: IO[str], selections: list[Selection]) -> int:
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        written = 0
        for selection in selections:
            async for index, entry_id, flat in self._chosen(selection):
                writer.writerow(_csv_row(selection.log, index, entry_id, document(flat)))
                written += 1
        return written

    async def _chosen(self, selection: Selection) -> Any:
        chosen = set(selection.chosen)
        if not chosen:
            return
        index = 0
        async for page in pages(self.client, self.archive, selection.log):
            for entry_id, flat in page:
                if index in chosen:
                    yield index, entry_id, flat
                index += 1
                if index >= selection.size:
                    return


def runs(indices: list[int], limit: int) -> list[tuple[int, int]]:
    """Rising ``indices`` as ranges ``(start, end)`` of neighbours, none longer than ``limit``."""
    out: list[tuple[int, int]] = []
    for index in indices:
        if out and out[-1][1] == index and index - out[-1][0] < limit:
            out[-1] = (out[-1][0], index + 1)
        else:
            out.append((index, index + 1))
    return out


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _beyond_team(filters: Filters) -> bool:
    return any(v is not None for v in (filters.partner, filters.status, filters.rule, filters.submission))


def _in_range(entry_id: bytes, since: str, until: str) -> bool:
    key = id_key(entry_id)
    return (since == "-" or key >= id_key(since)) and (until == "+" or key <= id_key(until))


def _fields(flat: list[bytes]) -> list[list[Any]]:
    return [[_value(flat[i]), _value(flat[i + 1])] for i in range(0, len(flat) - 1, 2)]


def _value(data: bytes) -> Any:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(data).decode()}


CSV_COLUMNS = ("log", "index", "id", "time", "submission_id", "partner", "kind", "status", "deliveries",
               "withheld", "reason", "team", "consumer", "action", "decision_ids", "event")


def _csv_row(log: str, index: int, entry_id: bytes, doc: dict[str, Any]) -> list[Any]:
    moment = utc_text(datetime.fromtimestamp(id_ms(entry_id) / 1000, UTC))
    deliveries = "; ".join(f"{d.get('recipient')} [{d.get('view')}, {d.get('priority')}]"
                           for d in doc.get("deliveries", []) if isinstance(d, dict))
    withheld = "; ".join(f"{w.get('recipient')} ({w.get('rule')})" for w in doc.get("withheld", [])
                         if isinstance(w, dict))
    return [log, index, entry_id.decode(), moment, doc.get("submission_id", ""), doc.get("partner", ""),
            doc.get("kind", ""), doc.get("status", ""), deliveries, withheld, doc.get("reason") or "",
            doc.get("team", ""), doc.get("consumer", ""), doc.get("action", ""),
            " ".join(doc.get("decision_ids", [])), doc.get("type", "")]

