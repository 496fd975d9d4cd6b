"""`intelbus schema export`: standard validators agree with the bus on what is valid: Python's jsonschema
(Draft 2020-12, with formats) and Ajv 2020 in strict mode in Node.js (``examples/node/validate.mjs``), on a
table of valid and invalid submissions of every kind and every admission rule a schema can state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from node_tools import NODE_DIR, node_with
from policy_cases import (
    DROP,
    NOW,
    conditions,
    covert_report,
    cse_referral,
    gain_request,
    intelligence_report,
    premises_report,
    prison_intelligence,
    ruleset,
    sar,
)

from bus.policy import Reference, decide_payload
from bus.reasons import reason_class
from schemas.kinds import KIND_NAMES

ROOT = Path(__file__).resolve().parent.parent

EXAMPLE: dict[str, Any] = {  # SUBMISSIONS.md, "Example", verbatim
    "schema_version": 1, "submission_id": "5f0c6a9e-2d1b-4c38-9a57-0e7f4b1d2c11", "partner": "ukfiu",
    "kind": "sar", "submitted_at": "2026-12-17T10:15:00+00:00", "classification": "OFFICIAL-SENSITIVE",
    "area": "Middlesbrough", "sar_reference": "SAR-2026-0001", "disclosure_date": "2026-12-17",
    "defence_type": "daml", "glossary_codes": ["XXS99XX", "XXPROPXX"], "reporter_type": "bank",
    "reporter_name": "Example Bank plc", "amount_gbp": 48500,
    "narrative": "Customer seeks to transfer sale proceeds of a property bought in cash in 2024.",
    "nominals": [{"full_name": "Jordan Example", "dob": "1988-03-02", "role": "suspect",
                  "accounts": ["20-00-00 12345678"]}],
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("schemas")
    result = subprocess.run([sys.executable, "-m", "bus.cli", "schema", "export", str(folder)],
                            capture_output=True, text=True, check=True)
    assert "submission.schema.json" in result.stdout
    return folder


@pytest.fixture(scope="module")
def validator(exported: Path) -> jsonschema.protocols.Validator:
    schema = json.loads((exported / "submission.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_export_writes_one_schema_per_kind_and_the_union(exported: Path) -> None:
    names = sorted(p.name for p in exported.iterdir())
    assert names == sorted(["submission.schema.json", "asyncapi.json"] + [f"{k}.schema.json" for k in (
        "intelligence_report", "sar", "cse_referral", "premises_report", "prison_intelligence",
        "gain_request", "cyber_incident")])


def test_documented_example_is_accepted(validator: jsonschema.protocols.Validator, exported: Path) -> None:
    assert list(validator.iter_errors(EXAMPLE)) == []
    sar_schema = json.loads((exported / "sar.schema.json").read_text())
    jsonschema.validators.validator_for(sar_schema)(sar_schema).validate(EXAMPLE)


def _cyber(**overrides: Any) -> dict[str, Any]:
    base = gain_request(kind="cyber_incident", purpose=DROP, requesting_officer=DROP,
                        incident_type="ransomware", victim_organisation="Example Ltd",
                        indicators=[{"type": "ip", "value": "192.0.2.1"}])
    return {**base, **overrides}


VALID = {
    "example": EXAMPLE, "intel": intelligence_report(), "covert": covert_report(), "sar": sar(),
    "cse": cse_referral(), "premises": premises_report(), "prison": prison_intelligence(),
    "gain": gain_request(), "cyber": _cyber(), "area-lower-case": sar(area="middlesbrough"),
    "area-upper-case": sar(area="REDCAR AND CLEVELAND"), "outside-region": sar(area="outside_region"),
    "area-mixed-case": sar(area="mIdDlEsBrOuGh"),
    "named": intelligence_report(**conditions("named_recipients_only", named=["durham.fib"])),
    "legacy-grading": intelligence_report(grading={"scheme": "5x5x5", "source": "B", "intelligence": "2",
                                                   "handling": "3"}),
    "zulu-time": sar(submitted_at="2026-12-17T10:15:00Z"), "null-optional": sar(sanitised_narrative=None),
    "lower-case-t-z": sar(submitted_at="2026-12-17t10:15:00z"), "long-fraction": sar(
        submitted_at="2026-12-17T10:15:00.123456789+01:00"), "upper-case-uuid": sar(
        submission_id="5F0C6A9E-2D1B-4C38-9A57-0E7F4B1D2C11"), "year-9998": sar(disclosure_date="9998-12-31"),
    "float-amount": sar(amount_gbp=48500.25),
    "official-sensitive": sar(classification="OFFICIAL-SENSITIVE"), "covert-from-nersou": covert_report(
        partner="nersou"), "council-premises": premises_report(partner="council-sunderland", area="Sunderland"),
    "offset-23-59": sar(submitted_at="2026-12-17T10:15:00-23:59"), "leap-day": sar(disclosure_date="2028-02-29"),
}

SID_NEWLINE = "5f0c6a9e-2d1b-4c38-9a57-0e7f4b1d2c11\n"

INVALID = {
    "unknown-field": sar(foo=1), "unknown-kind": sar(kind="tip_off"), "no-kind": sar(kind=DROP),
    "version-as-string": sar(schema_version="1"), "version-2": sar(schema_version=2),
    "bad-uuid": sar(submission_id="not-a-uuid"), "naive-time": sar(submitted_at="2026-12-17T10:15:00"),
    "bad-date": sar(disclosure_date="17/12/2026"), "bad-classification": sar(classification="RESTRICTED"),
    "bad-area": sar(area="Middlesborough"), "empty-area": sar(area=""),
    "area-look-alike": sar(area="Middlesbrough".replace("s", "\u017f")),  # long s: case-folds to s, is not an s
    "area-kelvin-sign": intelligence_report(area="Stoc\u212an-on-Tees"),  # K (Kelvin sign) lower-cases to k
    "conditions-without-C": intelligence_report(handling_conditions=["police_only"]),
    "unknown-condition": intelligence_report(grading={"scheme": "3x5x2", "source": "1", "intelligence": "A",
                                                      "handling": "C"}, handling_conditions=["nato_only"]),
    "named-without-condition": intelligence_report(named_recipients=["durham.fib"]),
    "condition-without-named": intelligence_report(**conditions("named_recipients_only")),
    "unknown-team": intelligence_report(**conditions("named_recipients_only", named=["durham.fibb"])),
    "intel-without-grading": intelligence_report(grading=DROP), "no-themes": intelligence_report(themes=[]),
    "bad-theme": intelligence_report(themes=["drugz"]), "narrative-too-long": sar(narrative="x" * 20_001),
    "sar-without-narrative": sar(narrative=DROP), "negative-amount": sar(amount_gbp=-1),
    "boolean-amount": sar(amount_gbp=True), "bad-glossary": sar(glossary_codes=["S99"]),
    "media-content": cse_referral(media=[{"algorithm": "md5", "value": "ab", "content": "aGk="}]),
    "media-too-long": cse_referral(media=[{"algorithm": "md5", "value": "a" * 257}]),
    "bad-grade-type": intelligence_report(grading={"scheme": "3x5x2", "source": 1, "intelligence": "A",
                                                   "handling": "P"}),
    "mixed-scheme": intelligence_report(grading={"scheme": "3x5x2", "source": "A", "intelligence": "1",
                                                 "handling": "P"}),
    "string-boolean": sar(threat_to_life="true"), "nominal-extra": sar(nominals=[{"full_name": "A", "x": 1}]),
    "nominal-bad-role": sar(nominals=[{"full_name": "A", "role": "offender"}]),
    "no-concerns": premises_report(concerns=[]), "bad-indicator": _cyber(indicators=[{"type": "mac", "value": "x"}]),
    "version-true": sar(schema_version=True),  # 1.0: JSON Schema's integer includes it (test_strict_json)
    "time-without-seconds": sar(submitted_at="2027-02-01T09:30Z"),
    "offset-without-colon": sar(submitted_at="2027-02-01T09:30:00+0000"),
    "space-for-t": sar(submitted_at="2027-02-01 09:30:00+00:00"),
    "year-9999-date": sar(disclosure_date="9999-12-31"), "year-9999-time": sar(submitted_at="9999-01-01T00:00:00Z"),
    "year-0-date": sar(disclosure_date="0000-01-01"),
    "dob-9999": sar(nominals=[{"full_name": "A", "dob": "9999-01-01"}]),
    # the region's admission rules, from its ruleset
    "h1-secret": sar(classification="SECRET"), "h1-top-secret": intelligence_report(classification="TOP SECRET"),
    "unknown-partner": sar(partner="acme"), "partner-may-not-publish-kind": sar(partner="hmrc"),
    "council-may-not-send-cse": cse_referral(partner="council-sunderland"),
    "covert-from-non-police": covert_report(partner="hmrc"),
    # times and dates the calendar refuses, as far as a pattern can say
    "month-13": sar(disclosure_date="2026-13-01"), "day-32": sar(disclosure_date="2026-01-32"),
    "hour-24": sar(submitted_at="2026-12-17T24:00:00Z"), "second-60": sar(submitted_at="2026-12-17T10:15:60Z"),
    "offset-hour-24": sar(submitted_at="2026-12-17T10:15:00+24:00"), "february-30": sar(disclosure_date="2026-02-30"),
    # Python's $ matches before a final newline and its \d any Unicode digit: the patterns say neither
    "area-newline": sar(area="Middlesbrough\n"), "uuid-newline": sar(submission_id=SID_NEWLINE),
    "glossary-newline": sar(glossary_codes=["XXS99XX\n"]), "time-newline": sar(submitted_at="2026-12-17T10:15:00Z\n"),
    "fullwidth-digits": sar(submitted_at="\uff12\uff10\uff12\uff16-12-17T10:15:00Z"),
}


ADMISSION = {"invalid submission", "unknown area", "H2 handling condition", "named recipients", "H1 classification",
             "unknown partner", "kind not allowed", "covert source"}  # what the exported schemas state


def _bus_accepts(payload: dict[str, Any]) -> bool:
    """Accepted by the bus's schema and by every admission check the JSON Schema also states (the bus may
    still route a valid submission to nobody: that is policy, not admission)."""
    decision, _ = decide_payload(orjson.dumps(payload), ruleset(), Reference.empty(), NOW)
    return decision.status != "quarantined" or reason_class(decision.reason or "") not in ADMISSION


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_submissions_pass_both(name: str, validator: jsonschema.protocols.Validator) -> None:
    assert _bus_accepts(VALID[name])
    assert [e.message for e in validator.iter_errors(VALID[name])] == []


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_submissions_fail_both(name: str, validator: jsonschema.protocols.Validator) -> None:
    assert not _bus_accepts(INVALID[name])
    assert list(validator.iter_errors(INVALID[name])), f"jsonschema accepted {name}"


def test_the_table_is_large_enough_to_mean_something() -> None:
    assert len(VALID) + len(INVALID) >= 60 and {sub.get("kind") for sub in VALID.values()} >= set(KIND_NAMES)


@pytest.mark.parametrize("name", sorted(VALID) + sorted(INVALID))
def test_each_kinds_own_file_agrees_with_the_union(name: str, exported: Path,
                                                   validator: jsonschema.protocols.Validator) -> None:
    payload = {**VALID, **INVALID}[name]
    if payload.get("kind") not in KIND_NAMES:
        return  # no file of its own: the union alone refuses it (tested above)
    schema = json.loads((exported / f"{payload['kind']}.schema.json").read_text())
    own = jsonschema.validators.validator_for(schema)(schema, format_checker=validator.FORMAT_CHECKER)
    assert bool(list(own.iter_errors(payload))) == bool(list(validator.iter_errors(payload))), name




@pytest.fixture(scope="module")
def ajv(exported: Path) -> dict[str, tuple[str, str]]:
    """Every case through Ajv 2020 (strict mode, ajv-formats) in Node.js: {name: (union, own kind's file)}."""
    node = node_with("ajv")
    names = sorted(VALID) + sorted(INVALID)
    lines = "".join(json.dumps({**VALID, **INVALID}[name]) + "\n" for name in names)
    result = subprocess.run([node, "validate.mjs", str(exported)], cwd=NODE_DIR, input=lines, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr  # every file compiled in strict mode, without a warning
    verdicts = [tuple(line.split("\t")) for line in result.stdout.splitlines()]
    assert len(verdicts) == len(names)
    return {name: (verdict[0], verdict[1]) for name, verdict in zip(names, verdicts, strict=True)}


@pytest.mark.parametrize("name", sorted(VALID))
def test_ajv_accepts_what_the_bus_accepts(name: str, ajv: dict[str, tuple[str, str]]) -> None:
    assert ajv[name] == ("valid", "valid")


@pytest.mark.parametrize("name", sorted(INVALID))
def test_ajv_refuses_what_the_bus_refuses(name: str, ajv: dict[str, tuple[str, str]]) -> None:
    union, own = ajv[name]
    assert union.startswith("invalid") and (own.startswith("invalid") or own == "-"), ajv[name]
