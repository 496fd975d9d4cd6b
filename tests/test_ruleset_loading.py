"""The ruleset is data: it loads with clear, located errors, and another region can bring its own."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from policy_cases import NOW, intelligence_report

from bus.errors import ReferenceDataError, RulesetError
from bus.policy import DEFAULT_RULESET, Reference, decide_payload, load_reference, load_ruleset, parse_ruleset

DEFAULT_TEXT = DEFAULT_RULESET.read_text()


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), start=1) if needle in line)


def test_default_ruleset_hash_is_the_sha256_of_its_bytes() -> None:
    ruleset = load_ruleset()
    assert ruleset.digest == "sha256:" + hashlib.sha256(DEFAULT_RULESET.read_bytes()).hexdigest()
    decision, _ = decide_payload(orjson.dumps(intelligence_report()), ruleset, Reference.empty(), NOW)
    assert decision.to_dict()["ruleset"] == ruleset.digest


def test_a_comment_change_is_a_new_ruleset_identity() -> None:
    changed = parse_ruleset((DEFAULT_TEXT + "\n# reviewed 2026-12-01\n").encode())
    assert changed.digest != load_ruleset().digest


BROKEN = [
    ("unknown team", "add: [F.fib]}", "add: [F.fibb]}", "F.fib]}", "'fibb' is not one of the force teams"),
    ("unknown regional team", "add: [nersou.cyber]}", "add: [nersou.cyberr]}", "add: [nersou.cyber]}",
     "unknown team 'nersou.cyberr'"),
    ("misspelt theme", "themes: {any: [drugs, county_lines]}", "themes: {any: [drugz, county_lines]}",
     "themes: {any: [drugs, county_lines]}", "'drugz' is not a value of themes"),
    ("unknown field", "when: {kind: cse_referral, child_identified: true}",
     "when: {kind: cse_referral, child_identifed: true}", "child_identified: true}",
     "unknown field 'child_identifed'"),
    ("bad priority", "priority: immediate}", "priority: urgent}", "priority: immediate}", "priority"),
    ("bad matcher", "glossary_codes: {any: [XXDRUXX]}", "glossary_codes: {some: [XXDRUXX]}",
     "glossary_codes: {any: [XXDRUXX]}", "a matcher is exactly one of"),
    ("bad time zone", "timezone: Europe/London", "timezone: Europe/Lundun", "timezone:", "unknown time zone"),
    ("unknown key", "    reason: SAR confidentiality (tipping-off risk)",
     "    reasn: SAR confidentiality (tipping-off risk)", "reason: SAR confidentiality", "reasn"),
]


@pytest.mark.parametrize(("name", "old", "new", "anchor", "message"), BROKEN, ids=[b[0] for b in BROKEN])
def test_errors_name_the_line_and_key(name: str, old: str, new: str, anchor: str, message: str) -> None:
    assert old in DEFAULT_TEXT
    text = DEFAULT_TEXT.replace(old, new, 1)
    with pytest.raises(RulesetError) as caught:
        parse_ruleset(text.encode(), "region.yaml")
    error = str(caught.value)
    assert message in error
    line = int(error.split(":")[1])
    assert line == _line_of(text, new.strip().split("\n")[0][:30]) or abs(line - _line_of(text, anchor)) <= 2


def test_not_yaml_is_a_clear_error() -> None:
    with pytest.raises(RulesetError, match="not valid YAML"):
        parse_ruleset(b"routing: [unclosed", "bad.yaml")


def test_a_handling_rule_that_withholds_needs_a_reason() -> None:
    text = DEFAULT_TEXT.replace("    reason: handling condition no_neighbourhood\n", "", 1)
    with pytest.raises(RulesetError, match="needs a reason"):
        parse_ruleset(text.encode())


def test_another_region_loads_its_own_areas_and_partners() -> None:
    text = DEFAULT_TEXT.replace("durham: [County Durham, Darlington]",
                                "durham: [County Durham, Darlington, Testshire]")
    ruleset = parse_ruleset(text.encode(), "other-region.yaml")
    payload = orjson.dumps(intelligence_report(area="testshire"))
    decision, _ = decide_payload(payload, ruleset, Reference.empty(), NOW)
    assert decision.status == "routed"
    assert [d.recipient for d in decision.deliveries] == ["durham.fib"]
    assert "council-testshire" in ruleset.partners
    default_decision, _ = decide_payload(payload, load_ruleset(), Reference.empty(), NOW)
    assert default_decision.status == "quarantined"


GROUPS_HEADER = "ocg_id,name,home_force,tier,lead_team\n"


def test_reference_data_errors_name_file_and_row(tmp_path: Path) -> None:
    (tmp_path / "ocg_groups.csv").write_text(GROUPS_HEADER + "X1,Test,durham,national,durham.ocg\n")
    (tmp_path / "ocg_members.csv").write_text("ocg_id,full_name,dob,phones,accounts,vehicles\n")
    with pytest.raises(ReferenceDataError, match=r"ocg_groups.csv:2: tier must be local or regional"):
        load_reference(tmp_path, load_ruleset().team_ids)
    (tmp_path / "ocg_groups.csv").write_text(GROUPS_HEADER + "X1,Test,durham,local,durham.xyz\n")
    with pytest.raises(ReferenceDataError, match=r"lead_team 'durham\.xyz' is not a team"):
        load_reference(tmp_path, load_ruleset().team_ids)
    (tmp_path / "ocg_groups.csv").write_text(GROUPS_HEADER + "X1,Test,durham,local,durham.ocg\n")
    (tmp_path / "ocg_members.csv").write_text("ocg_id,full_name,dob,phones,accounts,vehicles\nX2,A B,,,,\n")
    with pytest.raises(ReferenceDataError, match=r"ocg_members.csv:2: ocg_id 'X2' is not in ocg_groups.csv"):
        load_reference(tmp_path, load_ruleset().team_ids)
    (tmp_path / "ocg_members.csv").write_text("ocg_id,full_name,dob,phones,accounts,vehicles\nX1,A B,02/03/1988,,,\n")
    with pytest.raises(ReferenceDataError, match="dob must be YYYY-MM-DD"):
        load_reference(tmp_path, load_ruleset().team_ids)
    with pytest.raises(ReferenceDataError, match="cannot read"):
        load_reference(tmp_path / "missing", load_ruleset().team_ids)


def test_ruleset_check_command(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "bus.cli", "ruleset", "check"], capture_output=True, text=True)
    assert ok.returncode == 0 and "ok, ruleset sha256:" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEFAULT_TEXT.replace("add: [F.fib]}", "add: [F.fibb]}", 1))
    failed = subprocess.run([sys.executable, "-m", "bus.cli", "ruleset", "check", str(bad)],
                            capture_output=True, text=True)
    assert failed.returncode == 2
    assert f"{bad}:" in failed.stderr and "Traceback" not in failed.stderr
