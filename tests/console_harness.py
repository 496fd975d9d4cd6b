"""The console as its users meet it: an ``intelbus console`` process, HTTP requests with its cookie and form
token, and a bus in a known state (decided by the real router, then a backlog with the router stopped)."""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import orjson
import redis
from policy_cases import sar
from redis_procs import free_port
from router_harness import drained, running_router

from bus.keys import Keys

ROOT = Path(__file__).resolve().parent.parent
KEYS = Keys()
BACKLOG = 7
HOSTILE = b'{"kind": "<script>alert(1)</script>"'  # not JSON: quarantined, its content shown as text
SUBMISSION = "00000000-0000-4000-8000-00000000c0de"
LARGE = b'{"narrative": "' + b"x" * 300_000 + b'"}'  # too large to copy: kept whole in its ingress stream


@dataclass
class Console:
    port: int
    password: str
    proc: subprocess.Popen[str]
    log_path: Path
    cookie: str = ""
    csrf: str = ""
    lines: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, form: dict[str, str] | None = None,
                headers: dict[str, str] | None = None, cookie: bool = True) -> tuple[int, dict[str, str], str]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        sent = dict(headers or {})
        if cookie and self.cookie:
            sent["Cookie"] = f"intelbus_console={self.cookie}"
        body = None
        if form is not None:
            body = urlencode(form)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            connection.request(method, path, body=body, headers=sent)
            reply = connection.getresponse()
            return reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read().decode()
        finally:
            connection.close()

    def login(self, user: str = "operator", password: str | None = None) -> tuple[int, dict[str, str], str]:
        status, headers, body = self.request("POST", "/login", {"user": user, "password": password or self.password},
                                             cookie=False)
        found = re.search(r"intelbus_console=([^;]+)", headers.get("set-cookie", ""))
        if found:
            self.cookie = found.group(1)
            page = self.request("GET", "/")[2]
            self.csrf = re.findall(r'name="csrf" value="([^"]+)"', page)[0]
        return status, headers, body


def start_console(url: str, data_dir: Path, **env: str) -> Console:
    """``intelbus console`` as a subprocess; ready once it printed its address (it listens before it prints)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bus.cli", "console", "--port", str(port)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=os.environ | {"REDIS_URL": url, "INTELBUS_DATA_DIR": str(data_dir), **env})
    assert proc.stdout is not None
    lines = [proc.stdout.readline(), proc.stdout.readline()]
    assert lines[0].startswith(f"intelbus console: http://127.0.0.1:{port}/"), lines
    found = re.search(r"one-time password (\S+)", lines[1])
    log_path = Path(env.get("INTELBUS_CONSOLE_LOG", data_dir / "console" / "consultations.jsonl"))
    return Console(port, found.group(1) if found else "", proc, log_path, lines=lines)


def stop_console(console: Console) -> None:
    console.proc.terminate()
    try:
        console.proc.wait(timeout=15)
    finally:
        if console.proc.poll() is None:
            console.proc.kill()


def publish(url: str, partner: str, fields: dict[str, bytes | str]) -> None:
    with redis.Redis.from_url(url) as client:
        client.xadd(KEYS.ingress(partner), fields)


LEAKY = "John Smith DOB 01/02/1980"  # a wrong value a reason quotes: content, shown only when recorded


async def known_bus(router_url: str, partner_url: Callable[[str], str]) -> dict[str, str]:
    """A routed SAR (SUBMISSION); quarantined: a hostile entry (copied), a SAR whose wrong kind quotes a name
    (its reason quotes the value) and one too large to copy (kept in its ingress stream); then the router
    stops and BACKLOG SARs wait. Returns the quarantine entries' ids: hostile, leaky, large."""
    publish(partner_url("ukfiu"), "ukfiu", {"payload": orjson.dumps(sar(submission_id=SUBMISSION))})
    publish(partner_url("ukfiu"), "ukfiu", {"payload": orjson.dumps(sar(kind=LEAKY))})
    publish(partner_url("hmrc"), "hmrc", {"payload": HOSTILE, "<i>note</i>": "<script>alert(4)</script>"})
    publish(partner_url("dwp"), "dwp", {"payload": LARGE})
    async with running_router(router_url) as router:
        await drained(router)
    for n in range(BACKLOG):
        publish(partner_url("ukfiu"), "ukfiu", {"payload": orjson.dumps(sar(sar_reference=f"SAR-Q-{n}"))})
    with redis.Redis.from_url(router_url) as client:
        rows = client.xrange(KEYS.quarantine)
    by_stream = {fields[b"stream"].decode(): entry_id.decode() for entry_id, fields in rows}
    assert len(rows) == 3 and any(LEAKY in fields[b"reason"].decode() for _, fields in rows), rows
    return {"hostile": by_stream[KEYS.ingress("hmrc")], "leaky": by_stream[KEYS.ingress("ukfiu")],
            "large": by_stream[KEYS.ingress("dwp")]}
