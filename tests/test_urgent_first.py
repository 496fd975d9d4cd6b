"""DESIGN.md decision 5: an immediate delivery reaches its team while 100,000 routine submissions wait."""

from __future__ import annotations

import time

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import gain_request, intelligence_report
from redis_procs import RedisProc
from router_harness import running_router, wait_until

from consumers import TeamClient

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]
BACKLOG = 100_000


async def test_threat_to_life_overtakes_a_100k_backlog(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    template = orjson.dumps(gain_request(submission_id="00000000-0000-4000-8000-XXXXXXXXXXXX"))
    for start in range(0, BACKLOG, 10_000):
        pipe = client.pipeline(transaction=False)
        for i in range(start, start + 10_000):
            pipe.xadd("intel:ingress:hmrc", {"payload": template.replace(b"XXXXXXXXXXXX", b"%012d" % i)})
        await pipe.execute()
    team = TeamClient(client, "northumbria.control", "control-room-1")
    await team.ensure_groups()
    async with running_router(redis_proc.url, batch_size=200):
        await wait_until(lambda: client.exists("intel:decisions"), timeout=10)
        sent = time.monotonic()
        await client.xadd("intel:ingress:force-northumbria", {"payload": orjson.dumps(
            intelligence_report(partner="force-northumbria", area="Sunderland", threat_to_life=True))})
        [delivery] = await team.read(count=10, block_ms=5000)
        latency = time.monotonic() - sent
        still_queued = BACKLOG - int(await client.xlen("intel:decisions")) + 1
    assert delivery.priority == "immediate" and delivery.stream.endswith(":immediate")
    assert still_queued > 50_000, f"only {still_queued} routine submissions were still queued"
    assert latency < 2.0, f"the threat to life took {latency:.2f} s"
    await client.aclose()
