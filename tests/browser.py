"""Headless Chromium for the browser tests: Debian's ``/usr/bin/chromium`` through Playwright's
``executable_path`` (no ``playwright install``). Without it a test skips, and fails in CI (``.ci/run``
installs it)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def need_chromium() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (.ci/run does)")
        pytest.skip("no /usr/bin/chromium (apt-get install chromium) for the browser test")


def launch(playwright: Any) -> Any:
    """A headless Chromium browser (the caller closes it)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
