"""Poison entries and Redis crashes, on a real redis-server (issue: fault tolerance)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import intelligence_report
from redis_procs import RedisProc
from redis_replies import stream_rows
from router_harness import decisions, drained, running_router

from bus.policy import decide_payload
from bus.wire import quarantined_fields

pytestmark = pytest.mark.asyncio


def _poisoned(raw: bytes, *args: Any, **kwargs: Any) -> Any:
    """The real engine, except that one submission trips an engine bug, every time."""
    if b"POISON" in raw:
        raise ZeroDivisionError("engine bug on this submission")
    return decide_payload(raw, *args, **kwargs)


async def _xlen(client: aioredis.Redis, key: str) -> int:
    return int(await client.xlen(key)) if await client.exists(key) else 0


async def test_poison_is_retried_then_quarantined_and_never_blocks_the_rest(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(41)]
    for index, sid in enumerate(ids):
        narrative = "POISON in the narrative" if index == 20 else "routine report"
        await client.xadd("intel:ingress:force-durham",
                          {"payload": orjson.dumps(intelligence_report(submission_id=sid, narrative=narrative))})
    async with running_router(redis_proc.url, decider=_poisoned, max_deliveries=3, claim_idle_ms=150,
                              batch_size=10) as router:
        await drained(router)
        stats = router.stats
    records = await decisions(client)
    assert Counter(r["status"] for r in records) == {"routed": 40, "quarantined": 1}
    [poison] = [r for r in records if r["status"] == "quarantined"]
    assert poison["entry_id"] and poison["stream"] == "intel:ingress:force-durham"
    assert poison["reason"].startswith("poison: processing failed 3 times (limit 3)")
    assert "ZeroDivisionError: engine bug on this submission" in poison["reason"]
    [(_, quarantined)] = stream_rows(await client.xrange("intel:quarantine"))
    [(name, payload)] = quarantined_fields(quarantined) or ()
    assert name == b"payload" and b"POISON in the narrative" in payload
    assert (await client.xpending("intel:ingress:force-durham", "router"))["pending"] == 0
    assert stats.failed == 3 and stats.poison == 1
    assert not await client.exists("intel:failures")  # the recorded error went with the quarantine
    assert await client.xlen("intel:feed:durham.fib") == 40
    await client.aclose()


async def test_redis_kill9_and_aof_restart_mid_run_loses_and_repeats_nothing(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    ids = [f"00000000-0000-4000-8000-{i:012d}" for i in range(1500)]
    pipe = client.pipeline(transaction=False)
    for sid in ids:
        pipe.xadd("intel:ingress:force-cleveland", {"payload": orjson.dumps(
            intelligence_report(partner="force-cleveland", area="Middlesbrough", submission_id=sid))})
    await pipe.execute()
    async with running_router(redis_proc.url, batch_size=20, claim_idle_ms=500) as router:
        await asyncio.wait_for(router.progress.until(lambda stats: stats.routed > 0), 30)
        await asyncio.to_thread(redis_proc.kill9)  # mid-run: 1,500 entries at 20 a batch
        await asyncio.sleep(0.3)  # Redis stays down a while (the fault, not a synchronisation)
        await asyncio.to_thread(redis_proc.restart)
        await drained(router)
    await client.aclose()
    client = aioredis.Redis.from_url(redis_proc.url)  # its connections died with the server
    records = await decisions(client)
    per_id = Counter(r["submission_id"] for r in records)
    assert set(per_id) == set(ids) and set(per_id.values()) == {1}
    assert await client.xlen("intel:feed:cleveland.fib") == 1500
    assert (await client.xpending("intel:ingress:force-cleveland", "router"))["pending"] == 0
    await client.aclose()


@pytest.mark.parametrize("loss", ["group destroyed", "stream deleted"])
async def test_a_vanished_group_is_recreated_at_0_and_logged(redis_proc: RedisProc, loss: str,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    stream = "intel:ingress:ukfiu"
    first, second = (sar_payload(i) for i in (1, 2))
    async with running_router(redis_proc.url) as router:
        await client.xadd(stream, {"payload": first})
        await drained(router)
        if loss == "group destroyed":
            await client.xgroup_destroy(stream, "router")
        else:
            await client.delete(stream)
        await client.xadd(stream, {"payload": second})
        await drained(router)
        # recreated at 0: after a destroyed group the old entry is read again, known, and only acknowledged
        assert router.stats.already == (1 if loss == "group destroyed" else 0)
    records = await decisions(client)
    assert [r["status"] for r in records] == ["routed", "routed"]
    assert [r["submission_id"] for r in records] == [orjson.loads(p)["submission_id"] for p in (first, second)]
    assert await client.xlen("intel:feed:cleveland.fiu") == 2
    assert any(r.levelname == "CRITICAL" and "was missing" in r.getMessage() for r in caplog.records)
    await client.aclose()


def sar_payload(index: int) -> bytes:
    from policy_cases import sar

    return orjson.dumps(sar(submission_id=f"00000000-0000-4000-8000-00000000000{index}"))
