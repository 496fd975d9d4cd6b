"""`intelbus route --dry-run`: JSON lines in, one decision per line out, in order, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
from policy_cases import SID, covert_report, intelligence_report, sar

NOW = "2026-12-17T11:00:00+00:00"


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "bus.cli", "route", "--dry-run", "--now", NOW, *args],
                          input=stdin, capture_output=True, timeout=60)


def test_decisions_in_order_with_bad_lines_quarantined(tmp_path: Path) -> None:
    lines = [
        orjson.dumps(sar(defence_type="daml")),
        b"{this is not json",
        orjson.dumps(sar(foo="bar")),
        b"",
        orjson.dumps(sar(classification="TOP SECRET")),
        b"\xff\xfe not utf-8",
        orjson.dumps([1, 2, 3]),
        orjson.dumps(intelligence_report()),
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    result = _run(str(source))
    assert result.returncode == 0, result.stderr
    assert b"Traceback" not in result.stderr
    decisions = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert [d["status"] for d in decisions] == ["routed", "quarantined", "quarantined", "quarantined",
                                                "quarantined", "quarantined", "routed"]
    daml = decisions[0]
    assert daml["deliveries"] == [{"recipient": "cleveland.fiu", "view": "full", "priority": "routine",
                                   "due": "2026-12-30T23:59:59+00:00", "rules": ["R2"], "omitted": []}]
    assert daml["decided_at"] == NOW and daml["ruleset"].startswith("sha256:")
    assert "not valid JSON" in decisions[1]["reason"] and decisions[1]["submission_id"] is None
    assert "unknown field 'foo'" in decisions[2]["reason"] and decisions[2]["submission_id"] == SID
    assert "TOP SECRET" in decisions[3]["reason"]
    assert "JSON object" in decisions[5]["reason"]
    assert b"7 submissions (5 quarantined, 2 routed)" in result.stderr


def test_reads_stdin_and_explains_in_words() -> None:
    payload = orjson.dumps(covert_report(themes=["drugs"])) + b"\n"
    result = _run("--explain", "-", stdin=payload)
    assert result.returncode == 0, result.stderr
    text = result.stdout.decode()
    assert "intelligence_report from force-durham: ROUTED" in text
    assert "-> durham.cab (full view)" in text
    assert "-> durham.ocg (sanitised view, without narrative, source_reference, source_type)" in text
    assert "R10: a covert-sourced report goes to the covert authorities bureau" in text
    assert "H6: only the covert authorities bureau and the sensitive intelligence unit see a covert source" in text


def test_explain_names_withheld_teams_and_rules() -> None:
    payload = orjson.dumps(sar(defence_type="datf", glossary_codes=["XXV3XX"])) + b"\n"
    text = _run("--explain", stdin=payload).stdout.decode()
    assert "-> ctp.ne (sanitised view, without reporter_name, reporter_type)" in text
    assert "x  cleveland.safeguarding withheld by R2: terrorist finance (DATF)" in text
    assert "x  cleveland.polit withheld by R2" in text


def test_missing_file_is_one_line_error() -> None:
    result = _run("/no/such/file.jsonl")
    assert result.returncode == 2
    assert result.stderr.decode().startswith("intelbus: cannot read /no/such/file.jsonl")
