"""Chaos's oracle (``bench/chaos.py``): what is left to route, and whether what the bus holds is exactly once:
every submission one routed/quarantined decision, every ingress entry one decision, every delivery one feed
entry (per feed stream, and per decision id)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson
import redis

from bus.keys import ROUTER_GROUP, Keys

KEYS = Keys()
PRIMARY = ("routed", "quarantined")


def decoded(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def ingress_keys(client: redis.Redis) -> list[str]:
    return sorted(decoded(k) for k in client.scan_iter(f"{KEYS.prefix}:ingress:*", count=1000))


def id_order(entry_id: bytes | str) -> tuple[int, int]:
    ms, _, seq = decoded(entry_id).partition("-")
    return int(ms), int(seq or 0)


def backlog(client: redis.Redis) -> dict[str, tuple[int, bool]]:
    """Per ingress stream with work left: (entries pending in the router group, entries not yet delivered
    to it). Undelivered is read from the ids (last-generated vs last-delivered), not from ``lag``, which
    Redis cannot always compute after an AOF reload."""
    left = {}
    for key in ingress_keys(client):
        groups = [g for g in client.xinfo_groups(key) if decoded(g["name"]) == ROUTER_GROUP]
        last = client.xinfo_stream(key)["last-generated-id"]
        pending = int(groups[0]["pending"]) if groups else 0
        undelivered = not groups or id_order(groups[0]["last-delivered-id"]) < id_order(last)
        if pending or undelivered:
            left[key] = (pending, undelivered)
    return left


def read_stream(client: redis.Redis, key: str, page: int = 2000) -> Iterator[tuple[str, dict[bytes, bytes]]]:
    start = "-"
    while True:
        rows = client.xrange(key, min=start, count=page)
        for entry_id, fields in rows:
            yield decoded(entry_id), fields
        if len(rows) < page:
            return
        start = "(" + decoded(rows[-1][0])


@dataclass
class Report:
    published_ids: int = 0
    ingress_entries: int = 0
    decisions: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unknown_ids: int = 0
    entries_undecided: list[str] = field(default_factory=list)
    entries_decided_twice: list[str] = field(default_factory=list)
    deliveries: int = 0
    feed_entries: int = 0
    feed_mismatch: dict[str, tuple[int, int]] = field(default_factory=dict)
    feed_per_decision_mismatch: int = 0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unknown_ids or self.entries_undecided
                    or self.entries_decided_twice or self.feed_mismatch or self.feed_per_decision_mismatch
                    or self.deliveries != self.feed_entries)


def verify(client: redis.Redis, ids: set[str]) -> Report:
    report = Report(published_ids=len(ids))
    entry_sid: dict[str, str | None] = {}  # "<stream> <entry id>" -> submission_id in its payload
    for key in ingress_keys(client):
        for entry_id, fields in read_stream(client, key):
            entry_sid[f"{key} {entry_id}"] = orjson.loads(fields[b"payload"]).get("submission_id")
    report.ingress_entries = len(entry_sid)
    primary: Counter[str] = Counter()
    per_entry: Counter[str] = Counter()
    expected_feeds: Counter[str] = Counter()
    expected_per_decision: dict[str, int] = {}
    for decision_id, fields in read_stream(client, KEYS.decisions):
        record = orjson.loads(fields[b"decision"])
        report.decisions += 1
        report.statuses[record["status"]] += 1
        entry = f"{record.get('stream')} {record.get('entry_id')}"
        per_entry[entry] += 1
        sid = record["submission_id"] or entry_sid.get(entry)  # poison quarantine carries no submission_id
        if record["status"] not in PRIMARY:
            continue
        primary[sid] += 1
        expected_per_decision[decision_id] = len(record["deliveries"])
        for delivery in record["deliveries"]:
            expected_feeds[KEYS.feed(delivery["recipient"], delivery["priority"])] += 1
    report.lost = sorted(ids - set(primary))
    report.duplicated = sorted(sid for sid, n in primary.items() if n > 1)
    report.unknown_ids = len(set(primary) - ids)
    report.entries_undecided = sorted(set(entry_sid) - set(per_entry))
    report.entries_decided_twice = sorted(e for e, n in per_entry.items() if n > 1)
    report.deliveries = sum(expected_feeds.values())
    _check_feeds(client, report, expected_feeds, expected_per_decision)
    return report


def _check_feeds(client: redis.Redis, report: Report, expected: Counter[str], per_decision: dict[str, int]) -> None:
    found: Counter[str] = Counter()
    keys = {decoded(k) for k in client.scan_iter(f"{KEYS.prefix}:feed:*", count=1000)}
    for key in sorted(keys | set(expected)):
        actual = client.xlen(key)
        report.feed_entries += actual
        if actual != expected[key]:
            report.feed_mismatch[key] = (expected[key], actual)
        for _, fields in read_stream(client, key):
            found[decoded(fields[b"decision_id"])] += 1
    report.feed_per_decision_mismatch = sum(
        1 for decision_id in set(found) | set(per_decision) if found[decision_id] != per_decision.get(decision_id, 0))
