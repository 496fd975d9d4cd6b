"""A partner and a team in Node.js (``examples/node/``, npm ``redis``), written from the README, against the
real router on a Redis with the generated ACL: each logs in as its own Redis user, the partner's SAR is
routed to the team, the team reads it immediate-first, acks it and writes both consultation records, and
neither can touch what is not its own."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from acl_server import KEYS, AclServer, start_server
from node_tools import NODE_DIR, node_with
from policy_cases import sar
from router_harness import drained, running_router

from bus.redis_binary import find_redis_server
from bus.servers import server_version

ROOT = Path(__file__).resolve().parent.parent
TEAM = "cleveland.fiu"  # where a ukfiu SAR with a DAML request goes


def node() -> str:
    return node_with("redis")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AclServer]:
    folder = tmp_path_factory.mktemp("node-acl")
    version = "7.0" if server_version(find_redis_server()) >= (7,) else "6.2"
    running = start_server(version, folder)
    try:
        if version == "7.0":  # the deploy step: the administrator loads the library
            loaded = subprocess.run([sys.executable, "-m", "bus.cli", "functions", "load"], capture_output=True,
                                    text=True, env=os.environ | {"REDIS_URL": running.url("admin")}, timeout=60)
            assert loaded.returncode == 0, loaded.stderr
        yield running
    finally:
        running.stop()


async def run_node(script: str, env: dict[str, str], *args: str, stdin: bytes = b"") -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(node(), script, *args, cwd=NODE_DIR, env=os.environ | env,
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(stdin), 60)
    return int(proc.returncode or 0), out.decode(), err.decode()


async def test_a_node_partner_and_team_as_their_own_users(server: AclServer) -> None:
    node()
    submission = sar(defence_type="daml", submission_id="00000000-0000-4000-8000-0000000000de")
    team_env = {"REDIS_URL": server.url(f"team-{TEAM}"), "TEAM": TEAM, "CONSUMER": "node-analyst"}
    async with running_router(server.url("router")) as router:
        team = asyncio.create_task(run_node("team.mjs", team_env, "1"))
        code, out, err = await run_node("partner.mjs", {"REDIS_URL": server.url("partner-ukfiu"), "PARTNER": "ukfiu"},
                                        "--wait", "30", stdin=orjson.dumps(submission) + b"\n")
        assert code == 0, err
        entry_id, receipt = out.splitlines()  # the id its XADD returned, then its receipt, read as its own user
        assert orjson.loads(receipt) | {"decision_id": ""} == {
            "entry_id": entry_id, "submission_id": submission["submission_id"], "outcome": "accepted",
            "decision_id": ""}
        await drained(router)
        code, out, err = await team
    assert code == 0, err
    [delivery] = [orjson.loads(line) for line in out.splitlines()]
    assert (delivery["stream"], delivery["submission_id"], delivery["payload"]) == (
        KEYS.feed(TEAM), submission["submission_id"], submission)
    with server.connect("operator") as operator:
        assert operator.xpending(KEYS.feed(TEAM), "team")["pending"] == 0  # acknowledged
        records = [orjson.loads(fields[b"consultation"]) for _, fields in operator.xrange(KEYS.consultations(TEAM))]
    assert orjson.loads(receipt)["decision_id"] == delivery["decision_id"]
    entry = f"{KEYS.feed(TEAM)} {delivery['entry_id']}"
    assert [(r["consumer"], r["action"], r["entries"], r["decision_ids"]) for r in records] == [
        ("node-analyst", "read", [entry], [delivery["decision_id"]]),
        ("node-analyst", "ack", [entry], [delivery["decision_id"]])]


async def test_a_node_partner_is_told_what_was_quarantined_and_why(server: AclServer) -> None:
    node()
    lines = [orjson.dumps(sar(submission_id="00000000-0000-4000-8000-0000000000e1")),
             orjson.dumps(sar(classification="SECRET", submission_id="00000000-0000-4000-8000-0000000000e2"))]
    env = {"REDIS_URL": server.url("partner-ukfiu"), "PARTNER": "ukfiu"}
    async with running_router(server.url("router")) as router:
        code, out, err = await run_node("partner.mjs", env, "--wait", "30", stdin=b"\n".join(lines) + b"\n")
        await drained(router)
    assert code == 1 and err == "partner.mjs: 1 of 2 submissions were quarantined (their receipts say why)\n", err
    first, second, *receipts = out.splitlines()
    got = [orjson.loads(line) for line in receipts]
    assert [(r["entry_id"], r["outcome"]) for r in got] == [(first, "accepted"), (second, "quarantined")]
    assert got[1]["reason_class"] == "H1 classification" and got[1]["reason"].startswith("H1 classification: SECRET")
    code, _, err = await run_node("partner.mjs", env, "--wait", "soon", stdin=lines[0] + b"\n")
    assert code == 1 and "--wait SECONDS: a number of seconds above 0" in err, err


async def test_node_clients_cannot_touch_what_is_not_theirs(server: AclServer) -> None:
    node()
    code, _, err = await run_node("partner.mjs", {"REDIS_URL": server.url("partner-ukfiu"), "PARTNER": "hmrc"},
                                  stdin=orjson.dumps(sar(partner="hmrc")) + b"\n")
    assert code == 1 and "NOPERM" in err and err.count("\n") == 1, err
    code, _, err = await run_node("team.mjs", {"REDIS_URL": server.url(f"team-{TEAM}"), "TEAM": "durham.fib"}, "1")
    assert code == 1 and "NOPERM" in err, err
    wrong = server.url("partner-ukfiu").replace("@", "x@", 1)  # a wrong password
    code, _, err = await run_node("partner.mjs", {"REDIS_URL": wrong, "PARTNER": "ukfiu"}, stdin=b"{}\n")
    assert code == 1 and "WRONGPASS" in err and err.count("\n") == 1, err


async def test_the_node_partner_checks_the_schema_before_it_sends(server: AclServer, tmp_path: Path) -> None:
    node()
    subprocess.run([sys.executable, "-m", "bus.cli", "schema", "export", str(tmp_path)], check=True,
                   capture_output=True, cwd=ROOT)
    with server.connect("operator") as operator:
        before = operator.xlen(KEYS.ingress("ukfiu"))
    lines = orjson.dumps(sar()) + b"\n" + orjson.dumps(sar(classification="SECRET")) + b"\n"
    code, _, err = await run_node("partner.mjs", {"REDIS_URL": server.url("partner-ukfiu"), "PARTNER": "ukfiu"},
                                  "--schema", str(tmp_path), stdin=lines)
    assert code == 1 and "line 2: /classification" in err and "nothing sent" in err, err
    with server.connect("operator") as operator:
        assert operator.xlen(KEYS.ingress("ukfiu")) == before


async def test_the_node_team_reads_immediate_first_and_stops_at_count(server: AclServer) -> None:
    team = "durham.ocg"
    with server.connect("router") as router:  # what the router would write: two routine, then two immediate
        for n, priority in enumerate(["routine", "routine", "immediate", "immediate"]):
            router.xadd(KEYS.feed(team, priority), {"payload": b"{}", "submission_id": f"s{n}", "priority": priority,
                                                    "view": "full", "due": "", "decision_id": f"1-{n}"})
    env = {"REDIS_URL": server.url(f"team-{team}"), "TEAM": team, "CONSUMER": "node-2"}
    code, out, err = await run_node("team.mjs", env, "3")
    assert code == 0, err
    assert [orjson.loads(line)["submission_id"] for line in out.splitlines()] == ["s2", "s3", "s0"]
    with server.connect("operator") as operator:
        assert operator.xpending(KEYS.feed(team), "team")["pending"] == 0  # s1 was not read at all
        [(_, group)] = [(g["name"], g) for g in operator.xinfo_groups(KEYS.feed(team))]
        assert int(group["lag"] if group.get("lag") is not None else 1) == 1
    code, _, err = await run_node("team.mjs", env, "two")
    assert code == 1 and "COUNT: a whole number above 0" in err
