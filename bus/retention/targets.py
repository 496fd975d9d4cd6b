"""What retention looks after (pure): every stream of the region, its kind and period, whether it leaves
Redis only once archived, what holds the whole of it, and, entry by entry, what a hold can name in it.

=======================  ==========  =========  ===========================================================
stream                   period      archived   bounded also by
=======================  ==========  =========  ===========================================================
feed (immediate, routine) keep.feeds  no         every group; none yet: kept; a hold on the team
ingress (per partner)    keep.ingress yes        every group (none yet: kept), the scout; a hold on the partner
receipt (per partner)    keep.receipts no        (period only: its partner reads it without a group); a hold on the
                                                 partner
quarantine               keep.quarantine yes     (period only)
decisions, audit         keep.audit  yes         the newest signed checkpoint
consult:<team>           keep.audit  yes         the newest signed checkpoint; a hold on the team
checkpoints              keep.audit  yes         its newest entry (what retention and status read) stays
=======================  ==========  =========  ===========================================================

A feed and a receipt are copies of what their decision records, so they are not archived: the decision, the
ingress entry and the consultation records are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson

from bus.batch import dedupe_key
from bus.errors import RetentionError
from bus.keys import Keys
from bus.policy import Ruleset
from bus.retention.policy import Hold, RetentionPolicy

NO_FEED_READER = "no consumer group yet: a feed nobody reads keeps everything"
NO_ROUTER = "no router group yet: nothing on it is decided"


@dataclass(frozen=True, slots=True)
class Target:
    stream: str
    kind: str  # feed | receipt | ingress | quarantine | audit
    keep: str  # its period's key in the policy: feeds | receipts | ingress | quarantine | audit
    archived: bool
    held: tuple[Hold, ...] = ()  # holds on the whole stream
    no_reader: str | None = None  # without a group nothing may go, for this reason
    checkpointed: bool = False  # an audit log: bounded by the newest signed checkpoint
    partner: str | None = None  # an ingress or receipt stream's partner
    keep_newest: bool = False  # its newest entry stays, however old (the newest signed checkpoint)


def targets(keys: Keys, ruleset: Ruleset, policy: RetentionPolicy) -> list[Target]:
    teams, partners = sorted(ruleset.team_ids), sorted(ruleset.partners)
    team_holds = {t: tuple(h for h in policy.holds_of("team") if h.value == t) for t in teams}
    partner_holds = {p: tuple(h for h in policy.holds_of("partner") if h.value == p) for p in partners}
    found = [Target(stream, "feed", "feeds", False, team_holds[team], NO_FEED_READER)
             for team in teams for stream in keys.feeds(team)]
    found += [Target(keys.receipts(p), "receipt", "receipts", False, partner_holds[p], partner=p) for p in partners]
    found += [Target(keys.ingress(p), "ingress", "ingress", True, partner_holds[p], NO_ROUTER, partner=p)
              for p in partners]
    found.append(Target(keys.quarantine, "quarantine", "quarantine", True))
    found += [Target(keys.decisions, "audit", "audit", True, checkpointed=True),
              Target(keys.audit, "audit", "audit", True, checkpointed=True)]
    found += [Target(keys.consultations(t), "audit", "audit", True, team_holds[t], checkpointed=True) for t in teams]
    found.append(Target(keys.checkpoints, "audit", "audit", True, keep_newest=True))
    streams = {target.stream for target in found}
    for hold in policy.holds_of("stream"):  # a hold on no stream of this bus would protect nothing, silently
        if hold.value not in streams:
            raise RetentionError(f"{policy.source}: holds: {hold} names no stream of this bus (its streams start "
                                 f"{keys.prefix}:, e.g. {keys.feed(teams[0]) if teams else keys.decisions})")
    return found


@dataclass(slots=True)
class Subject:
    """What a hold can name in one entry."""

    partners: set[str] = field(default_factory=set)
    submissions: set[str] = field(default_factory=set)  # as dedupe keys (case-blind, as POLICY.md compares)
    teams: set[str] = field(default_factory=set)
    decision_ids: set[str] = field(default_factory=set)  # a feed entry's decision (its partner is there)


def subject(target: Target, keys: Keys, flat: Sequence[bytes]) -> Subject:
    """The partners, submissions and teams an entry is about, from every value of each field it carries (a
    hostile entry may repeat a field: each copy counts, so a hold cannot be dodged by a second copy)."""
    found = Subject()
    values: dict[bytes, list[bytes]] = {}
    for name, value in zip(flat[::2], flat[1::2], strict=False):
        values.setdefault(name, []).append(value)
    found.submissions.update(dedupe_key(_text(value)) for value in values.get(b"submission_id", []))
    if target.partner is not None:
        found.partners.add(target.partner)
    found.decision_ids.update(_text(v) for v in values.get(b"decision_id", []) if target.kind == "feed")
    streams = [_text(s) for s in values.get(b"stream", []) if target.kind == "quarantine"]
    found.partners.update(keys.partner_of(s) for s in streams if s.startswith(keys.ingress_prefix))
    documents = {"ingress": (b"payload",), "audit": (b"decision", b"event")}.get(target.kind, ())
    for name in documents:
        for doc in values.get(name, []):
            _from_document(_json(doc), found)
    return found


def _from_document(doc: object, found: Subject) -> None:
    if not isinstance(doc, dict):
        return
    if isinstance(doc.get("submission_id"), str):
        found.submissions.add(dedupe_key(doc["submission_id"]))
    if isinstance(doc.get("partner"), str):
        found.partners.add(doc["partner"])
    for listed in ("deliveries", "withheld"):
        items = doc.get(listed)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and isinstance(item.get("recipient"), str):
                found.teams.add(item["recipient"])


def _json(data: bytes) -> object:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")
