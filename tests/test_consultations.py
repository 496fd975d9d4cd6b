"""Consultation records (DPA 2018 Part 3 s.62, ``bus.audit.consult``): what ``consumers.TeamClient`` and
``intelbus feed tail`` write to ``<prefix>:consult:<team>`` for each read and each ack, on real private
redis-servers, with the real router where the deliveries must be real ones.

Every test asserts the whole consultation stream: exact records in order, never "at least one".
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import orjson
import pytest
import redis.asyncio as aredis
from policy_cases import intelligence_report
from redis.typing import EncodableT, FieldT
from redis_procs import RedisProc
from redis_replies import command, stream_rows
from router_harness import ROOT, decisions, drained, running_router

from bus.acl import TEAM_COMMANDS, AclUser, RedisVersion, team_user
from bus.audit.consult import FIELD, consultation, record
from bus.cli.feed import default_consumer, tail
from bus.errors import ConsultationError, PermissionDeniedError, TransportError
from bus.keys import TEAM_GROUP, Keys
from bus.transport import text, xread_parts
from consumers import Delivery, TeamClient
from producers import PartnerClient

TEAM = "durham.fib"
MARK = "Zebra-lantern 4471 handed over at the quay"  # payload text no consultation record may carry
AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
RECORD_FIELDS = {"team", "consumer", "action", "decision_ids", "entries", "at"}


async def put(r: aredis.Redis, keys: Keys, priority: str, decision_id: str) -> str:
    """XADD one feed entry for TEAM in the documented format; returns its entry id."""
    submission_id = str(uuid.uuid4())
    body = {"submission_id": submission_id, "kind": "intelligence_report", "narrative": MARK}
    fields = {"payload": orjson.dumps(body), "submission_id": submission_id, "priority": priority, "view": "full",
              "due": "", "decision_id": decision_id}
    return text(await r.xadd(keys.feed(TEAM, priority), cast("dict[FieldT, EncodableT]", fields)))


async def consultations(r: aredis.Redis, keys: Keys, team: str = TEAM) -> list[dict[str, Any]]:
    """Every record of ``team``'s consultation stream, in order; each entry has the one field."""
    rows = stream_rows(await r.xrange(keys.consultations(team)))
    assert all(set(fields) == {FIELD.encode()} for _, fields in rows), rows
    found = [orjson.loads(fields[FIELD.encode()]) for _, fields in rows]
    for rec in found:
        assert set(rec) == RECORD_FIELDS and AT.match(rec["at"]), rec
    return found


def summary(records: list[dict[str, Any]]) -> list[tuple[str, str, str, list[str], list[str]]]:
    """The records without their time (asserted by ``consultations``)."""
    return [(rec["team"], rec["consumer"], rec["action"], rec["decision_ids"], rec["entries"]) for rec in records]


async def raw_consultations(r: aredis.Redis, keys: Keys, team: str = TEAM) -> bytes:
    rows = stream_rows(await r.xrange(keys.consultations(team)))
    return b"\n".join(value for _, fields in rows for value in fields.values())


# the record, pure

DELIVERY = Delivery(stream="intel:feed:durham.fib:immediate", entry_id="1765966500001-0", submission_id="s-1",
                    priority="immediate", view="full", due=None, decision_id="1765966500000-3",
                    payload=MARK.encode())


@pytest.mark.parametrize(("at", "expected"), [
    (datetime(2026, 12, 17, 10, 15, 2, 123456, tzinfo=UTC), "2026-12-17T10:15:02.123Z"),
    (datetime(2026, 12, 17, 11, 15, 2, tzinfo=timezone(timedelta(hours=1))), "2026-12-17T10:15:02.000Z"),
])
def test_the_record_names_who_did_what_to_which_delivery_and_when(at: datetime, expected: str) -> None:
    other = Delivery(stream="intel:feed:durham.fib", entry_id="1765966500002-0", submission_id="s-2",
                     priority="routine", view="sanitised", due=None, decision_id="1765966500000-4", payload=b"{}")
    assert consultation("durham.fib", "analyst-1", "read", [DELIVERY, other], at) == (
        b'{"team":"durham.fib","consumer":"analyst-1","action":"read",'
        b'"decision_ids":["1765966500000-3","1765966500000-4"],'
        b'"entries":["intel:feed:durham.fib:immediate 1765966500001-0","intel:feed:durham.fib 1765966500002-0"],'
        b'"at":"' + expected.encode() + b'"}')


def test_the_record_carries_no_payload_or_submission_and_refuses_bad_input() -> None:
    body = consultation("durham.fib", "c", "ack", [DELIVERY], datetime(2026, 12, 17, tzinfo=UTC))
    assert set(orjson.loads(body)) == RECORD_FIELDS and MARK.encode() not in body and b"s-1" not in body
    with pytest.raises(ValueError, match="offset"):
        consultation("durham.fib", "c", "read", [DELIVERY], datetime(2026, 12, 17))
    with pytest.raises(ValueError, match="read or an ack"):
        consultation("durham.fib", "c", "peek", [DELIVERY], datetime(2026, 12, 17, tzinfo=UTC))  # type: ignore[arg-type]


async def test_record_is_one_xadd_to_the_teams_stream(r: aredis.Redis, keys: Keys) -> None:
    at = datetime(2026, 12, 17, 10, 15, 2, 5000, tzinfo=UTC)
    entry_id = await record(r, keys, TEAM, "analyst-1", "ack", [DELIVERY], at=at)
    rows = await r.xrange(keys.consultations(TEAM))
    assert rows == [(entry_id.encode(), {b"consultation": consultation(TEAM, "analyst-1", "ack", [DELIVERY], at)})]
    assert keys.consultations(TEAM) == f"{keys.prefix}:consult:{TEAM}"


# the team client


async def test_a_read_writes_one_record_of_both_feeds(r: aredis.Redis, keys: Keys) -> None:
    client = TeamClient(r, TEAM, "analyst-1", keys)
    await client.ensure_groups()
    routine = [await put(r, keys, "routine", "1-0"), await put(r, keys, "high", "2-0")]
    immediate = [await put(r, keys, "immediate", "3-0"), await put(r, keys, "immediate", "4-0")]
    got = await client.read(block_ms=0)
    assert [d.entry_id for d in got] == immediate + routine
    now, later = keys.feeds(TEAM)
    assert summary(await consultations(r, keys)) == [
        (TEAM, "analyst-1", "read", ["3-0", "4-0", "1-0", "2-0"],
         [f"{now} {immediate[0]}", f"{now} {immediate[1]}", f"{later} {routine[0]}", f"{later} {routine[1]}"])]
    assert await client.read(block_ms=0) == []  # a read that returns nothing writes nothing
    assert len(await consultations(r, keys)) == 1


async def test_each_read_writes_its_own_record_also_a_blocking_one(r: aredis.Redis, keys: Keys) -> None:
    client = TeamClient(r, TEAM, "analyst-1", keys)
    await client.ensure_groups()
    entry = await put(r, keys, "routine", "7-0")
    assert [d.entry_id for d in await client.read(count=5, block_ms=0)] == [entry]
    reading = asyncio.create_task(client.read(count=5, block_ms=10_000))  # finds nothing, then blocks
    late = await put(r, keys, "immediate", "8-0")  # (or is found before it blocks: the same record)
    assert [d.entry_id for d in await reading] == [late]
    assert summary(await consultations(r, keys)) == [
        (TEAM, "analyst-1", "read", ["7-0"], [f"{keys.feed(TEAM)} {entry}"]),
        (TEAM, "analyst-1", "read", ["8-0"], [f"{keys.feed(TEAM, 'immediate')} {late}"])]


async def test_an_ack_writes_one_record_with_the_acked_ids(r: aredis.Redis, keys: Keys) -> None:
    client = TeamClient(r, TEAM, "analyst-2", keys)
    await client.ensure_groups()
    ids = [await put(r, keys, "immediate", "1-0"), await put(r, keys, "routine", "2-0"),
           await put(r, keys, "routine", "3-0")]
    first, second, third = await client.read(block_ms=0)
    assert await client.ack_many([first, third]) == 2
    assert await client.ack(second) == 1
    assert await client.ack_many([]) == 0  # nothing acked, nothing recorded
    assert await client.ack(second) == 0  # not pending any more: still an ack call, so still a record
    now, later = keys.feeds(TEAM)
    assert summary(await consultations(r, keys)) == [
        (TEAM, "analyst-2", "read", ["1-0", "2-0", "3-0"],
         [f"{now} {ids[0]}", f"{later} {ids[1]}", f"{later} {ids[2]}"]),
        (TEAM, "analyst-2", "ack", ["1-0", "3-0"], [f"{now} {ids[0]}", f"{later} {ids[2]}"]),
        (TEAM, "analyst-2", "ack", ["2-0"], [f"{later} {ids[1]}"]),
        (TEAM, "analyst-2", "ack", ["2-0"], [f"{later} {ids[1]}"]),
    ]
    assert MARK.encode() not in await raw_consultations(r, keys)


async def test_reclaimed_deliveries_are_recorded_for_the_consumer_that_took_them(r: aredis.Redis,
                                                                                 keys: Keys) -> None:
    dead = TeamClient(r, TEAM, "dead", keys)
    await dead.ensure_groups()
    ids = [await put(r, keys, "routine", "1-0"), await put(r, keys, "immediate", "2-0")]
    assert len(await dead.read(block_ms=0)) == 2  # never acked
    survivor = TeamClient(r, TEAM, "survivor", keys, claim_idle_ms=0)  # idle at once: claimed at once
    taken = await survivor.read(block_ms=0)
    assert [d.entry_id for d in taken] == [ids[1], ids[0]]
    entries = [f"{keys.feed(TEAM, 'immediate')} {ids[1]}", f"{keys.feed(TEAM)} {ids[0]}"]
    assert summary(await consultations(r, keys)) == [(TEAM, "dead", "read", ["2-0", "1-0"], entries),
                                                     (TEAM, "survivor", "read", ["2-0", "1-0"], entries)]


async def test_accept_records_what_another_reader_took(r: aredis.Redis, keys: Keys) -> None:
    """The FastStream example's path: its subscriber reads, ``accept`` records, ``ack_many`` acks."""
    client = TeamClient(r, TEAM, "faststream-1", keys)
    await client.ensure_groups()
    kept, gone = await put(r, keys, "routine", "1-0"), await put(r, keys, "routine", "2-0")
    [(_, read)] = xread_parts(await r.xreadgroup(TEAM_GROUP, "faststream-1", {keys.feed(TEAM): ">"}))
    await r.xdel(keys.feed(TEAM), gone)  # deleted while pending: a reader sees it without fields
    entries = [(entry_id, fields if text(entry_id) == kept else {}) for entry_id, fields in read]
    deliveries = await client.accept(keys.feed(TEAM), entries)  # the deleted one is acked, not recorded
    assert [d.entry_id for d in deliveries] == [kept]
    assert await client.ack_many(deliveries) == 1
    assert int((await r.xpending(keys.feed(TEAM), TEAM_GROUP))["pending"]) == 0
    assert summary(await consultations(r, keys)) == [
        (TEAM, "faststream-1", "read", ["1-0"], [f"{keys.feed(TEAM)} {kept}"]),
        (TEAM, "faststream-1", "ack", ["1-0"], [f"{keys.feed(TEAM)} {kept}"])]


def _url_as(proc: RedisProc, user: AclUser) -> str:
    return f"redis://{user.name}:{user.password}@127.0.0.1:{proc.port}/0"


async def _set_user(admin: aredis.Redis, user: AclUser) -> None:
    assert await command(admin, "ACL", "SETUSER", user.name, "reset", *user.rules().split()) == b"OK"


async def test_a_refused_record_hands_out_nothing_and_loses_nothing(redis_proc: RedisProc) -> None:
    """The team's ACL user from before consultation records: the read raises, naming the stream and the fix;
    its entries stay pending; once the ACL is regenerated, the next read reclaims them."""
    keys = Keys()
    admin = aredis.Redis.from_url(redis_proc.url)  # the private server's default user: may do anything
    old = AclUser(f"team-{TEAM}", "team", TEAM, TEAM_COMMANDS, keys.feeds(TEAM), "pw")  # no consultation stream
    await _set_user(admin, old)
    team = aredis.Redis.from_url(_url_as(redis_proc, old))
    try:
        client = TeamClient(team, TEAM, "analyst-1", keys, claim_idle_ms=0)
        await client.ensure_groups()
        ids = [await put(admin, keys, "routine", "1-0"), await put(admin, keys, "immediate", "2-0")]
        for attempt in (1, 2):  # the second read reclaims the same entries and is refused again
            with pytest.raises(ConsultationError) as refused:
                await client.read(block_ms=0)
            message = str(refused.value)
            assert keys.consultations(TEAM) in message and "intelbus acl generate" in message, message
            assert "analyst-1" in message and "stay pending" in message
            assert isinstance(refused.value, TransportError)
            assert isinstance(refused.value.__cause__, PermissionDeniedError)
            for stream, entry_id in zip(keys.feeds(TEAM), [ids[1], ids[0]], strict=True):
                [pending] = await admin.xpending_range(stream, TEAM_GROUP, "-", "+", 10)
                assert (text(pending["message_id"]), text(pending["consumer"]), pending["times_delivered"]) == \
                    (entry_id, "analyst-1", attempt)
        assert await admin.exists(keys.consultations(TEAM)) == 0  # nothing was recorded, nothing handed out
        version: RedisVersion = "7" if (await admin.info("server"))["redis_version"].startswith("7") else "6.2"
        await _set_user(admin, team_user(TEAM, keys, "pw", version))  # the regenerated ACL
        got = await client.read(block_ms=0)
        assert [d.entry_id for d in got] == [ids[1], ids[0]]
        assert await client.ack_many(got) == 2
        assert [int((await admin.xpending(s, TEAM_GROUP))["pending"]) for s in keys.feeds(TEAM)] == [0, 0]
        entries = [f"{keys.feed(TEAM, 'immediate')} {ids[1]}", f"{keys.feed(TEAM)} {ids[0]}"]
        assert summary(await consultations(admin, keys)) == [(TEAM, "analyst-1", "read", ["2-0", "1-0"], entries),
                                                             (TEAM, "analyst-1", "ack", ["2-0", "1-0"], entries)]
    finally:
        await team.aclose()
        await admin.aclose()


async def test_real_deliveries_of_both_lanes_name_their_decisions_and_no_content(redis_proc: RedisProc) -> None:
    """The real router routes a threat to life (immediate) and a routine report to durham.fib; the team's
    records name the decisions the router wrote and the feed entries, and carry none of the payload."""
    keys = Keys()
    client = aredis.Redis.from_url(redis_proc.url)
    urgent = intelligence_report(submission_id=str(uuid.uuid4()), narrative=MARK, threat_to_life=True)
    routine = intelligence_report(submission_id=str(uuid.uuid4()), narrative=MARK)
    try:
        team = TeamClient(client, TEAM, "analyst-1", keys)
        await team.ensure_groups()
        async with running_router(redis_proc.url) as router:
            for submission in (routine, urgent):
                await PartnerClient(client, "force-durham").publish(submission)
            await drained(router)
        by_submission = {rec["submission_id"]: rec["decision_id"] for rec in await decisions(client)}
        assert set(by_submission) == {urgent["submission_id"], routine["submission_id"]}
        got = await team.read(block_ms=0)
        assert [(d.submission_id, d.priority, d.decision_id) for d in got] == [
            (urgent["submission_id"], "immediate", by_submission[urgent["submission_id"]]),
            (routine["submission_id"], "routine", by_submission[routine["submission_id"]])]
        assert all(MARK in d.json()["narrative"] for d in got)  # the text was delivered...
        assert await team.ack_many(got) == 2
        decision_ids = [by_submission[urgent["submission_id"]], by_submission[routine["submission_id"]]]
        entries = [f"{keys.feed(TEAM, 'immediate')} {got[0].entry_id}", f"{keys.feed(TEAM)} {got[1].entry_id}"]
        assert summary(await consultations(client, keys)) == [(TEAM, "analyst-1", "read", decision_ids, entries),
                                                              (TEAM, "analyst-1", "ack", decision_ids, entries)]
        raw = await raw_consultations(client, keys)  # ...and is in no record, nor is any submission id
        assert MARK.encode() not in raw and b"Zebra" not in raw
        assert urgent["submission_id"].encode() not in raw and routine["submission_id"].encode() not in raw
    finally:
        await client.aclose()


# intelbus feed tail


async def test_tail_records_its_reads_and_acks_as_its_consumer(r: aredis.Redis, keys: Keys) -> None:
    ids = [await put(r, keys, "routine", "1-0"), await put(r, keys, "immediate", "2-0"),
           await put(r, keys, "routine", "3-0")]
    out = io.StringIO()
    assert await tail(r, TEAM, keys, json_output=True, out=out, count=3) == 3
    assert out.getvalue().count(MARK) == 3
    me = default_consumer()
    now, later = keys.feeds(TEAM)
    entries = [f"{now} {ids[1]}", f"{later} {ids[0]}", f"{later} {ids[2]}"]
    assert summary(await consultations(r, keys)) == [
        (TEAM, me, "read", ["2-0", "1-0", "3-0"], entries),
        (TEAM, me, "ack", ["2-0"], entries[:1]),
        (TEAM, me, "ack", ["1-0"], entries[1:2]),
        (TEAM, me, "ack", ["3-0"], entries[2:])]
    assert MARK.encode() not in await raw_consultations(r, keys)


async def test_the_tail_command_records_as_tail_host_pid(r: aredis.Redis, keys: Keys, redis_url_session: str) -> None:
    ids = [await put(r, keys, "routine", "1-0"), await put(r, keys, "immediate", "2-0")]
    env = os.environ | {"REDIS_URL": redis_url_session, "INTELBUS_PREFIX": keys.prefix}
    command = subprocess.Popen([sys.executable, "-m", "bus.cli", "feed", "tail", TEAM, "--count", "2"], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = command.communicate(timeout=60)
    assert command.returncode == 0, stderr.decode()
    assert stdout.decode().count("\n") == 2
    me = f"tail-{socket.gethostname()}-{command.pid}"
    now, later = keys.feeds(TEAM)
    assert summary(await consultations(r, keys)) == [
        (TEAM, me, "read", ["2-0", "1-0"], [f"{now} {ids[1]}", f"{later} {ids[0]}"]),
        (TEAM, me, "ack", ["2-0"], [f"{now} {ids[1]}"]),
        (TEAM, me, "ack", ["1-0"], [f"{later} {ids[0]}"])]
    assert MARK.encode() not in await raw_consultations(r, keys)
