"""A threat to life overtakes its own partner's backlog, and is still decided exactly once; the scout's
scan inside Redis survives whatever ids and entries a partner writes."""

from __future__ import annotations

from collections import Counter

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import intelligence_report
from redis_procs import RedisProc
from redis_replies import command, decoded, stream_rows
from router_harness import decisions, drained, running_router

from bus.commit import Committer
from bus.keys import Keys
from bus.library import Library, Operation
from bus.plan import Plan, Position
from bus.scout import scan_reply
from bus.wire import READ_OUT_LIMIT

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
    async with running_router(redis_proc.url) as router:
        await router.progress.until(lambda stats: stats.routed > 0)
        urgent = _report(BACKLOG, threat_to_life=True, themes=["firearms"])
        await client.xadd(STREAM, {"payload": urgent})
        await client.xadd(STREAM, {"payload": urgent})  # the partner's retry of it
        await drained(router)
        stats = router.stats
    records = await decisions(client)
    assert Counter(r["status"] for r in records) == {"routed": BACKLOG + 1, "duplicate": 1}
    [position] = [i for i, r in enumerate(records) if r["submission_id"].endswith(f"{BACKLOG:012d}")
                  and r["status"] == "routed"]
    assert position < BACKLOG // 2, f"the threat to life was decided after {position} of {BACKLOG} queued"
    per_entry = Counter(r["entry_id"] for r in records)
    assert set(per_entry.values()) == {1}, "an ingress entry was decided twice"
    assert await client.xlen("intel:feed:northumbria.control:immediate") == 1
    assert stats.scouted == 1 and stats.already == 1  # the group met the scouted entry and only acked it
    assert (await client.xpending(STREAM, "router"))["pending"] == 0
    assert not await client.exists("intel:scouted")  # nothing left between scout and group
    # one receipt per decision; the scouted entry's written when the group meets it, in the backlog's order, so
    # that its receipt does not say it was routed at once (a batch's threats go first: within the last batch)
    receipts = [fields for _, fields in stream_rows(await client.xrange(f"intel:receipt:{PARTNER}"))]
    assert Counter(fields[b"entry_id"].decode() for fields in receipts) == per_entry
    [late] = [i for i, fields in enumerate(receipts) if fields[b"submission_id"].endswith(f"{BACKLOG:012d}".encode())
              and fields[b"outcome"] == b"accepted"]
    assert late >= BACKLOG - router.settings.batch_size, (late, position)
    await client.aclose()


FILTER_CASES = [
    ([b"payload", b'{"threat_to_life": true, "kind": "sar"}'], True),
    ([b"payload", b'{"threat_to_life":true}'], True),
    ([b"payload", b'{"narrative": "threat_to_life", "threat_to_life" :\n true}'], True),
    ([b"payload", b'{"threat_to_life": false}'], False),
    ([b"payload", b'{"narrative": "no threat_to_life here", "threat_to_life": "true"}'], False),
    ([b"payload", b'{"kind": "sar"}'], False),
    ([b"payload", b'{"threat_to_life": true}', b"extra", b"x"], False),
    ([b"payload", b'{"threat_to_life": true}', b"payload", b'{"threat_to_life": true}'], False),
    ([b"body", b'{"threat_to_life": true}'], False),
    ([b"payload", b'{"threat_to_life": true, "pad": "' + b"x" * READ_OUT_LIMIT + b'"}'], False),
]


async def test_the_scouts_filter_inside_redis(redis_proc: RedisProc) -> None:
    """Candidates are exactly the one-field payload entries that say "threat_to_life": true (the engine
    then decides them exactly: a candidate that is not urgent is left to the router group)."""
    client = aioredis.Redis.from_url(redis_proc.url)
    keys = Keys()
    ids = [decoded(await command(client, "XADD", keys.ingress("hmrc"), "*", *fields))
           for fields, _ in FILTER_CASES]
    library = Library(client)
    await library.prepare()
    scan_keys = [keys.scout, keys.ingress("hmrc")]
    scanned, candidates, positions = scan_reply(
        await library.call(Operation.SCOUT, scan_keys, ["router", 100, 1 << 24, READ_OUT_LIMIT, 0]), scan_keys)
    assert scanned == len(FILTER_CASES)
    urgent_ids = [i for i, (_, urgent) in zip(ids, FILTER_CASES, strict=True) if urgent]
    assert [c.entry_id for c in candidates] == urgent_ids[::-1]  # a backlog is scanned newest first
    stream = keys.ingress("hmrc")
    assert positions == [Position(f"{stream}|down", ids[0], f"{stream}|from", ids[-1])]  # committed with them
    assert decoded(await client.hget(keys.scout, f"{stream}|from")) == ids[-1]
    assert decoded(await client.hget(keys.scout, f"{stream}|down")) == ids[3]  # just above the newest candidate
    await client.aclose()


ROUTINE, URGENT = b'{"threat_to_life": false}', b'{"threat_to_life": true}'


class Scans:
    """One partner stream and the scout's calls on it (50 entries each), positions committed as the scout
    commits them unless a test holds them back."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.client, self.keys = client, Keys()
        self.stream = self.keys.ingress("hmrc")
        self.library = Library(client)
        self.committer = Committer(client, self.library, self.keys, "scout-test")

    async def write(self, count: int, urgent_at: tuple[int, ...] = ()) -> list[str]:
        pipe = self.client.pipeline(transaction=False)
        for index in range(count):
            pipe.xadd(self.stream, {"payload": URGENT if index in urgent_at else ROUTINE})
        return [decoded(entry_id) for entry_id in await pipe.execute()]

    async def scan(self, commit: bool = True) -> tuple[int, list[str], list[Position]]:
        await self.library.prepare()
        scan_keys = [self.keys.scout, self.stream]
        reply = await self.library.call(Operation.SCOUT, scan_keys, ["router", 50, 1 << 24, READ_OUT_LIMIT, 0])
        scanned, candidates, positions = scan_reply(reply, scan_keys)
        if commit:
            await self.commit(positions)
        return scanned, [candidate.entry_id for candidate in candidates], positions

    async def commit(self, positions: list[Position]) -> None:
        plan = Plan(self.keys)
        plan.positions = positions
        await self.committer.commit(plan, mode="scout")

    async def field(self, name: str) -> str | None:
        value = await self.client.hget(self.keys.scout, f"{self.stream}{name}")
        return None if value is None else decoded(value)


async def test_the_scan_looks_at_new_entries_first_and_a_backlog_newest_first(redis_proc: RedisProc) -> None:
    """Order, not time: a threat to life written while a backlog is being scanned is the next call's first
    candidate; the backlog's own are found newest first; each exactly once; then one position again."""
    client = aioredis.Redis.from_url(redis_proc.url)
    scans = Scans(client)
    backlog = await scans.write(1000, (100, 900))
    assert (await scans.scan())[:2] == (50, [])  # the newest 50 of the backlog
    shot = (await scans.write(1, (0,)))[0]
    found, calls = [], 1
    while True:
        scanned, candidates, _ = await scans.scan()
        calls += 1
        if calls == 2:
            assert candidates[:1] == [shot], "the entry written after the backlog was not looked at first"
        found += candidates
        if not scanned:
            break
    assert found == [shot, backlog[900], backlog[100]]
    assert calls == 2 + 1000 // 50  # every entry scanned once: 1001 entries, 50 a call, and the empty call
    assert await client.hgetall(scans.keys.scout) == {scans.stream.encode(): shot.encode()}  # one region again
    await client.aclose()


async def test_an_entry_written_after_a_bulk_load_is_looked_at_before_the_load(redis_proc: RedisProc) -> None:
    """Order, not time: a partner's burst larger than a call's budget arrives while a backlog is being
    scanned; the threat to life written after the burst is the next call's first candidate, and every
    threat to life in the backlog and in the burst is still found; then one position again."""
    client = aioredis.Redis.from_url(redis_proc.url)
    scans = Scans(client)
    backlog = await scans.write(1000, (100, 900))
    assert (await scans.scan())[:2] == (50, [])  # the backlog region is begun: its newest 50
    burst = await scans.write(300, (10,))
    shot = (await scans.write(1, (0,)))[0]
    scanned, candidates, _ = await scans.scan()
    assert (scanned, candidates[:1]) == (50, [shot]), "the entry written after the burst was not looked at first"
    found, calls = set(candidates), 2
    while scanned:
        scanned, candidates, _ = await scans.scan()
        found.update(candidates)
        calls += 1
    assert found == {shot, burst[10], backlog[900], backlog[100]}
    # every entry scanned, the backlog's first 50 twice (the region restarted at the burst's end): 1,351
    # entries, 50 a call, and the empty call
    assert calls == 2 + (1000 + 300 + 1) // 50 + 1
    assert await client.hgetall(scans.keys.scout) == {scans.stream.encode(): shot.encode()}  # one region again
    await client.aclose()


async def test_a_stale_scan_never_moves_a_restarted_region_down(redis_proc: RedisProc) -> None:
    """Two routers' scouts: one scans a backlog and finds a threat to life; before it commits, the other
    meets a burst and restarts the region. The first one's commit must not move the new region's |down
    below entries the burst left unscanned (they would never be scouted); its candidate is still routed."""
    client = aioredis.Redis.from_url(redis_proc.url)
    scans = Scans(client)
    backlog = await scans.write(200, (20,))
    for _ in range(3):  # the first scout pages the backlog down to just above the threat to life
        assert await scans.scan() == (50, [], [])
    _, found, stale = await scans.scan(commit=False)  # ... and finds it: its commit is to move |down past it
    assert found == [backlog[20]] and stale[0].field == f"{scans.stream}|down"
    burst = await scans.write(120)
    assert await scans.scan() == (50, [], [])  # the other scout: the burst's newest 50, the region restarted
    assert (await scans.field("|down"), await scans.field("|from")) == (burst[-50], burst[-1])
    await scans.commit(stale)  # the first scout's commit, late
    assert await scans.field("|down") == burst[-50]  # not moved down
    seen: set[str] = set()
    while await scans.field("|from") is not None:  # every entry the burst left is still scanned
        seen.update((await scans.scan())[1])
    assert seen == {backlog[20]}  # and the threat to life found again
    await client.aclose()
