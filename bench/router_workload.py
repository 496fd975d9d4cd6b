"""bench/router.py's workload (``realistic_mix``, decided by the engine before any clock starts, with
what the router writes for each submission) and its private Redis (no persistence)."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bus.keys import ROUTER_GROUP, Keys
from bus.policy import QUARANTINED, Reference, Ruleset, decide_payload, render_views
from bus.samples import realistic_mix
from bus.servers import RedisProc
from bus.service import ingress_streams

KEYS = Keys()
FIRST_ID_MS = 1_800_000_000_000  # explicit entry ids, so the precomputed decisions carry the real ones
DECISION_ID = b"1800000000000-0"  # (a) and (b) cannot know the decision entry id: a placeholder, same size


@dataclass(frozen=True, slots=True)
class Writes:
    """What the router writes for one submission: the decision JSON and one feed entry per delivery."""

    decision: bytes
    feeds: tuple[tuple[str, dict[str, bytes | str]], ...]
    quarantine: dict[str, bytes | str] | None


@dataclass(frozen=True, slots=True)
class Workload:
    entries: list[tuple[str, bytes, bytes]]  # ingress stream, entry id, payload
    writes: dict[bytes, Writes]  # entry id -> writes
    streams: list[str]
    deliveries: int
    sizes: list[int]


def build_workload(count: int, ruleset: Ruleset, reference: Reference) -> Workload:
    now = datetime.now(UTC)
    entries, writes, deliveries = [], {}, 0
    for index, sub in enumerate(realistic_mix(count)):
        raw = orjson.dumps(sub)
        stream, entry_id = KEYS.ingress(sub["partner"]), f"{FIRST_ID_MS + index}-0"
        decision, _ = decide_payload(raw, ruleset, reference, now, ingress_owner=sub["partner"])
        quarantined = decision.status == QUARANTINED
        views = render_views(raw, decision) if not quarantined else {}
        sid = decision.submission_id or ""
        feeds = tuple(
            (KEYS.feed(d.recipient, d.priority),
             {"payload": views[d.recipient], "submission_id": sid, "priority": d.priority, "view": d.view,
              "due": d.due.isoformat() if d.due else "", "decision_id": DECISION_ID})
            for d in decision.deliveries)
        quarantine = None
        if quarantined:
            quarantine = {"payload": raw, "reason": decision.reason or "", "stream": stream, "entry_id": entry_id,
                          "submission_id": sid, "decision_id": DECISION_ID}
        entries.append((stream, entry_id.encode(), raw))
        record = decision.to_dict() | {"stream": stream, "entry_id": entry_id}
        writes[entry_id.encode()] = Writes(orjson.dumps(record), feeds, quarantine)
        deliveries += len(feeds)
    return Workload(entries, writes, ingress_streams(ruleset, KEYS), deliveries, sorted(len(e[2]) for e in entries))


# --- the private server -------------------------------------------------------------------------------


class PrivateRedis:
    """The shared harness's server (``bus.servers``), without persistence, plus what this bench needs."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="intelbus-bench-")
        self.server = RedisProc(Path(self.dir), durable=False, extra=("--loglevel", "warning")).start()
        self.port, self.url = self.server.port, self.server.url
        self.client = self.server.client(timeout=60.0)
        self.version = self.client.info("server")["redis_version"]

    def prepare(self, workload: Workload, count: int) -> None:
        """Flush, load ``count`` submissions, create the router group at 0 on every ingress stream."""
        self.client.flushall()
        for start in range(0, count, 1000):
            pipe = self.client.pipeline(transaction=False)
            for stream, entry_id, raw in workload.entries[start:min(start + 1000, count)]:
                pipe.xadd(stream, {"payload": raw}, id=entry_id)
            pipe.execute()
        for stream in workload.streams:
            self.client.xgroup_create(stream, ROUTER_GROUP, id="0", mkstream=True)

    def cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def stop(self) -> None:
        self.client.close()
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
