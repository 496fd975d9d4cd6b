"""The AsyncAPI document of the whole bus (``intelbus asyncapi``, ``intelbus router --asyncapi``; ``intelbus
schema export`` writes it as ``asyncapi.json``): every stream a partner, team, operator or auditor reads or
writes, with its fields and their JSON Schemas, the consumer groups a reader creates, and the server as the
user will reach it. Hand-built rather than FastStream's: the router's reads are not FastStream
subscribers (``bus.router`` says why), and FastStream documents neither the feeds nor the logs. It
validates with the AsyncAPI Initiative's parser without an error, warning or hint
(``examples/node/asyncapi-check.mjs``, tests/test_asyncapi.py).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from bus.cluster import is_cluster
from bus.cluster import parse as parse_cluster
from bus.keys import Keys
from bus.policy import Ruleset
from bus.reasons import REASON_CLASSES
from bus.receipts import AFTER_ADMISSION, OUTCOMES
from schemas.export import Admission, submission_schema


def admission_of(ruleset: Ruleset) -> Admission:
    """The ruleset's admission rules a JSON Schema can state."""
    return Admission(tuple(sorted(ruleset.classifications)),
                     {name: frozenset(rights.kinds) for name, rights in ruleset.partners.items()},
                     frozenset(name for name, rights in ruleset.partners.items() if rights.police),
                     tuple(sorted(ruleset.covert_source_types)))


def region_submission_schema(ruleset: Ruleset) -> dict[str, Any]:
    return submission_schema(ruleset.area_names, ruleset.team_ids, ruleset.handling_conditions, admission_of(ruleset))


# --- the whole bus, as its users meet it (``intelbus asyncapi``; ``schema export`` writes asyncapi.json) ---

STRING = {"type": "string"}
JSON_TEXT = {"type": "string", "contentMediaType": "application/json"}


def _entry(fields: dict[str, Any], required: list[str], description: str, **extra: Any) -> dict[str, Any]:
    """A stream entry's fields, as an object of strings (Redis holds every value as bytes)."""
    return {"type": "object", "description": description, "properties": fields, "required": required,
            "additionalProperties": False, **extra}


def _json_field(schema: str, what: str) -> dict[str, Any]:
    return {**JSON_TEXT, "description": f"{what}: UTF-8 JSON, valid against components/schemas/{schema}"}


DELIVERY = {"type": "object", "required": ["recipient", "view", "priority", "due", "rules", "omitted"], "properties": {
    "recipient": STRING, "view": {"enum": ["full", "sanitised"]},
    "priority": {"enum": ["immediate", "high", "routine"]}, "due": {"type": ["string", "null"], "format": "date-time"},
    "rules": {"type": "array", "items": STRING}, "omitted": {"type": "array", "items": STRING}}}
DECISION = {
    "type": "object", "description": "The decision record (README, 'The decision record')",
    "required": ["submission_id", "partner", "kind", "status", "reason", "deliveries", "withheld", "ruleset",
                 "reference", "decided_at"],
    "properties": {
        "submission_id": {"type": ["string", "null"]}, "partner": {"type": ["string", "null"]},
        "kind": {"type": ["string", "null"]}, "status": {"enum": ["routed", "quarantined", "duplicate"]},
        "reason": {"type": ["string", "null"]}, "deliveries": {"type": "array", "items": DELIVERY},
        "withheld": {"type": "array", "items": {"type": "object", "required": ["recipient", "reason", "rule"],
                                                "properties": {"recipient": STRING, "reason": STRING, "rule": STRING}}},
        "possible_matches": {"type": "array", "items": {"type": "object"}},
        "ocg_links": {"type": "array", "items": {"type": "object"}},
        "ruleset": STRING, "reference": STRING, "decided_at": {"type": "string", "format": "date-time"},
        "claimed_partner": STRING, "original_decision_id": STRING,
        "stream": {**STRING, "description": "the ingress stream of the entry decided"},
        "entry_id": {**STRING, "description": "its id there"}}}
CONSULTATION = {
    "type": "object", "required": ["team", "consumer", "action", "decision_ids", "entries", "at"],
    "additionalProperties": False, "properties": {
        "team": STRING, "consumer": STRING, "action": {"enum": ["read", "ack"]},
        "decision_ids": {"type": "array", "items": STRING},
        "entries": {"type": "array", "items": {**STRING, "description": "\"<feed stream> <entry id>\""}},
        "at": {"type": "string", "format": "date-time"}}}
AUDIT_EVENT = {"type": "object", "required": ["type"], "properties": {"type": {
    "enum": ["erasure", "archived", "ingress_trimmed", "ingress_deleted_while_pending", "audit_log_shrank"]}},
    "description": "README, 'The bus on Redis streams': the intel:audit row"}


def _portable(schema: Any) -> Any:
    """A JSON Schema 2020-12 document as AsyncAPI Schema (draft-07's vocabulary): its ``$defs`` become
    components, their references follow."""
    if isinstance(schema, dict):
        out = {k: _portable(v) for k, v in schema.items() if k not in ("$defs", "$schema")}
        if isinstance(out.get("$ref"), str):
            out["$ref"] = out["$ref"].replace("#/$defs/", "#/components/schemas/")
        return out
    if isinstance(schema, list):
        return [_portable(item) for item in schema]
    return schema


def _feed_entry(priority: list[str]) -> dict[str, Any]:
    return _entry({
        "payload": {**JSON_TEXT, "description": "the team's view: UTF-8 JSON, the partner's submission byte for byte "
                    "(valid against components/schemas/Submission) when view is full; when sanitised, the same "
                    "without the fields the decision's delivery lists as omitted"},
        "submission_id": STRING, "priority": {"enum": priority}, "view": {"enum": ["full", "sanitised"]},
        "due": {**STRING, "description": "RFC 3339, or empty"},
        "decision_id": {**STRING, "description": "its decision's entry id in the decisions stream"}},
        ["payload", "submission_id", "priority", "view", "due", "decision_id"], "One delivery to the team")


def bus_document(keys: Keys, ruleset: Ruleset, server: dict[str, str], submission: dict[str, Any],
                 version: str) -> dict[str, Any]:
    """The AsyncAPI 3 document (3.1.0) of the whole bus: every stream a partner, team, operator or auditor reads
    or writes, its fields and their schemas, the groups a reader creates, and ``server``."""
    p = keys.prefix
    partners, teams = sorted(ruleset.partners), sorted(ruleset.team_ids)
    defs = {name: _portable(body) for name, body in submission.get("$defs", {}).items()}
    schemas = {**defs, "Submission": _portable(submission), "Decision": DECISION, "Consultation": CONSULTATION,
               "AuditEvent": AUDIT_EVENT}
    messages = {
        "submission": {"name": "submission", "title": "A partner's submission", "payload": _entry(
            {"payload": _json_field("Submission", "the submission (SUBMISSIONS.md), at most 256 KiB")}, ["payload"],
            "One field, payload; nothing else (an entry with other fields is quarantined)")},
        "delivery": {"name": "delivery", "title": "A routed delivery", "payload": _feed_entry(["high", "routine"])},
        "immediate": {"name": "immediate", "title": "A threat-to-life delivery", "payload": _feed_entry(["immediate"])},
        "receipt": {"name": "receipt", "title": "What became of a partner's entry", "payload": _entry(
            {"entry_id": {**STRING, "description": "the ingress entry's id, as the partner's XADD returned it"},
             "submission_id": {**STRING, "description": "as the partner wrote it; empty when none could be read"},
             "outcome": {"enum": list(OUTCOMES)},
             "decision_id": {**STRING, "description": "its decision's entry id in the decisions stream"},
             "reason_class": {"enum": sorted({name for _, name in REASON_CLASSES} - {AFTER_ADMISSION} | {"other"}),
                              "description": "quarantined only: the reason's class"},
             "reason": {**STRING, "description": "quarantined only: why, about the entry as the partner wrote it "
                                                   "(poison and other: a fixed sentence)"},
             "original_decision_id": {**STRING, "description": "duplicate only: the decision it repeats"}},
            ["entry_id", "submission_id", "outcome", "decision_id"],
            "One per decided entry, written with its decision: accepted (admitted; what routing made of it is "
            "the region's), quarantined (refused by the admission or wire checks, or poison) or duplicate; never "
            "who received it")},
        "decision": {"name": "decision", "title": "A decision", "payload": _entry(
            {"decision": _json_field("Decision", "the decision record")}, ["decision"], "One decision per entry")},
        "quarantined": {"name": "quarantined", "title": "An entry routed to nobody", "payload": _entry(
            {"reason": STRING, "stream": STRING, "entry_id": STRING, "submission_id": STRING, "decision_id": STRING,
             "kept": {"enum": ["copy", "ingress"]}, "fields": {**STRING, "description": "n, the fields copied"}},
            ["reason", "stream", "entry_id", "submission_id", "decision_id", "kept", "fields"],
            "Then field:1, value:1 ... field:n, value:n: the entry exactly as received (bytes)",
            patternProperties={"^(field|value):[0-9]+$": STRING})},
        "consultation": {"name": "consultation", "title": "A consultation record (DPA 2018 s.62)", "payload": _entry(
            {"consultation": _json_field("Consultation", "who read or acked which deliveries")}, ["consultation"],
            "One per read that returned deliveries and one per ack; no payload")},
        "checkpoint": {"name": "checkpoint", "title": "A signed checkpoint", "payload": _entry(
            {"checkpoint": {**JSON_TEXT, "description": "the signed checkpoint as a JSON line {body, signature, "
                            "leaves} (README, 'For auditors'), the same as in the file outside Redis"}}, ["checkpoint"],
            "Written by the router's checkpointer; intelbus audit verify checks them")},
        "auditEvent": {"name": "auditEvent", "title": "An audit event", "payload": _entry(
            {"event": _json_field("AuditEvent", "the event")}, ["event"], "Retention steps, partner trims")},
    }
    team_param = {"team": {"enum": teams, "description": "a team id of the region's ruleset"}}
    channels = {
        "ingress": {"address": f"{p}:ingress:{{partner}}", "title": "A partner's ingress stream",
                    "parameters": {"partner": {"enum": partners, "description": "a partner id of the registry"}},
                    "messages": {"submission": {"$ref": "#/components/messages/submission"}},
                    "description": "Written by the partner (XADD, as its own Redis user), read by the router group "
                                   "`router`."},
        "feed": {"address": f"{p}:feed:{{team}}", "title": "A team's routine and high feed", "parameters": team_param,
                 "messages": {"delivery": {"$ref": "#/components/messages/delivery"}}},
        "immediate": {"address": f"{p}:feed:{{team}}:immediate", "title": "A team's immediate feed (threat to life)",
                      "parameters": team_param, "messages": {"immediate": {"$ref": "#/components/messages/immediate"}}},
        "receipts": {"address": f"{p}:receipt:{{partner}}", "title": "A partner's receipts",
                     "parameters": {"partner": {"enum": partners, "description": "a partner id of the registry"}},
                     "messages": {"receipt": {"$ref": "#/components/messages/receipt"}},
                     "description": "Written by the router with each decision; read by that partner only (its Redis "
                                    "user), without a group. Kept for keep.receipts (retention.yaml)."},
        "decisions": {"address": keys.decisions, "title": "The decision log",
                      "messages": {"decision": {"$ref": "#/components/messages/decision"}}},
        "quarantine": {"address": keys.quarantine, "title": "What was routed to nobody, and why",
                       "messages": {"quarantined": {"$ref": "#/components/messages/quarantined"}}},
        "consultations": {"address": f"{p}:consult:{{team}}", "title": "A team's consultation records",
                          "parameters": team_param,
                          "messages": {"consultation": {"$ref": "#/components/messages/consultation"}}},
        "audit": {"address": keys.audit, "title": "Audit events",
                  "messages": {"auditEvent": {"$ref": "#/components/messages/auditEvent"}}},
        "checkpoints": {"address": keys.checkpoints, "title": "Signed audit checkpoints",
                        "messages": {"checkpoint": {"$ref": "#/components/messages/checkpoint"}}},
    }
    _tag_parameter(p, channels)
    group = ("Create the group once, at 0: XGROUP CREATE {address} team 0 MKSTREAM; then XREADGROUP GROUP team "
             "<consumer> ... STREAMS {p}:feed:<team>:immediate {p}:feed:<team> > > (immediate first), XACK each "
             "delivery, and for each read and ack XADD a consultation record.")

    def op(action: str, channel: str, message: str, title: str, description: str) -> dict[str, Any]:
        return {"action": action, "title": title, "description": description,
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{message}"}]}

    operations = {
        "publishSubmission": op("send", "ingress", "submission", "A partner publishes",
                                "XADD <prefix>:ingress:<partner> * payload <JSON>, as the partner's Redis user."),
        "readReceipts": op("receive", "receipts", "receipt", "A partner reads what became of its entries",
                           "XREAD [BLOCK ms] STREAMS <prefix>:receipt:<partner> <id> (no group), from just before "
                           "the first entry id its XADDs returned, keeping the receipts whose entry_id it wrote; "
                           "producers.PartnerClient.wait_for_receipts does it."),
        "readFeed": op("receive", "feed", "delivery", "A team reads its feed",
                       group.format(address=f"{p}:feed:<team>", p=p)),
        "readImmediate": op("receive", "immediate", "immediate", "A team reads threats to life first",
                            group.format(address=f"{p}:feed:<team>:immediate", p=p)),
        "recordConsultation": op("send", "consultations", "consultation", "A team records what it consulted",
                                 "XADD <prefix>:consult:<team> * consultation <JSON>, as the team's Redis user."),
        "replayDecisions": op("receive", "decisions", "decision", "Operators and auditors replay decisions",
                              "XRANGE (no group); intelbus decisions, intelbus audit verify/export."),
        "reviewQuarantine": op("receive", "quarantine", "quarantined", "Operators review the quarantine",
                               "XRANGE (no group); intelbus console shows it."),
        "readAudit": op("receive", "audit", "auditEvent", "Auditors read audit events", "XRANGE (no group)."),
        "readCheckpoints": op("receive", "checkpoints", "checkpoint", "Auditors read the signed checkpoints",
                              "XRANGE (no group); intelbus audit verify and export use them."),
    }
    return {
        "asyncapi": "3.1.0",
        "info": {"title": "intelbus", "version": version, "description": (
            "The regional intelligence-sharing bus on Redis streams. Every value is a string; JSON-valued fields "
            "say which schema in components/schemas they meet. Partners and teams each log in as their own Redis "
            "user (intelbus acl generate).")},
        "defaultContentType": "application/json",
        "servers": {"bus": server},
        "channels": channels, "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _tag_parameter(prefix: str, channels: dict[str, Any]) -> None:
    """A region's hash tag (``intel:{ne}``) reads as a parameter in an AsyncAPI address: declare it, with the
    tag itself, braces included, as its only value, so that each address still spells the real key."""
    tag = re.search(r"\{([A-Za-z0-9_-]+)\}", prefix)
    if tag is None:
        return
    parameter = {"enum": [tag.group(0)], "description": f"the region's hash tag, exactly {tag.group(0)} (its "
                 "keys share one Redis Cluster slot)"}
    for channel in channels.values():
        channel["parameters"] = {**channel.get("parameters", {}), tag.group(1): parameter}


def document(keys: Keys, ruleset: Ruleset, redis_url: str | None) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        release = version("intelbus")
    except PackageNotFoundError:
        release = "0.0.0"
    return bus_document(keys, ruleset, server_for(redis_url), region_submission_schema(ruleset), release)


def server_for(url: str | None) -> dict[str, str]:
    """Where users reach the bus: REDIS_URL's address and database (never its credentials), else the
    embedded server (a unix socket: ``intelbus redis url`` prints it)."""
    if not url:
        return {"host": "localhost", "protocol": "redis",
                "description": "the embedded redis-server intelbus starts, on a unix socket under <data_dir>/redis "
                               "(`intelbus redis url` prints it); set REDIS_URL to document another"}
    if is_cluster(url):
        seeds = [f"{host}:{port}" for host, port in parse_cluster(url).seeds]
        return {"host": seeds[0], "protocol": "redis",
                "description": f"a Redis Cluster (REDIS_URL, redis+cluster://), seed nodes {', '.join(seeds)}: each "
                               "region's keys are in one hash slot, served by one master at a time (bus.cluster)"}
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return {"host": "localhost", "pathname": parts.path, "protocol": "redis",
                "description": f"the bus's Redis on the unix socket {parts.path} (REDIS_URL)"}
    address = parts.netloc.rpartition("@")[2]
    address = address if parts.port else f"{address}:6379"
    database = parts.path.strip("/") or "0"
    return {"host": address, "pathname": f"/{database}", "protocol": "rediss" if parts.scheme == "rediss" else "redis",
            "description": f"the bus's Redis (REDIS_URL), database {database}"}
