"""Shared fixtures. Tests never touch the shared Redis on 127.0.0.1:6379: they get private servers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aredis
from redis_procs import RedisProc

from bus.keys import Keys


@pytest.fixture
def redis_proc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProc]:
    """A private redis-server (AOF on, appendfsync always) for this test only; always stopped after."""
    proc = RedisProc(tmp_path_factory.mktemp("redis_proc"))
    try:
        proc.start()
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def redis_url_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of one private redis-server shared by the session; isolate tests with unique key prefixes."""
    proc = RedisProc(tmp_path_factory.mktemp("redis_session"))
    try:
        proc.start()
        yield proc.url
    finally:
        proc.stop()


@pytest.fixture
def keys() -> Keys:
    """A unique key prefix, for tests that share the session's server."""
    return Keys(prefix=f"t{uuid.uuid4().hex[:8]}")


@pytest.fixture
async def r(redis_url_session: str) -> AsyncIterator[aredis.Redis]:
    """An asyncio client on the session's private server."""
    client = aredis.Redis.from_url(redis_url_session)
    try:
        yield client
    finally:
        await client.aclose()
