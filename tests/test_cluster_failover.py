"""A master SIGKILLed mid-traffic on a real Redis Cluster (issue 14): its replica is promoted, and the region's
two router processes, its partner and its team reconnect and carry on. With ``WAIT`` for one replica on every
publish and commit (``INTELBUS_REPLICAS=1``, ``bus.replicas``): no acknowledged submission is lost, none is
routed twice, every ingress entry on the promoted master is decided once.

What this cannot prove: that WAIT never loses a write (the Redis Cluster specification says a replica that
had it can still lose the election); the test proves what WAIT promises when the promoted replica had it."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import intelligence_report, sar
from redis_replies import stream_rows
from router_harness import drained, running_router, start_router_process, wait_until
from test_cluster import intelbus
from test_metrics import get, samples

from bus.errors import NotReplicatedError, TransportError, UnreachableError
from bus.keys import Keys
from bus.local_cluster import LocalCluster
from bus.replicas import Durability
from bus.servers import RedisProc, free_port, stop_process
from bus.settings import Settings
from bus.transport import client as redis_client
from consumers import TeamClient
from producers import PartnerClient

log = logging.getLogger(__name__)
NE = Keys.of("intel", "ne")
CHUNKS, CHUNK, KILL_AT = 60, 10, 20  # the master dies after 20 of 60 chunks are acknowledged
TEAM = "cleveland.fiu"  # where a DAML SAR from Middlesbrough goes


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalCluster]:
    started = LocalCluster(tmp_path / "cluster", durable=False).start()
    try:
        yield started
    finally:
        started.stop()


def sars() -> list[dict[str, Any]]:
    return [sar(submission_id=str(uuid.uuid4()), defence_type="daml") for _ in range(CHUNK)]


def threat_to_life() -> dict[str, Any]:
    """For the scout's lane, which must reconnect too."""
    return intelligence_report(submission_id=str(uuid.uuid4()), threat_to_life=True)


async def retried(operation: Any, attempts: int = 40) -> Any:
    """A team's or partner's call through the failover: a ``TransportError`` means try again."""
    for _ in range(attempts - 1):
        try:
            return await operation()
        except TransportError as exc:
            log.warning("retrying: %s", exc)
            await asyncio.sleep(0.25)
    return await operation()


async def reading(logs: list[Path]) -> bool:
    """Each router has said it is reading (its log line once its groups are made and its loops run)."""
    return all(log.exists() and " reading " in log.read_text() for log in logs)


async def strict_until_a_replica_rejoins(cluster: LocalCluster, dead: RedisProc, client: aioredis.Redis,
                                         tmp: Path) -> None:
    """The promoted master has no replica: a strict partner's publish is refused as not replicated (and
    stays on the master), and ``acl load`` says it could not reach the dead node; once that node restarts
    and rejoins, as the new master's replica, the strict publish passes."""
    strict = PartnerClient(client, "ukfiu", NE, attempts=1, durability=Durability(1, 200, strict=True))
    with pytest.raises(NotReplicatedError, match="on 0 of 1 replicas") as refused:
        await strict.publish(sar(submission_id=str(uuid.uuid4()), defence_type="daml"))
    assert len(refused.value.entry_ids) == 1
    acl = tmp / "acl"
    made = intelbus("acl", "generate", str(acl), "--cluster", "--redis-version",
                    "7" if dead.version >= (7,) else "6.2", INTELBUS_REGION="ne")
    loaded = intelbus("acl", "load", str(acl), REDIS_URL=cluster.url)  # the dead node cannot get them
    assert made.returncode == 0 and loaded.returncode == 1, loaded.stdout + loaded.stderr
    assert f"127.0.0.1:{dead.port} (failed): NOT SET" in loaded.stdout and "5 of 6 node(s) set" in loaded.stdout
    dead.start()
    cluster.wait_ready()
    assert [node.port for node in cluster.replicas_of(cluster.master_of(NE.slot or 0))] == [dead.port]
    strict = PartnerClient(client, "ukfiu", NE, attempts=1, durability=Durability(1, 3000, strict=True))
    await strict.publish(sar(submission_id=str(uuid.uuid4()), defence_type="daml"))
    assert strict.degraded == 0


async def read_all(team: TeamClient) -> list[str]:
    ids: list[str] = []
    while batch := await retried(lambda: team.read(count=200, block_ms=200)):
        ids.extend(delivery.submission_id for delivery in batch)
        await retried(lambda batch=batch: team.ack_many(batch))
    return ids


async def test_a_masters_death_loses_nothing_acknowledged_and_routes_nothing_twice(cluster: LocalCluster,
                                                                                   tmp_path: Path) -> None:
    assert NE.slot is not None
    master = cluster.master_of(NE.slot)
    [replica] = cluster.replicas_of(master)
    env = {"INTELBUS_REGION": "ne", "INTELBUS_REPLICAS": "1", "INTELBUS_CLAIM_IDLE_MS": "500"}
    logs = [tmp_path / f"router-{n}.log" for n in (1, 2)]
    ports = [free_port(), free_port()]
    routers = [start_router_process(cluster.url, log.stem, log, **env, INTELBUS_METRICS_PORT=str(port))
               for log, port in zip(logs, ports, strict=True)]
    client = redis_client(str(Settings(redis_url=cluster.url, region="ne").cluster_url()))
    try:
        ukfiu, durham = (PartnerClient(client, partner, NE, attempts=12, base_delay=0.1, durability=Durability(1, 1000))
                         for partner in ("ukfiu", "force-durham"))
        team = TeamClient(client, TEAM, "analyst-1", NE)
        await retried(team.ensure_groups)
        await wait_until(lambda: reading(logs), timeout=60)  # traffic starts with both routers at work
        acknowledged: dict[str, tuple[str, str]] = {}  # submission_id -> partner, the entry id its publish returned
        killed_at = resumed_at = 0.0
        for number in range(CHUNKS):
            if number == KILL_AT:
                master.kill9()
                killed_at = time.time()
            chunk = sars()
            ids = await ukfiu.publish_many(chunk)
            acknowledged.update((s["submission_id"], ("ukfiu", i)) for s, i in zip(chunk, ids, strict=True))
            if number == KILL_AT:
                resumed_at = time.time()
            if number % 5 == 0:
                urgent = threat_to_life()
                urgent_id = await retried(lambda urgent=urgent: durham.publish(urgent))
                acknowledged[urgent["submission_id"]] = ("force-durham", urgent_id)
        assert cluster.master_of(NE.slot).port == replica.port  # the replica took over
        for partner in (ukfiu, durham):  # every acknowledged entry decided: its receipt says so
            receipts = await partner.wait_for_receipts(
                [entry_id for who, entry_id in acknowledged.values() if who == partner.partner], timeout=120)
            assert {receipt.outcome for receipt in receipts.values()} == {"accepted"}
        read = await read_all(team)
        decided = [(entry_id.decode(), orjson.loads(fields[b"decision"]))
                   for entry_id, fields in stream_rows(await client.xrange(NE.decisions))]
        feed = [fields[b"submission_id"].decode() for stream in NE.feeds(TEAM)
                for _, fields in stream_rows(await client.xrange(stream))]
        entries = [(stream, entry_id.decode()) for stream in (NE.ingress("ukfiu"), NE.ingress("force-durham"))
                   for entry_id, _ in stream_rows(await client.xrange(stream))]
        consumers = {c["name"].decode() for c in await client.xinfo_consumers(NE.ingress("ukfiu"), "router")}
        degraded = ukfiu.degraded
        scraped = [samples((await get(port, "/metrics"))[1]) for port in ports]  # both still up, and saying so
        await strict_until_a_replica_rejoins(cluster, master, client, tmp_path)
    finally:
        await client.aclose()
        for router in routers:
            alive = router.poll() is None
            stop_process(router)
            assert alive, "a router died"

    routed = Counter(d["submission_id"] for _, d in decided if d["status"] == "routed")
    assert len(acknowledged) == CHUNKS * CHUNK + CHUNKS // 5
    assert set(acknowledged) <= set(routed)  # 0 acknowledged submissions lost
    assert max(routed.values()) == 1  # 0 routed twice
    assert Counter((d["stream"], d["entry_id"]) for _, d in decided) == Counter(entries)  # each entry decided once
    sars_routed = {d["submission_id"] for _, d in decided if d["status"] == "routed" and d["kind"] == "sar"}
    assert sorted(feed) == sorted(sars_routed)  # the team's feed holds each SAR once
    assert set(read) == sars_routed  # and the team, reconnected, read them all
    assert consumers == {"router-1", "router-2"}  # both routers took work from the one group
    assert degraded >= CHUNKS - KILL_AT - 1  # after the failover, until a replica rejoins: acknowledged degraded
    assert all(got[("intelbus_router_ready", ())] == 1 for got in scraped)
    assert sum(got[("intelbus_commits_unreplicated_total", ())] for got in scraped) >= 1  # operators see it too
    routing_resumed = min(int(decision_id.split("-")[0]) for decision_id, _ in decided
                          if int(decision_id.split("-")[0]) > killed_at * 1000) / 1000 - killed_at
    print(f"\nfailover: publishing resumed {resumed_at - killed_at:.2f} s and routing {routing_resumed:.2f} s after "
          f"the SIGKILL; {len(entries) - len(acknowledged)} entries beyond the acknowledged (re-sent chunks) decided")


async def test_a_planned_failover_moves_the_region_and_a_blocked_read_follows(cluster: LocalCluster,
                                                                             caplog: pytest.LogCaptureFixture) -> None:
    """``CLUSTER FAILOVER`` on the replica (an operator's planned switch): the old master becomes its replica,
    which ends a team's blocked read with ``UNBLOCKED … instance state changed``. That read fails as
    unreachable (the connection follows the slot), not as a missing group (which would recreate the groups at
    0); the router, a partner and the team carry on against the new master, each entry decided once."""
    assert NE.slot is not None
    master = cluster.master_of(NE.slot)
    [replica] = cluster.replicas_of(master)
    client = redis_client(str(Settings(redis_url=cluster.url, region="ne").cluster_url()))
    partner = PartnerClient(client, "ukfiu", NE, attempts=12, base_delay=0.1, durability=Durability(1, 1000))
    idle_team = TeamClient(client, "durham.fib", "analyst-2", NE)  # SARs never reach it: its read blocks
    try:
        async with running_router(cluster.url, region="ne", replicas=1) as router:
            await idle_team.ensure_groups()
            before = await partner.publish_many(sars())
            await drained(router)
            blocked = asyncio.create_task(idle_team.read(count=10, block_ms=30_000))
            await wait_until(lambda: blocked_on(replica, master))  # the read is blocked on the master
            with replica.client() as promoted:
                promoted.execute_command("CLUSTER", "FAILOVER")
            with pytest.raises(TransportError) as ended:
                await blocked
            assert isinstance(ended.value, UnreachableError), ended.value
            assert "no longer the region's master" in str(ended.value)  # UNBLOCKED, read as the slot moving
            after = await partner.publish_many(sars())  # retried until the new master answers
            await drained(router)
            assert cluster.master_of(NE.slot).port == replica.port
            receipts = await partner.wait_for_receipts([*before, *after], timeout=60)
            assert await retried(lambda: idle_team.read(count=10, block_ms=100)) == []  # it reads on
            stats = router.stats
        decided = [orjson.loads(fields[b"decision"]) for _, fields in stream_rows(await client.xrange(NE.decisions))]
    finally:
        await client.aclose()
    assert {r.outcome for r in receipts.values()} == {"accepted"} and len(receipts) == 2 * CHUNK
    assert stats.failed == 0 and Counter((d["stream"], d["entry_id"]) for d in decided) == Counter(
        (NE.ingress("ukfiu"), entry_id) for entry_id in [*before, *after])
    assert not [r for r in caplog.records if "recreated at 0" in r.getMessage()]


async def blocked_on(replica: RedisProc, master: RedisProc) -> bool:
    with master.client() as direct:
        return int(direct.info("clients")["blocked_clients"]) >= 1
