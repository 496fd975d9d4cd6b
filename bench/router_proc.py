"""The real router as a separate process, as an operator runs it (``python -m bus.cli router``), for the
benchmarks that time it from outside: started, waited for until it reads, its CPU read from ``/proc``; and
the durable private redis-server those benchmarks run it against.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bus.servers import RedisProc

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def start_router(url: str, log: Path, consumer: str, **env: str) -> subprocess.Popen[bytes]:
    """Start ``intelbus router`` against ``url`` (its output to ``log``) and return at once."""
    # the benches watch the keys of no region (Keys()): a region in the caller's shell must not reach the router
    inherited = {k: v for k, v in os.environ.items() if k != "INTELBUS_REGION"}
    environ = inherited | {"REDIS_URL": url, "INTELBUS_CONSUMER_NAME": consumer, "PYTHONUNBUFFERED": "1",
                           "INTELBUS_DATA_DIR": str(log.parent / f"data-{consumer}")} | env
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "bus.cli", "router"], cwd=ROOT, env=environ,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)


def wait_reading(proc: subprocess.Popen[bytes], log: Path) -> None:
    """Until the router logs that it reads ("router ... reading N ingress streams")."""
    while b" reading " not in log.read_bytes():
        if proc.poll() is not None:
            raise RuntimeError(f"the router exited ({proc.returncode}) before reading:\n{log.read_text()}")
        time.sleep(0.01)


def cpu_seconds(proc: subprocess.Popen[bytes]) -> float:
    """User + system CPU of a running process so far (Linux ``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime: fields 14 and 15 of the file


class DurableRedis:
    """A private redis-server with ``appendonly yes, appendfsync always`` (the embedded default) in its own
    temporary folder, and a client of it."""

    def __init__(self, prefix: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.server = RedisProc(self.dir, durable=True, extra=("--loglevel", "warning")).start()
        self.client = self.server.client(timeout=120.0)
        self.version = self.client.info("server")["redis_version"]

    def close(self) -> None:
        self.client.close()
        self.server.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
