"""``intelbus asyncapi``: the AsyncAPI document of the whole bus validates with the AsyncAPI Initiative's parser
(no error, warning or hint), names the server as users reach it (never a password), and describes what the
real router writes: every field of a real entry on every stream is in its message, every required field is
there, and every JSON-valued field meets the schema the document gives it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import redis
import redis.asyncio as aredis
from node_tools import NODE_DIR, node_with
from policy_cases import covert_report, intelligence_report, sar
from redis_procs import RedisProc
from redis_replies import stream_rows
from referencing import Registry
from referencing.jsonschema import DRAFT7
from router_harness import drained, running_router

from bus.keys import Keys
from consumers import TeamClient

ROOT = Path(__file__).resolve().parent.parent
KEYS = Keys()


def document(env: dict[str, str] | None = None) -> dict[str, Any]:
    result = subprocess.run([sys.executable, "-m", "bus.cli", "asyncapi"], capture_output=True, cwd=ROOT, timeout=60,
                            env={k: v for k, v in os.environ.items() if k != "REDIS_URL"} | (env or {}))
    assert result.returncode == 0, result.stderr
    doc: dict[str, Any] = orjson.loads(result.stdout)
    return doc


def test_the_asyncapi_parser_finds_nothing_to_say(tmp_path: Path) -> None:
    node = node_with("@asyncapi/parser")
    path = tmp_path / "asyncapi.json"
    path.write_bytes(orjson.dumps(document()))
    checked = subprocess.run([node, "asyncapi-check.mjs", str(path)], cwd=NODE_DIR, capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "ok: AsyncAPI 3.1.0, 9 channels, 9 operations, 0 hints"


def test_a_regions_document_spells_its_keys_and_the_parser_finds_nothing_to_say(tmp_path: Path) -> None:
    node = node_with("@asyncapi/parser")
    doc = document({"INTELBUS_REGION": "ne"})
    ingress = doc["channels"]["ingress"]
    assert ingress["address"] == "intel:{ne}:ingress:{partner}" and ingress["parameters"]["ne"]["enum"] == ["{ne}"]
    assert doc["channels"]["decisions"]["address"] == "intel:{ne}:decisions"
    path = tmp_path / "asyncapi.json"
    path.write_bytes(orjson.dumps(doc))
    checked = subprocess.run([node, "asyncapi-check.mjs", str(path)], cwd=NODE_DIR, capture_output=True, text=True,
                             timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "ok: AsyncAPI 3.1.0, 9 channels, 9 operations, 0 hints"


def test_the_server_is_where_users_reach_the_bus_and_never_carries_a_password() -> None:
    remote = document({"REDIS_URL": "redis://operator:s3cret@redis.example:6380/2"})
    assert remote["servers"]["bus"]["host"] == "redis.example:6380" and b"s3cret" not in orjson.dumps(remote)
    assert remote["servers"]["bus"]["pathname"] == "/2"  # the database
    assert document({"REDIS_URL": "redis://[::1]:6380/0"})["servers"]["bus"]["host"] == "[::1]:6380"
    assert document({"REDIS_URL": "unix:///run/redis.sock"})["servers"]["bus"]["pathname"] == "/run/redis.sock"
    embedded = document()["servers"]["bus"]
    assert embedded["host"] == "localhost" and "intelbus redis url" in embedded["description"]


def _validator(doc: dict[str, Any], name: str) -> jsonschema.protocols.Validator:
    """A draft-07 validator (AsyncAPI Schema's vocabulary) of components/schemas/<name>, its references
    resolved inside the document."""
    registry: Registry[Any] = Registry().with_resource("urn:intelbus:asyncapi", DRAFT7.create_resource(doc))
    return jsonschema.Draft7Validator({"$ref": f"urn:intelbus:asyncapi#/components/schemas/{name}"},
                                      registry=registry, format_checker=jsonschema.FormatChecker())


def _check_entry(doc: dict[str, Any], message: str, fields: dict[bytes, bytes]) -> None:
    payload = doc["components"]["messages"][message]["payload"]
    names = {name.decode() for name in fields}
    patterns = [re.compile(p) for p in payload.get("patternProperties", {})]
    assert set(payload["required"]) <= names, (message, names)
    for name in names:
        assert name in payload["properties"] or any(p.match(name) for p in patterns), (message, name)
    for name, spec in payload["properties"].items():
        value = fields.get(name.encode())
        if value is None:
            continue
        schema_name = re.search(r"components/schemas/(\w+)", spec.get("description", ""))
        sanitised = fields.get(b"view") == b"sanitised"  # without the omitted fields: not a whole submission
        if spec.get("contentMediaType") == "application/json" and schema_name and not sanitised:
            errors = [e.message for e in _validator(doc, schema_name.group(1)).iter_errors(orjson.loads(value))]
            assert errors == [], (message, name, errors)
        elif "enum" in spec:
            assert value.decode() in spec["enum"], (message, name, value)


def _check_streams(doc: dict[str, Any], client: redis.Redis, message: str, streams: list[str]) -> int:
    """Every entry of ``streams`` against ``message``; returns how many were checked."""
    checked = 0
    for stream in streams:
        for _, fields in stream_rows(client.xrange(stream)):
            _check_entry(doc, message, fields)
            checked += 1
    return checked


async def test_every_stream_the_router_writes_is_described_field_by_field(redis_proc: RedisProc) -> None:
    doc = document()
    client = redis.Redis.from_url(redis_proc.url)
    try:
        client.xadd(KEYS.ingress("ukfiu"), {"payload": orjson.dumps(sar(defence_type="daml"))})
        client.xadd(KEYS.ingress("force-durham"), {"payload": orjson.dumps(intelligence_report(threat_to_life=True))})
        client.xadd(KEYS.ingress("force-durham"), {"payload": orjson.dumps(covert_report())})  # sanitised views
        client.xadd(KEYS.ingress("hmrc"), {"payload": b"{not json", "extra": b"x"})
        assert _check_streams(doc, client, "submission", [KEYS.ingress("ukfiu"), KEYS.ingress("force-durham")]) == 3
        async with running_router(redis_proc.url) as router:
            await drained(router)
        reader = aredis.Redis.from_url(redis_proc.url)
        try:
            team = TeamClient(reader, "cleveland.fiu", "analyst-1")
            await team.ensure_groups()
            assert await team.ack_many(await team.read(count=10, block_ms=100)) == 1
        finally:
            await reader.aclose()
        assert _check_streams(doc, client, "consultation", [KEYS.consultations("cleveland.fiu")]) == 2
        assert _check_streams(doc, client, "checkpoint", [KEYS.checkpoints]) > 0  # the router's checkpointer
        feeds = sorted(key.decode() for key in client.scan_iter(match="intel:feed:*"))
        immediate = [stream for stream in feeds if stream.endswith(":immediate")]
        receipts = [KEYS.receipts(p) for p in ("ukfiu", "force-durham", "hmrc")]
        counts = {message: _check_streams(doc, client, message, streams) for message, streams in {
            "decision": [KEYS.decisions], "quarantined": [KEYS.quarantine], "receipt": receipts,
            "delivery": [s for s in feeds if s not in immediate], "immediate": immediate}.items()}
        assert counts["decision"] == counts["receipt"] == 4 and counts["quarantined"] == 1, counts
        assert counts["immediate"] > 0, counts
        teams = doc["channels"]["immediate"]["parameters"]["team"]["enum"]
        assert {s.removeprefix("intel:feed:").removesuffix(":immediate") for s in feeds} <= set(teams)
        assert {doc["channels"][c]["address"] for c in ("decisions", "quarantine", "audit")} == {
            KEYS.decisions, KEYS.quarantine, KEYS.audit}
    finally:
        client.close()
