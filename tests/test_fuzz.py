"""A seeded fuzz run: 3,000 partner entries, half of them hostile in every way a partner can write, on a
real redis-server. Every entry is decided exactly as it is decided alone, offline (``bus.hostile``)."""

from __future__ import annotations

import pytest
from redis_procs import RedisProc
from router_harness import drained, running_router

from bus.hostile import check_bus, hostile_entries, publish
from bus.keys import ROUTER_GROUP, Keys
from bus.service import ingress_streams

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]


@pytest.mark.parametrize("seed", [3, 4])
async def test_hostile_partners_cost_their_neighbours_nothing(redis_proc: RedisProc, seed: int) -> None:
    client, keys = redis_proc.client(), Keys()
    writes = hostile_entries(1500, seed=seed)
    async with running_router(redis_proc.url) as router:
        streams = ingress_streams(router.ruleset, keys)
        await drained(router)  # groups exist (at 0) before any partner writes: trims are then detectable
        publish(client, keys, writes)
        await drained(router)
        stats = router.stats
    report = check_bus(client, keys, router.engine, streams)
    assert report.problems == []
    assert report.entries == len(writes) - 46  # the trimmed entries are gone (audited on Redis 7)
    assert report.decisions == report.entries
    categories = {write.category for write in writes}
    assert len(categories) >= 20, categories
    assert report.statuses["routed"] > 500 and report.statuses["duplicate"] >= 1
    assert stats.poison == 0 and stats.failed == 0  # nothing a partner wrote broke the engine
    if client.info("server")["redis_version"].startswith("6."):
        assert report.audited_vanished == 0  # no entries-added on 6.2: trims there are not detectable
    else:
        assert report.audited_vanished == stats.trimmed == 46  # 50 entries, then an XADD with MAXLEN 5
    for stream in streams:
        assert client.xpending(stream, ROUTER_GROUP)["pending"] == 0
