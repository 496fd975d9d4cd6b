"""Node.js for the tests of the interfaces other languages use (``examples/node``): ``node`` with the
packages of its committed lock file (``npm ci`` when they are missing). Without Node.js a test skips,
and fails in CI (``.ci/run`` installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / "examples" / "node"


def node_with(package: str) -> str:
    """The ``node`` binary, once ``examples/node/node_modules/<package>`` is there."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have Node.js and npm (.ci/run installs them)")
        pytest.skip("no node/npm for the Node.js test")
    if not (NODE_DIR / "node_modules" / package).exists():
        installed = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, capture_output=True,
                                   text=True, timeout=600)
        assert installed.returncode == 0, f"npm ci in {NODE_DIR} failed: {installed.stderr[-2000:]}"
    return node
