"""Shared fixtures. Tests never touch the shared Redis on 127.0.0.1:6379: they get private servers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_procs import RedisProc


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
