"""Run the real router against a private redis-server: in-process (a task) or as a subprocess."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from redis_replies import stream_rows

from bus.policy import decide_payload, load_policy
from bus.service import Router, run_router
from bus.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def router_data_dir() -> Path:
    """A data folder of the router's own (its audit signing key and checkpoint file), never the repo's."""
    return Path(tempfile.mkdtemp(prefix="intelbus-router-"))


def settings_for(url: str, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"batch_size": 50, "block_ms": 50, "claim_idle_ms": 300, "data_dir": router_data_dir()}
    return Settings(redis_url=url, **(base | overrides))


@asynccontextmanager
async def running_router(url: str, decider: Callable[..., Any] | None = None,
                         **overrides: Any) -> AsyncIterator[Router]:
    settings = settings_for(url, **overrides)
    ruleset, reference = load_policy(settings.ruleset, settings.reference)
    url = settings.cluster_url() or url  # a cluster's: pinned to the region's slot
    stop, ready = asyncio.Event(), asyncio.Event()
    holder: list[Router] = []

    def on_ready(router: Router) -> None:
        holder.append(router)
        ready.set()

    task = asyncio.create_task(run_router(settings, ruleset, reference, url, stop, ready=on_ready,
                                          decider=decider or decide_payload))
    done, _ = await asyncio.wait([task, asyncio.create_task(ready.wait())], timeout=15,
                                 return_when=asyncio.FIRST_COMPLETED)
    if task in done:
        task.result()  # the router failed to start: its error, not a timeout
    assert ready.is_set(), "router did not start within 15 s"
    try:
        yield holder[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def drained(router: Router, timeout: float = 60.0) -> None:
    """Wait until every entry written so far is decided (the router says so; nothing is polled)."""
    await asyncio.wait_for(router.until_idle(), timeout)


async def wait_until(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {check}")
        await asyncio.sleep(interval)


async def decisions(client: aioredis.Redis, prefix: str = "intel") -> list[dict[str, Any]]:
    return [orjson.loads(fields[b"decision"]) | {"decision_id": entry_id.decode()}
            for entry_id, fields in stream_rows(await client.xrange(f"{prefix}:decisions"))]


def start_router_process(url: str, consumer: str, output: Path | None = None,
                         **env_overrides: str) -> subprocess.Popen[bytes]:
    """``intelbus router`` as a subprocess; its log on its stdout pipe, or appended to ``output`` (a long run
    whose log could fill a pipe nobody reads)."""
    env = os.environ | {
        "REDIS_URL": url, "INTELBUS_CONSUMER_NAME": consumer, "INTELBUS_CLAIM_IDLE_MS": "500",
        "INTELBUS_BATCH_SIZE": "100", "INTELBUS_BLOCK_MS": "50", "PYTHONUNBUFFERED": "1",
        "INTELBUS_DATA_DIR": str(router_data_dir()),
    } | env_overrides
    if output is None:
        return subprocess.Popen([sys.executable, "-m", "bus.cli", "router"], cwd=ROOT, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    with output.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "bus.cli", "router"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)


def wait_for_groups(url: str, stream: str, timeout: float = 20.0) -> None:
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if client.xinfo_groups(stream):
                return
        except redis.ResponseError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"router never created its group on {stream}")
