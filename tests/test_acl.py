"""Redis ACL users (DESIGN.md decision 6) on real private redis-servers, Redis 7.0 and 6.2.

Each rule is shown both ways: the allowed command works and the forbidden one fails with NOPERM (or
NOAUTH/WRONGPASS for the default user). The end-to-end test runs the real router, a partner client and
a team client, each logged in as its own user.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
import redis
import redis.asyncio as aioredis
from acl_server import AclServer, start_server
from policy_cases import sar
from redis.exceptions import AuthenticationError, NoPermissionError
from router_harness import drained, running_router

from bus.acl import DEFAULT_USER, RedisVersion, acl_users, render_aclfile, render_credentials, users_for
from bus.archive.store import Archive
from bus.cli.acl import generate, register
from bus.errors import ConfigError, PermissionDeniedError, TransportError
from bus.keys import Keys
from bus.policy import load_ruleset
from bus.retention.loop import RetentionLoop
from bus.retention.policy import load_retention
from bus.retention.run import Retention
from bus.settings import Settings
from bus.status.figures import gather
from bus.transport import xread_parts
from consumers import TeamClient
from producers import PartnerClient

KEYS = Keys()


def seed(server: AclServer) -> None:
    """What the router would have written (it may write every stream), plus a partner's entries."""
    with server.connect("router") as r:
        for partner in ("hmrc", "ukfiu"):
            r.xadd(KEYS.ingress(partner), {"payload": b"{}"})
        r.xgroup_create(KEYS.ingress("ukfiu"), "router", id="0")
        r.xadd(KEYS.decisions, {"decision": b"{}"})
        r.xadd(KEYS.quarantine, {"payload": b"{}", "reason": "test"})
        for team in ("durham.fib", "durham.cab"):
            r.xadd(KEYS.feed(team), {"payload": b"{}", "priority": "routine"})
        r.hset(KEYS.seen("ukfiu"), "sid", "1-0")
        for partner in ("hmrc", "ukfiu"):
            r.xadd(KEYS.receipts(partner), {"entry_id": "1-0", "submission_id": "s", "outcome": "accepted",
                                            "decision_id": "1-0"})
        r.xadd(KEYS.checkpoints, {"checkpoint": b"{}"})
    for team in ("durham.fib", "durham.cab"):  # only a team may append to its consultation stream
        with server.connect(f"team-{team}") as t:
            t.xadd(KEYS.consultations(team), {"consultation": b"{}"})


@pytest.fixture(scope="module", params=["7.0", "6.2"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclServer]:
    running = start_server(request.param, tmp_path_factory.mktemp(f"acl{request.param}"))
    try:
        seed(running)
        yield running
    finally:
        running.stop()


FIB, FIB_NOW = KEYS.feed("durham.fib"), KEYS.feed("durham.fib", "immediate")
CAB = KEYS.feed("durham.cab")
HMRC, UKFIU = KEYS.ingress("hmrc"), KEYS.ingress("ukfiu")
HMRC_RECEIPTS, UKFIU_RECEIPTS = KEYS.receipts("hmrc"), KEYS.receipts("ukfiu")
DEC, QUAR = KEYS.decisions, KEYS.quarantine
FIB_LOG, CAB_LOG = KEYS.consultations("durham.fib"), KEYS.consultations("durham.cab")  # consultation streams
CHECKPOINTS, LEASE = KEYS.checkpoints, KEYS.checkpointer

DENIED: list[tuple[str, tuple[str, ...]]] = [
    # a partner: XADD to its own ingress only, read its own receipts only
    ("partner-hmrc", ("XADD", UKFIU, "*", "payload", "{}")),
    ("partner-hmrc", ("XRANGE", UKFIU, "-", "+")),
    ("partner-hmrc", ("XRANGE", UKFIU_RECEIPTS, "-", "+")),
    ("partner-hmrc", ("XREVRANGE", UKFIU_RECEIPTS, "+", "-")),
    ("partner-hmrc", ("XREAD", "STREAMS", UKFIU_RECEIPTS, "0")),
    ("partner-hmrc", ("XREAD", "STREAMS", HMRC_RECEIPTS, UKFIU_RECEIPTS, "0", "0")),  # one of its keys is not its own
    ("partner-hmrc", ("XLEN", UKFIU_RECEIPTS)),
    ("partner-hmrc", ("XADD", UKFIU_RECEIPTS, "*", "outcome", "routed")),
    ("partner-hmrc", ("XDEL", HMRC_RECEIPTS, "1-0")),
    ("partner-hmrc", ("XTRIM", HMRC_RECEIPTS, "MAXLEN", "0")),
    ("partner-hmrc", ("DEL", HMRC_RECEIPTS)),
    ("partner-hmrc", ("XGROUP", "CREATE", HMRC_RECEIPTS, "g", "0")),
    ("partner-hmrc", ("XREADGROUP", "GROUP", "g", "c", "STREAMS", HMRC_RECEIPTS, ">")),
    ("partner-hmrc", ("XINFO", "STREAM", HMRC_RECEIPTS)),
    ("team-durham.fib", ("XRANGE", HMRC_RECEIPTS, "-", "+")),
    ("operator", ("XADD", HMRC_RECEIPTS, "*", "outcome", "routed")),
    ("partner-hmrc", ("XRANGE", DEC, "-", "+")),
    ("partner-hmrc", ("XADD", FIB, "*", "payload", "{}")),
    ("partner-hmrc", ("XADD", DEC, "*", "decision", "{}")),
    ("partner-hmrc", ("DEL", HMRC)),
    ("partner-hmrc", ("XDEL", HMRC, "1-0")),
    ("partner-hmrc", ("XTRIM", HMRC, "MAXLEN", "0")),
    ("partner-hmrc", ("FLUSHALL",)),
    ("partner-hmrc", ("KEYS", "*")),
    ("partner-hmrc", ("SCAN", "0")),
    ("partner-hmrc", ("SUBSCRIBE", "x")),
    # a team: read, ack, claim, create its group on its own two feeds only
    ("team-durham.fib", ("XRANGE", CAB, "-", "+")),
    ("team-durham.fib", ("XREADGROUP", "GROUP", "team", "c", "STREAMS", CAB, ">")),
    ("team-durham.fib", ("XGROUP", "CREATE", CAB, "team", "0", "MKSTREAM")),
    ("team-durham.fib", ("XRANGE", DEC, "-", "+")),
    ("team-durham.fib", ("XRANGE", QUAR, "-", "+")),
    ("team-durham.fib", ("XRANGE", UKFIU, "-", "+")),
    ("team-durham.fib", ("XDEL", FIB, "1-0")),
    ("team-durham.fib", ("DEL", FIB)),
    ("team-durham.fib", ("XTRIM", FIB, "MAXLEN", "0")),
    ("team-durham.fib", ("XGROUP", "DESTROY", FIB, "team")),
    ("team-durham.fib", ("XGROUP", "SETID", FIB, "team", "$")),
    ("team-durham.fib", ("FLUSHALL",)),
    ("team-durham.fib", ("SCAN", "0")),
    # a team: XADD its consultation records to its own stream, nothing else there or elsewhere
    ("team-durham.fib", ("XADD", CAB_LOG, "*", "consultation", "{}")),
    ("team-durham.fib", ("XADD", KEYS.consultations("other"), "*", "consultation", "{}")),
    ("team-durham.fib", ("XADD", DEC, "*", "decision", "{}")),
    ("team-durham.fib", ("XADD", CHECKPOINTS, "*", "checkpoint", "{}")),
    ("team-durham.fib", ("XADD", KEYS.audit, "*", "event", "{}")),
    ("team-durham.fib", ("XADD", HMRC, "*", "payload", "{}")),
    ("team-durham.fib", ("XRANGE", CAB_LOG, "-", "+")),
    ("team-durham.fib", ("XRANGE", CHECKPOINTS, "-", "+")),
    ("team-durham.fib", ("XDEL", FIB_LOG, "1-0")),
    ("team-durham.fib", ("XTRIM", FIB_LOG, "MAXLEN", "0")),
    ("team-durham.fib", ("DEL", FIB_LOG)),
    ("team-durham.fib", ("SET", FIB_LOG, "x")),
    ("team-durham.fib", ("SET", LEASE, "team", "NX", "PX", "1000")),
    ("team-durham.fib", ("GET", LEASE)),
    # a partner: no consultation stream at all
    ("partner-hmrc", ("XADD", FIB_LOG, "*", "consultation", "{}")),
    ("partner-hmrc", ("XADD", KEYS.consultations("hmrc"), "*", "consultation", "{}")),
    ("partner-hmrc", ("XRANGE", FIB_LOG, "-", "+")),
    ("partner-hmrc", ("XADD", CHECKPOINTS, "*", "checkpoint", "{}")),
    ("partner-hmrc", ("SET", LEASE, "partner")),
    # operators: read everything, write nothing
    ("operator", ("XADD", DEC, "*", "decision", "{}")),
    ("operator", ("XADD", HMRC, "*", "payload", "{}")),
    ("operator", ("DEL", QUAR)),
    ("operator", ("XDEL", DEC, "1-0")),
    ("operator", ("XTRIM", DEC, "MAXLEN", "0")),
    ("operator", ("XACK", UKFIU, "router", "1-0")),
    ("operator", ("XGROUP", "CREATE", DEC, "audit", "0")),
    ("operator", ("XREADGROUP", "GROUP", "router", "op", "STREAMS", UKFIU, ">")),
    ("operator", ("XAUTOCLAIM", UKFIU, "router", "op", "0", "0-0")),
    ("operator", ("HSET", KEYS.seen("ukfiu"), "sid", "2-0")),
    ("operator", ("EVAL", "return 1", "0")),
    ("operator", ("FLUSHALL",)),
    ("operator", ("CONFIG", "SET", "appendonly", "no")),
    ("operator", ("KEYS", "*")),
    ("operator", ("XRANGE", "other:stream", "-", "+")),
    ("operator", ("XADD", FIB_LOG, "*", "consultation", "{}")),
    ("operator", ("XDEL", FIB_LOG, "1-0")),
    ("operator", ("XTRIM", FIB_LOG, "MAXLEN", "0")),
    ("operator", ("DEL", FIB_LOG)),
    ("operator", ("XADD", CHECKPOINTS, "*", "checkpoint", "{}")),
    ("operator", ("SET", LEASE, "operator")),
    ("operator", ("PEXPIRE", LEASE, "1000")),
    # the router: its own keys and commands, nothing destructive
    ("router", ("FLUSHALL",)),
    ("router", ("FLUSHDB",)),
    ("router", ("CONFIG", "SET", "appendonly", "no")),
    ("router", ("KEYS", "*")),
    ("router", ("DEL", HMRC)),
    ("router", ("XDEL", HMRC, "1-0")),
    ("router", ("XGROUP", "DESTROY", UKFIU, "router")),
    ("router", ("EVAL", "return 1", "0")),
    ("router", ("SCRIPT", "FLUSH")),
    ("router", ("XADD", "other:stream", "*", "a", "b")),
    ("router", ("SET", "intel:x", "1")),
    ("router", ("SET", "other:lease", "1")),
    ("router", ("DEL", LEASE)),
    ("router", ("DEL", FIB_LOG)),
    ("router", ("XDEL", FIB_LOG, "1-0")),
    ("router", ("XDEL", CHECKPOINTS, "1-0")),
    ("router", ("ACL", "LIST")),
    ("router", ("SHUTDOWN",)),
    # the scout's change tracking (bus.wake) opens nothing else
    ("router", ("SUBSCRIBE", "intel:decisions")),
    ("router", ("PSUBSCRIBE", "__redis__:*")),
    ("router", ("PUBLISH", "__redis__:invalidate", "x")),
    ("router", ("CLIENT", "LIST")),
    ("router", ("CLIENT", "KILL", "ID", "1")),
    ("partner-hmrc", ("CLIENT", "TRACKING", "ON")),
    ("partner-hmrc", ("SUBSCRIBE", "__redis__:invalidate")),
    ("team-durham.fib", ("CLIENT", "TRACKING", "ON")),
    ("operator", ("CLIENT", "TRACKING", "ON")),
]

# Redis 7: the router runs only the library an administrator loaded (tests below); 6.2 has no functions.
DENIED_ON_7: list[tuple[str, tuple[str, ...]]] = [
    ("router", ("SCRIPT", "LOAD", "while true do end")),  # a busy loop would block Redis for everyone
    ("router", ("EVALSHA", "0" * 40, "0")),
    ("router", ("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('x', function() return 1 end)")),
    ("router", ("FUNCTION", "LIST")),
    ("router", ("EVAL_RO", "return 1", "0")),
    ("router", ("FUNCTION", "FLUSH")),
    ("router", ("FUNCTION", "DELETE", "x")),
    ("admin", ("XRANGE", DEC, "-", "+")),
    ("admin", ("XADD", HMRC, "*", "payload", "{}")),
    ("admin", ("FLUSHALL",)),
    ("admin", ("CONFIG", "SET", "appendonly", "no")),
    ("admin", ("SCRIPT", "LOAD", "return 1")),
    # selectors (Redis 7): a partner reads its receipts and nothing else, and cannot write them
    ("partner-hmrc", ("XRANGE", HMRC, "-", "+")),
    ("partner-hmrc", ("XLEN", HMRC)),
    ("partner-hmrc", ("XREAD", "STREAMS", HMRC, "0")),
    ("partner-hmrc", ("XADD", HMRC_RECEIPTS, "*", "outcome", "routed")),
    ("partner-hmrc", ("FCALL", "x", "0")),
    ("team-durham.fib", ("FCALL", "x", "0")),
    ("operator", ("FCALL", "x", "0")),
    ("operator", ("FUNCTION", "LOAD", "#!lua name=x\nredis.register_function('x', function() return 1 end)")),
    # selectors (Redis 7): the team's XADD reaches its consultation stream only, and it cannot read that back
    ("team-durham.fib", ("XADD", FIB, "*", "payload", "{}")),
    ("team-durham.fib", ("XADD", FIB_NOW, "*", "payload", "{}")),
    ("team-durham.fib", ("XRANGE", FIB_LOG, "-", "+")),
    # the router reads consultation streams, never writes them; its lease commands reach the lease only
    # retention's XTRIM reaches the streams it trims (feeds, ingress, quarantine, the audit logs, each only
    # once archived: a removal the archive does not hold is a gap audit verify names), no other key
    ("router", ("XTRIM", KEYS.scout, "MAXLEN", "0")),
    ("router", ("XTRIM", "elsewhere:stream", "MAXLEN", "0")),
    ("router", ("XADD", FIB_LOG, "*", "consultation", "{}")),
    ("router", ("XADD", KEYS.consultations("new.team"), "*", "consultation", "{}")),
    ("router", ("XGROUP", "CREATE", FIB_LOG, "router", "0")),
    ("router", ("XREADGROUP", "GROUP", "router", "c", "STREAMS", FIB_LOG, ">")),
    ("router", ("SET", KEYS.scouted, "x")),
    ("router", ("GET", KEYS.scout)),
    ("router", ("PEXPIRE", KEYS.failures, "60000")),
]

# What a 6.2 file (no selectors) cannot narrow, as bus.acl states: these work there and fail on Redis 7.
WIDER_ON_6_2: list[tuple[str, tuple[str, ...]]] = [
    ("partner-hmrc", ("XRANGE", HMRC, "-", "+")),
    ("partner-hmrc", ("XADD", HMRC_RECEIPTS, "*", "outcome", "forged")),  # only it reads them: its own harm
    ("team-durham.fib", ("XADD", FIB, "*", "payload", "{}")),
    ("team-durham.fib", ("XRANGE", FIB_LOG, "-", "+")),
    ("router", ("XADD", KEYS.consultations("new.team"), "*", "consultation", "{}")),
    ("router", ("PEXPIRE", KEYS.failures, "60000")),
]

ALLOWED: list[tuple[str, tuple[str, ...]]] = [
    ("operator", ("XRANGE", DEC, "-", "+")),
    ("operator", ("XREVRANGE", QUAR, "+", "-")),
    ("operator", ("XRANGE", FIB, "-", "+")),
    ("operator", ("XRANGE", CAB, "-", "+")),
    ("operator", ("XRANGE", HMRC, "-", "+")),
    ("operator", ("XLEN", UKFIU)),
    ("operator", ("XREAD", "COUNT", "1", "STREAMS", DEC, "0")),
    ("operator", ("XINFO", "STREAM", DEC)),
    ("operator", ("XINFO", "GROUPS", UKFIU)),
    ("operator", ("XPENDING", UKFIU, "router")),
    ("operator", ("SCAN", "0", "MATCH", "intel:*", "COUNT", "1000")),
    ("operator", ("TYPE", DEC)),
    ("operator", ("HGETALL", KEYS.seen("ukfiu"))),
    ("operator", ("HGET", KEYS.seen("ukfiu"), "sid")),
    ("partner-hmrc", ("PING",)),
    ("partner-hmrc", ("XRANGE", HMRC_RECEIPTS, "-", "+")),
    ("partner-hmrc", ("XREVRANGE", HMRC_RECEIPTS, "+", "-", "COUNT", "1")),
    ("partner-hmrc", ("XREAD", "COUNT", "10", "BLOCK", "1", "STREAMS", HMRC_RECEIPTS, "0")),
    ("partner-hmrc", ("XLEN", HMRC_RECEIPTS)),
    ("operator", ("XRANGE", UKFIU_RECEIPTS, "-", "+")),
    ("router", ("XTRIM", HMRC_RECEIPTS, "MINID", "1-0")),
    ("team-durham.fib", ("XRANGE", FIB, "-", "+")),
    ("router", ("XRANGE", HMRC, "-", "+")),
    ("router", ("HGET", KEYS.seen("ukfiu"), "sid")),
    ("router", ("XRANGE", CHECKPOINTS, "-", "+")),
    ("router", ("XINFO", "STREAM", FIB_LOG)),
    ("router", ("XREVRANGE", CAB_LOG, "+", "-", "COUNT", "1")),
    # retention (bus.retention.loop): what it reads and the removals it may make
    ("router", ("XTRIM", FIB, "MINID", "1-0")),
    ("router", ("XTRIM", DEC, "MINID", "1-0")),
    ("router", ("XTRIM", FIB_LOG, "MINID", "1-0")),
    ("router", ("HINCRBY", KEYS.trimmed, DEC, "1")),
    ("router", ("HSET", KEYS.archive, DEC, "1 1-0")),
    ("router", ("EXISTS", FIB_NOW)),
    ("router", ("HSCAN", KEYS.seen("ukfiu"), "0")),
    ("router", ("SET", KEYS.retainer, "router-a", "NX", "PX", "1000")),
    ("router", ("HSET", KEYS.retention, "at", "now")),
    ("operator", ("XRANGE", FIB_LOG, "-", "+")),
    ("operator", ("XREVRANGE", CAB_LOG, "+", "-")),
    ("operator", ("XLEN", FIB_LOG)),
    ("operator", ("XINFO", "STREAM", FIB_LOG)),
    ("operator", ("XRANGE", CHECKPOINTS, "-", "+")),
]


@pytest.mark.parametrize(("user", "command"), DENIED, ids=[f"{u}:{' '.join(c[:2])}" for u, c in DENIED])
def test_forbidden(server: AclServer, user: str, command: tuple[str, ...]) -> None:
    with server.connect(user) as client, pytest.raises(NoPermissionError):
        client.execute_command(*command)


@pytest.mark.parametrize(("user", "command"), DENIED_ON_7, ids=[f"{u}:{' '.join(c[:2])}" for u, c in DENIED_ON_7])
def test_forbidden_on_7(server: AclServer, user: str, command: tuple[str, ...]) -> None:
    if "admin" not in server.urls:
        pytest.skip("Redis 6.2: no functions, no admin user, no selectors; the router needs EVALSHA and the "
                    "narrow grants widen (stated in bus.acl, tested by test_what_a_6_2_file_cannot_narrow)")
    with server.connect(user) as client, pytest.raises(NoPermissionError):
        client.execute_command(*command)


def test_the_admin_loads_the_library_and_the_router_may_only_call_it(server: AclServer) -> None:
    if "admin" not in server.urls:
        pytest.skip("Redis 6.2 has no functions")
    from bus.library import LIBRARY, PROBE, VERSION, library_code

    with server.connect("admin") as admin:
        admin.function_load(library_code(), replace=True)
        assert [lib[b"library_name"] for lib in admin.function_list()] == [LIBRARY.encode()]
    with server.connect("router") as router:
        assert router.fcall(PROBE, 0) == VERSION.encode()
        with pytest.raises(NoPermissionError):
            router.function_load(library_code(), replace=True)


@pytest.mark.parametrize(("user", "command"), ALLOWED, ids=[f"{u}:{' '.join(c[:2])}" for u, c in ALLOWED])
def test_allowed_reads(server: AclServer, user: str, command: tuple[str, ...]) -> None:
    with server.connect(user) as client:
        client.execute_command(*command)


def test_the_router_is_told_when_an_ingress_stream_it_read_changes(server: AclServer) -> None:
    """The scout's wake (bus.wake) as the router user: tracking on its connection, invalidations (key
    names only) on a listener subscribed to __redis__:invalidate."""
    with server.connect("router", protocol=2) as listener, server.connect("router") as scout, \
            server.connect("partner-hmrc") as partner, server.connect("router") as other:
        raw = listener.connection_pool.get_connection()
        raw.send_command("CLIENT", "ID")
        listener_id = raw.read_response()
        raw.send_command("SUBSCRIBE", "__redis__:invalidate")
        assert raw.read_response()[0] == b"subscribe"
        scout.client_tracking_on(clientid=listener_id, noloop=True)
        scout.xlen(HMRC)
        partner.xadd(HMRC, {"payload": b"{}"})
        partner.xadd(HMRC, {"payload": b"{}"})
        scout.xlen(UKFIU)
        other.xadd(UKFIU, {"payload": b"{}"})
        assert raw.read_response(timeout=5) == [b"message", b"__redis__:invalidate", [HMRC.encode()]]
        # one message for the two writes (the key waits to be read again): the next is the other stream's
        assert raw.read_response(timeout=5) == [b"message", b"__redis__:invalidate", [UKFIU.encode()]]
        listener.connection_pool.release(raw)


def test_partner_adds_to_its_own_ingress_only(server: AclServer) -> None:
    with server.connect("partner-hmrc") as client:
        entry_id = client.xadd(HMRC, {"payload": b'{"a": 1}'})
        with client.pipeline(transaction=False) as pipe:  # what PartnerClient.publish_many sends
            pipe.xadd(HMRC, {"payload": b"{}"})
            pipe.xadd(HMRC, {"payload": b"{}"})
            assert len(pipe.execute()) == 2
        with pytest.raises(NoPermissionError):
            client.xadd(UKFIU, {"payload": b"{}"})
    with server.connect("operator") as operator:
        assert operator.xrange(HMRC, entry_id, entry_id)[0][1] == {b"payload": b'{"a": 1}'}


def test_team_reads_acks_and_claims_its_own_feeds(server: AclServer) -> None:
    with server.connect("team-durham.fib") as team:
        for stream in (FIB_NOW, FIB):  # the immediate feed does not exist yet: MKSTREAM creates it
            team.xgroup_create(stream, "team", id="0", mkstream=True)
        reply = team.xreadgroup("team", "c1", {FIB_NOW: ">", FIB: ">"}, count=10)
        ids = [entry_id for _, entries in xread_parts(reply) for entry_id, _ in entries]
        assert ids, reply
        assert team.xpending(FIB, "team")["pending"] == len(ids)
        claimed = team.xautoclaim(FIB, "team", "c2", 0, "0-0", count=10)
        assert [entry_id for entry_id, _ in claimed[1]] == ids
        assert team.xack(FIB, "team", *ids) == len(ids)
        assert team.xinfo_groups(FIB)[0]["pending"] == 0
        with pytest.raises(NoPermissionError):
            team.xack(CAB, "team", *ids)
        with pytest.raises(NoPermissionError):
            team.xautoclaim(CAB, "team", "c2", 0, "0-0")


def test_a_team_appends_to_its_own_consultation_stream_only(server: AclServer) -> None:
    """What bus.audit.consult sends as the team: XADD to <prefix>:consult:<team>; other teams' streams, the
    decisions and the checkpoints refuse it."""
    with server.connect("team-durham.fib") as team:
        entry_id = team.xadd(FIB_LOG, {"consultation": b'{"action": "read"}'})
        for stream in (CAB_LOG, KEYS.consultations("northumbria.fib"), DEC, CHECKPOINTS):
            with pytest.raises(NoPermissionError):
                team.xadd(stream, {"consultation": b"{}"})
    with server.connect("team-durham.cab") as other, pytest.raises(NoPermissionError):
        other.xadd(FIB_LOG, {"consultation": b"{}"})
    with server.connect("operator") as operator:
        assert operator.xrange(FIB_LOG, entry_id, entry_id) == [(entry_id, {b"consultation": b'{"action": "read"}'})]
        with pytest.raises(NoPermissionError):
            operator.xadd(FIB_LOG, {"consultation": b"{}"})
        assert operator.xrange(FIB_LOG, f"({entry_id.decode()}", "+") == []  # nothing else was appended


def test_the_router_checkpointer_reads_consultations_and_holds_its_lease(server: AclServer) -> None:
    """What bus.audit.checkpointer sends as the router: XRANGE and XLEN of a consultation log, XADD of a
    signed checkpoint, and its lease by SET NX PX, GET and PEXPIRE."""
    with server.connect("router") as router, server.connect("operator") as operator:
        rows = router.execute_command("XRANGE", CAB_LOG, "-", "+", "COUNT", 100)
        assert rows and router.xlen(CAB_LOG) == len(rows) == operator.xlen(CAB_LOG)
        entry_id = router.xadd(CHECKPOINTS, {"checkpoint": b'{"n": 1}'})
        assert operator.xrange(CHECKPOINTS, entry_id, entry_id) == [(entry_id, {b"checkpoint": b'{"n": 1}'})]
        assert router.set(LEASE, "router-a", nx=True, px=60_000)
        assert router.set(LEASE, "router-b", nx=True, px=60_000) is None  # held: NX refuses
        assert router.get(LEASE) == b"router-a"
        assert router.pexpire(LEASE, 10**9)
        assert operator.pttl(LEASE) > 60_000  # the PEXPIRE took


def test_the_default_user_is_off(server: AclServer) -> None:
    with server.connect() as anonymous, pytest.raises(AuthenticationError, match="authenticated"):
        anonymous.ping()  # RESP3: the HELLO 3 on connect is refused
    with server.connect(protocol=2) as anonymous:
        for command in (("PING",), ("XRANGE", DEC, "-", "+"), ("XADD", HMRC, "*", "a", "b"), ("FLUSHALL",)):
            with pytest.raises(AuthenticationError, match="Authentication required"):  # NOAUTH
                anonymous.execute_command(*command)
    for protocol in (2, 3):  # AUTH and HELLO AUTH; a password alone means the user default
        for name, password in (("default", "x"), (None, "x"), ("partner-hmrc", "wrong"), ("nobody", "x")):
            with server.connect(name, password, protocol) as client, \
                    pytest.raises(AuthenticationError, match="invalid username-password"):  # WRONGPASS
                client.ping()


def test_every_registry_party_can_log_in_with_its_credentials_url(server: AclServer) -> None:
    ruleset = load_ruleset()
    admin = {"admin"} if "admin" in server.urls else set()  # Redis 7 only
    assert set(server.urls) == {"router", "operator"} | admin | {f"partner-{p}" for p in ruleset.partners} \
        | {f"team-{t}" for t in ruleset.team_ids}
    for url in server.urls.values():
        for protocol in (2, 3):
            with redis.Redis.from_url(url, protocol=protocol) as client:
                assert client.ping()


@pytest.mark.parametrize(("user", "command"), WIDER_ON_6_2,
                         ids=[f"{u}:{' '.join(c[:2])}" for u, c in WIDER_ON_6_2])
def test_what_a_6_2_file_cannot_narrow(server: AclServer, user: str, command: tuple[str, ...]) -> None:
    """The widening bus.acl states for 6.2 is real (and only there: DENIED_ON_7 proves each fails on 7)."""
    if "admin" in server.urls:
        pytest.skip("Redis 7: selectors narrow these (test_forbidden_on_7)")
    with server.connect(user) as client:
        client.execute_command(*command)


@pytest.mark.parametrize("version", ["7.0", "6.2"])
async def test_end_to_end_each_party_as_its_own_user(version: str, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    server = start_server(version, tmp_path / "redis")
    publisher = aioredis.Redis.from_url(server.url("partner-ukfiu"))
    reader = aioredis.Redis.from_url(server.url("team-cleveland.fiu"))
    try:
        if version == "7.0":  # the deploy step: an administrator loads the library; the router only calls it
            assert "loaded" in _cli_functions_load(server.url("admin"))
        team = TeamClient(reader, "cleveland.fiu", "analyst-1")
        async with running_router(server.url("router")) as router:
            await team.ensure_groups()
            submission = sar(defence_type="daml")
            entry_id = await PartnerClient(publisher, "ukfiu").publish(submission)
            await drained(router)
            await router.progress.until(lambda stats: stats.batches > 0)
            deliveries = await team.read(count=10, block_ms=100)
        assert [d.submission_id for d in deliveries] == [submission["submission_id"]]
        assert orjson.loads(deliveries[0].payload) == submission
        assert await team.ack_many(deliveries) == 1
        assert router.stats.routed == 1 and router.stats.failed == 0
        # the partner reads what became of it, as its own user; another partner cannot
        [receipt] = (await PartnerClient(publisher, "ukfiu").wait_for_receipts([entry_id], timeout=5)).values()
        assert (receipt.entry_id, receipt.submission_id, receipt.outcome) == \
            (entry_id, submission["submission_id"], "accepted")
        other = aioredis.Redis.from_url(server.url("partner-hmrc"))
        try:
            with pytest.raises(PermissionDeniedError):
                await PartnerClient(other, "ukfiu").wait_for_receipts([entry_id], timeout=5)
            assert await PartnerClient(other, "hmrc").wait_for_receipts([]) == {}
        finally:
            await other.aclose()
        # redis-py's own DEBUG note that CLIENT MAINT_NOTIFICATIONS was refused is expected (not granted)
        refused = [r.getMessage() for r in caplog.records if not r.name.startswith("redis.")
                   and ("permission" in r.getMessage().lower() or r.levelno >= logging.WARNING)]
        assert refused == []
        with pytest.raises(TransportError) as spoof:  # ukfiu's credentials cannot write hmrc's ingress
            await PartnerClient(publisher, "hmrc").publish(sar(partner="hmrc"))
        assert isinstance(spoof.value.__cause__, NoPermissionError)
        with pytest.raises(TransportError):  # nor read another team's feed
            await TeamClient(reader, "durham.fiu", "analyst-1").ensure_groups()
        with server.connect("router") as as_router, pytest.raises(NoPermissionError):
            as_router.flushall()
        with server.connect("operator") as operator:
            [(decision_id, fields)] = operator.xrange(DEC)
            assert orjson.loads(fields[b"decision"])["status"] == "routed"
            assert receipt.decision_id == decision_id.decode()
            assert operator.xpending(UKFIU, "router")["pending"] == 0
            # the team user wrote the consultation records of its read and its ack
            records = [orjson.loads(fields[b"consultation"])
                       for _, fields in operator.xrange(KEYS.consultations("cleveland.fiu"))]
            entry = f"{KEYS.feed('cleveland.fiu')} {deliveries[0].entry_id}"
            assert [(rec["consumer"], rec["action"], rec["decision_ids"], rec["entries"]) for rec in records] == [
                ("analyst-1", "read", [decision_id.decode()], [entry]),
                ("analyst-1", "ack", [decision_id.decode()], [entry])]
        await _retention_as_the_router(server, KEYS.feed("cleveland.fiu"))
        as_operator = aioredis.Redis.from_url(server.url("operator"))  # intelbus status needs nothing more
        try:
            status = await gather(as_operator, KEYS, load_ruleset())
        finally:
            await as_operator.aclose()
        assert status.ingress["ukfiu"].group and status.last_checkpoint_ms is not None
    finally:
        await publisher.aclose()
        await reader.aclose()
        server.stop()


async def _retention_as_the_router(server: AclServer, feed: str) -> None:
    """The router's retention with the router's own rights: its lease and status, then (400 days on) the
    acknowledged delivery and the dedupe mark go, and the decided ingress entry and the checkpointed
    decision are archived and go, each removal with its erasure record."""
    as_router = aioredis.Redis.from_url(server.url("router"))
    archive = Archive(Path(tempfile.mkdtemp(prefix="intelbus-acl-archive-")))
    loop = RetentionLoop(as_router, KEYS, load_ruleset(), load_retention(), "router-a", 1000, archive)
    try:
        assert await loop.once() and loop.runs == 1  # nothing is old enough yet: it ran, removed nothing
        removed = await Retention(as_router, KEYS, load_ruleset(), load_retention(), "router-a", archive).run(
            int(time.time() * 1000) + 400 * 86_400_000)
        ingress, decisions = KEYS.ingress("ukfiu"), KEYS.decisions
        assert removed.blocked == {} and removed.archived[ingress] == 1 and removed.archived[decisions] == 1
        receipts = KEYS.receipts("ukfiu")
        assert {feed: 1, KEYS.seen("ukfiu"): 1, ingress: 1, decisions: 1, receipts: 1}.items() <= \
            removed.by_stream.items()
    finally:
        await as_router.aclose()
    with server.connect("operator") as operator:
        assert operator.hget(KEYS.retention, "removed") == b"0" and operator.xlen(feed) == 0
        assert operator.xlen(ingress) == 0 and operator.xlen(decisions) == 0 and operator.xlen(receipts) == 0
        events = [orjson.loads(fields[b"event"]) for _, fields in operator.xrange(KEYS.audit)]
        erased = [e["stream"] for e in events if e["type"] == "erasure"]
        assert {feed, KEYS.seen("ukfiu"), ingress, decisions, receipts} <= set(erased)
        assert len(erased) == removed.records


def _cli_functions_load(url: str) -> str:
    result = subprocess.run([sys.executable, "-m", "bus.cli", "functions", "load"], capture_output=True, text=True,
                            env=os.environ | {"REDIS_URL": url}, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize(("acl_for", "says"), [("7", "intelbus functions load"), ("6.2", "--redis-version 7")],
                         ids=["library-not-loaded", "acl-for-6.2"])
async def test_a_router_that_cannot_run_the_library_says_what_to_do(tmp_path: Path, acl_for: RedisVersion,
                                                                     says: str) -> None:
    server = start_server("7.0", tmp_path / "redis", acl_for=acl_for)
    try:
        with pytest.raises(ConfigError, match=says):
            async with running_router(server.url("router")):
                pass
    finally:
        server.stop()


# pure rendering


def test_exact_rules() -> None:
    router, admin, partner, team, operator, default = users_for(["hmrc"], ["durham.fib"], Keys("x"), lambda: "pw")
    digest = "#30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4"  # sha256("pw")
    common = f"on resetpass {digest} resetkeys resetchannels -@all +ping +hello +client|setname"
    assert partner.line() == \
        f"user partner-hmrc {common} +xadd ~x:ingress:hmrc (+xread +xrange +xrevrange +xlen ~x:receipt:hmrc)"
    team_rules = ("+xreadgroup +xack +xautoclaim +xclaim +xpending +xgroup|create +xrange +xrevrange +xlen "
                  "+xinfo|stream +xinfo|groups +xinfo|consumers")
    feeds = "~x:feed:durham.fib:immediate ~x:feed:durham.fib"
    assert team.line() == f"user team-durham.fib {common} {team_rules} {feeds} (+xadd ~x:consult:durham.fib)"
    router_rules = ("+xreadgroup +xack +xclaim +xpending +xrange +xrevrange +xlen +xadd +xgroup|create "
                    "+xgroup|setid +xinfo|stream +xinfo|groups +hget +hset +hdel +time "
                    "+client|id +client|tracking +subscribe +exists +hscan +hlen +hincrby +multi +exec +discard")
    router_keys = ("~x:ingress:* ~x:feed:* ~x:receipt:* ~x:decisions ~x:quarantine ~x:audit ~x:seen:* ~x:scout "
                   "~x:scouted ~x:failures ~x:checkpoints ~x:retention ~x:archive ~x:trimmed")
    assert router.line() == (
        f"user router {common} +fcall {router_rules} {router_keys} &__redis__:invalidate "
        "(+xrange +xrevrange +xlen +xinfo|stream +exists +xinfo|groups +xpending ~x:consult:*) "
        "(+set +get +pexpire ~x:checkpointer ~x:retainer) "
        "(+xtrim +fcall ~x:feed:* ~x:receipt:* ~x:ingress:* ~x:quarantine ~x:decisions ~x:audit ~x:consult:* "
        "~x:checkpoints ~x:trimmed)")
    assert "eval" not in router.line() and "script" not in router.line() and "function" not in router.line()
    assert admin.line() == f"user admin {common} +fcall +function|load +function|list +function|delete"
    old_router, old_partner, old_team = (
        user for user in users_for(["hmrc"], ["durham.fib"], Keys("x"), lambda: "pw", redis_version="6.2")
        if user.role in ("router", "partner", "team"))
    assert old_router.line() == (  # no selectors on 6.2: the narrow grants join the root permissions
        f"user router {common} +evalsha +script|load {router_rules} +set +get +pexpire +xtrim {router_keys} "
        "~x:consult:* ~x:checkpointer ~x:retainer &__redis__:invalidate")
    assert old_team.line() == f"user team-durham.fib {common} {team_rules} +xadd {feeds} ~x:consult:durham.fib"
    assert old_partner.line() == \
        f"user partner-hmrc {common} +xadd +xread +xrange +xrevrange +xlen ~x:ingress:hmrc ~x:receipt:hmrc"
    assert operator.line().endswith(" ~x:*") and "+xadd" not in operator.line()
    assert default.line() == "user default off resetpass resetkeys resetchannels -@all"
    assert default is DEFAULT_USER


def test_passwords_are_fresh_and_only_hashed_in_the_acl_file() -> None:
    first, second = acl_users(load_ruleset(), KEYS), acl_users(load_ruleset(), KEYS)
    passwords = [u.password for u in first + second if u.password]
    assert len(set(passwords)) == len(passwords) and all(len(p) >= 43 for p in passwords)
    text = render_aclfile(first)
    assert not any(u.password and u.password in text for u in first)
    assert text.count("\n") == len(first) and all(line.startswith("user ") for line in text.splitlines())


def test_credentials_are_redis_urls() -> None:
    users = users_for(["hmrc"], ["durham.fib"], KEYS)
    env = dict(line.split("=", 1) for line in render_credentials(users, "redis.example").splitlines()
               if line and not line.startswith("#"))
    assert set(env) == {"INTELBUS_USER_ROUTER", "INTELBUS_USER_ADMIN", "INTELBUS_USER_PARTNER_HMRC",
                        "INTELBUS_USER_TEAM_DURHAM_FIB", "INTELBUS_USER_OPERATOR"}
    url = urlsplit(env["INTELBUS_USER_TEAM_DURHAM_FIB"])
    assert (url.scheme, url.username, url.hostname, url.port, url.path) == \
        ("redis", "team-durham.fib", "redis.example", 6379, "/0")
    assert url.password == users[3].password
    assert "@h:7000/0" in render_credentials(users, "h:7000")


@pytest.mark.parametrize("bad", ["a b", "x*", "a?", "[x]", "", "ü", "a\\b"])
def test_ids_that_would_break_the_acl_file_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        users_for([bad], [], KEYS)
    with pytest.raises(ConfigError):
        users_for([], [bad], KEYS)


def test_users_that_would_share_a_credentials_variable_are_refused() -> None:
    with pytest.raises(ConfigError, match="INTELBUS_USER_TEAM_A_B"):
        users_for([], ["a.b", "a-b"], KEYS)


def test_generate_writes_both_files_and_will_not_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "acl"
    acl_path, credentials_path = generate(load_ruleset(), KEYS, out, host_hint="bus.example:6380")
    assert stat.S_IMODE(credentials_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(acl_path.stat().st_mode) == 0o644
    assert "redis://partner-hmrc:" in credentials_path.read_text() and "@bus.example:6380/0" in \
        credentials_path.read_text()
    before = acl_path.read_text()
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        generate(load_ruleset(), KEYS, out)
    assert acl_path.read_text() == before
    generate(load_ruleset(), KEYS, out, force=True)
    assert acl_path.read_text() != before and sorted(p.name for p in out.iterdir()) == ["credentials.env",
                                                                                        "users.acl"]


def test_cli_acl_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["acl", "generate", str(tmp_path), "--host", "h"])
    assert args.handler(args, Settings()) == 0
    assert "users.acl" in capsys.readouterr().out
    assert "@h:6379/0" in (tmp_path / "credentials.env").read_text()
    with pytest.raises(ConfigError):
        args.handler(parser.parse_args(["acl", "generate", str(tmp_path)]), Settings())
    force = parser.parse_args(["acl", "generate", str(tmp_path), "--force"])
    assert force.handler(force, Settings()) == 0


def test_a_clusters_users_are_the_regions_and_may_find_its_node_and_wait() -> None:
    users = acl_users(load_ruleset(), Keys.of("intel", "ne"), password=lambda: "pw", cluster=True)
    assert [user.name for user in users][:2] == ["ne.router", "ne.admin"]
    assert all(user.name.startswith("ne.") and {"+cluster|slots", "+wait"} <= set(user.commands) for user in users)
    assert "default" not in {user.role for user in users}  # the operators' to turn off (bus.acl_load)
    assert users[0].url("a:7000,b:7001") == "redis+cluster://ne.router:pw@a:7000,b:7001"
    assert not {"+cluster|slots", "+wait"} & set(acl_users(load_ruleset(), Keys(), password=lambda: "pw")[0].commands)
    with pytest.raises(ConfigError, match="INTELBUS_REGION"):
        acl_users(load_ruleset(), Keys(), cluster=True)


def test_acl_load_keeps_a_selector_one_argument_and_leaves_default_alone(tmp_path: Path) -> None:
    from bus.acl_load import acl_lines, rule_arguments

    assert rule_arguments("user t on (+xadd ~a:{x}:b) (+get ~c) -@all") == [
        "user", "t", "on", "(+xadd ~a:{x}:b)", "(+get ~c)", "-@all"]
    path = tmp_path / "users.acl"
    path.write_text(render_aclfile(acl_users(load_ruleset(), Keys.of("intel", "ne"), password=lambda: "pw")))
    names = [name for name, _ in acl_lines(path)]
    assert "default" not in names and "router" in names
    path.write_text("users router on\n")
    with pytest.raises(ConfigError, match=r"users\.acl:1"):
        acl_lines(path)
