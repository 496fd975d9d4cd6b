"""Hostile and careless partner entries, and the oracle that checks what the bus made of them.

For the fuzz test (``tests/test_fuzz.py``, a few thousand entries) and ``bench/fuzz.py`` (100,000).
``hostile_entries`` mixes valid submissions with every kind of bad entry a partner can write: repeated
and extra fields, bytes that are not UTF-8 or not JSON, repeated JSON keys, numbers out of range,
booleans for integers, inexact timestamps, dates that would overflow, spoofed partners, oversized
entries, thousands of fields, UUIDs in another letter case, extreme entry ids and ``MAXLEN`` trims.

``check_bus`` decides every ingress entry again, offline and on its own (``bus.batch.Engine``), and
compares: a decision per entry, equal to the offline one (so no neighbour changed it), duplicates
exactly where an earlier entry of the partner had the same submission_id, quarantine keeping each entry
whole, nothing pending, and every vanished entry accounted for in the audit stream.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import redis

from bus.batch import Engine
from bus.ids import MAX_ID
from bus.keys import ROUTER_GROUP, Keys
from bus.samples import realistic_mix
from bus.wire import READ_OUT_LIMIT, Entry, quarantined_fields


@dataclass(frozen=True, slots=True)
class Write:
    """One XADD: the partner's stream, the entry's fields in order, its id and an optional trim."""

    partner: str
    fields: tuple[bytes, ...]
    entry_id: str = "*"
    maxlen: int | None = None
    category: str = "valid"


def _raw(sub: dict[str, Any], old: str, new: str) -> bytes:
    text = orjson.dumps(sub).decode()
    return text.replace(old, new, 1).encode()


Mutation = Callable[[random.Random, dict[str, Any], int], Write]


def _fields(sub: dict[str, Any], category: str, *extra: bytes, payload: bytes | None = None) -> Write:
    data = orjson.dumps(sub) if payload is None else payload
    return Write(sub["partner"], (b"payload", data, *extra), category=category)


MUTATIONS: dict[str, Mutation] = {
    "repeated-payload": lambda rng, sub, big: _fields(sub, "repeated-payload", b"payload", b"{}"),
    "extra-field": lambda rng, sub, big: _fields(sub, "extra-field", b"trace", bytes([rng.randrange(256)])),
    "no-payload": lambda rng, sub, big: Write(sub["partner"], (b"body", orjson.dumps(sub)), category="no-payload"),
    "not-utf8": lambda rng, sub, big: _fields(sub, "not-utf8", payload=b"\xff\xfe" + orjson.dumps(sub)),
    "not-json": lambda rng, sub, big: _fields(sub, "not-json", payload=orjson.dumps(sub)[:-3]),
    "repeated-key": lambda rng, sub, big: _fields(sub, "repeated-key", payload=_raw(
        sub, '"area":', '"area":"Gateshead","area":')),
    "number-out-of-range": lambda rng, sub, big: _fields(sub, "number-out-of-range", payload=_raw(
        sub, '"schema_version":1', '"schema_version":1e400')),
    "version-true": lambda rng, sub, big: _fields(sub | {"schema_version": True}, "version-true"),
    "version-float": lambda rng, sub, big: _fields(sub | {"schema_version": 1.0}, "version-float"),
    "inexact-time": lambda rng, sub, big: _fields(sub | {"submitted_at": "2027-02-01T09:30+0000"}, "inexact-time"),
    "year-9999": lambda rng, sub, big: _fields(sub | {"submitted_at": "9999-12-31T23:59:59+00:00"}, "year-9999"),
    "spoofed": lambda rng, sub, big: Write("hmrc" if sub["partner"] != "hmrc" else "dwp",
                                           (b"payload", orjson.dumps(sub)), category="spoofed"),
    "oversized": lambda rng, sub, big: _fields(sub, "oversized", payload=orjson.dumps(
        sub | {"sanitised_narrative": "x" * big})),
    "many-fields": lambda rng, sub, big: _fields(sub, "many-fields", *(b"f%d" % i for i in range(4000))),
    "long-field-name": lambda rng, sub, big: _fields(sub, "long-field-name", b"n" * 10_000, b"v"),
    "deep-json": lambda rng, sub, big: _fields(sub, "deep-json", payload=b"[" * 20_000 + b"]" * 20_000),
    "empty-payload": lambda rng, sub, big: _fields(sub, "empty-payload", payload=b""),
    "huge-number": lambda rng, sub, big: _fields(sub, "huge-number", payload=_raw(
        sub, '"schema_version":1', '"schema_version":' + "9" * 5000)),
}


def hostile_entries(count: int, seed: int = 1, big: int = 300_000, hostile_share: float = 0.5) -> list[Write]:
    """``count`` writes, about ``hostile_share`` of them hostile, deterministic for a seed. ``big`` is the
    padding of oversized entries (5 MB in the bench). Some partners re-send a submission in another letter
    case, one trims its own stream with MAXLEN, and one ends its stream with the largest possible id."""
    rng = random.Random(seed)
    subs = realistic_mix(count, seed=seed)
    writes: list[Write] = []
    names = sorted(MUTATIONS)
    for sub in subs:
        roll = rng.random()
        if roll < hostile_share:
            writes.append(MUTATIONS[rng.choice(names)](rng, sub, big))
        elif roll < hostile_share + 0.02:  # the same UUID again, in upper case: a duplicate
            writes.append(_fields(sub, "valid"))
            writes.append(_fields(sub | {"submission_id": sub["submission_id"].upper()}, "case-duplicate"))
        else:
            writes.append(_fields(sub, "valid"))
    trimmer = "glaa"  # a partner that trims its own stream: unread entries vanish, the audit says so
    writes += [Write(trimmer, (b"payload", b"{}"), category="trimmed") for _ in range(50)]
    writes.append(Write(trimmer, (b"payload", b"{}"), maxlen=5, category="trim"))
    writes.append(Write("trading-standards", (b"payload", b"{}"), entry_id=MAX_ID, category="max-id"))
    return writes


def publish(client: redis.Redis, keys: Keys, writes: list[Write], chunk: int = 200) -> None:
    for start in range(0, len(writes), chunk):
        pipe = client.pipeline(transaction=False)
        for write in writes[start:start + chunk]:
            trim = ["MAXLEN", str(write.maxlen)] if write.maxlen is not None else []
            pipe.execute_command("XADD", keys.ingress(write.partner), *trim, write.entry_id, *write.fields)  # type: ignore[no-untyped-call]
        pipe.execute()


@dataclass
class Report:
    entries: int = 0
    decisions: int = 0
    audited_vanished: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    def fail(self, problem: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(problem)


def _ingress(client: redis.Redis, stream: str) -> Iterator[Entry]:
    """Every entry of a stream with its fields as Redis holds them (redis-py's XRANGE reply is a dict)."""
    raw = redis.Redis(connection_pool=client.connection_pool)
    raw.set_response_callback("XRANGE", lambda response, **options: response)
    after = "-"
    while True:
        page = raw.execute_command("XRANGE", stream, after, "+", "COUNT", 100)  # type: ignore[no-untyped-call]
        for entry_id, flat in page:
            fields = tuple(zip(flat[::2], flat[1::2], strict=True))
            size = sum(len(part) for part in flat)
            yield Entry(stream, entry_id.decode(), fields if size <= READ_OUT_LIMIT else None, size, len(fields))
        if len(page) < 100:
            return
        after = "(" + page[-1][0].decode()


def _rows(client: redis.Redis, key: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    return cast(list[tuple[bytes, dict[bytes, bytes]]], client.xrange(key))


def _decisions(client: redis.Redis, keys: Keys, report: Report) -> dict[tuple[str, str], dict[str, Any]]:
    by_entry: dict[tuple[str, str], dict[str, Any]] = {}
    for entry_id, fields in _rows(client, keys.decisions):
        record = orjson.loads(fields[b"decision"]) | {"decision_id": entry_id.decode()}
        where = (record["stream"], record["entry_id"])
        if where in by_entry:
            report.fail(f"two decisions for {where}")
        by_entry[where] = record
    report.decisions = len(by_entry)
    return by_entry


def _compare(entry: Entry, record: dict[str, Any], expected: dict[str, Any], status: str,
             quarantine: dict[str, dict[bytes, bytes]], report: Report) -> None:
    where = f"{entry.stream} {entry.entry_id}"
    if record["status"] != status:
        report.fail(f"{where}: {record['status']} ({record['reason']}), offline {status} ({expected['reason']})")
        return
    if status == "routed" and record["deliveries"] != expected["deliveries"]:
        report.fail(f"{where}: deliveries differ from the offline decision")
    if status != "quarantined":
        return
    if record["reason"] != expected["reason"] or "unknown" in record["reason"]:
        report.fail(f"{where}: reason {record['reason']!r}, offline {expected['reason']!r}")
    kept = quarantine.get(record["decision_id"])
    if kept is None:
        report.fail(f"{where}: quarantined without a quarantine entry")
    elif kept[b"kept"] == b"copy" and quarantined_fields(kept) != entry.fields:
        report.fail(f"{where}: quarantine did not keep the entry whole, in order")


def check_bus(client: redis.Redis, keys: Keys, engine: Engine, streams: list[str]) -> Report:
    """Compare every decision on the bus with the entry decided again offline, on its own."""
    report = Report()
    decided = _decisions(client, keys, report)
    quarantine = {fields[b"decision_id"].decode(): fields for _, fields in _rows(client, keys.quarantine)}
    now = datetime.now(UTC)
    for stream in streams:
        seen: set[str] = set()
        for entry in _ingress(client, stream):
            report.entries += 1
            record = decided.pop((entry.stream, entry.entry_id), None)
            if record is None:
                report.fail(f"{entry.stream} {entry.entry_id}: no decision")
                continue
            writes = engine.writes(entry, now)
            status = writes.decision.status.value
            if writes.dedupe_key is not None:
                status = "duplicate" if writes.dedupe_key in seen else status
                seen.add(writes.dedupe_key)
            report.statuses[record["status"]] += 1
            _compare(entry, record, writes.decision.to_dict(), status, quarantine, report)
        if client.xpending(stream, ROUTER_GROUP)["pending"]:
            report.fail(f"{stream}: entries still pending")
    for where in decided:
        report.fail(f"{where}: a decision for an entry that is not in ingress")
    audit = [orjson.loads(fields[b"event"]) for _, fields in _rows(client, keys.audit)]
    report.audited_vanished = sum(event["count"] for event in audit if event["type"] == "ingress_trimmed")
    return report
