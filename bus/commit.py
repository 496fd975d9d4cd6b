"""The atomic commit of a batch: a pure plan (what to write) and the Lua script that writes it.

``Batch.add`` turns one ingress entry and its decision into the script's arguments (pure); nothing here
does I/O but ``Committer.commit``, which runs ``lua/commit.lua`` once per batch (one round trip). All keys
of a batch are passed in KEYS, so a single Redis is assumed (Redis Cluster would need hash tags).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.keys import ROUTER_GROUP, Keys
from bus.policy import DUPLICATE, QUARANTINED, ROUTED, Decision, render_views
from bus.transport import text, translate_errors

COMMIT_LUA = resources.files("bus").joinpath("lua/commit.lua").read_text()
ORIGINAL = "@@ORIGINAL@@"


@dataclass(slots=True)
class Batch:
    """Keys are passed by index, so every key the script touches is declared in KEYS."""

    keys: Keys
    key_list: list[str] = field(default_factory=list)
    key_index: dict[str, int] = field(default_factory=dict)
    args: list[bytes | str | int] = field(default_factory=list)
    entries: int = 0

    def __post_init__(self) -> None:
        self._key(self.keys.decisions)
        self._key(self.keys.quarantine)

    def _key(self, key: str) -> int:
        index = self.key_index.get(key)
        if index is None:
            self.key_list.append(key)
            index = self.key_index[key] = len(self.key_list)
        return index

    def marks(self, stream: str, decision: Decision) -> bool:
        """Whether the decision sets a dedupe mark: a parsed submission from the stream's own partner."""
        return decision.status in (ROUTED, QUARANTINED) and decision.submission_id is not None \
            and decision.partner == self.keys.partner_of(stream) and decision.kind is not None \
            and not (decision.reason or "").startswith("invalid submission")

    def add(self, stream: str, entry_id: str, raw: bytes, decision: Decision) -> None:
        """Add one entry's writes; the record carries the ingress ``stream`` and ``entry_id``."""
        record = decision.to_dict()
        record["stream"], record["entry_id"] = stream, entry_id
        owner = self.keys.partner_of(stream)
        dedupe = self.marks(stream, decision)
        duplicate = b""
        if dedupe:  # built from the record already made: status, reason, nothing delivered or withheld
            duplicate = orjson.dumps(record | {
                "status": DUPLICATE, "deliveries": [], "withheld": [],
                "reason": f"duplicate: this partner already sent submission_id {decision.submission_id} "
                          f"(decision {ORIGINAL}); nothing is routed again"})
        quarantined = decision.status == QUARANTINED
        views = render_views(raw, decision) if not quarantined else {}
        sanitised: list[bytes] = []
        spec = []
        for delivery in decision.deliveries:
            ref = 0  # the raw payload: a full view
            if delivery.omitted:
                sanitised.append(views[delivery.recipient])
                ref = len(sanitised)
            due = delivery.due.isoformat() if delivery.due else ""
            feed = self._key(self.keys.feed(delivery.recipient, delivery.priority))
            spec.append(f"{feed},{delivery.priority},{delivery.view},{due},{ref};")
        seen = self._key(self.keys.seen(owner)) if dedupe else 0
        self.args += [
            f"{self._key(stream)}|{entry_id}|{seen}|{len(sanitised)}", decision.submission_id or "",
            orjson.dumps(record), duplicate, decision.reason or "" if quarantined else "", raw, "".join(spec),
            *sanitised,
        ]
        self.entries += 1


@dataclass(frozen=True, slots=True)
class Outcome:
    status: str
    decision_id: str


class Committer:
    def __init__(self, client: aioredis.Redis, consumer: str, group: str = ROUTER_GROUP) -> None:
        self._script = client.register_script(COMMIT_LUA)
        self._consumer = consumer
        self._group = group

    async def commit(self, batch: Batch, mode: str = "router") -> list[Outcome]:
        """``mode="scout"``: commit urgent entries ahead of the router group (``bus.scout``)."""
        if not batch.entries:
            return []
        args: list[Any] = [self._group, self._consumer, mode, batch.entries, *batch.args]
        async with translate_errors("commit"):
            reply = await self._script(keys=batch.key_list, args=args)
        return [Outcome(text(status), text(decision_id)) for status, decision_id in reply]


