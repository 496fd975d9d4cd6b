"""The private, embedded redis-server used when no ``REDIS_URL`` is set.

Where the data lives: ``<data_dir>/redis/`` (``settings.data_dir``, default ``.intelbus`` relative to
the working directory) holds ``redis.conf``, the append-only file (``appendonly.aof`` on Redis 6,
``appendonlydir/`` on Redis 7+), ``redis.pid``, ``redis.log``, the lock file ``.lock`` and
``state.json`` (where the socket is). The server listens only on the unix socket
``<data_dir>/redis/redis.sock`` (mode 700, no TCP); when that absolute path is too long for a unix
socket, the socket goes to a short per-data-dir folder in the temp dir, recorded in ``state.json``.
No RDB snapshots are taken: the AOF is the only copy of the data. No single value may exceed 1 MB
(``proto-max-bulk-len``, Redis's floor): a partner's oversized payload is refused at the door instead
of being copied, at about 4 ms a megabyte, by every operation that later reads it.

Durability follows ``settings.appendfsync``: ``always`` (default) fsyncs every write before it is
acknowledged, so nothing acknowledged is lost on a crash (kill -9, power loss); ``everysec`` can lose
up to about two seconds of acknowledged writes; ``no`` leaves flushing to the operating system.

One server is shared by all commands run with the same data folder: :meth:`EmbeddedRedis.ensure`
reuses a live one, replaces a dead one (the new one reloads the AOF), and holds a file lock so two
commands starting at once do not both start a server.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bus.errors import ConfigError, EmbeddedRedisError, LibraryMissingError
from bus.redis_binary import alive, find_redis_server, read_pid, wait_exit
from bus.settings import Settings

SOCKET_PATH_MAX = 103  # sun_path holds 107 characters on Linux, 103 on macOS
READY_TIMEOUT = 10.0  # seconds to wait for PING after starting (or for a loading server)
STOP_TIMEOUT = 10.0  # seconds to wait for exit after SHUTDOWN before SIGKILL

_CONFIG = """\
daemonize yes
dir {dir}
pidfile {pidfile}
logfile {logfile}
port 0
unixsocket {socket}
unixsocketperm 700
appendonly yes
appendfsync {appendfsync}
save ""
proto-max-bulk-len 1mb
"""


def _quote(value: Path | str) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _client(socket: Path, timeout: float) -> redis.Redis:
    """A client that fails fast (no retries): callers poll on their own schedule."""
    return redis.Redis(
        unix_socket_path=str(socket),
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class EmbeddedRedis:
    """The redis-server of one data folder; use :meth:`ensure` and :meth:`stop`."""

    def __init__(self, settings: Settings, binary: Path | None = None) -> None:
        self.settings = settings
        self.binary = binary
        self.folder = (settings.data_dir.expanduser().resolve()) / "redis"
        self.conf = self.folder / "redis.conf"
        self.pidfile = self.folder / "redis.pid"
        self.logfile = self.folder / "redis.log"
        self.statefile = self.folder / "state.json"
        self.socket = self._recorded_socket() or self._choose_socket()

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @classmethod
    def ensure(cls, settings: Settings) -> str:
        """URL of the running server of ``settings.data_dir``, starting (or restarting) it if needed."""
        server = cls(settings)
        with server._locked():
            return server._ensure_locked()

    @classmethod
    def stop(cls, settings: Settings, timeout: float = STOP_TIMEOUT) -> None:
        """SHUTDOWN the server (AOF fsynced, nothing lost) and wait for it to exit; SIGKILL if it hangs."""
        server = cls(settings)
        with server._locked():
            server._stop_locked(timeout)

    def pid(self) -> int | None:
        """Pid of the live redis-server of this folder, or None."""
        pid = read_pid(self.pidfile)
        return pid if pid is not None and alive(pid) else None

    def ping(self) -> bool:
        client = _client(self.socket, 1.0)
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serializes start/stop across processes; every step under it is time-bounded."""
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.folder / ".lock", "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)  # released when the file is closed
            yield

    def _ensure_locked(self) -> str:
        if not self.ping():
            if self.pid() is None:
                self._cleanup()
                self._start()
            self._wait_ready()
        self._load_functions()
        return self.url

    def _load_functions(self) -> None:
        """The deploy step of ``bus.library``, done at start-up here: load this release's Function library
        (Redis 7; on 6.2 the router loads the same code as scripts)."""
        from bus.library import PROBE, library_code
        from bus.transport import classify

        client = _client(self.socket, READY_TIMEOUT)
        try:
            client.fcall(PROBE, 0)
        except redis.ResponseError as exc:
            if classify(str(exc)) is LibraryMissingError:
                client.function_load(library_code())
        except (redis.RedisError, OSError) as exc:
            raise EmbeddedRedisError(f"embedded redis-server (data {self.folder}): cannot load the intelbus "
                                     f"function library: {exc}") from exc
        finally:
            client.close()

    def _recorded_socket(self) -> Path | None:
        try:
            return Path(json.loads(self.statefile.read_text())["socket"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _choose_socket(self) -> Path:
        socket = self.folder / "redis.sock"
        if len(os.fsencode(socket)) <= SOCKET_PATH_MAX:
            return socket
        key = hashlib.sha256(os.fsencode(self.folder)).hexdigest()[:16]
        short = Path(tempfile.gettempdir()) / f"intelbus-{key}"
        if len(os.fsencode(short / "redis.sock")) > SOCKET_PATH_MAX:
            short = Path("/tmp") / f"intelbus-{key}"
        return short / "redis.sock"

    def _make_socket_folder(self) -> None:
        short = self.socket.parent
        if short == self.folder:
            return
        short.mkdir(mode=0o700, exist_ok=True)
        if short.is_symlink() or not short.is_dir() or short.stat().st_uid != os.getuid():
            raise EmbeddedRedisError(f"{short} (socket folder for {self.folder}) is not a folder owned by us")

    def _config(self) -> str:
        return _CONFIG.format(
            dir=_quote(self.folder),
            pidfile=_quote(self.pidfile),
            logfile=_quote(self.logfile),
            socket=_quote(self.socket),
            appendfsync=self.settings.appendfsync,
        )

    def _start(self) -> None:
        binary = self.binary or find_redis_server()
        self.socket = self._choose_socket()
        self._make_socket_folder()
        self.statefile.write_text(json.dumps({"socket": str(self.socket), "binary": str(binary)}) + "\n")
        self.conf.write_text(self._config())
        try:
            done = subprocess.run(
                [str(binary), str(self.conf)],
                cwd=self.folder,
                capture_output=True,
                text=True,
                timeout=READY_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EmbeddedRedisError(f"could not run {binary} {self.conf}: {exc}{self._log_tail()}") from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).strip()
            raise EmbeddedRedisError(
                f"{binary} {self.conf} exited with status {done.returncode}: {output}{self._log_tail()}"
            )

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while not self.ping():
            pid = read_pid(self.pidfile)
            if time.monotonic() > deadline or (pid is not None and not alive(pid)):
                raise EmbeddedRedisError(
                    f"embedded redis-server (data {self.folder}) did not answer PING on {self.socket}"
                    f" within {READY_TIMEOUT:.0f} s{self._log_tail()}"
                )
            time.sleep(0.05)

    def _stop_locked(self, timeout: float) -> None:
        pid = self.pid()
        if self.ping():
            client = _client(self.socket, timeout)
            with contextlib.suppress(redis.RedisError, OSError):
                client.shutdown()  # fsyncs the AOF, then exits
            client.close()
        elif pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)  # the same orderly shutdown, when the socket is unreachable
        if pid is not None and not wait_exit(pid, timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            if not wait_exit(pid, 5.0):
                raise EmbeddedRedisError(f"redis-server pid {pid} (data {self.folder}) survived SIGKILL")
        self._cleanup()

    def _cleanup(self) -> None:
        pid = read_pid(self.pidfile)
        if pid is not None and not alive(pid):
            with contextlib.suppress(OSError):  # reap it if it is our child; usually init does
                os.waitpid(pid, os.WNOHANG)
        self.pidfile.unlink(missing_ok=True)
        self.socket.unlink(missing_ok=True)
        if self.socket.parent != self.folder:
            with contextlib.suppress(OSError):
                self.socket.parent.rmdir()

    def _log_tail(self, lines: int = 20) -> str:
        try:
            tail = self.logfile.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return f"\n(no log at {self.logfile})"
        return f"\nlast lines of {self.logfile}:\n" + "\n".join(tail)


def resolve_redis_url(settings: Settings) -> str:
    """``settings.redis_url`` if set (a cluster's pinned to the region's slot), else the URL of the embedded
    server (started if needed). Raises ``ConfigError`` for a cluster with no region."""
    try:
        pinned = settings.cluster_url()
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if pinned is not None:
        return pinned
    if settings.redis_url:
        return settings.redis_url
    return EmbeddedRedis.ensure(settings)
