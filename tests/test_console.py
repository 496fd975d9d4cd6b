"""``intelbus console``: operator logins only, every page behind them, the content of a quarantined entry shown
only after its consultation is on disk (hash-chained), hostile content escaped, and not one write command
sent to Redis. Pages are driven over real HTTP against a real ``intelbus console`` process and a real
redis-server; ``test_console_browser.py`` drives the same console in headless Chromium."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from console_harness import BACKLOG, KEYS, LARGE, LEAKY, ROOT, SUBMISSION, known_bus, start_console, stop_console
from redis_procs import RedisProc, free_port

from bus.console import log
from bus.console.login import IDLE_S, LOCK_S, MAX_FAILURES, MAX_S, Gate, without_credentials
from bus.console.pages import SHOWN_BYTES, SHOWN_FIELDS, quarantine_content, quarantine_list
from bus.console.reads import Quarantined
from bus.errors import AuditError, LoginRefused, UnreachableError

# -- the consultation log ------------------------------------------------------------------------------

def test_the_consultation_log_is_a_hash_chain(tmp_path: Path) -> None:
    path = tmp_path / "console" / "consultations.jsonl"
    assert log.verify(path) == 0  # no file yet: nothing consulted
    digests = [log.append(path, {"n": n}) for n in range(3)]
    lines = path.read_bytes().splitlines()
    assert [orjson.loads(line)["prev"] for line in lines] == [log.GENESIS, *digests[:2]]
    assert [log.digest(line) for line in lines] == digests and log.verify(path) == 3
    assert oct(path.stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize(("tamper", "broken"), [
    (lambda lines: [lines[0], lines[1].replace(b'"n":1', b'"n":9'), lines[2]], 3),  # changed: the next breaks
    (lambda lines: [lines[0], lines[2]], 2),  # removed
    (lambda lines: [lines[0], b'{"n":5,"prev":"' + b"0" * 64 + b'"}', *lines[1:]], 2),  # inserted
    (lambda lines: [lines[0], b"not json", *lines[1:]], 2),
], ids=["changed", "removed", "inserted", "garbage"])
def test_a_tampered_log_names_the_line_where_the_chain_breaks(tmp_path: Path, tamper: Any, broken: int) -> None:
    path = tmp_path / "consultations.jsonl"
    for n in range(3):
        log.append(path, {"n": n})
    path.write_bytes(b"\n".join(tamper(path.read_bytes().splitlines())) + b"\n")
    with pytest.raises(AuditError, match=f"line {broken}:"):
        log.verify(path)


def test_a_log_cut_short_by_a_crash_is_not_appended_to(tmp_path: Path) -> None:
    path = tmp_path / "consultations.jsonl"
    log.append(path, {"n": 0})
    with path.open("ab") as handle:
        handle.write(b'{"n": 1, "pr')  # the crash
    with pytest.raises(AuditError, match="partial line"):
        log.append(path, {"n": 2})
    assert path.read_bytes().endswith(b'"pr')  # nothing was glued onto it


def test_an_unwritable_log_is_an_audit_error(tmp_path: Path) -> None:
    (tmp_path / "log").mkdir()
    with pytest.raises(AuditError, match="cannot open the console's consultation log"):
        log.append(tmp_path / "log", {"n": 1})


# -- logins and sessions (the clock is the test's) -----------------------------------------------------

@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_only_the_operator_with_the_password_gets_a_session_and_sessions_expire() -> None:
    clock = Clock()
    gate = Gate("redis://127.0.0.1:1/0", "local", clock, one_time="right")
    try:
        for user, password in (("router", "right"), ("operator", "wrong"), ("operator", "")):
            with pytest.raises(LoginRefused):
                await gate.login(user, password, "10.0.0.1")
        token = await gate.login("operator", "right", "10.0.0.1")
        assert gate.failures == {} and (await gate.session(token)) is not None
        assert await gate.session("forged") is None and await gate.session(None) is None
        clock.now += IDLE_S - 1
        assert await gate.session(token) is not None  # a request restarts the idle clock
        clock.now += IDLE_S + 1
        assert await gate.session(token) is None and token not in gate.sessions
        token = await gate.login("operator", "right", "10.0.0.1")
        for _ in range(MAX_S // (IDLE_S - 1)):
            clock.now += IDLE_S - 1
            await gate.session(token)
        clock.now += IDLE_S - 1
        assert await gate.session(token) is None  # active all along, but past the longest session
        forgotten = await gate.login("operator", "right", "10.0.0.1")  # its user never comes back
        clock.now += IDLE_S + 1
        await gate.login("operator", "right", "10.0.0.1")
        assert forgotten not in gate.sessions and len(gate.sessions) == 1  # a login closes the expired ones
    finally:
        await gate.close()


async def test_repeated_failures_lock_the_address_out_even_with_the_right_password() -> None:
    clock = Clock()
    gate = Gate("redis://127.0.0.1:1/0", "local", clock, one_time="right")
    try:
        for _ in range(MAX_FAILURES):
            with pytest.raises(LoginRefused, match="wrong user name or password"):
                await gate.login("operator", "guess", "10.0.0.2")
        with pytest.raises(LoginRefused, match="too many failed logins"):
            await gate.login("operator", "right", "10.0.0.2")
        assert await gate.login("operator", "right", "10.0.0.3")  # another address is not locked out
        clock.now += LOCK_S
        assert await gate.login("operator", "right", "10.0.0.2")
    finally:
        await gate.close()


async def test_redis_being_down_is_not_a_failed_login() -> None:
    gate = Gate(f"redis://127.0.0.1:{free_port()}/0", "acl")
    try:
        for _ in range(MAX_FAILURES + 2):
            with pytest.raises(UnreachableError):
                await gate.login("operator", "the-right-one", "10.0.0.4")
        assert gate.failures == {}  # when Redis is back, the operator is not locked out
    finally:
        await gate.close()


def test_a_console_url_drops_the_credentials_in_redis_url() -> None:
    assert without_credentials("redis://router:s3cret@10.1.2.3:6380/0") == "redis://10.1.2.3:6380/0"
    assert without_credentials("rediss://:pw@[::1]:6379/0") == "rediss://[::1]:6379/0"
    assert without_credentials("unix:///tmp/redis.sock") == "unix:///tmp/redis.sock"
    assert without_credentials("redis://h:1/0?username=router&password=pw&socket_timeout=5") == \
        "redis://h:1/0?socket_timeout=5"  # redis-py reads these too, and they would win over a login
    assert without_credentials("unix://u:p@/tmp/r.sock?db=3&password=s") == "unix:///tmp/r.sock?db=3"


# -- pages escape what a partner wrote -----------------------------------------------------------------

def test_hostile_reasons_field_names_and_values_are_shown_as_text() -> None:
    entry = Quarantined("1-0", "intel:ingress:hmrc", "1-0", 'invalid: "<script>alert(1)</script>"', "<b>sid</b>",
                        "2-0", "copy", 2)
    pages = [quarantine_list([entry], None, "operator", "t"),
             quarantine_content(entry, [(b"<img src=x onerror=alert(1)>", b"<script>alert(2)</script>"),
                                        (b"payload", b'{"k": "</pre><script>alert(3)</script>"}'),
                                        (b"raw", b"\xff\xfe<x>")], "operator", "t")]
    for page in pages:
        assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in pages[1] and "\\xff\\xfe&lt;x&gt;" in pages[1]
    deep = b'{"a":' + b"[" * 300 + b"]" * 300 + b"}"  # JSON orjson reads but cannot write back indented
    assert "[[[[" in quarantine_content(entry, [(b"payload", deep)], "operator", "t")
    made_up = Quarantined("1-0", "intel:ingress:hmrc", "1-0", "invalid submission: x", "Jane Doe 1970", "2-0",
                          "copy", 1)
    assert "Jane Doe" not in quarantine_list([made_up], None, "operator", "t")  # not a UUID: the partner's text
    assert "Jane Doe" in quarantine_content(made_up, [], "operator", "t")  # shown once it is recorded
    many = quarantine_content(entry, [(b"f%d" % n, b"v") for n in range(SHOWN_FIELDS + 50)], "operator", "t")
    assert many.count('<pre class="value">') == SHOWN_FIELDS and "50 more fields not shown" in many


# -- the console over HTTP, on a Redis without ACLs (where only the console's code keeps it read-only) ---

class Monitor:
    """Every command Redis executes while it runs (MONITOR), until it sees ``ECHO <END>``."""

    END = "intelbus-console-test-end"

    def __init__(self, proc: RedisProc) -> None:
        self.proc = proc
        self.commands: list[list[str]] = []
        self.client = proc.client(timeout=60)
        self.monitor = self.client.monitor()  # type: ignore[no-untyped-call]
        self.monitor.__enter__()
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        for event in self.monitor.listen():
            command = str(event["command"])
            if command == f"ECHO {self.END}":
                return
            self.commands.append(command.split(" "))

    def stop(self) -> list[list[str]]:
        with self.proc.client() as other:
            other.echo(self.END)
        self.thread.join(timeout=30)
        self.monitor.__exit__(None, None, None)
        self.client.close()
        return self.commands


def write_commands(proc: RedisProc) -> set[str]:
    """Every command this Redis flags ``write``, and those that run code (which may write)."""
    with proc.client() as client:
        info: dict[str, dict[str, Any]] = client.execute_command("COMMAND")
    def writes(doc: dict[str, Any]) -> bool:  # a container (XGROUP) writes when any subcommand does
        subcommands = doc.get("subcommands") or []  # raw replies: [name, arity, [flags], ...]
        return "write" in doc["flags"] or any(b"write" in sub[2] for sub in subcommands)

    return {name.upper() for name, doc in info.items() if writes(doc)} | {"EVAL", "EVALSHA", "FCALL", "MULTI", "EXEC"}


Bus = tuple[RedisProc, dict[str, str], Path]  # the server, the quarantine entries' ids (known_bus), a folder


def health(port: int) -> int:
    """``python -m bus.health --console``, as the console's compose service checks it."""
    return subprocess.run([sys.executable, "-m", "bus.health", "--console"], capture_output=True, timeout=60,
                          env=os.environ | {"INTELBUS_CONSOLE_PORT": str(port)}).returncode


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    folder = tmp_path_factory.mktemp("console")
    proc = RedisProc(folder / "redis", durable=False).start()
    try:
        yield proc, asyncio.run(known_bus(proc.url, lambda partner: proc.url)), folder
    finally:
        proc.stop()


def test_every_page_needs_a_login(bus: Bus) -> None:
    proc, ids, folder = bus
    entry_id = ids["hostile"]
    console = start_console(proc.url, folder / "no-login")
    try:
        assert "one-time password" in console.lines[1]
        for method, path in (("GET", "/"), ("GET", "/quarantine"), ("GET", f"/quarantine/{entry_id}"),
                             ("POST", f"/quarantine/{entry_id}/content"), ("GET", "/audit?team=durham.fib"),
                             ("POST", "/logout")):
            status, headers, body = console.request(method, path, {} if method == "POST" else None)
            assert (status, headers.get("location")) == (303, "/login"), (method, path)
            assert "cache-control" in headers and "script-src" not in headers["content-security-policy"]
        console.cookie = "forged-token"
        assert console.request("GET", "/")[0] == 303
        for user, password in (("operator", "not-it"), ("router", console.password), ("admin", console.password)):
            status, headers, body = console.login(user, password)
            assert status == 401 and "set-cookie" not in headers, user
            assert "operator" in body if user != "operator" else "wrong user name or password" in body
        assert not console.log_path.exists()  # nothing was shown, so nothing was consulted
        assert [health(console.port), health(free_port())] == [0, 1]  # the compose healthcheck
    finally:
        stop_console(console)


def test_an_operator_sees_the_bus_and_the_console_writes_nothing_to_it(bus: Bus) -> None:
    proc, ids, folder = bus
    entry_id = ids["hostile"]
    writes = write_commands(proc)
    assert {"XADD", "XACK", "XGROUP", "HSET", "DEL", "XTRIM", "SET"} <= writes
    monitor = Monitor(proc)
    console = start_console(proc.url, folder / "operator")
    try:
        assert console.login()[0] == 303
        page = console.request("GET", "/")[2]
        waiting = re.search(r'<tr id="ingress-ukfiu">.*?<td class="n waiting">([\d,]+)</td>', page)
        assert waiting and int(waiting.group(1)) == BACKLOG
        quarantine = console.request("GET", "/quarantine")[2]
        assert f'href="/quarantine/{entry_id}"' in quarantine and "malformed entry" in quarantine
        for page in (quarantine, console.request("GET", f"/quarantine/{entry_id}")[2],
                     console.request("GET", f"/quarantine/{ids['leaky']}")[2],
                     console.request("GET", "/audit?since=2020-01-01T00:00:00Z")[2]):
            # reasons as classes only: they quote field names and wrong values, which are content
            assert "alert" not in page and "<i>note" not in page and "&lt;i&gt;note" not in page and LEAKY not in page
        assert "invalid submission" in quarantine
        # a POST without the form token, or from another site, shows nothing and records nothing
        refused = [console.request("POST", f"/quarantine/{entry_id}/content", {}),
                   console.request("POST", f"/quarantine/{entry_id}/content", {"csrf": "stale"}),
                   console.request("POST", f"/quarantine/{entry_id}/content", {"csrf": console.csrf},
                                   headers={"Origin": "http://evil.example"}),
                   console.request("POST", f"/quarantine/{entry_id}/content", {"csrf": console.csrf},
                                   headers={"Sec-Fetch-Site": "cross-site"})]
        assert [status for status, _, _ in refused] == [403] * 4
        assert not any("alert" in body for _, _, body in refused) and not console.log_path.exists()
        status, _, shown = console.request("POST", f"/quarantine/{entry_id}/content", {"csrf": console.csrf})
        assert status == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in shown and "<script" not in shown
        assert "&lt;i&gt;note&lt;/i&gt;" in shown and "&lt;script&gt;alert(4)&lt;/script&gt;" in shown
        assert "entry has fields besides payload (&lt;i&gt;note&lt;/i&gt;)" in shown  # the reason in full
        [record] = [orjson.loads(line) for line in console.log_path.read_bytes().splitlines()]
        assert (record["operator"], record["action"], record["entry"], record["held"]) == (
            "operator", "show quarantined entry", f"{KEYS.quarantine} {entry_id}", True)
        found = console.request("GET", f"/audit?submission={SUBMISSION}")[2]
        assert "1 decision found" in found and SUBMISSION in found and '<td class="status">routed</td>' in found
        every = console.request("GET", "/audit?since=2020-01-01T00:00:00Z")[2]
        assert "4 decisions found" in every and every.count('<td class="reason">invalid submission</td>') == 1
        assert "Example Bank" not in found and "sale proceeds" not in found  # who got what, never the content
        assert console.request("GET", "/audit?team=nobody.here")[0] == 400
        assert console.request("GET", "/audit?since=yesterday")[0] == 400
        for bad in ("1-0%20OR", "1-1%0A", f"{2**64}-0", "%D9%A1-0"):  # nothing Redis would refuse reaches it
            assert console.request("GET", f"/quarantine/{bad}")[0] == 404, bad
        assert console.request("GET", "/audit?since=1969-12-31T00:00:00Z")[0] == 400
        big = {"csrf": console.csrf, "x": "y" * 10_000}
        assert console.request("POST", f"/quarantine/{entry_id}/content", big)[0] == 413
        assert console.request("POST", "/login", big, cookie=False)[0] == 413
        assert console.request("POST", "/logout", {"csrf": console.csrf})[0] == 303
        assert console.request("GET", "/")[0] == 303  # the session ended with the logout
    finally:
        stop_console(console)
        commands = monitor.stop()
    sent = {command[0].upper() for command in commands if command}
    assert {"XREVRANGE", "XINFO", "XRANGE"} <= sent  # the monitor saw the console's reads
    assert sent & writes == set(), sent & writes


def test_content_is_not_shown_when_its_consultation_cannot_be_recorded(bus: Bus) -> None:
    proc, ids, folder = bus
    entry_id = ids["hostile"]
    unwritable = folder / "a-folder"
    unwritable.mkdir()
    console = start_console(proc.url, folder / "unwritable", INTELBUS_CONSOLE_LOG=str(unwritable))
    try:
        console.login()
        status, _, body = console.request("POST", f"/quarantine/{entry_id}/content", {"csrf": console.csrf})
        assert status == 503 and "not shown until the consultation can be recorded" in body and "alert" not in body
    finally:
        stop_console(console)


def test_verify_log_command(tmp_path: Path) -> None:
    path = tmp_path / "consultations.jsonl"
    for n in range(2):
        log.append(path, {"n": n})

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bus.cli", "console", "--verify-log"], capture_output=True,
                              text=True, cwd=ROOT, env=os.environ | {"INTELBUS_CONSOLE_LOG": str(path)}, timeout=60)

    intact = verify()
    assert intact.returncode == 0 and "2 consultation records, chain intact" in intact.stdout
    path.write_bytes(path.read_bytes().replace(b'"n":0', b'"n":7'))
    broken = verify()
    assert broken.returncode == 1 and "line 2: the chain is broken" in broken.stdout


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "-m", "bus.cli", "console", "--port", str(port)],
                                capture_output=True, text=True, cwd=ROOT, timeout=60,
                                env=os.environ | {"REDIS_URL": "redis://127.0.0.1:1/0"})
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


def test_an_entry_too_large_to_copy_is_shown_from_its_ingress_stream_while_redis_holds_it(bus: Bus) -> None:
    proc, ids, folder = bus
    kept = ids["large"]
    console = start_console(proc.url, folder / "kept")
    try:
        console.login()
        assert "left whole in intel:ingress:dwp" in console.request("GET", f"/quarantine/{kept}")[2]
        shown = console.request("POST", f"/quarantine/{kept}/content", {"csrf": console.csrf})[2]
        assert "field <code>payload</code>" in shown and "x" * 200_000 in shown  # the first 256 KiB of it
        assert f"{len(LARGE) - SHOWN_BYTES:,} more bytes not shown" in shown
        with proc.client() as client:  # retention archived and trimmed it (here: deleted by hand)
            [(source, _)] = client.xrange(KEYS.ingress("dwp"))
            client.xdel(KEYS.ingress("dwp"), source)
        gone = console.request("POST", f"/quarantine/{kept}/content", {"csrf": console.csrf})[2]
        assert "Redis no longer holds this entry" in gone
        records = [orjson.loads(line) for line in console.log_path.read_bytes().splitlines()]
        assert [record["held"] for record in records] == [True, False] and log.verify(console.log_path) == 2
    finally:
        stop_console(console)
