"""The router's /metrics, /healthz and /readyz on a real router and redis-server, scraped over HTTP and
parsed with prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import os
import sys

import redis.asyncio as aredis
from prometheus_client.parser import text_string_to_metric_families
from redis_procs import RedisProc, free_port
from router_harness import drained, running_router

from bus.endpoint import Endpoint
from bus.keys import Keys
from bus.policy import load_ruleset
from bus.progress import RouterStats
from bus.samples import realistic_mix
from producers import PartnerClient

RULESET = load_ruleset(None)


async def get(port: int, path: str, method: str = "GET") -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    reply = await reader.read()
    writer.close()
    head, _, body = reply.decode().partition("\r\n\r\n")
    return int(head.split(" ")[1]), body


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_a_scrape_counts_what_the_router_decided_and_what_waits(redis_proc: RedisProc) -> None:
    client = aredis.Redis.from_url(redis_proc.url)
    try:
        items = [s for s in realistic_mix(60, seed=9) if s["partner"] == "ukfiu"]
        await PartnerClient(client, "ukfiu").publish_many(items)
        async with running_router(redis_proc.url, metrics_port=0) as router:
            await drained(router)
            assert router.metrics_port is not None
            code, text = await get(router.metrics_port, "/metrics")
            assert code == 200
            got = samples(text)
            stats = router.stats
            assert got[("intelbus_decisions_total", (("status", "routed"),))] == stats.routed + stats.scouted
            assert got[("intelbus_decisions_total", (("status", "quarantined"),))] == stats.quarantined
            assert stats.routed + stats.scouted + stats.quarantined + stats.duplicate == len(items)
            assert got[("intelbus_ingress_waiting_entries", (("partner", "ukfiu"),))] == 0
            assert got[("intelbus_router_ready", ())] == 1
            assert got[("intelbus_commits_unreplicated_total", ())] == 0  # no WAIT asked: never short
            labels = {value for (_, pairs) in got for _, value in pairs}
            allowed = set(RULESET.partners) | set(RULESET.team_ids) | {"routine", "immediate", "routed",
                                                                         "quarantined", "duplicate", "poison"}
            assert labels <= allowed  # no submission id, nothing a partner wrote
            assert (await get(router.metrics_port, "/healthz"))[0] == 200
            assert await get(router.metrics_port, "/readyz") == (200, "ready\n")
            assert (await get(router.metrics_port, "/nope"))[0] == 404
            assert (await get(router.metrics_port, "/metrics", "POST"))[0] == 405
            assert await health(router.metrics_port) == 0  # the container healthcheck agrees
    finally:
        await client.aclose()


async def health(port: int | None) -> int:
    """``python -m bus.health`` as the container runs it."""
    env = {k: v for k, v in os.environ.items() if k != "INTELBUS_METRICS_PORT"}
    if port is not None:
        env["INTELBUS_METRICS_PORT"] = str(port)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bus.health", env=env,
                                                stderr=asyncio.subprocess.DEVNULL)
    return await proc.wait()


async def test_the_healthcheck_without_a_router_or_a_port() -> None:
    assert await health(None) == 0  # a container that runs no router (the deploy step, a team service)
    assert await health(free_port()) == 1  # nothing answers
    assert await health(0) == 1  # a port chosen afresh at each start cannot be checked from outside


async def test_not_ready_without_redis_or_before_consuming() -> None:
    dead = aredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}", socket_connect_timeout=1)
    consuming = [False]
    endpoint = Endpoint(dead, Keys(), RULESET, RouterStats, lambda: consuming[0])
    port = await endpoint.start("127.0.0.1", 0)
    try:
        code, body = await get(port, "/readyz")
        assert code == 503 and "not consuming" in body
        consuming[0] = True
        code, body = await get(port, "/readyz")
        assert code == 503 and "unreachable" in body
        code, text = await get(port, "/metrics")  # still answers, with what it knows without Redis
        assert code == 200 and samples(text)[("intelbus_router_ready", ())] == 0
        assert (await get(port, "/healthz"))[0] == 200
        assert await health(port) == 1
    finally:
        await endpoint.stop()
