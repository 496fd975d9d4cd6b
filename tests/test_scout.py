"""A threat to life overtakes its own partner's backlog, and is still decided exactly once."""

from __future__ import annotations

import time
from collections import Counter

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import intelligence_report
from redis_procs import RedisProc
from router_harness import decisions, running_router, wait_until

from consumers import TeamClient

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]
BACKLOG = 30_000
PARTNER, STREAM = "force-northumbria", "intel:ingress:force-northumbria"


def _report(index: int, **overrides: object) -> bytes:
    return orjson.dumps(intelligence_report(partner=PARTNER, area="Sunderland",
                                            submission_id=f"00000000-0000-4000-8000-{index:012d}", **overrides))


async def test_threat_to_life_overtakes_its_own_partners_backlog(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    pipe = client.pipeline(transaction=False)
    for index in range(BACKLOG):
        pipe.xadd(STREAM, {"payload": _report(index)})
    await pipe.execute()
    team = TeamClient(client, "northumbria.control", "control-room-1")
    await team.ensure_groups()
    async with running_router(redis_proc.url) as router:
        await wait_until(lambda: client.exists("intel:decisions"), timeout=10)
        sent = time.monotonic()
        urgent = _report(BACKLOG, threat_to_life=True, themes=["firearms"])
        await client.xadd(STREAM, {"payload": urgent})
        await client.xadd(STREAM, {"payload": urgent})  # the partner's retry of it
        [delivery] = await team.read(count=10, block_ms=5000)
        latency = time.monotonic() - sent
        queued = BACKLOG - int(await client.xlen("intel:decisions"))
        await wait_until(lambda: _decided(client, BACKLOG + 2), timeout=60, interval=0.2)
        stats = router.stats
    assert delivery.priority == "immediate" and delivery.submission_id.endswith(f"{BACKLOG:012d}")
    assert latency < 2.0 and queued > 10_000, (latency, queued)
    records = await decisions(client)
    assert Counter(r["status"] for r in records) == {"routed": BACKLOG + 1, "duplicate": 1}
    per_entry = Counter(r["entry_id"] for r in records)
    assert set(per_entry.values()) == {1}, "an ingress entry was decided twice"
    assert await client.xlen("intel:feed:northumbria.control:immediate") == 1
    assert stats.already == 1  # the router group met the scouted entry and only acknowledged it
    pending = await client.xpending(STREAM, "router")
    assert pending["pending"] == 0
    await client.aclose()


async def _decided(client: aioredis.Redis, n: int) -> bool:
    return int(await client.xlen("intel:decisions")) >= n


@pytest.mark.parametrize(("fields", "urgent"), [
    ({b"payload": b'{"threat_to_life": true, "kind": "sar"}'}, True),
    ({b"payload": b'{"threat_to_life":true}'}, True),
    ({b"payload": b'{"threat_to_life": false}'}, False),
    ({b"payload": b'{"narrative": "no threat_to_life here", "threat_to_life": "true"}'}, False),
    ({b"payload": b'{"kind": "sar"}'}, False),
    ({b"payload": b'{"threat_to_life": true'}, False),
    ({b"payload": b'[{"threat_to_life": true}]'}, False),
    ({b"payload": b'{"threat_to_life": true}', b"extra": b"x"}, False),
    ({}, False), (None, False),
], ids=["true", "compact", "false", "string-true", "absent", "bad-json", "array", "extra-field", "empty", "none"])
async def test_the_scouts_filter(fields: dict[bytes, bytes] | None, urgent: bool) -> None:
    from bus.scout import is_urgent

    assert is_urgent(fields) is urgent
