"""DESIGN.md decision 5: an immediate delivery reaches its team while 100,000 routine submissions wait.

Order, not wall time: the threat to life is in the control room's feed while more than half of the
backlog (another partner's) is still undecided."""

from __future__ import annotations

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import gain_request, intelligence_report
from redis_procs import RedisProc
from router_harness import running_router

from consumers import Delivery, TeamClient

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
    async with running_router(redis_proc.url, batch_size=200) as router:
        await router.progress.until(lambda stats: stats.routed > 0)
        await client.xadd("intel:ingress:force-northumbria", {"payload": orjson.dumps(
            intelligence_report(partner="force-northumbria", area="Sunderland", threat_to_life=True))})
        deliveries: list[Delivery] = []
        while not deliveries:  # a blocking read: returns as soon as the delivery is there
            deliveries = await team.read(count=10, block_ms=1000)
        still_queued = BACKLOG + 1 - int(await client.xlen("intel:decisions"))
    [delivery] = deliveries
    assert delivery.priority == "immediate" and delivery.stream.endswith(":immediate")
    assert still_queued > BACKLOG // 2, f"only {still_queued} routine submissions were still queued"
    await client.aclose()
