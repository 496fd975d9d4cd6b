"""POLICY.md handling rules H2–H7, the views each recipient receives, and "no delivery left after
handling" (quarantined with a reason, never dropped). Recipient views and withheld sets are exact."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from policy_cases import (
    AREAS,
    DROP,
    SANITISED,
    assert_quarantined,
    assert_routed,
    conditions,
    covert_report,
    cse_referral,
    cyber_incident,
    decide_record,
    gain_request,
    grading,
    intelligence_report,
    legacy,
    premises_report,
    run,
    sar,
)

from bus.policy import render_views

F = "full"
S = "sanitised"
REPORTER = {"reporter_name", "reporter_type"}
COVERT_FIELDS = {"source_type", "source_reference", "narrative"}
FORCE_OF = dict(AREAS)


def routed_case(case_id: str, payload: dict[str, Any], deliveries: dict[str, str],
                held: dict[str, str] | None = None) -> Any:
    return pytest.param(payload, deliveries, held or {}, id=case_id)


def _check(payload: dict[str, Any], deliveries: dict[str, str], held: dict[str, str]) -> dict[str, Any]:
    record, decision, raw = run(payload)
    got = assert_routed(record, deliveries, held)
    payloads = render_views(raw, decision)
    assert set(payloads) == set(deliveries)
    for team, view in deliveries.items():
        if view == F:
            assert payloads[team] == raw
            assert got[team]["omitted"] == []
        else:
            assert got[team]["omitted"]
            obj = orjson.loads(payloads[team])
            assert not set(got[team]["omitted"]) & set(obj)
    return got


# ---------------------------------------------------------------- H2 3x5x2 handling conditions

H2_CASES = [
    routed_case("no_neighbourhood-means-every-force", intelligence_report(**conditions(
        "no_neighbourhood", "named_recipients_only", named=["cleveland.neighbourhood", "durham.fib"])),
        {"durham.fib": F}, {"cleveland.neighbourhood": "H2"}),
    routed_case("P-shares-with-all", intelligence_report(themes=["drugs"]), {"durham.fib": F, "durham.ocg": F}),
    routed_case("C-without-conditions", intelligence_report(themes=["drugs"], grading=grading("C")),
                {"durham.fib": F, "durham.ocg": F}),
    routed_case("ungraded-premises", premises_report(concerns=["cuckooing"]),
                {"durham.neighbourhood": F, "durham.safeguarding": F}),
    routed_case("police_only-gain-ttl", gain_request(threat_to_life=True, **conditions("police_only")),
                {"cleveland.control": F}, {"nersou.gain": "H2"}),
    routed_case("police_only-no-gain-selected", intelligence_report(themes=["fraud"], **conditions("police_only")),
                {"durham.fib": F, "durham.fiu": F}),
    routed_case("police_only-beats-named", intelligence_report(
        **conditions("police_only", "named_recipients_only", named=["nersou.gain", "durham.ocg"])),
        {"durham.ocg": F}, {"durham.fib": "H2", "nersou.gain": "H2"}),
    routed_case("gain-P", gain_request(grading=grading("P")), {"nersou.gain": F}),
    routed_case("gain-no_neighbourhood", gain_request(**conditions("no_neighbourhood")), {"nersou.gain": F}),
    routed_case("no_neighbourhood-premises", premises_report(concerns=["cuckooing", "drug_supply"],
                                                             **conditions("no_neighbourhood")),
                {"durham.safeguarding": F, "durham.ocg": F}, {"durham.neighbourhood": "H2"}),
    routed_case("no_neighbourhood-not-selected", intelligence_report(**conditions("no_neighbourhood")),
                {"durham.fib": F}),
    routed_case("no_neighbourhood-named", intelligence_report(
        **conditions("no_neighbourhood", "named_recipients_only", named=["durham.neighbourhood", "durham.fib"])),
        {"durham.fib": F}, {"durham.neighbourhood": "H2"}),
    routed_case("no_neighbourhood-outside-region-is-riu", premises_report(
        area="outside_region", concerns=["cuckooing"], **conditions("no_neighbourhood")), {"nersou.riu": F}),
    routed_case("named-subset", intelligence_report(themes=["drugs", "firearms"], **conditions(
        "named_recipients_only", named=["durham.ocg", "nersou.riu"])),
        {"durham.ocg": F, "nersou.riu": F}, {"durham.fib": "H2"}),
    routed_case("named-adds-unselected", intelligence_report(**conditions(
        "named_recipients_only", named=["durham.fib", "cleveland.fib", "ctp.ne"])),
        {"durham.fib": F, "cleveland.fib": F, "ctp.ne": F}),
    routed_case("named-other-force-only", intelligence_report(**conditions(
        "named_recipients_only", named=["cleveland.fib"])), {"cleveland.fib": F}, {"durham.fib": "H2"}),
    routed_case("named-sar", sar(glossary_codes=["XXPRFXX"], **conditions(
        "named_recipients_only", named=["nersou.rart"])), {"nersou.rart": F}, {"cleveland.fiu": "H2"}),
    routed_case("named-premises-with-police_only", premises_report(**conditions(
        "named_recipients_only", "police_only", named=["durham.neighbourhood"])), {"durham.neighbourhood": F}),
]


@pytest.mark.parametrize(("payload", "deliveries", "held"), H2_CASES)
def test_h2(payload: dict[str, Any], deliveries: dict[str, str], held: dict[str, str]) -> None:
    _check(payload, deliveries, held)


# ---------------------------------------------------------------- H3 legacy 5x5x5 handling

H3_CASES = [
    *[routed_case(f"code-{code}-as-P", intelligence_report(themes=["drugs", "firearms"], grading=legacy(code)),
                  {"durham.fib": F, "durham.ocg": F, "nersou.riu": F}) for code in "123"],
    *[routed_case(f"code-{code}-gain-as-P", gain_request(grading=legacy(code)), {"nersou.gain": F})
      for code in "123"],
    routed_case("code-4-force-keeps-own-teams", intelligence_report(themes=["drugs", "firearms"],
                                                                    grading=legacy("4")),
                {"durham.fib": F, "durham.ocg": F}, {"nersou.riu": "H3"}),
    routed_case("code-4-cleveland-force", intelligence_report(partner="force-cleveland", area="Hartlepool",
                                                              themes=["cyber", "fraud"], grading=legacy("4")),
                {"cleveland.fib": F, "cleveland.fiu": F}, {"nersou.cyber": "H3"}),
    routed_case("code-4-nersou-keeps-nersou", intelligence_report(partner="nersou", themes=["firearms"],
                                                                  grading=legacy("4")),
                {"nersou.riu": F}, {"durham.fib": "H3", "durham.ocg": "H3"}),
    routed_case("code-4-nersou-cyber", cyber_incident(partner="nersou", grading=legacy("4")),
                {"nersou.cyber": F}, {"cleveland.fib": "H3"}),
    routed_case("code-4-nersou-gain", gain_request(partner="nersou", grading=legacy("4")), {"nersou.gain": F}),
    routed_case("code-4-force-ttl", intelligence_report(threat_to_life=True, grading=legacy("4")),
                {"durham.fib": F, "durham.control": F}),
    routed_case("code-4-hmrc-ttl", intelligence_report(partner="hmrc", threat_to_life=True, themes=["fraud"],
                                                       grading=legacy("4")),
                {"durham.control": F}, {"durham.fib": "H3", "durham.fiu": "H3"}),
    routed_case("code-5-ttl", intelligence_report(threat_to_life=True, themes=["drugs"], grading=legacy("5")),
                {"durham.control": F}, {"durham.fib": "H3", "durham.ocg": "H3"}),
    routed_case("code-5-ttl-sar", sar(threat_to_life=True, grading=legacy("5")),
                {"cleveland.control": S}, {"cleveland.fiu": "H3"}),
]


@pytest.mark.parametrize(("payload", "deliveries", "held"), H3_CASES)
def test_h3(payload: dict[str, Any], deliveries: dict[str, str], held: dict[str, str]) -> None:
    _check(payload, deliveries, held)


# ---------------------------------------------------------------- H4 low grade

LOW = [("3x5x2-source-3", grading("P", "3", "A")), ("3x5x2-intelligence-E", grading("P", "1", "E")),
       ("3x5x2-both", grading("P", "3", "E")), ("5x5x5-source-D", legacy("1", "D", "1")),
       ("5x5x5-intelligence-5", legacy("1", "A", "5")), ("5x5x5-both", legacy("2", "D", "5"))]
NOT_LOW = [("3x5x2-2D-letters-swapped", grading("P", "2", "D")), ("3x5x2-1A", grading("P", "1", "A")),
           ("5x5x5-E4", legacy("1", "E", "4")), ("5x5x5-C3", legacy("1", "C", "3")),
           ("5x5x5-B4-handling-3", legacy("3", "B", "4"))]


@pytest.mark.parametrize("grade", [g for _, g in LOW], ids=[i for i, _ in LOW])
def test_h4_low_grade_goes_to_fib_only(grade: dict[str, Any]) -> None:
    _check(intelligence_report(themes=["drugs", "cyber"], grading=grade), {"durham.fib": F},
           {"durham.ocg": "H4", "nersou.cyber": "H4"})


@pytest.mark.parametrize("grade", [g for _, g in NOT_LOW], ids=[i for i, _ in NOT_LOW])
def test_h4_not_low_grade(grade: dict[str, Any]) -> None:
    _check(intelligence_report(themes=["drugs", "cyber"], grading=grade),
           {"durham.fib": F, "durham.ocg": F, "nersou.cyber": F}, {})


H4_CASES = [
    routed_case("sar-adds-fib", sar(grading=grading("P", "3", "B")), {"cleveland.fib": S}, {"cleveland.fiu": "H4"}),
    routed_case("sar-5x5x5", sar(glossary_codes=["XXPRFXX"], grading=legacy("1", "D", "2")),
                {"cleveland.fib": S}, {"cleveland.fiu": "H4", "nersou.rart": "H4"}),
    routed_case("gain-adds-fib", gain_request(grading=legacy("3", "B", "5")), {"cleveland.fib": F},
                {"nersou.gain": "H4"}),
    routed_case("cse-adds-fib", cse_referral(child_identified=True, grading=grading("P", "1", "E")),
                {"northumbria.fib": F}, {"northumbria.polit": "H4", "northumbria.safeguarding": "H4"}),
    routed_case("premises-adds-fib", premises_report(grading=grading("P", "3", "C")), {"durham.fib": F},
                {"durham.neighbourhood": "H4"}),
    routed_case("cyber-incident", cyber_incident(grading=legacy("1", "D", "1")), {"cleveland.fib": F},
                {"nersou.cyber": "H4"}),
    routed_case("outside-region-riu", intelligence_report(area="outside_region", themes=["cyber"],
                                                          grading=grading("P", "3", "A")),
                {"nersou.riu": F}, {"nersou.cyber": "H4"}),
    routed_case("outside-region-gain-riu", gain_request(area="outside_region", grading=grading("P", "1", "E")),
                {"nersou.riu": F}, {"nersou.gain": "H4"}),
    routed_case("ttl-keeps-control", intelligence_report(themes=["drugs"], threat_to_life=True,
                                                         grading=grading("P", "3", "A")),
                {"durham.fib": F, "durham.control": F}, {"durham.ocg": "H4"}),
    routed_case("with-named", intelligence_report(themes=["drugs"], grading=grading("C", "3", "A"),
                                                  handling_conditions=["named_recipients_only"],
                                                  named_recipients=["durham.fib", "durham.ocg"]),
                {"durham.fib": F}, {"durham.ocg": "H4"}),
    routed_case("covert-cab-held", covert_report(grading=grading("P", "1", "E")), {"durham.fib": S},
                {"durham.cab": "H4"}),
]


@pytest.mark.parametrize(("payload", "deliveries", "held"), H4_CASES)
def test_h4(payload: dict[str, Any], deliveries: dict[str, str], held: dict[str, str]) -> None:
    _check(payload, deliveries, held)


# ---------------------------------------------------------------- H5 SAR confidentiality

H5_CASES = [
    routed_case("fiu-full", sar(), {"cleveland.fiu": F}),
    routed_case("daml-v3-rart", sar(defence_type="daml", glossary_codes=["XXV3XX", "XXPRFXX", "XXDRUXX"]),
                {"cleveland.fiu": F, "nersou.rart": F, "cleveland.safeguarding": S, "cleveland.polit": S,
                 "cleveland.ocg": S}),
    routed_case("v2-no-fiu", sar(glossary_codes=["XXV2XX", "XXMSHTXX"]),
                {"cleveland.safeguarding": S, "nersou.riu": S}),
    routed_case("datf", sar(defence_type="datf"), {"ctp.ne": S}),
    routed_case("never-neighbourhood-or-gain", sar(**conditions(
        "named_recipients_only", named=["cleveland.neighbourhood", "nersou.gain", "cleveland.fiu"])),
        {"cleveland.fiu": F}, {"cleveland.neighbourhood": "H5", "nersou.gain": "H5"}),
    routed_case("outside-region-riu-sanitised", sar(area="outside_region", defence_type="daml"),
                {"nersou.riu": S}),
    routed_case("outside-region-rart-full", sar(area="outside_region", glossary_codes=["XXVAXX"]),
                {"nersou.riu": S, "nersou.rart": F}),
    routed_case("premises-neighbourhood-ok", premises_report(), {"durham.neighbourhood": F}),
    routed_case("gain-ok", gain_request(), {"nersou.gain": F}),
    # The ruleset's reading (see its comments): no force's neighbourhood team gets a SAR, and any force's
    # fiu is "a force's fiu" that may see the reporter.
    routed_case("another-forces-neighbourhood", sar(**conditions(
        "named_recipients_only", named=["durham.neighbourhood", "nersou.rart"])),
        {"nersou.rart": F}, {"durham.neighbourhood": "H5", "cleveland.fiu": "H2"}),
    routed_case("outside-region-no-neighbourhood", sar(area="outside_region", **conditions(
        "named_recipients_only", named=["northumbria.neighbourhood", "nersou.riu"])),
        {"nersou.riu": S}, {"northumbria.neighbourhood": "H5"}),
    routed_case("another-forces-fiu-sees-reporter", sar(**conditions(
        "named_recipients_only", named=["durham.fiu", "cleveland.ocg"])),
        {"durham.fiu": F, "cleveland.ocg": S}, {"cleveland.fiu": "H2"}),
]


@pytest.mark.parametrize(("payload", "deliveries", "held"), H5_CASES)
def test_h5(payload: dict[str, Any], deliveries: dict[str, str], held: dict[str, str]) -> None:
    got = _check(payload, deliveries, held)
    for team, view in deliveries.items():
        if payload["kind"] == "sar" and view == S:
            assert set(got[team]["omitted"]) == REPORTER


def test_h5_payloads() -> None:
    sub = sar(defence_type="daml", glossary_codes=["XXV3XX", "XXTBMLXX"], reporter_name="Marker Bank plc",
              reporter_type="money_service_business")
    _, decision, raw = run(sub)
    payloads = render_views(raw, decision)
    assert set(payloads) == {"cleveland.fiu", "nersou.rart", "cleveland.safeguarding", "cleveland.polit"}
    for team in ("cleveland.fiu", "nersou.rart"):
        assert payloads[team] == raw
        assert orjson.loads(payloads[team])["reporter_name"] == "Marker Bank plc"
    for team in ("cleveland.safeguarding", "cleveland.polit"):
        obj = orjson.loads(payloads[team])
        assert b"Marker Bank" not in payloads[team]
        assert b"money_service_business" not in payloads[team]
        assert "reporter_name" not in obj and "reporter_type" not in obj
        assert obj == {k: v for k, v in sub.items() if k not in REPORTER}


# ---------------------------------------------------------------- H6 covert sanitisation

H6_CASES = [
    routed_case("sanitised-narrative", covert_report(themes=["drugs"]),
                {"durham.fib": S, "durham.ocg": S, "durham.cab": F}),
    routed_case("no-sanitised-narrative", covert_report(themes=["drugs", "firearms"], sanitised_narrative=None),
                {"durham.cab": F}, {"durham.fib": "H6", "durham.ocg": "H6", "nersou.riu": "H6"}),
    routed_case("absent-sanitised-narrative", intelligence_report(source_type="surveillance"),
                {"durham.cab": F}, {"durham.fib": "H6"}),
    routed_case("named-cab-only", covert_report(**conditions("named_recipients_only", named=["durham.cab"])),
                {"durham.cab": F}, {"durham.fib": "H2"}),
    routed_case("named-other-cab", covert_report(**conditions(
        "named_recipients_only", named=["cleveland.cab", "durham.cab"])),
        {"durham.cab": F, "cleveland.cab": S}, {"durham.fib": "H2"}),
    routed_case("non-covert-full", intelligence_report(source_type="partner_record", themes=["drugs"],
                                                       source_reference="REF-1"),
                {"durham.fib": F, "durham.ocg": F}),
    routed_case("outside-region-with-sanitised", covert_report(area="outside_region", themes=["cyber"]),
                {"nersou.riu": S, "nersou.cyber": S}),
    routed_case("nersou-partner", covert_report(partner="nersou", source_type="undercover", area="Hartlepool"),
                {"cleveland.fib": S, "cleveland.cab": F}),
]


@pytest.mark.parametrize(("payload", "deliveries", "held"), H6_CASES)
def test_h6(payload: dict[str, Any], deliveries: dict[str, str], held: dict[str, str]) -> None:
    got = _check(payload, deliveries, held)
    for team, view in deliveries.items():
        if view == S:
            assert set(got[team]["omitted"]) == COVERT_FIELDS


def test_h6_payloads() -> None:
    sub = covert_report(themes=["drugs"], narrative="ORIGINAL-NARRATIVE-MARK", source_reference="SRC-REF-MARK",
                        source_type="technical")
    _, decision, raw = run(sub)
    payloads = render_views(raw, decision)
    assert payloads["durham.cab"] == raw
    for team in ("durham.fib", "durham.ocg"):
        obj = orjson.loads(payloads[team])
        assert obj == {k: v for k, v in sub.items() if k not in COVERT_FIELDS}
        assert obj["sanitised_narrative"] == SANITISED
        for marker in (b"ORIGINAL-NARRATIVE-MARK", b"SRC-REF-MARK", b"technical", b"source_type"):
            assert marker not in payloads[team]


def test_h6_withheld_reason_names_missing_sanitised_narrative() -> None:
    record = decide_record(covert_report(sanitised_narrative=None))
    (item,) = record["withheld"]
    assert item == {"recipient": "durham.fib", "rule": "H6", "reason": item["reason"]}
    assert "sanitised_narrative" in item["reason"]


# ---------------------------------------------------------------- H7 threat to life

H7_CASES = [
    routed_case("datf", sar(defence_type="datf", threat_to_life=True, glossary_codes=["XXDRUXX"]),
                {"ctp.ne": S, "cleveland.control": S}, {"cleveland.ocg": "R2"}),
    routed_case("code-4-non-originator", gain_request(threat_to_life=True, grading=legacy("4")),
                {"cleveland.control": F}, {"nersou.gain": "H3"}),
    routed_case("code-5", cse_referral(threat_to_life=True, grading=legacy("5")),
                {"northumbria.control": F}, {"northumbria.polit": "H3"}),
    routed_case("low-grade", cse_referral(threat_to_life=True, grading=grading("P", "3", "A")),
                {"northumbria.fib": F, "northumbria.control": F}, {"northumbria.polit": "H4"}),
    routed_case("named-not-naming-control", intelligence_report(
        threat_to_life=True, themes=["drugs"], **conditions("named_recipients_only", named=["durham.ocg"])),
        {"durham.ocg": F, "durham.control": F}, {"durham.fib": "H2"}),
    routed_case("named-other-force-control", intelligence_report(
        threat_to_life=True, **conditions("named_recipients_only", named=["cleveland.control"])),
        {"cleveland.control": F, "durham.control": F}, {"durham.fib": "H2"}),
    routed_case("police_only-gain", gain_request(threat_to_life=True, **conditions("police_only")),
                {"cleveland.control": F}, {"nersou.gain": "H2"}),
    routed_case("no_neighbourhood", premises_report(threat_to_life=True, **conditions("no_neighbourhood")),
                {"durham.control": F}, {"durham.neighbourhood": "H2"}),
    routed_case("sar-sanitised", sar(threat_to_life=True), {"cleveland.fiu": F, "cleveland.control": S}),
    routed_case("covert-with-sanitised", covert_report(threat_to_life=True),
                {"durham.fib": S, "durham.cab": F, "durham.control": S}),
    routed_case("covert-no-sanitised", covert_report(threat_to_life=True, sanitised_narrative=None),
                {"durham.cab": F, "durham.control": S}, {"durham.fib": "H6"}),
    routed_case("covert-no-sanitised-code-5", covert_report(threat_to_life=True, sanitised_narrative=None,
                                                            grading=legacy("5")),
                {"durham.control": S}, {"durham.fib": "H3", "durham.cab": "H3"}),
    routed_case("everything", covert_report(
        threat_to_life=True, sanitised_narrative=None, themes=["drugs"], grading=grading("C", "3", "E"),
        handling_conditions=["police_only", "no_neighbourhood", "named_recipients_only"],
        named_recipients=["nersou.gain"]),
        {"durham.control": S},
        {"durham.fib": "H2", "durham.ocg": "H2", "durham.cab": "H2", "nersou.gain": "H2"}),
]


@pytest.mark.parametrize(("payload", "deliveries", "held"), H7_CASES)
def test_h7(payload: dict[str, Any], deliveries: dict[str, str], held: dict[str, str]) -> None:
    got = _check(payload, deliveries, held)
    assert {d["priority"] for d in got.values()} == {"immediate"}
    controls = [t for t in deliveries if t.endswith(".control") and "R9" in got[t]["rules"]]
    assert controls == [f"{FORCE_OF[payload['area']]}.control"]


def test_h7_covert_without_sanitised_narrative_gives_no_narrative_at_all() -> None:
    sub = covert_report(threat_to_life=True, sanitised_narrative=DROP, narrative="SECRET-STORY-MARK",
                        source_reference="SRC-MARK", **conditions("named_recipients_only", named=["durham.cab"]))
    _, decision, raw = run(sub)
    payloads = render_views(raw, decision)
    assert set(payloads) == {"durham.cab", "durham.control"}
    obj = orjson.loads(payloads["durham.control"])
    assert not {"narrative", "sanitised_narrative", "source_type", "source_reference"} & set(obj)
    assert b"SECRET-STORY-MARK" not in payloads["durham.control"]
    assert b"SRC-MARK" not in payloads["durham.control"]
    # the handling conditions travel with it
    assert obj["grading"] == sub["grading"]
    assert obj["handling_conditions"] == ["named_recipients_only"]
    assert obj["named_recipients"] == ["durham.cab"]
    assert obj["threat_to_life"] is True


@pytest.mark.parametrize("payload", [
    intelligence_report(threat_to_life=True, **conditions("police_only", "no_neighbourhood")),
    gain_request(threat_to_life=True, **conditions("police_only")),
    sar(threat_to_life=True, **conditions("named_recipients_only", named=["nersou.rart"])),
], ids=["report", "gain", "sar"])
def test_h7_handling_conditions_travel_with_control(payload: dict[str, Any]) -> None:
    _, decision, raw = run(payload)
    payloads = render_views(raw, decision)
    control = next(t for t in payloads if t.endswith(".control"))
    obj = orjson.loads(payloads[control])
    assert obj["handling_conditions"] == payload["handling_conditions"]
    assert obj["grading"] == payload["grading"]


H7_NOT = [
    ("outside-region-code-5", intelligence_report(area="outside_region", threat_to_life=True, grading=legacy("5")),
     ("code 5",)),
    ("outside-region-covert-no-sanitised", covert_report(area="outside_region", threat_to_life=True,
                                                         sanitised_narrative=None), ("sanitised_narrative",)),
    ("outside-region-hmrc-code-4", gain_request(area="outside_region", threat_to_life=True, grading=legacy("4")),
     ("code 4",)),
]


@pytest.mark.parametrize(("payload", "fragments"), [c[1:] for c in H7_NOT], ids=[c[0] for c in H7_NOT])
def test_h7_does_not_protect_the_outside_region_stand_in(payload: dict[str, Any], fragments: tuple[str, ...]) -> None:
    record = decide_record(payload)
    assert_quarantined(record, "no delivery", *fragments)
    assert "nersou.riu" in {w["recipient"] for w in record["withheld"]}


def test_outside_region_sar_riu_does_not_see_reporter() -> None:
    sub = sar(area="outside_region", threat_to_life=True, reporter_name="Marker Bank plc")
    _, decision, raw = run(sub)
    payloads = render_views(raw, decision)
    assert set(payloads) == {"nersou.riu"}
    assert b"Marker Bank" not in payloads["nersou.riu"]


# ---------------------------------------------------------------- no delivery left: quarantined, not dropped

EMPTY = [
    ("police_only-gain", gain_request(**conditions("police_only")), ("police_only",)),
    ("no_neighbourhood-premises", premises_report(**conditions("no_neighbourhood")), ("no_neighbourhood",)),
    ("code-5", intelligence_report(grading=legacy("5")), ("code 5",)),
    ("code-5-sar", sar(grading=legacy("5")), ("code 5",)),
    ("code-4-hmrc", intelligence_report(partner="hmrc", grading=legacy("4")), ("code 4",)),
    ("code-4-council", premises_report(grading=legacy("4")), ("code 4",)),
    ("code-4-ceop", cse_referral(grading=legacy("4")), ("code 4",)),
    ("code-4-force-other-area", intelligence_report(area="Middlesbrough", grading=legacy("4")), ("code 4",)),
    ("code-4-nersou-force-teams", intelligence_report(partner="nersou", grading=legacy("4")), ("code 4",)),
    ("covert-outside-no-sanitised", covert_report(area="outside_region", sanitised_narrative=None),
     ("sanitised_narrative",)),
    ("covert-low-grade-no-sanitised", covert_report(sanitised_narrative=None, grading=grading("P", "3", "A")),
     ("H6",)),
    ("sar-named-only-gain", sar(**conditions("named_recipients_only", named=["nersou.gain"])), ("H5",)),
    ("datf-low-grade", sar(defence_type="datf", grading=grading("P", "3", "A")), ("low grade",)),
]


@pytest.mark.parametrize(("payload", "fragments"), [c[1:] for c in EMPTY], ids=[c[0] for c in EMPTY])
def test_no_delivery_left_is_quarantined_with_reason(payload: dict[str, Any], fragments: tuple[str, ...]) -> None:
    record, decision, raw = run(payload)
    assert_quarantined(record, "no delivery", *fragments)
    assert render_views(raw, decision) == {}
    assert record["withheld"], "the withheld recipients are the audit of why nothing was delivered"


# ---------------------------------------------------------------- combinations

COMBINED = [
    routed_case("datf-ttl-outside-region", sar(defence_type="datf", threat_to_life=True, area="outside_region"),
                {"ctp.ne": S}, {"nersou.riu": "R2"}),
    routed_case("datf-named-fiu", sar(defence_type="datf", **conditions(
        "named_recipients_only", named=["ctp.ne", "cleveland.fiu"])), {"ctp.ne": S}, {"cleveland.fiu": "R2"}),
    routed_case("covert-code-4-force", covert_report(grading=legacy("4"), themes=["firearms"]),
                {"durham.fib": S, "durham.ocg": S, "durham.cab": F}, {"nersou.riu": "H3"}),
    routed_case("nersou-code-4-outside-region", intelligence_report(partner="nersou", area="outside_region",
                                                                    grading=legacy("4")), {"nersou.riu": F}),
    routed_case("named-duplicate", intelligence_report(**conditions(
        "named_recipients_only", named=["durham.fib", "durham.fib"])), {"durham.fib": F}),
    routed_case("police_only-outside-ttl-gain", gain_request(area="outside_region", threat_to_life=True,
                                                             **conditions("police_only")),
                {"nersou.riu": F}, {"nersou.gain": "H2"}),
    routed_case("covert-ttl-empty-sanitised", covert_report(threat_to_life=True, sanitised_narrative=""),
                {"durham.cab": F, "durham.control": S}, {"durham.fib": "H6"}),
]


@pytest.mark.parametrize(("payload", "deliveries", "held"), COMBINED)
def test_combined_handling(payload: dict[str, Any], deliveries: dict[str, str], held: dict[str, str]) -> None:
    _check(payload, deliveries, held)
