"""POLICY.md admission: H1, partner permissions, spoofing, covert sources, areas, condition codes,
named recipients, and every schema error kind (SUBMISSIONS.md). Every quarantine names its problem."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from policy_cases import (
    AREAS,
    COUNCILS,
    COVERT,
    DROP,
    FACTORIES,
    KINDS,
    NON_COVERT,
    SID,
    assert_quarantined,
    assert_routed,
    conditions,
    covert_report,
    cse_referral,
    decide_record,
    encode,
    gain_request,
    grading,
    intelligence_report,
    legacy,
    premises_report,
    ruleset,
    sar,
)

from bus.policy.admission import same_letters
from bus.policy.ruleset import DEFAULT_RULESET

# ---------------------------------------------------------------- H1 classification


@pytest.mark.parametrize(("classification", "routed"), [
    ("OFFICIAL", True), ("OFFICIAL-SENSITIVE", True), ("SECRET", False), ("TOP SECRET", False),
], ids=["official", "official-sensitive", "secret", "top-secret"])
@pytest.mark.parametrize("kind", ["intelligence_report", "sar"])
def test_h1_classification(kind: str, classification: str, routed: bool) -> None:
    record = decide_record(FACTORIES[kind](classification=classification))
    if routed:
        assert record["status"] == "routed"
    else:
        assert_quarantined(record, classification)


def test_h1_secret_threat_to_life_is_still_quarantined() -> None:
    """Only admission can stop F.control: H1 is admission."""
    assert_quarantined(decide_record(intelligence_report(classification="SECRET", threat_to_life=True)), "SECRET")


# ---------------------------------------------------------------- partner permissions (every row)

GOVERNMENT = ("hmrc", "dwp", "border-force", "glaa", "trading-standards")
POLICE = ("force-durham", "force-cleveland", "force-northumbria", "nersou")
ALLOWED: dict[str, set[str]] = {
    "ukfiu": {"sar"},
    "nca-ceop": {"cse_referral", "intelligence_report"},
    **{p: {"intelligence_report", "gain_request", "cyber_incident"} for p in GOVERNMENT},
    "hmpps": {"prison_intelligence", "intelligence_report"},
    **{c: {"premises_report", "intelligence_report", "gain_request"} for c in sorted(COUNCILS)},
    **{p: set(KINDS) - {"sar", "cse_referral"} for p in POLICE},
}
PERMISSION_CASES = [(p, k, k in kinds) for p, kinds in ALLOWED.items() for k in KINDS]


@pytest.mark.parametrize(("partner", "kind", "allowed"), PERMISSION_CASES,
                         ids=[f"{p}-{k}-{'ok' if a else 'refused'}" for p, k, a in PERMISSION_CASES])
def test_partner_may_publish_only_its_kinds(partner: str, kind: str, allowed: bool) -> None:
    record = decide_record(FACTORIES[kind](partner=partner), ingress_owner=partner)
    if allowed:
        assert record["status"] == "routed", record["reason"]
        assert record["deliveries"]
    else:
        assert_quarantined(record, partner, kind)


@pytest.mark.parametrize("partner", ["council-durham", "council-Sunderland", "acme", "ncaceop", "force-met"])
def test_unknown_partner_is_quarantined(partner: str) -> None:
    record = decide_record(intelligence_report(partner=partner), ingress_owner=partner)
    assert_quarantined(record, partner)


# ---------------------------------------------------------------- spoofing


@pytest.mark.parametrize(("partner", "ingress", "routed"), [
    ("ukfiu", "hmrc", False),
    ("force-durham", "force-cleveland", False),
    ("council-sunderland", "council-gateshead", False),
    ("nersou", "hmpps", False),
    ("hmrc", "hmrc", True),
    ("council-redcar-and-cleveland", "council-redcar-and-cleveland", True),
], ids=["ukfiu-on-hmrc", "durham-on-cleveland", "sunderland-on-gateshead", "nersou-on-hmpps",
        "hmrc-own", "redcar-own"])
def test_partner_must_own_the_ingress_stream(partner: str, ingress: str, routed: bool) -> None:
    kind = "sar" if partner == "ukfiu" else "intelligence_report"
    record = decide_record(FACTORIES[kind](partner=partner), ingress_owner=ingress)
    if routed:
        assert record["status"] == "routed"
    else:
        assert_quarantined(record, partner, ingress)


def test_spoofed_threat_to_life_is_quarantined() -> None:
    record = decide_record(intelligence_report(partner="hmrc", threat_to_life=True), ingress_owner="dwp")
    assert_quarantined(record, "hmrc", "dwp")


# ---------------------------------------------------------------- covert source types

COVERT_CASES = [(p, s, p in POLICE) for s in COVERT for p in (*POLICE, "hmrc", "nca-ceop", "hmpps",
                                                                "council-sunderland")]


@pytest.mark.parametrize(("partner", "source_type", "police"), COVERT_CASES,
                         ids=[f"{s}-from-{p}" for p, s, _ in COVERT_CASES])
def test_only_police_partners_may_submit_covert_sources(partner: str, source_type: str, police: bool) -> None:
    record = decide_record(covert_report(partner=partner, source_type=source_type), ingress_owner=partner)
    if police:
        assert record["status"] == "routed", record["reason"]
    else:
        assert_quarantined(record, source_type, "covert")


@pytest.mark.parametrize("source_type", NON_COVERT)
@pytest.mark.parametrize("partner", ["hmrc", "nca-ceop", "council-sunderland"])
def test_non_covert_sources_from_non_police_partners_are_routed(partner: str, source_type: str) -> None:
    record = decide_record(intelligence_report(partner=partner, source_type=source_type))
    assert record["status"] == "routed"


# ---------------------------------------------------------------- areas


@pytest.mark.parametrize(("area", "expected"), [
    *[(name, f"{force}.fib") for name, force in AREAS.items()],
    ("MIDDLESBROUGH", "cleveland.fib"), ("redcar and cleveland", "cleveland.fib"),
    ("sToCkToN-oN-tEeS", "cleveland.fib"), ("county durham", "durham.fib"),
    ("NEWCASTLE UPON TYNE", "northumbria.fib"),
    ("outside_region", "nersou.riu"), ("OUTSIDE_REGION", "nersou.riu"), ("Outside_Region", "nersou.riu"),
])
def test_area_matches_case_insensitively(area: str, expected: str) -> None:
    assert_routed(decide_record(intelligence_report(area=area)), {expected})


@pytest.mark.parametrize("area", ["Middlesborough", "Durham", "Newcastle", "Stockton on Tees", "outside region",
                                  "London", ""])
def test_unknown_area_is_quarantined_listing_valid_names(area: str) -> None:
    record = decide_record(intelligence_report(area=area))
    assert_quarantined(record, "area")
    for name in [*AREAS, "outside_region"]:
        assert name in record["reason"], f"valid area {name!r} not listed"


# ---------------------------------------------------------------- handling condition codes / named ids


@pytest.mark.parametrize(("codes", "routed"), [
    (["police_only"], True), (["no_neighbourhood"], True), (["police_only", "no_neighbourhood"], True),
    (["no_mobiles"], False), (["police_only", "POLICE_ONLY"], False), (["restricted"], False),
], ids=["police_only", "no_neighbourhood", "both", "no_mobiles", "upper-case", "restricted"])
def test_unknown_handling_condition_code_quarantines(codes: list[str], routed: bool) -> None:
    record = decide_record(intelligence_report(**conditions(*codes)))
    if routed:
        assert record["status"] == "routed"
    else:
        bad = next(c for c in codes if c not in ("police_only", "no_neighbourhood"))
        assert_quarantined(record, bad)


@pytest.mark.parametrize(("named", "bad"), [
    (["durham.fibb"], "durham.fibb"), (["durham.fib", "nersou.xyz"], "nersou.xyz"),
    (["met.fib"], "met.fib"), (["ctp"], "ctp"), (["F.fib"], "F.fib"),
])
def test_unknown_named_recipient_quarantines(named: list[str], bad: str) -> None:
    record = decide_record(intelligence_report(**conditions("named_recipients_only", named=named)))
    assert_quarantined(record, bad)


def test_known_named_recipients_are_admitted() -> None:
    named = ["durham.fib", "cleveland.control", "nersou.gain", "ctp.ne"]
    record = decide_record(intelligence_report(**conditions("named_recipients_only", named=named)))
    assert_routed(record, named)


# ---------------------------------------------------------------- schema errors


def _big(limit: int) -> bytes:
    """A valid intelligence report whose payload is exactly ``limit`` bytes (padding sanitised_narrative)."""
    raw = encode(intelligence_report(sanitised_narrative=""))
    pad = limit - len(raw)
    assert pad > 0
    return encode(intelligence_report(sanitised_narrative="x" * pad))


def test_payload_of_exactly_256_kib_is_accepted() -> None:
    raw = _big(256 * 1024)
    assert len(raw) == 262_144
    assert decide_record(raw)["status"] == "routed"


SCHEMA_ERRORS = [
    ("not-json", b"{not json", ("json",), None),
    ("empty", b"", ("json",), None),
    ("truncated", encode(intelligence_report())[:-5], ("json",), None),
    ("array", b"[1, 2]", ("object",), None),
    ("string", b'"hello"', ("object",), None),
    ("number", b"42", ("object",), None),
    ("unknown-field", intelligence_report(colour="red"), ("unknown field", "colour"), SID),
    ("unknown-nested-field", intelligence_report(nominals=[{"full_name": "A B", "nickname": "AB"}]),
     ("unknown field", "nickname"), SID),
    ("unknown-grading-field", intelligence_report(grading={**grading(), "extra": "1"}),
     ("unknown field", "extra"), SID),
    ("missing-narrative", intelligence_report(narrative=DROP), ("narrative", "required"), SID),
    ("missing-themes", intelligence_report(themes=DROP), ("themes", "required"), SID),
    ("missing-grading-report", intelligence_report(grading=DROP), ("grading", "required"), SID),
    ("missing-area", sar(area=DROP), ("area", "required"), SID),
    ("missing-reporter", sar(reporter_name=DROP), ("reporter_name", "required"), SID),
    ("missing-sar-narrative", sar(narrative=DROP), ("narrative", "required"), SID),
    ("missing-kind", intelligence_report(kind=DROP), ("kind",), SID),
    ("missing-submission-id", intelligence_report(submission_id=DROP), ("submission_id", "required"), None),
    ("empty-themes", intelligence_report(themes=[]), ("themes",), SID),
    ("empty-concerns", premises_report(concerns=[]), ("concerns",), SID),
    ("version-string", intelligence_report(schema_version="1"), ("schema_version",), SID),
    ("version-2", intelligence_report(schema_version=2), ("schema_version",), SID),
    ("ttl-string", intelligence_report(threat_to_life="true"), ("threat_to_life",), SID),
    ("ttl-int", intelligence_report(threat_to_life=1), ("threat_to_life",), SID),
    ("themes-string", intelligence_report(themes="drugs"), ("themes",), SID),
    ("unknown-theme", intelligence_report(themes=["drugz"]), ("themes", "drugz"), SID),
    ("unknown-kind", intelligence_report(kind="tip_off"), ("kind", "tip_off"), SID),
    ("bad-uuid", intelligence_report(submission_id="not-a-uuid"), ("submission_id", "uuid"), "not-a-uuid"),
    ("naive-datetime", intelligence_report(submitted_at="2026-12-17T10:15:00"), ("submitted_at",), SID),
    ("date-not-datetime", intelligence_report(submitted_at="2026-12-17"), ("submitted_at",), SID),
    ("bad-disclosure-date", sar(disclosure_date="17/12/2026"), ("disclosure_date",), SID),
    ("impossible-date", sar(disclosure_date="2026-02-30"), ("disclosure_date",), SID),
    ("amount-string", sar(amount_gbp="48500"), ("amount_gbp",), SID),
    ("amount-negative", sar(amount_gbp=-1), ("amount_gbp",), SID),
    ("amount-bool", sar(amount_gbp=True), ("amount_gbp",), SID),
    ("bad-glossary-code", sar(glossary_codes=["V3"]), ("glossary_codes",), SID),
    ("partner-number", intelligence_report(partner=7), ("partner",), SID),
    ("nominal-dob", intelligence_report(nominals=[{"full_name": "A B", "dob": "02/03/1988"}]),
     ("nominals[0].dob",), SID),
    ("nominal-role", intelligence_report(nominals=[{"full_name": "A B", "role": "boss"}]),
     ("nominals[0].role",), SID),
    ("nominal-no-name", intelligence_report(nominals=[{"dob": "1988-03-02"}]),
     ("nominals[0].full_name", "required"), SID),
    ("grading-scheme", intelligence_report(grading={**grading(), "scheme": "4x4"}), ("grading",), SID),
    ("grading-mixed", intelligence_report(grading={"scheme": "3x5x2", "source": "A", "intelligence": "1",
                                                   "handling": "P"}), ("grading.source",), SID),
    ("grading-int", intelligence_report(grading={"scheme": "5x5x5", "source": "A", "intelligence": 1,
                                                 "handling": "1"}), ("grading.intelligence",), SID),
    ("classification-lower", intelligence_report(classification="official"), ("classification",), SID),
    ("oversize", _big(256 * 1024 + 1), ("262145", "256 KiB"), SID),
    ("media-content", cse_referral(media=[{"algorithm": "sha256", "value": "ab", "content": "iVBORw0KGgo="}]),
     ("media[0].content",), SID),
    ("media-data", cse_referral(media=[{"algorithm": "md5", "value": "ab", "data": "AAAA"}]),
     ("media[0].data",), SID),
    ("media-long-value", cse_referral(media=[{"algorithm": "photodna", "value": "a" * 257}]),
     ("media[0].value", "256"), SID),
    ("media-algorithm", cse_referral(media=[{"algorithm": "crc32", "value": "ab"}]),
     ("media[0].algorithm",), SID),
    ("media-string", cse_referral(media=["ab" * 32]), ("media[0]",), SID),
    ("narrative-too-long", intelligence_report(narrative="n" * 20_001), ("narrative", "20000"), SID),
    ("narrative-too-long-multibyte", intelligence_report(narrative="é" * 20_001), ("narrative", "20000"), SID),
    ("sar-narrative-too-long", sar(narrative="n" * 20_001), ("narrative", "20000"), SID),
    ("conditions-with-P", intelligence_report(handling_conditions=["police_only"]),
     ("handling_conditions", "3x5x2", "C"), SID),
    ("conditions-with-5x5x5", intelligence_report(grading=legacy("1"), handling_conditions=["police_only"]),
     ("handling_conditions", "3x5x2", "C"), SID),
    ("conditions-without-grading", premises_report(handling_conditions=["no_neighbourhood"]),
     ("handling_conditions", "3x5x2", "C"), SID),
    ("named-without-condition", intelligence_report(grading=grading("C"), handling_conditions=["police_only"],
                                                    named_recipients=["durham.fib"]),
     ("named_recipients", "named_recipients_only"), SID),
    ("named-without-any-condition", intelligence_report(named_recipients=["durham.fib"]),
     ("named_recipients", "named_recipients_only"), SID),
    ("condition-without-named", intelligence_report(**conditions("named_recipients_only")),
     ("named_recipients", "required"), SID),
    ("indicator-type", FACTORIES["cyber_incident"](indicators=[{"type": "mac", "value": "x"}]),
     ("indicators[0].type",), SID),
]


@pytest.mark.parametrize(("payload", "fragments", "submission_id"),
                         [(p, f, s) for _, p, f, s in SCHEMA_ERRORS], ids=[c[0] for c in SCHEMA_ERRORS])
def test_schema_errors_are_quarantined_with_the_problem(payload: dict[str, Any] | bytes, fragments: tuple[str, ...],
                                                        submission_id: str | None) -> None:
    record = decide_record(payload, ingress_owner="force-durham")
    assert_quarantined(record, *fragments, submission_id=submission_id)


@pytest.mark.parametrize("payload", [
    intelligence_report(narrative="n" * 20_000),
    sar(narrative="n" * 20_000),
    cse_referral(media=[{"algorithm": "photodna", "value": "a" * 256}]),
    cse_referral(media=[]),
    cse_referral(media=DROP),
    intelligence_report(nominals=[{"full_name": "A B", "dob": None, "role": "victim", "emails": ["a@b"]}]),
    sar(amount_gbp=None), sar(amount_gbp=0), sar(amount_gbp=DROP),
    gain_request(grading=DROP),
    intelligence_report(**conditions("named_recipients_only", named=["durham.fib"])),
    intelligence_report(narrative="é" * 20_000),
    cse_referral(media=[{"algorithm": "md5", "value": "é" * 256}]),
    intelligence_report(submitted_at="2026-12-17T10:15:00Z"),
    intelligence_report(submitted_at="2026-12-17T10:15:00.250-05:00"),
], ids=["narrative-20000", "sar-narrative-20000", "media-256", "media-empty", "media-absent", "nominal-null-dob",
        "amount-null", "amount-zero", "amount-absent", "ungraded-gain", "named-with-condition",
        "narrative-20000-multibyte", "media-256-multibyte", "utc-z", "fractional-offset"])
def test_schema_boundaries_are_accepted(payload: dict[str, Any]) -> None:
    assert decide_record(payload)["status"] == "routed"


def test_schema_error_records_ingress_owner_as_partner() -> None:
    record = decide_record(b"{not json", ingress_owner="hmrc")
    assert record["partner"] == "hmrc"
    assert record["status"] == "quarantined"


def test_quarantine_keeps_submission_id_for_admission_failures() -> None:
    other = "0b6c1a2e-1111-4c38-9a57-0e7f4b1d2c22"
    record = decide_record(intelligence_report(submission_id=other, classification="SECRET"))
    assert_quarantined(record, "SECRET", submission_id=other)


def test_decision_records_the_ruleset_hash() -> None:
    digest = "sha256:" + hashlib.sha256(DEFAULT_RULESET.read_bytes()).hexdigest()
    assert ruleset().digest == digest
    assert decide_record(intelligence_report())["ruleset"] == digest
    assert decide_record(b"nope")["ruleset"] == digest


def test_admission_order_h1_before_routing() -> None:
    """A SECRET DAML is not routed to anyone, however urgent."""
    record = decide_record(sar(classification="SECRET", defence_type="daml", threat_to_life=True))
    assert_quarantined(record, "SECRET")
    assert record["withheld"] == []


@pytest.mark.parametrize(("given", "name", "same"), [
    ("SUNDERLAND", "Sunderland", True), ("sUnDeRlAnD", "Sunderland", True), ("Sunderlan", "Sunderland", False),
    ("\u017funderland", "Sunderland", False),  # long s: case-folds to s, is not an s in any letter case
    ("Stoc\u212an-on-Tees", "Stockton-on-Tees", False),  # Kelvin sign: lower-cases to k, is not a K
    ("YNYS MÔN", "Ynys Môn", True), ("Ynys Mon", "Ynys Môn", False),  # a name a policy owner may add
])
def test_an_area_is_its_name_in_some_letter_case_character_for_character(given: str, name: str, same: bool) -> None:
    assert same_letters(given, name) is same
