"""Real processes, real faults: SIGKILL and SIGTERM of `intelbus router` subprocesses mid-batch."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

import orjson
import pytest
import redis
from redis_procs import RedisProc
from redis_replies import stream_rows
from router_harness import start_router_process, wait_for_groups

from bus.samples import realistic_mix

pytestmark = pytest.mark.slow


def _publish(client: redis.Redis, count: int, seed: int) -> list[dict[str, object]]:
    subs = realistic_mix(count, seed=seed)
    pipe = client.pipeline(transaction=False)
    for sub in subs:
        pipe.xadd(f"intel:ingress:{sub['partner']}", {"payload": orjson.dumps(sub)})
    pipe.execute()
    return subs


def _wait_decisions(client: redis.Redis, at_least: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (n := client.xlen("intel:decisions") if client.exists("intel:decisions") else 0) < at_least:
        if time.monotonic() > deadline:
            return n
        time.sleep(0.02)
    return n


def _assert_exactly_once(client: redis.Redis, subs: list[dict[str, object]]) -> None:
    records = [orjson.loads(f[b"decision"]) for _, f in stream_rows(client.xrange("intel:decisions"))]
    per_id = Counter(r["submission_id"] for r in records)
    assert set(per_id) == {s["submission_id"] for s in subs}, "a submission has no decision"
    assert max(per_id.values()) == 1, f"decided twice: {[k for k, v in per_id.items() if v > 1][:5]}"
    expected: Counter[str] = Counter()
    for record in records:
        for delivery in record["deliveries"]:
            suffix = ":immediate" if delivery["priority"] == "immediate" else ""
            expected[f"intel:feed:{delivery['recipient']}{suffix}"] += 1
    actual = {key.decode(): client.xlen(key) for key in client.scan_iter("intel:feed:*")}
    assert actual == dict(expected), "feed entries differ from the decisions' deliveries"
    for key in client.scan_iter("intel:ingress:*"):
        assert client.xpending(key, "router")["pending"] == 0


def test_router_sigkilled_mid_batch_then_another_finishes(redis_proc: RedisProc) -> None:
    client = redis_proc.client()
    subs = _publish(client, 3000, seed=11)
    first = start_router_process(redis_proc.url, "router-a")
    try:
        wait_for_groups(redis_proc.url, "intel:ingress:ukfiu")
        assert _wait_decisions(client, 400, 30) >= 400
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    killed_at = client.xlen("intel:decisions")
    assert killed_at < 3000, "the router finished before it could be killed; publish more"
    second = start_router_process(redis_proc.url, "router-b")
    try:
        assert _wait_decisions(client, 3000, 60) == 3000
        time.sleep(0.6)  # longer than the claim idle time: nothing more may appear
        assert client.xlen("intel:decisions") == 3000
    finally:
        second.terminate()
        second.wait(20)
    _assert_exactly_once(client, subs)


def test_sigterm_finishes_the_batch_and_exits_promptly(redis_proc: RedisProc) -> None:
    client = redis_proc.client()
    subs = _publish(client, 2000, seed=12)
    router = start_router_process(redis_proc.url, "router-t")
    wait_for_groups(redis_proc.url, "intel:ingress:ukfiu")
    _wait_decisions(client, 200, 30)
    router.send_signal(signal.SIGTERM)
    assert router.wait(20) == 0
    # The batch in hand was finished: nothing the router read is left pending, and it stopped mid-run.
    stranded = sum(client.xpending(k, "router")["pending"] for k in client.scan_iter("intel:ingress:*"))
    decided = client.xlen("intel:decisions")
    assert stranded == 0 and 0 < decided < 2000, (stranded, decided)
    after = start_router_process(redis_proc.url, "router-u")
    try:
        assert _wait_decisions(client, 2000, 60) == 2000
    finally:
        after.terminate()
        after.wait(20)
    _assert_exactly_once(client, subs)


def test_a_router_started_before_its_redis_waits_for_it(tmp_path: Path) -> None:
    proc = RedisProc(tmp_path / "late")
    router = start_router_process(f"redis://127.0.0.1:{proc.port}/0", "router-early")
    try:
        time.sleep(2.0)
        assert router.poll() is None, "the router exited while Redis was down"
        proc.start()
        client = proc.client()
        client.xadd("intel:ingress:ukfiu", {"payload": orjson.dumps(realistic_sar())})
        assert _wait_decisions(client, 1, 30) == 1
    finally:
        router.send_signal(signal.SIGTERM)
        code = router.wait(20)
        output = router.stdout.read().decode() if router.stdout else ""
        proc.stop()
    assert code == 0
    assert "cannot start yet, Redis unreachable" in output and "Traceback" not in output


def realistic_sar() -> dict[str, object]:
    return next(s for s in realistic_mix(50, seed=3) if s["kind"] == "sar")
