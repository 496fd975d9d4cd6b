"""FastStream users at home: the example team service under FastStream's own ``TestRedisBroker``, in memory
and ``with_real=True`` on a real redis-server, with its parser (the router reads through the bus's own Redis
operation, not a FastStream subscriber, so it has no FastStream parser or decoder to test)."""

from __future__ import annotations

import logging
from typing import Any
from unittest.mock import AsyncMock

import orjson
import pytest
import redis.asyncio as aredis
from faststream import FastStream
from faststream.redis import RedisBroker, TestRedisBroker
from faststream.redis.parser.binary import BinaryMessageFormatV1
from redis_procs import RedisProc

from bus.keys import TEAM_GROUP, Keys
from bus.transport import text, xread_parts
from consumers.example_service import build_app, raw_parser, unwrapped

KEYS = Keys()
TEAM = "durham.fib"
IMMEDIATE, ROUTINE = KEYS.feeds(TEAM)


def feed_entry(submission_id: str, priority: str = "routine") -> dict[str, str]:
    """A feed entry's fields as the router writes them (README, 'The bus on Redis streams')."""
    return {"payload": orjson.dumps({"submission_id": submission_id}).decode(), "submission_id": submission_id,
            "priority": priority, "view": "full", "due": "", "decision_id": "1700000000000-0"}


async def consultations(client: aredis.Redis, count: int, timeout_ms: int = 20_000) -> list[dict[str, Any]]:
    """The team's first ``count`` consultation records, waiting for them (blocking reads, no sleeps)."""
    found: list[dict[str, Any]] = []
    cursor, waited = "0-0", 0
    while len(found) < count and waited < timeout_ms:
        reply = await client.xread({KEYS.consultations(TEAM): cursor}, block=500)
        waited += 500 if not reply else 0
        for _, entries in xread_parts(reply):
            for entry_id, fields in entries:
                cursor = entry_id.decode()
                found.append(orjson.loads(fields[b"consultation"]))
    assert len(found) >= count, found
    return found


def broker_of(app: FastStream) -> RedisBroker:
    assert isinstance(app.broker, RedisBroker)
    return app.broker


class Pipeline:
    """What the team client's ack sends through the test broker's stand-in connection: each XACK, kept."""

    def __init__(self, sent: list[tuple[Any, ...]]) -> None:
        self.sent = sent

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def xack(self, stream: str, group: str, *ids: str) -> None:
        self.sent.append((stream, group, *ids))

    async def execute(self) -> list[int]:
        return [1] * len(self.sent)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "consumers.example_service"
            and r.getMessage().startswith("delivery ")]


async def test_in_memory_each_delivery_is_handled_recorded_and_acked(caplog: pytest.LogCaptureFixture) -> None:
    """No Redis at all: the test broker hands the handler what FastStream published, the handler writes both
    consultation records and XACKs, each to the test broker's stand-in connection, where the test sees them."""
    caplog.set_level(logging.INFO, logger="consumers.example_service")
    app = build_app("redis://unused.invalid:6379/0", TEAM, "analyst-1")
    async with TestRedisBroker(broker_of(app)) as br:
        connection: Any = br._connection
        connection.xadd = AsyncMock(side_effect=[b"1-1", b"1-2", b"1-3", b"1-4"])  # the consultation records
        acked: list[tuple[Any, ...]] = []
        connection.pipeline = lambda transaction: Pipeline(acked)
        await br.publish(feed_entry("urgent-1", "immediate"), stream=IMMEDIATE)
        await br.publish(feed_entry("routine-1"), stream=ROUTINE)
    assert [line.split()[2] for line in logged(caplog)] == ["submission_id=urgent-1", "submission_id=routine-1"]
    records = [(call.args[0], orjson.loads(call.args[1]["consultation"])) for call in connection.xadd.await_args_list]
    assert {stream for stream, _ in records} == {KEYS.consultations(TEAM)}
    assert [(r["action"], r["entries"]) for _, r in records] == [
        ("read", [f"{IMMEDIATE} 0-1"]), ("ack", [f"{IMMEDIATE} 0-1"]), ("read", [f"{ROUTINE} 0-1"]),
        ("ack", [f"{ROUTINE} 0-1"])]
    assert acked == [(IMMEDIATE, TEAM_GROUP, "0-1"), (ROUTINE, TEAM_GROUP, "0-1")]


async def test_with_real_redis_the_test_broker_reads_the_routers_entries_and_its_own(
        redis_proc: RedisProc, caplog: pytest.LogCaptureFixture) -> None:
    """``with_real=True``: the router's plain-field entries and one published through FastStream (its envelope)
    are handled alike; both consultation records of each are on the team's log, nothing is left pending."""
    caplog.set_level(logging.INFO, logger="consumers.example_service")
    client = aredis.Redis.from_url(redis_proc.url)
    for stream in (IMMEDIATE, ROUTINE):
        await client.xgroup_create(stream, TEAM_GROUP, id="0", mkstream=True)
    first = await client.xadd(ROUTINE, feed_entry("from-the-router"))  # type: ignore[arg-type]
    app = build_app(redis_proc.url, TEAM, "analyst-2")
    async with TestRedisBroker(broker_of(app), with_real=True) as br:
        await br.start()
        await br.publish(feed_entry("through-faststream"), stream=ROUTINE)
        records = await consultations(client, 4)  # a read and an ack of each: everything handled
    assert sorted(line.split()[2] for line in logged(caplog)) == [
        "submission_id=from-the-router", "submission_id=through-faststream"]
    assert (await client.xpending(ROUTINE, TEAM_GROUP))["pending"] == 0
    assert sorted(r["action"] for r in records) == ["ack", "ack", "read", "read"]
    assert f"{ROUTINE} {text(first)}" in {e for r in records for e in r["entries"]}
    await client.aclose()


@pytest.mark.parametrize(("fields", "expected"), [
    ({b"payload": b"{}", b"submission_id": b"s"}, {b"payload": b"{}", b"submission_id": b"s"}),  # the router's
    ({}, {}),  # deleted while pending
    ({b"__data__": b'{"data": "{\\"a\\": 1}", "headers": {}}', b"x": b"y"}, None),  # more than the envelope
    ({b"__data__": b"not json"}, None),  # an envelope that holds no object of strings stays as it is
    ({b"__data__": b'{"data": "[1, 2]", "headers": {}}'}, None),
    ({b"__data__": b'{"data": "{\\"n\\": 1}", "headers": {}}'}, None),
    ({b"__data__": b'{"data": "{}", "headers": {}}'}, None),  # empty: not taken for a deleted entry
    ({b"__data__": b'{"data": "{\\"payload\\": \\"x\\"}", "headers": 5}'}, {b"payload": b"x"}),  # headers ignored
    ({b"__data__": b'{"data": "{\\"payload\\": \\"x\\"}", "headers": "correlation_id"}'}, {b"payload": b"x"}),
])
def test_only_an_envelope_holding_an_object_of_strings_is_unwrapped(fields: dict[bytes, bytes],
                                                                     expected: dict[bytes, bytes] | None) -> None:
    assert unwrapped(fields) == (fields if expected is None else expected, {})


async def test_the_binary_envelope_unwraps_to_the_fields_published() -> None:
    body = await BinaryMessageFormatV1.encode(message=feed_entry("s-1"), reply_to=None, headers=None,
                                              correlation_id="c")
    fields, headers = unwrapped({b"__data__": body})
    assert fields == {k.encode(): v.encode() for k, v in feed_entry("s-1").items()}
    assert headers["correlation_id"] == "c"


async def test_the_parser_hands_over_every_entry_whatever_an_envelope_says() -> None:
    """A hostile envelope (a team may XADD to its own feeds on Redis 6.2) cannot stop the parser, which would
    leave the whole batch pending, nor set the message's correlation id to anything but text."""
    odd = [{b"__data__": b'{"data": "{\\"payload\\": \\"x\\"}", "headers": {"correlation_id": 7}}'},
           {b"__data__": b'{"data": "{}"}'}, {b"__data__": b"\xff\xfe"}, {b"payload": b"{}", b"submission_id": b"s"}]
    ids = [f"1-{n}".encode() for n in range(len(odd))]
    message = await raw_parser({"type": "bstream", "channel": ROUTINE.encode(), "data": odd, "message_ids": ids})
    assert message.raw_message["message_ids"] == ids and len(message.raw_message["data"]) == len(odd)
    assert message.raw_message["data"][0] == {b"payload": b"x"} and message.raw_message["data"][1:] == odd[1:]
    assert isinstance(message.correlation_id, str) and message.correlation_id != "7"
