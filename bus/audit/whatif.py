"""What if: past submissions decided again under a candidate ruleset, and what would change (DESIGN.md 1, 9).

Nothing is written to the bus. ``what_if`` reads the decision log between two bounds (``bus.audit.log``;
its archived records first, ``bus.archive.reader``), fetches each record's ingress entry (from the archive,
or one pipelined round trip of XRANGE per page of the log, fields exactly as Redis holds them), decides
it again exactly as the router does (``bus.batch.Engine.writes``: the same decider, the stream's owner as
``ingress_owner``, an entry that is not one ``payload`` field quarantined the same way) at the record's
own ``decided_at``, and compares (``bus.audit.compare``, pure).

Not every record is re-decided, and none is skipped silently:

- ``duplicate`` records come from the dedupe marks, not the ruleset: counted, not compared;
- poison quarantines (``poison: …``) come from repeated processing failures, not the ruleset: listed;
- a record whose ingress entry is gone (deleted, or trimmed where the archive is not at hand), that names
  no entry, or that cannot be read is listed as unavailable, by decision id;
- an entry whose re-decision raises is listed as failed, with the error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
import redis.asyncio as aioredis

from bus.archive.reader import pages
from bus.archive.store import Archive
from bus.audit.compare import Comparison, Record, compare, describe, summarise
from bus.audit.log import raw_reader
from bus.batch import Engine, error_text
from bus.keys import Keys
from bus.policy import DUPLICATE, QUARANTINED, Reference, Ruleset
from bus.transport import translate_errors
from bus.wire import READ_OUT_LIMIT, Entry

PAGE = 500
"""Decision records per page: one XRANGE of the log and one pipelined round trip of ingress lookups."""
POISON_PREFIX = "poison:"
WHY_DUPLICATE = "decided by the dedupe marks, not by the ruleset: the same submission_id sent again"
WHY_POISON = "quarantined after repeated processing failures, not by the ruleset"


@dataclass(frozen=True, slots=True)
class Target:
    """A record to decide again: its ingress entry and the time it was decided at."""

    decision_id: str
    record: Record
    stream: str
    entry_id: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record not re-decided (``kind`` duplicate or poison; ``why``: the poison record's reason)."""

    decision_id: str
    submission_id: str | None
    kind: Literal["duplicate", "poison"]
    why: str

    def to_dict(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "submission_id": self.submission_id, "why": self.why}


@dataclass(frozen=True, slots=True)
class Unavailable:
    """A record whose submission could not be decided again (``failed``: re-deciding it raised)."""

    decision_id: str
    submission_id: str | None
    why: str
    failed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"decision_id": self.decision_id, "submission_id": self.submission_id, "why": self.why}


@dataclass(frozen=True, slots=True)
class Change:
    decision_id: str
    record: Record  # the original
    comparison: Comparison

    def to_dict(self) -> dict[str, Any]:
        c, r = self.comparison, self.record
        return {"decision_id": self.decision_id, "submission_id": r.get("submission_id"),
                "partner": r.get("partner"), "kind": r.get("kind"), "stream": r.get("stream"),
                "entry_id": r.get("entry_id"),
                "status": None if c.status is None else {"before": c.status[0], "after": c.status[1]},
                "reason": None if c.reason is None else {"before": c.reason[0], "after": c.reason[1]},
                "differences": [d.to_dict() for d in c.differences], "rules": list(c.rules),
                "summary": describe(c)}


Outcome = Skipped | Unavailable | Change


def target(decision_id: str, fields: Mapping[bytes, bytes], keys: Keys) -> Target | Outcome:
    """What to do with one row of the decision log: decide it again (a ``Target``) or why not."""
    try:
        record = orjson.loads(fields[b"decision"])
    except (KeyError, orjson.JSONDecodeError):
        return Unavailable(decision_id, None, "the log entry holds no readable decision record")
    if not isinstance(record, dict):
        return Unavailable(decision_id, None, "the log entry's decision is not a JSON object")
    sid = record.get("submission_id")
    if record.get("status") == DUPLICATE:
        return Skipped(decision_id, sid, "duplicate", WHY_DUPLICATE)
    if record.get("status") == QUARANTINED and str(record.get("reason") or "").startswith(POISON_PREFIX):
        return Skipped(decision_id, sid, "poison", str(record["reason"]))
    where = _where(record, keys)
    if isinstance(where, str):
        return Unavailable(decision_id, sid, where)
    return Target(decision_id, record, *where)


def _where(record: Record, keys: Keys) -> tuple[str, str, datetime] | str:
    stream, entry_id = record.get("stream"), record.get("entry_id")
    if not isinstance(stream, str) or not isinstance(entry_id, str) or not stream or not entry_id:
        return "the record names no ingress entry (no stream/entry_id): its original bytes cannot be found"
    if not stream.startswith(keys.ingress_prefix):
        return f"{stream} is not an ingress stream (prefix {keys.ingress_prefix})"
    try:
        decided_at = datetime.fromisoformat(str(record.get("decided_at")))
    except ValueError:
        return f"the record's decided_at is not a date-time: {record.get('decided_at')!r}"
    return stream, entry_id, decided_at


def entry_of(target: Target, reply: Sequence[Any]) -> Entry | None:
    """The ingress entry from an unparsed ``XRANGE stream id id`` reply, as the router reads it (fields in
    order; over the read-out limit: not read out); ``None`` when it is gone."""
    if not reply:
        return None
    entry_id, flat = reply[0]
    fields = tuple(zip(flat[::2], flat[1::2], strict=True))
    size = sum(len(part) for part in flat)
    return Entry(target.stream, entry_id.decode(), fields if size <= READ_OUT_LIMIT else None, size, len(fields))


def judge(engine: Engine, target: Target, reply: Sequence[Any] | BaseException) -> Outcome:
    """Decide the fetched entry again at the record's time and compare (pure: ``reply`` is fetched)."""
    sid = target.record.get("submission_id")
    if isinstance(reply, BaseException):
        return Unavailable(target.decision_id, sid, f"reading {target.stream} {target.entry_id}: {reply}")
    entry = entry_of(target, reply)
    if entry is None:
        return Unavailable(target.decision_id, sid, f"ingress entry {target.stream} {target.entry_id} is gone "
                                                    "(trimmed or deleted): its original bytes are not available")
    try:
        decision = engine.writes(entry, target.decided_at).decision.to_dict()
    except Exception as exc:  # a candidate that fails on one entry does not stop the others
        return Unavailable(target.decision_id, sid, f"re-deciding raised {error_text(exc)}", failed=True)
    if None not in (sid, decision["submission_id"]) and decision["submission_id"] != sid:
        return Unavailable(target.decision_id, sid, f"ingress entry {target.stream} {target.entry_id} now holds "
                                                    f"another submission ({decision['submission_id']})")
    return Change(target.decision_id, target.record, compare(target.record, decision))


@dataclass
class Report:
    """Everything ``what_if`` found; ``to_dict`` is the JSON document."""

    ruleset: str
    reference: str
    since: str = "-"
    until: str = "+"
    examined: int = 0
    unchanged: int = 0
    duplicates: int = 0
    changes: list[Change] = field(default_factory=list)
    poison: list[Skipped] = field(default_factory=list)
    unavailable: list[Unavailable] = field(default_factory=list)
    failed: list[Unavailable] = field(default_factory=list)
    originals: Counter[str] = field(default_factory=Counter)  # ruleset digests of the records re-decided

    def note(self, outcome: Outcome) -> None:
        self.examined += 1
        match outcome:
            case Skipped(kind="duplicate"):
                self.duplicates += 1
            case Skipped():
                self.poison.append(outcome)
            case Unavailable(failed=True):
                self.failed.append(outcome)
            case Unavailable():
                self.unavailable.append(outcome)
            case Change():
                self._compared(outcome)

    def _compared(self, change: Change) -> None:
        self.originals[str(change.record.get("ruleset"))] += 1
        if change.comparison.changed:
            self.changes.append(change)
        else:
            self.unchanged += 1

    def totals(self) -> dict[str, int]:
        return {"examined": self.examined, "unchanged": self.unchanged, "changed": len(self.changes),
                "duplicates_not_redecided": self.duplicates, "poison_not_redecided": len(self.poison),
                "unavailable": len(self.unavailable), "failed": len(self.failed)}

    def summary(self) -> dict[str, Any]:
        return summarise(change.comparison for change in self.changes) | {"totals": self.totals()}

    def to_dict(self) -> dict[str, Any]:
        return {"ruleset": self.ruleset, "reference": self.reference, "since": self.since, "until": self.until,
                "original_rulesets": dict(self.originals), "changes": [c.to_dict() for c in self.changes],
                "unavailable": [u.to_dict() for u in self.unavailable],
                "failed": [u.to_dict() for u in self.failed], "poison": [p.to_dict() for p in self.poison],
                "not_redecided": {"duplicate": WHY_DUPLICATE, "poison": WHY_POISON},
                "summary": self.summary()}


# ---- the I/O: read the log, fetch the entries ----------------------------------------------------------

async def what_if(client: aioredis.Redis, keys: Keys, ruleset: Ruleset, reference: Reference,
                  since: str = "-", until: str = "+", *, on_page: Callable[[int], None] | None = None,
                  page: int = PAGE, archive: Archive | None = None) -> Report:
    """Decide every submission of the decision log between ``since`` and ``until`` (XRANGE bounds, see
    ``bus.audit.log.bound``) again under ``ruleset`` and ``reference``; read only, nothing is written.
    ``on_page`` is told how many records each page held (for progress)."""
    engine = Engine(ruleset, reference, keys)
    report = Report(ruleset.digest, reference.digest, since, until)
    async for rows in pages(raw_reader(client), archive, keys.decisions, since, until, page=page):
        items = [target(decision_id.decode(), _fields(flat), keys) for decision_id, flat in rows]
        targets = [item for item in items if isinstance(item, Target)]
        replies = dict(zip((t.decision_id for t in targets), await _fetch(client, targets, archive), strict=True))
        for item in items:
            report.note(judge(engine, item, replies[item.decision_id]) if isinstance(item, Target) else item)
        if on_page is not None:
            on_page(len(rows))
    return report


def _fields(flat: list[bytes]) -> dict[bytes, bytes]:
    return dict(zip(flat[::2], flat[1::2], strict=False))


async def _fetch(client: aioredis.Redis, targets: Sequence[Target], archive: Archive | None = None) -> list[Any]:
    """Each target's ingress entry, unparsed (fields in order, repeated names kept): from the archive when it
    holds it, else in one round trip; an error reply (a wrong id, a key that is no stream) in its place."""
    if not targets:
        return []
    if archive is not None:
        found = [archive.lookup(t.stream, t.entry_id) for t in targets]
        rest = [t for t, flat in zip(targets, found, strict=True) if flat is None]
        live = iter(await _fetch(client, rest) if rest else [])
        return [[[t.entry_id.encode(), flat]] if flat is not None else next(live)
                for t, flat in zip(targets, found, strict=True)]
    pipe = client.pipeline(transaction=False)
    pipe.response_callbacks = {}  # this pipeline only: redis-py would fold an entry's fields into a dict
    for t in targets:
        pipe.xrange(t.stream, min=t.entry_id, max=t.entry_id, count=1)
    async with translate_errors("reading ingress entries for what-if"):
        return list(await pipe.execute(raise_on_error=False))
