"""The router's checkpointer: it hashes every audit log in log order and signs a checkpoint at least once
a second while any of them grows, into Redis and into the append-only file outside it.

The logs are the decisions, the audit events and each team's consultations. One router at a time holds
the checkpointer's lease (``<prefix>:checkpointer``, ``SET NX PX``); should two briefly overlap, both sign
the same roots, since a checkpoint's content depends only on the logs, so nothing is harmed. The work is
off the routing path: routing never waits for a hash. It resumes from the file's last checkpoint (its
frontier, checked against the signed root), or rebuilds from the logs' first records.

A log that holds fewer records than were checkpointed (deleted, trimmed or replaced under the bus) is
written to the audit stream as ``audit_log_shrank`` once per change, and logged; the checkpointer goes on
covering new records, and ``intelbus audit verify`` names what went. What retention archived and removed
is not missing: a log's length is what Redis holds plus retention's count (``<prefix>:trimmed``), and a
checkpointer rebuilding from the first record reads the archive first (``bus.archive.reader``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from bus.archive.reader import archive_dir, pages
from bus.archive.store import Archive
from bus.audit.checkpoint import Checkpoint, Leaf, LogHead, from_json, sign, to_json
from bus.audit.log import raw_reader, utc_text
from bus.audit.merkle import Frontier, record_leaf
from bus.audit.signing import Signer, router_signer, signature_ok
from bus.audit.store import CheckpointFile, add_to_redis, checkpoint_file
from bus.errors import AuditError, TransportError
from bus.keys import Keys
from bus.lease import hold
from bus.policy import Ruleset
from bus.settings import Settings
from bus.transport import packing_client, translate_errors

log = logging.getLogger("intelbus.audit")
MAX_PER_TICK = 200_000  # records hashed per log per tick; more waits for the next (the loop keeps up)


def audit_logs(keys: Keys, teams: list[str]) -> list[str]:
    """Every log the checkpoints cover, in a fixed order."""
    return [keys.decisions, keys.audit, *(keys.consultations(team) for team in sorted(teams))]


def now_text() -> str:
    return utc_text(datetime.now(UTC))


@dataclass(slots=True)
class LogState:
    name: str
    frontier: Frontier = field(default_factory=Frontier)
    last_id: str = "-"
    start: int = 0  # index of new[0]
    new: list[Leaf] = field(default_factory=list)  # since this process's last checkpoint
    reported: int | None = None  # the shrunk length last written to the audit stream

    def head(self) -> LogHead:
        return LogHead(self.name, self.frontier.size, self.frontier.root(), self.last_id)


class Checkpointer:
    def __init__(self, client: aioredis.Redis, keys: Keys, logs: list[str], signer: Signer, file: CheckpointFile,
                 origin: str, owner: str, interval_ms: int = 1000, archive: Archive | None = None) -> None:
        self.client, self.keys, self.signer, self.file, self.archive = client, keys, signer, file, archive
        self.origin, self.owner, self.interval = origin, owner, interval_ms / 1000
        self.logs = {name: LogState(name) for name in logs}
        self.written = 0  # checkpoints signed by this process
        self.resumed = False  # the file had a checkpoint to take up

    def resume(self) -> None:
        """Take up the file's last checkpoint (its frontiers, checked against its signed roots)."""
        last = self.file.last()
        if last is None:
            return
        self.resumed = True
        where, doc = last
        try:
            checkpoint = from_json(doc)
            frontiers = _frontiers(doc, checkpoint, self.signer)
        except AuditError as exc:
            log.warning("cannot resume from %s (%s): rebuilding from the logs' first records", where, exc)
            return
        for name, (frontier, last_id) in frontiers.items():
            if name in self.logs:
                self.logs[name] = LogState(name, frontier, last_id, frontier.size)

    async def run(self, stop: asyncio.Event) -> None:
        """Checkpoint every interval until ``stop``, then once more (what was decided last is covered too);
        closes the client."""
        self.resume()
        try:
            while True:
                last = stop.is_set()  # a tick begun before the stop may have read the logs before the last commits
                try:
                    await self.tick()
                except TransportError as exc:
                    log.warning("checkpoint skipped: %s", exc)
                if last:
                    return
                with suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=self.interval)
        finally:
            await self.client.aclose()

    async def tick(self) -> Checkpoint | None:
        """Hash what is new; sign and store a checkpoint if any log grew (or none was ever written here)."""
        if not await self._lease():
            return None
        grown = False
        for state in self.logs.values():
            grown = await self._catch_up(state) or grown
            await self._check_length(state)
        if not grown and (self.written or self.resumed):
            return None
        return await self._write()

    async def _catch_up(self, state: LogState) -> bool:
        before = state.frontier.size
        start = f"({state.last_id}" if state.last_id != "-" else "-"
        async for page in pages(self.client, self.archive, state.name, start):
            for entry_id, flat in page:
                leaf = record_leaf(entry_id, flat)
                state.frontier.add(leaf)
                state.new.append((entry_id, leaf))
            state.last_id = page[-1][0].decode()
            if state.frontier.size - before >= MAX_PER_TICK:
                break
            await asyncio.sleep(0)  # routing goes on between pages
        return state.frontier.size > before

    async def _check_length(self, state: LogState) -> None:
        """The log's length in Redis plus what retention removed from it (read in that order: a removal and
        its count are one step, so a removal between the two reads can only add) against what was hashed."""
        async with translate_errors(f"reading {state.name}"):
            length = int(await self.client.xlen(state.name))
            length += int(await self.client.hget(self.keys.trimmed, state.name) or 0)
        if length >= state.frontier.size or length == state.reported:
            return
        state.reported = length
        log.error("audit log %s holds %d records but %d were checkpointed: records were removed under the "
                  "bus (run intelbus audit verify)", state.name, length, state.frontier.size)
        event = {"type": "audit_log_shrank", "log": state.name, "checkpointed": state.frontier.size,
                 "found": length, "by": self.owner}
        async with translate_errors(f"writing {self.keys.audit}"):
            await self.client.xadd(self.keys.audit, {"event": orjson.dumps(event)})

    async def _write(self) -> Checkpoint:
        checkpoint = sign(self.origin, now_text(), tuple(s.head() for s in self.logs.values()), self.signer)
        doc = to_json(checkpoint, {s.name: (s.start, s.new) for s in self.logs.values()})
        doc["state"] = {s.name: [base64.b64encode(r).decode() for r in s.frontier.roots]
                        for s in self.logs.values()}
        line = orjson.dumps(doc)
        self.file.append(line)
        await add_to_redis(self.client, self.keys, line)
        for state in self.logs.values():
            state.start, state.new = state.frontier.size, []
        self.written += 1
        return checkpoint

    async def _lease(self) -> bool:
        return await hold(self.client, self.keys.checkpointer, self.owner, max(int(self.interval * 3000), 1000))


def _frontiers(doc: Any, checkpoint: Checkpoint, signer: Signer) -> dict[str, tuple[Frontier, str]]:
    if checkpoint.key_id != signer.key_id or not signature_ok(signer.public, checkpoint.signature,
                                                                checkpoint.body()):
        raise AuditError(f"its signature is not this router's key {signer.key_id}")
    state = doc.get("state") if isinstance(doc, dict) else None
    if not isinstance(state, dict):
        raise AuditError("it carries no frontier state")
    out = {}
    for head in checkpoint.logs:
        try:
            roots = [base64.b64decode(r, validate=True) for r in state[head.name]]
        except (KeyError, TypeError, ValueError):
            raise AuditError(f"no readable frontier for {head.name}") from None
        frontier = Frontier(head.size, roots)
        if frontier.root() != head.root or len(roots) != bin(head.size).count("1"):
            raise AuditError(f"the frontier of {head.name} does not give its signed root")
        out[head.name] = frontier, head.last_id
    return out


def make_checkpointer(settings: Settings, keys: Keys, ruleset: Ruleset, url: str, owner: str) -> Checkpointer | None:
    """The router's checkpointer (None when ``audit_checkpoints`` is off), on a client of its own."""
    if not settings.audit_checkpoints:
        return None
    signer = router_signer(settings.audit_key, settings.region_dir)
    return Checkpointer(raw_reader(packing_client(url)), keys, audit_logs(keys, list(ruleset.team_ids)), signer,
                        CheckpointFile(checkpoint_file(settings.region_dir)), origin(keys), owner,
                        settings.audit_interval_ms, Archive(archive_dir(settings.region_dir)))


def origin(keys: Keys) -> str:
    """The name checkpoints sign for: the bus and its key prefix."""
    return f"intelbus/{keys.prefix}"
