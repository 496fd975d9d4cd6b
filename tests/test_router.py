"""The router on a real redis-server: routing, quarantine, dedupe, atomic commit, the whole keyspace."""

from __future__ import annotations

import subprocess
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import covert_report, intelligence_report, sar
from redis_procs import RedisProc
from redis_replies import decoded, stream_rows
from router_harness import decisions, drained, running_router

from bus.redis_binary import find_redis_cli
from bus.wire import quarantined_fields

pytestmark = pytest.mark.asyncio


def _redis_cli(proc: RedisProc, *args: str) -> str:
    cli = find_redis_cli()
    host, port = proc.url.removeprefix("redis://").split("/")[0].split(":")
    result = subprocess.run([str(cli), "-h", host, "-p", port, *args], capture_output=True, text=True, check=True)
    return result.stdout.strip()


async def _count(client: aioredis.Redis, key: str) -> int:
    return int(await client.xlen(key)) if await client.exists(key) else 0


async def test_a_redis_cli_partner_is_routed(redis_proc: RedisProc) -> None:
    payload = orjson.dumps(sar(defence_type="daml")).decode()
    entry_id = _redis_cli(redis_proc, "XADD", "intel:ingress:ukfiu", "*", "payload", payload)
    client = aioredis.Redis.from_url(redis_proc.url)
    async with running_router(redis_proc.url) as router:
        await drained(router)
    [record] = await decisions(client)
    assert record["status"] == "routed" and record["stream"] == "intel:ingress:ukfiu"
    assert record["entry_id"] == entry_id
    [(_, fields)] = stream_rows(await client.xrange("intel:feed:cleveland.fiu"))
    assert fields == {b"payload": payload.encode(), b"submission_id": record["submission_id"].encode(),
                      b"priority": b"routine", b"view": b"full", b"due": b"2026-12-30T23:59:59+00:00",
                      b"decision_id": record["decision_id"].encode()}
    assert (await client.xpending("intel:ingress:ukfiu", "router"))["pending"] == 0
    await client.aclose()


async def test_bad_entries_are_quarantined_whole_and_the_rest_route(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    good = [sar(submission_id=f"00000000-0000-4000-8000-00000000000{i}") for i in range(1, 4)]
    oversized = orjson.dumps(intelligence_report(narrative="x" * 20_000, sanitised_narrative="y" * 270_000))
    spoofed = orjson.dumps(intelligence_report(partner="force-durham"))
    bad_entries: list[dict[Any, Any]] = [
        {"payload": b"\xff\xfe\x00 not utf-8"}, {"payload": b'{"schema_version": 1,'}, {"payload": oversized},
        {"payload": spoofed}, {"body": b"{}"}, {"payload": orjson.dumps(good[0]), "trace": b"x"},
    ]
    for entry in [{"payload": orjson.dumps(good[0])}, *bad_entries[:4], {"payload": orjson.dumps(good[1])},
                  *bad_entries[4:], {"payload": orjson.dumps(good[2])}]:
        stream = "intel:ingress:hmrc" if entry.get("payload") == spoofed else "intel:ingress:ukfiu"
        await client.xadd(stream, entry)
    async with running_router(redis_proc.url) as router:
        await drained(router)
    assert await _count(client, "intel:decisions") == 9
    quarantine = [fields for _, fields in stream_rows(await client.xrange("intel:quarantine"))]
    reasons = [q[b"reason"].decode() for q in quarantine]
    assert len(quarantine) == 6
    kept = [quarantined_fields(q) for q in quarantine]
    assert ((b"payload", b"\xff\xfe\x00 not utf-8"),) in kept  # bytes exactly as received
    assert ((b"payload", orjson.dumps(good[0])), (b"trace", b"x")) in kept  # every field, in order
    assert any("not valid JSON" in r for r in reasons)
    assert any("262144 bytes" in r for r in reasons)
    assert any(r.startswith("spoofing:") for r in reasons)
    assert any("no payload field (it has: body)" in r for r in reasons)
    assert any("fields besides payload (trace)" in r for r in reasons)
    routed = [d for d in await decisions(client) if d["status"] == "routed"]
    assert sorted(d["submission_id"] for d in routed) == sorted(g["submission_id"] for g in good)
    assert (await client.xpending("intel:ingress:ukfiu", "router"))["pending"] == 0
    await client.aclose()


async def test_duplicates_get_one_duplicate_decision_and_nothing_routed(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    payload = orjson.dumps(covert_report(threat_to_life=True))
    for _ in range(3):
        await client.xadd("intel:ingress:force-durham", {"payload": payload})
    async with running_router(redis_proc.url) as router:
        await drained(router)
    records = await decisions(client)
    assert [r["status"] for r in records] == ["routed", "duplicate", "duplicate"]
    assert all(r["deliveries"] == [] for r in records[1:])
    assert [r["original_decision_id"] for r in records[1:]] == [records[0]["decision_id"]] * 2
    assert await client.xlen("intel:feed:durham.control:immediate") == 1
    assert not await client.exists("intel:feed:durham.control")
    [(_, control)] = stream_rows(await client.xrange("intel:feed:durham.control:immediate"))
    assert control[b"priority"] == b"immediate" and control[b"view"] == b"sanitised"
    assert b"CHIS-REF" not in control[b"payload"] and b"source_type" not in control[b"payload"]
    await client.aclose()


async def test_entries_written_before_the_router_ever_ran_are_routed(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(120)]
    for sid in ids:
        await client.xadd("intel:ingress:force-cleveland", {"payload": orjson.dumps(
            intelligence_report(partner="force-cleveland", area="Hartlepool", submission_id=sid))})
    async with running_router(redis_proc.url, batch_size=25) as router:
        await drained(router)
    assert sorted(d["submission_id"] for d in await decisions(client)) == ids
    assert await client.xlen("intel:feed:cleveland.fib") == 120
    await client.aclose()


async def test_whole_keyspace_after_a_run(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    await client.xadd("intel:ingress:ukfiu", {"payload": orjson.dumps(sar(glossary_codes=["XXV3XX"]))})
    await client.xadd("intel:ingress:ukfiu", {"payload": b"junk"})
    async with running_router(redis_proc.url) as router:
        await drained(router)
        partners = sorted(router.ruleset.partners)
    keys = {decoded(k): decoded(await client.type(k)) for k in await client.keys("*")}
    expected = {f"intel:ingress:{p}": "stream" for p in partners} | {
        "intel:decisions": "stream", "intel:quarantine": "stream", "intel:seen:ukfiu": "hash",
        "intel:feed:cleveland.safeguarding": "stream", "intel:feed:cleveland.polit": "stream",
        "intel:checkpoints": "stream", "intel:checkpointer": "string",  # the audit checkpointer and its lease
        "intel:receipt:ukfiu": "stream",  # the two receipts
    }  # no scouted or failures hash: nothing was scouted, nothing failed
    assert keys.pop("intel:scout", "hash") == "hash"  # there only if the scout looked before the group read
    assert keys == expected
    for partner in partners:
        groups = await client.xinfo_groups(f"intel:ingress:{partner}")
        assert {g["name"]: g["pending"] for g in groups} == {b"router": 0}
    [(sid, mark)] = (await client.hgetall("intel:seen:ukfiu")).items()
    [routed] = [d for d in await decisions(client) if d["status"] == "routed"]
    assert sid == sar()["submission_id"].encode()
    assert decoded(mark) == f"{routed['decision_id']} intel:ingress:ukfiu {routed['entry_id']}"
    await client.aclose()
