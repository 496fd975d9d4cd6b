"""``intelbus screen``: a backlog with known links, possible matches, DAML deadlines and vulnerability codes
gives exactly those rows in each CSV; a malformed line is listed and the rest screened; the HTML report
opens in headless Chromium with both charts (screenshot kept in ``.artifacts/``)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from browser import launch, need_chromium
from policy_cases import sar

from bus.cli.screen import screen_lines, write_report
from bus.policy import decide_payload, load_policy
from bus.screen.tables import spreadsheet_safe

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 12, 17, 10, tzinfo=UTC)


def _nominal(name: str, **extra: object) -> dict[str, object]:
    return {"full_name": name, "role": "suspect", **extra}


BACKLOG = [
    sar(submission_id="00000000-0000-4000-8000-000000000001", sar_reference="SAR-LINK-PHONE", area="County Durham",
        submitted_at="2026-12-10T09:00:00+00:00", glossary_codes=["XXDRUXX"],
        nominals=[_nominal("Kim Mock", phones=["07700 900001"])]),
    sar(submission_id="00000000-0000-4000-8000-000000000002", sar_reference="SAR-LINK-ACCOUNT",
        submitted_at="2026-12-12T09:00:00+00:00", nominals=[_nominal("Lee Dummy", accounts=["20-00-00 11112222"])]),
    sar(submission_id="00000000-0000-4000-8000-000000000003", sar_reference="SAR-POSSIBLE",
        nominals=[_nominal("Jordan Example")]),
    sar(submission_id="00000000-0000-4000-8000-000000000004", sar_reference="SAR-DAML-RUNNING",
        defence_type="daml", glossary_codes=["XXS99XX"], disclosure_date="2026-12-16"),
    sar(submission_id="00000000-0000-4000-8000-000000000005", sar_reference="SAR-DAML-EXPIRED",
        defence_type="daml", glossary_codes=["XXS99XX"], disclosure_date="2026-11-20"),
    sar(submission_id="00000000-0000-4000-8000-000000000006", sar_reference="SAR-CHILD", area="Sunderland",
        glossary_codes=["XXV3XX"]),
    sar(submission_id="00000000-0000-4000-8000-000000000007", sar_reference="=HYPERLINK(\"http://x\")",
        glossary_codes=["XXV2XX"]),
]


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    lines = [orjson.dumps(sub) for sub in BACKLOG]
    lines.insert(3, b'{"schema_version": 1, "kind": "sar",')  # line 4: malformed
    source = tmp_path_factory.mktemp("screen") / "backlog.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n\n")
    out = source.parent / "out"
    result = subprocess.run([sys.executable, "-m", "bus.cli", "screen", str(source), "--now", NOW.isoformat(),
                             "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "screened 8 submissions" in result.stdout and "quarantined or invalid: 1 (first: line 4" in result.stdout
    return out, lines


def rows(out: Path, name: str) -> list[dict[str, str]]:
    with (out / f"{name}.csv").open(newline="", encoding="utf-8") as source:
        return list(csv.DictReader(source))


def test_strong_links_are_grouped_by_ocg_with_what_linked_them(screened: tuple[Path, list[bytes]]) -> None:
    found = [(r["ocg_id"], r["lead_team"], r["linked_by"], r["reference"], r["line"])
             for r in rows(screened[0], "ocg_links")]
    assert found == [  # both link Wearside Valley Network; the newer first
        ("OCG-DUR-001", "durham.ocg", "account of Lee Dummy", "SAR-LINK-ACCOUNT", "2"),
        ("OCG-DUR-001", "durham.ocg", "phone of Kim Mock", "SAR-LINK-PHONE", "1"),
    ]


def test_possible_matches_are_listed_for_review(screened: tuple[Path, list[bytes]]) -> None:
    found = rows(screened[0], "possible_matches")
    assert [(r["ocg_id"], r["nominal"], r["member"], r["reference"]) for r in found] == [
        ("OCG-CLE-014", "Jordan Example", "Jordan Example", "SAR-POSSIBLE")]
    assert "date of birth" in found[0]["check"]


def test_daml_deadlines_are_the_engines_running_and_expired(screened: tuple[Path, list[bytes]]) -> None:
    out, lines = screened
    ruleset, reference = load_policy(None, None)
    due = {}
    for line in (lines[4], lines[5]):  # the two DAMLs (after the malformed line 4)
        decision, _ = decide_payload(line, ruleset, reference, NOW)
        due[orjson.loads(line)["sar_reference"]] = next(d.due for d in decision.deliveries if d.due).isoformat()
    found = [(r["state"], r["reference"], r["due"], r["working_days_left"], r["team"])
             for r in rows(out, "daml_deadlines")]
    assert found == [
        ("expired", "SAR-DAML-EXPIRED", due["SAR-DAML-EXPIRED"], "0", "cleveland.fiu"),
        ("running", "SAR-DAML-RUNNING", due["SAR-DAML-RUNNING"], "6", "cleveland.fiu"),
    ]  # disclosed Wed 16 Dec: the period ends on the 7th working day after, Fri 25th and Mon 28th excluded


def test_safeguarding_lists_vulnerability_codes_by_force(screened: tuple[Path, list[bytes]]) -> None:
    found = [(r["force"], r["risk"], r["priority"], r["teams"], r["reference"])
             for r in rows(screened[0], "safeguarding")]
    assert found == [
        ("cleveland", "adult", "high", "cleveland.safeguarding", "'=HYPERLINK(\"http://x\")"),
        ("northumbria", "child", "high", "northumbria.safeguarding northumbria.polit", "SAR-CHILD"),
    ]


def test_a_malformed_line_is_listed_with_its_number_and_the_rest_screened(
        screened: tuple[Path, list[bytes]]) -> None:
    out, _ = screened
    assert [(r["line"], r["reason"][:40]) for r in rows(out, "quarantined")] == [
        ("4", "invalid submission: payload is not valid")]
    totals = {(r["by"], r["key"]): int(r["submissions"]) for r in rows(out, "totals")}
    assert totals[("screened", "all")] == 8 and totals[("quarantined", "all")] == 1
    assert totals[("kind", "sar")] == 7 and totals[("typology", "XXS99XX")] == 2


def test_an_empty_backlog_gives_empty_lists_and_a_report(tmp_path: Path) -> None:
    command = [sys.executable, "-W", "error::UserWarning", "-m", "bus.cli", "screen", "-", "--out", str(tmp_path)]
    result = subprocess.run(command, input=b"\n", capture_output=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stderr
    assert b"screened 0 submissions" in result.stdout
    assert rows(tmp_path, "ocg_links") == [] and "no strong OCG links" in (tmp_path / "report.html").read_text()


def test_a_partners_markup_is_shown_as_text_in_the_report(tmp_path: Path) -> None:
    """A name or reference carrying HTML cannot add markup (or script) to the analyst's page."""
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    line = orjson.dumps(sar(sar_reference=hostile, glossary_codes=["XXV2XX"],
                            nominals=[_nominal(f"{hostile} Mock", phones=["07700 900001"])]))
    ruleset, reference = load_policy(None, None)
    with open(os.devnull, "w") as quiet:
        work = screen_lines([line], ruleset, reference, NOW, err=quiet)
    assert len(work.links) == 1 and len(work.safeguarding) == 1  # the text reached both lists
    page = write_report(work, tmp_path)[-1].read_text()
    assert "<script" not in page and "<img" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_partners_text_never_runs_as_a_spreadsheet_formula() -> None:
    assert [spreadsheet_safe(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "SAR-1", "")] == [
        "'=1+1", "'+1", "'-2", "'@SUM(A1)", "'\tx", "SAR-1", ""]


def test_the_same_backlog_gives_the_same_report(tmp_path: Path, screened: tuple[Path, list[bytes]]) -> None:
    _, lines = screened
    ruleset, reference = load_policy(None, None)
    work = screen_lines(lines, ruleset, reference, NOW, err=open(os.devnull, "w"))  # noqa: SIM115
    write_report(work, tmp_path)
    for path in screened[0].iterdir():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), path.name


def test_the_html_report_shows_both_charts_in_chromium(screened: tuple[Path, list[bytes]]) -> None:
    need_chromium()
    from playwright.sync_api import sync_playwright

    page_file = screened[0] / "report.html"
    artefacts = ROOT / ".artifacts"
    artefacts.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 1100})
            page.goto(page_file.as_uri())
            for chart in ("#chart-ocg svg", "#chart-daml svg"):
                box = page.locator(chart).bounding_box()
                assert box is not None and box["width"] > 300 and box["height"] > 150, (chart, box)
            assert "Submissions linked per OCG" in (page.locator("#chart-ocg svg").text_content() or "")
            assert "DAML deadlines" in (page.locator("#chart-daml svg").text_content() or "")
            assert page.locator("h2#ocg_links").inner_text().endswith("(2)")
            page.screenshot(path=str(artefacts / "screen-report.png"), full_page=True)
        finally:
            browser.close()
    assert (artefacts / "screen-report.png").stat().st_size > 10_000
