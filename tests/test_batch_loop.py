"""The router's batch loop: a batch's threats to life are committed before the rest of it, and deciding in
small chunks (to let the scout in) does not cut one commit call per chunk."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import intelligence_report
from redis_procs import RedisProc
from redis_replies import stream_rows
from router_harness import decisions, settings_for

from bus.batch import COMMIT_BYTES, Engine, Planner
from bus.commit import Committer
from bus.keys import Keys
from bus.lanes import Lanes
from bus.library import Library
from bus.policy import load_policy
from bus.progress import Progress
from bus.router import PLAN_ENTRIES, BatchLoop, ensure_groups
from bus.wire import PAYLOAD, Entry

PARTNER = "force-northumbria"
KEYS = Keys()
STREAM = KEYS.ingress(PARTNER)


def _report(index: int, **overrides: object) -> bytes:
    return orjson.dumps(intelligence_report(partner=PARTNER, area="Sunderland",
                                            submission_id=f"00000000-0000-4000-8000-{index:012d}", **overrides))


def _entry(index: int, payload: bytes) -> Entry:
    return Entry(STREAM, f"{index + 1}-0", ((PAYLOAD, payload),), len(PAYLOAD) + len(payload), 1)


def test_a_planner_fed_in_chunks_cuts_plans_by_entries_and_bytes_only() -> None:
    ruleset, reference = load_policy(None, None)
    clock_calls: list[datetime] = []

    def clock() -> datetime:
        clock_calls.append(datetime.now(UTC))
        return clock_calls[-1]

    engine = Engine(ruleset, reference, KEYS, clock=clock)
    entries = [_entry(i, _report(i)) for i in range(230)]
    planner = Planner(engine, engine.writes, max_entries=100)
    for start in range(0, len(entries), PLAN_ENTRIES):
        planner.add(entries[start:start + PLAN_ENTRIES])
    assert [len(plan.entries) for plan in planner.plans] == [100, 100, 30]
    assert [e for plan in planner.plans for e in plan.entries] == entries  # in order, each once
    assert len(clock_calls) == 1 and planner.failures == []  # one `now` for the whole batch

    big = [_entry(i, _report(i, narrative="x" * 90_000)) for i in range(60)]  # ~0.18 MB of arguments each
    by_bytes = Planner(engine, engine.writes, max_entries=100)
    by_bytes.add(big)
    assert len(by_bytes.plans) > 1 and all(plan.size - COMMIT_BYTES < 200_000 for plan in by_bytes.plans)
    assert sum(len(plan.entries) for plan in by_bytes.plans) == 60


@pytest.mark.asyncio
async def test_a_batchs_threat_to_life_is_committed_before_the_rest_of_it(redis_proc: RedisProc) -> None:
    """Order, not time: the group reads a threat to life behind 60 routine entries in one batch (no scout
    here); its decision and immediate delivery are written before any of the batch's routine ones."""
    client = aioredis.Redis.from_url(redis_proc.url)
    pipe = client.pipeline(transaction=False)
    for index in range(60):
        pipe.xadd(STREAM, {"payload": _report(index)})
    pipe.xadd(STREAM, {"payload": _report(60, threat_to_life=True, themes=["firearms"])})
    await pipe.execute()
    ruleset, reference = load_policy(None, None)
    library = Library(client)
    await library.prepare()
    streams = [STREAM]
    await ensure_groups(client, streams, counted=library.uses_functions)  # 6.2: no ENTRIESREAD, as the router
    progress = Progress()
    engine = Engine(ruleset, reference, KEYS)
    loop = BatchLoop(library, Committer(client, library, KEYS, "loop-test"), engine,
                     settings_for(redis_proc.url, batch_size=200), streams, "loop-test", progress)
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.wait_for(progress.until_idle(), 30)
    stop.set()
    await asyncio.wait_for(task, 30)
    records = await decisions(client)
    assert len(records) == 61 and progress.stats.routed == 61
    assert records[0]["submission_id"].endswith(f"{60:012d}")  # the threat to life first
    ingress = [entry_id.decode() for entry_id, _ in stream_rows(await client.xrange(STREAM))]
    assert [r["entry_id"] for r in records] == [ingress[60], *ingress[:60]]  # then the rest, in order
    [(feed_id, _)] = stream_rows(await client.xrange(KEYS.feed("northumbria.control", "immediate")))
    assert feed_id.decode() < records[1]["decision_id"]  # delivered before the first routine decision
    await client.aclose()


@pytest.mark.asyncio
async def test_routine_calls_wait_while_the_scout_commits() -> None:
    """Order, not time: a routine call asked for while urgent work is in hand goes after it, and at once
    when there is none."""
    lanes, order = Lanes(), []

    async def routine(name: str) -> None:
        await lanes.routine()
        order.append(name)

    await routine("before")  # nothing urgent: no wait
    async with lanes.urgent():
        waiting = asyncio.create_task(routine("held"))
        async with lanes.urgent():  # nested (the scout commits again): still held
            await asyncio.sleep(0)
        for _ in range(3):
            await asyncio.sleep(0)
        order.append("urgent done")
    await waiting
    assert order == ["before", "urgent done", "held"]
