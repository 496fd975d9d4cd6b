"""A region's keys carry its hash tag (``<prefix>:{<region>}:...``), so each of the bus's atomic operations
stays in one Redis Cluster slot (issue 14's first step): checked against Redis's own ``CLUSTER KEYSLOT``, on
everything a real router, partner and team write under a region, and with the generated ACL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from acl_server import start_server
from node_tools import NODE_DIR, node_with
from policy_cases import intelligence_report, sar
from redis_procs import RedisProc
from redis_replies import stream_rows
from router_harness import drained, running_router

from bus.acl import acl_users
from bus.errors import ConfigError, PermissionDeniedError
from bus.keys import Keys, hash_slot
from bus.policy import load_ruleset
from bus.servers import free_cluster_port
from bus.settings import Settings
from consumers import TeamClient
from producers import PartnerClient

REGION = Keys.of("intel", "ne")
RULESET = load_ruleset()


@pytest.fixture(scope="module")
def cluster_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[redis.Redis]:
    """A cluster-enabled redis-server (no slots needed): its CLUSTER KEYSLOT is Redis's own hash."""
    folder = tmp_path_factory.mktemp("cluster-node")
    node = RedisProc(folder, free_cluster_port(), durable=False,
                     extra=("--cluster-enabled", "yes", "--cluster-config-file", str(folder / "nodes.conf"))).start()
    client = node.client()
    try:
        yield client
    finally:
        client.close()
        node.stop()


def every_key(keys: Keys) -> list[str]:
    """Every key the bus builds for the region's registry."""
    partners, teams = sorted(RULESET.partners), sorted(RULESET.team_ids)
    return [*(f(p) for p in partners for f in (keys.ingress, keys.receipts, keys.seen)),
            *(k for t in teams for k in (*keys.feeds(t), keys.consultations(t))),
            keys.decisions, keys.quarantine, keys.audit, keys.checkpoints, keys.checkpointer, keys.retainer,
            keys.retention, keys.archive, keys.trimmed, keys.scout, keys.scouted, keys.failures]


def test_the_slot_is_redis_clusters_own(cluster_node: redis.Redis) -> None:
    for key in ["123456789", "{user1000}.following", "foo{}{bar}", "foo{{bar}}zap", "foo{bar}{zap}", "{}", "a{b"]:
        assert hash_slot(key) == cluster_node.cluster("KEYSLOT", key), key
    assert hash_slot("123456789") == 0x31C3  # the specification's CRC16 check value


def test_every_key_of_a_region_is_in_its_slot_and_without_one_nothing_changes(cluster_node: redis.Redis) -> None:
    keys = every_key(REGION)
    assert all(key.startswith("intel:{ne}:") for key in keys) and REGION.slot is not None
    assert {cluster_node.cluster("KEYSLOT", key) for key in keys} == {REGION.slot}
    assert Keys.of("intel", "sw").slot != REGION.slot  # another region, another slot (these two differ)
    assert every_key(Keys.of("intel")) == every_key(Keys()) and Keys().slot is None
    assert Keys().ingress("hmrc") == "intel:ingress:hmrc"


def test_the_region_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTELBUS_REGION", "ne")
    assert Settings().keys() == REGION
    monkeypatch.delenv("INTELBUS_REGION")
    assert Settings().keys() == Keys()
    for bad in ("n e", "{ne}", "ne:x", "n.e", ""):  # "." too: an AsyncAPI parameter name cannot hold it
        with pytest.raises(ValueError, match="region"):
            Settings(region=bad)
    with pytest.raises(ConfigError, match="cannot be a Redis ACL key pattern"):
        acl_users(RULESET, Keys("intel:{ne}*"))
    for reserved in ("team", "partner"):  # the AsyncAPI document's own parameter names
        with pytest.raises(ValueError, match="choose another region id"):
            Settings(region=reserved)
    for bad in ("", "n e", "{x}"):
        with pytest.raises(ValueError, match="letters, digits"):
            Keys.of("intel", bad)
    assert Keys("intel:{}").slot is None and Keys("intel:{ne}").slot == hash_slot("ne")  # an empty tag is none


def test_a_regions_files_outside_redis_are_its_own(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).region_dir == tmp_path
    assert Settings(data_dir=tmp_path, region="ne").region_dir == tmp_path / "regions" / "ne"


async def test_the_node_partner_writes_its_regions_stream(redis_proc: RedisProc) -> None:
    node = node_with("redis")
    submission = sar(defence_type="daml")
    env = os.environ | {"REDIS_URL": redis_proc.url, "PARTNER": "ukfiu", "INTELBUS_REGION": "ne"}
    result = subprocess.run([node, "partner.mjs"], cwd=NODE_DIR, env=env, input=orjson.dumps(submission) + b"\n",
                            capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr
    client = aioredis.Redis.from_url(redis_proc.url)
    [(entry_id, fields)] = stream_rows(await client.xrange(REGION.ingress("ukfiu")))
    assert entry_id.decode() == result.stdout.decode().strip() and orjson.loads(fields[b"payload"]) == submission
    assert not await client.exists(Keys().ingress("ukfiu"))
    await client.aclose()


async def test_a_region_on_one_redis_writes_only_keys_in_its_slot(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    partner = PartnerClient(client, "force-durham", REGION)
    entry_ids = [await partner.publish(intelligence_report()),
                 await partner.publish(intelligence_report(threat_to_life=True,
                                                           submission_id="00000000-0000-4000-8000-0000000000a1"))]
    await client.xadd(REGION.ingress("ukfiu"), {"payload": orjson.dumps(sar(defence_type="daml"))})
    await client.xadd(REGION.ingress("ukfiu"), {"payload": b"junk"})
    team = TeamClient(client, "durham.fib", "analyst-1", REGION)
    async with running_router(redis_proc.url, region="ne") as router:
        await team.ensure_groups()
        await drained(router)
        receipts = await partner.wait_for_receipts(entry_ids, timeout=30)
        assert await team.ack_many(await team.read(count=10, block_ms=100)) == 2
        stats = router.stats
    assert stats.routed + stats.scouted == 3 and stats.quarantined == 1 and stats.failed == 0
    assert [r.outcome for r in receipts.values()] == ["accepted", "accepted"]
    written = [key.decode() async for key in client.scan_iter()]
    assert written and all(key.startswith("intel:{ne}:") for key in written), written
    assert {hash_slot(key) for key in written} == {REGION.slot}
    assert await client.xlen(REGION.decisions) == 4
    await client.aclose()


async def test_a_region_routes_with_its_generated_acl_and_nothing_outside_it(tmp_path: Path) -> None:
    """Each party as its own Redis user under the region's ACL: the router routes, the partner reads its
    receipt; none of them may touch the same keys without the region's tag."""
    server = start_server("7.0", tmp_path / "redis", keys=REGION)
    publisher = aioredis.Redis.from_url(server.url("partner-ukfiu"))
    try:
        loaded = subprocess.run([sys.executable, "-m", "bus.cli", "functions", "load"], capture_output=True,
                                text=True, env=os.environ | {"REDIS_URL": server.url("admin")}, timeout=60)
        assert loaded.returncode == 0, loaded.stderr
        partner = PartnerClient(publisher, "ukfiu", REGION)
        async with running_router(server.url("router"), region="ne") as router:
            entry_id = await partner.publish(sar(defence_type="daml"))
            await drained(router)
            [receipt] = (await partner.wait_for_receipts([entry_id], timeout=30)).values()
        assert receipt.outcome == "accepted" and router.stats.failed == 0
        with pytest.raises(PermissionDeniedError):  # the same partner's stream without the region's tag
            await PartnerClient(publisher, "ukfiu").publish(sar())
        with server.connect("router") as as_router, pytest.raises(redis.exceptions.NoPermissionError):
            as_router.xadd(Keys().decisions, {"decision": b"{}"})
        with server.connect("operator") as operator:
            assert operator.xlen(REGION.decisions) == 1
            with pytest.raises(redis.exceptions.NoPermissionError):
                operator.xlen(Keys().decisions)
    finally:
        await publisher.aclose()
        server.stop()
