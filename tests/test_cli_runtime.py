"""The runtime commands as a person runs them: subprocesses, a private Redis, or the embedded one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from policy_cases import sar
from redis_procs import RedisProc
from router_harness import ROOT, start_router_process, wait_for_groups

pytestmark = pytest.mark.slow


def _cli(*args: str, env: dict[str, str], cwd: Path = ROOT, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bus.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_publish_route_tail_and_replay(redis_proc: RedisProc, tmp_path: Path) -> None:
    env = os.environ | {"REDIS_URL": redis_proc.url}
    lines = [orjson.dumps(sar(defence_type="daml", submission_id=f"00000000-0000-4000-8000-00000000000{i}"))
             for i in range(1, 4)]
    source = tmp_path / "sars.jsonl"
    source.write_bytes(b"\n".join([*lines, b'{"not": "a submission"}']) + b"\n")
    published = _cli("publish", "--partner", "ukfiu", str(source), env=env)
    assert published.returncode == 1, published.stderr  # one line rejected locally: exit 1, rest published
    assert "published 3, rejected 1" in published.stdout + published.stderr
    assert "line 4" in published.stderr
    router = start_router_process(redis_proc.url, "router-cli")
    try:
        wait_for_groups(redis_proc.url, "intel:ingress:ukfiu")
        tail = _cli("feed", "tail", "cleveland.fiu", "--json", "--count", "3", env=env, timeout=60)
    finally:
        router.send_signal(signal.SIGTERM)
        assert router.wait(20) == 0
    assert tail.returncode == 0, tail.stderr
    received = [orjson.loads(line) for line in tail.stdout.splitlines()]
    assert [r["submission_id"] for r in received] == [orjson.loads(line)["submission_id"] for line in lines]
    assert {r["view"] for r in received} == {"full"} and {r["priority"] for r in received} == {"routine"}
    replay = _cli("decisions", "--json", env=env)
    records = [orjson.loads(line) for line in replay.stdout.splitlines()]
    assert [r["status"] for r in records] == ["routed"] * 3
    assert all(r["decision_id"] and r["stream"] == "intel:ingress:ukfiu" for r in records)
    one = _cli("decisions", "--submission", records[1]["submission_id"], env=env)
    assert one.stdout.count("\n") == 1 and "cleveland.fiu[full]" in one.stdout


def test_publish_waits_for_receipts_and_names_the_lines_not_routed(redis_proc: RedisProc, tmp_path: Path) -> None:
    env = os.environ | {"REDIS_URL": redis_proc.url}
    good = orjson.dumps(sar(defence_type="daml"))
    secret = orjson.dumps(sar(classification="SECRET", submission_id="00000000-0000-4000-8000-000000000042"))
    source = tmp_path / "sars.jsonl"
    source.write_bytes(b"\n".join([good, good, b"", secret]) + b"\n")
    router = start_router_process(redis_proc.url, "router-cli")
    try:
        wait_for_groups(redis_proc.url, "intel:ingress:ukfiu")
        published = _cli("publish", "--partner", "ukfiu", "--wait", "60", str(source), env=env)
    finally:
        router.send_signal(signal.SIGTERM)
        assert router.wait(20) == 0
    assert published.returncode == 1, published.stdout + published.stderr  # a line was quarantined
    out = published.stdout.splitlines()
    assert out[0].startswith("line 2: duplicate of decision ") and ", not routed again [decision " in out[0]
    assert out[1].startswith("line 4: quarantined (H1 classification): H1 classification: SECRET is above")
    assert out[2].startswith("published 3, rejected 0, in ")
    assert out[2].endswith("; accepted 1, quarantined 1, duplicate 1")
    assert len(out) == 3
    late = tmp_path / "late.jsonl"  # no router now: the receipt never comes, and the error says so in one line
    late.write_bytes(orjson.dumps(sar(submission_id="00000000-0000-4000-8000-000000000043")) + b"\n")
    waited = _cli("publish", "--partner", "ukfiu", "--wait", "0.5", str(late), env=env)
    error = waited.stderr.splitlines()[-1]  # after the progress lines
    assert waited.returncode == 2 and "Traceback" not in waited.stderr, waited.stderr
    assert "1 of 1 entries on intel:ingress:ukfiu have no receipt after 0.5 s" in error
    for bad in ("0", "-1", "nan", "inf"):
        refused = _cli("publish", "--partner", "ukfiu", "--wait", bad, str(late), env=env)
        assert refused.returncode == 2 and "--wait: a number of seconds above 0" in refused.stderr, bad


def test_demo_runs_on_the_embedded_redis_from_an_empty_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "INTELBUS_REDIS_URL")}
    env["PYTHONPATH"] = str(ROOT)
    result = _cli("demo", env=env, cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "embedded redis-server in .intelbus/redis (AOF, appendfsync always)" in out
    assert "10 decisions" in out
    assert "northumbria.control" in out and "immediate lane" in out
    assert "spoofing:" in out and "not valid JSON" in out and "duplicate" in out
    assert "sanitised (no narrative, source_reference, source_type)" in out
    receipts = dict(line.split(None, 1) for line in out.splitlines() if line.startswith("  intel:receipt:"))
    assert receipts["intel:receipt:hmrc"] == "accepted 1, quarantined (spoofing) 1"  # each partner its own
    assert receipts["intel:receipt:ukfiu"] == "accepted 2, duplicate 1"
    assert receipts["intel:receipt:dwp"] == "quarantined (invalid submission) 1"
    assert (tmp_path / ".intelbus" / "redis").is_dir()
    assert "embedded redis-server stopped" in out
    assert "audit verify: intact: 10 records" in out  # the router signed its last checkpoint as it stopped
    again = _cli("demo", env=env, cwd=tmp_path, timeout=120)  # a second run reuses the data, no duplicates
    assert again.returncode == 0 and "10 decisions" in again.stdout
    assert "audit verify: intact: 20 records" in again.stdout  # the second router resumed the same tree
    try:
        replay = _cli("decisions", env=env, cwd=tmp_path, timeout=60)  # on the embedded server's unix socket
        assert replay.returncode == 0 and replay.stdout.count("\n") == 20, replay.stdout + replay.stderr
    finally:  # decisions started the folder's shared server and left it running, as a user's command does
        assert _cli("redis", "stop", env=env, cwd=tmp_path, timeout=60).returncode == 0


def test_router_documents_itself_as_asyncapi() -> None:
    result = _cli("router", "--asyncapi", env=dict(os.environ), timeout=60)
    assert result.returncode == 0, result.stderr
    spec = orjson.loads(result.stdout)
    assert spec == orjson.loads(_cli("asyncapi", env=dict(os.environ), timeout=60).stdout)  # one document
    assert spec["asyncapi"] == "3.1.0"
    ingress = spec["channels"]["ingress"]
    assert ingress["address"] == "intel:ingress:{partner}"
    partners = ingress["parameters"]["partner"]["enum"]
    assert "ukfiu" in partners and "council-redcar-and-cleveland" in partners
    assert len(partners) == 24  # one per partner in the registry
