"""A quick run of bench/chaos.py: router SIGKILL and a redis-server crash, nothing lost or duplicated."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


@pytest.mark.timeout(110)
def test_chaos_smoke_loses_and_duplicates_nothing() -> None:
    command = [sys.executable, str(ROOT / "bench" / "chaos.py"), "--count", "1500", "--router-kills", "1",
               "--redis-crashes", "1", "--publish-seconds", "6", "--timeout", "60"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=100)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    lines = set(output.splitlines())
    assert "lost 0" in lines, output
    assert "duplicated 0" in lines, output
    assert "PASS" in lines, output
    assert re.search(r"^submissions published 1500 ", output, re.MULTILINE), output
    assert re.search(r"^router kills 1, redis crashes 1;", output, re.MULTILINE), output
    delivered = re.search(r"^deliveries expected (\d+), feed entries found (\d+) ", output, re.MULTILINE)
    assert delivered is not None and delivered[1] == delivered[2] and int(delivered[1]) > 0, output
