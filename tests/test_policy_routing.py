"""POLICY.md routing rules R1–R7, R9, R10 (R8 is in test_policy_ocg.py), priority, and outside_region.

Expected recipient sets are exact and written by hand from POLICY.md."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from policy_cases import (
    NOW,
    assert_routed,
    covert_report,
    cse_referral,
    cyber_incident,
    decide_record,
    delivered,
    encode,
    gain_request,
    intelligence_report,
    premises_report,
    prison_intelligence,
    sar,
)

from bus.policy import Reference, decide_payload, parse_ruleset
from bus.policy.ruleset import DEFAULT_RULESET

# ---------------------------------------------------------------- R1 intelligence_report, every theme

R1_THEMES = [
    (["drugs"], {"F.fib", "F.ocg"}),
    (["county_lines"], {"F.fib", "F.ocg"}),
    (["firearms"], {"F.fib", "F.ocg", "nersou.riu"}),
    (["money_laundering"], {"F.fib", "F.fiu"}),
    (["fraud"], {"F.fib", "F.fiu"}),
    (["cse"], {"F.fib", "F.polit"}),
    (["modern_slavery"], {"F.fib", "F.safeguarding", "nersou.riu"}),
    (["exploitation"], {"F.fib", "F.safeguarding", "nersou.riu"}),
    (["cyber"], {"F.fib", "nersou.cyber"}),
    (["organised_immigration"], {"F.fib", "nersou.riu"}),
    (["violence"], {"F.fib"}),
    (["other"], {"F.fib"}),
    (["drugs", "fraud", "cse"], {"F.fib", "F.ocg", "F.fiu", "F.polit"}),
    (["firearms", "modern_slavery", "cyber"], {"F.fib", "F.ocg", "nersou.riu", "F.safeguarding", "nersou.cyber"}),
    (["violence", "other"], {"F.fib"}),
]


def _resolve(teams: set[str], force: str) -> set[str]:
    return {f"{force}.{t[2:]}" if t.startswith("F.") else t for t in teams}


@pytest.mark.parametrize(("themes", "teams"), R1_THEMES, ids=["+".join(t) for t, _ in R1_THEMES])
@pytest.mark.parametrize(("area", "force"), [("Darlington", "durham"), ("Redcar and Cleveland", "cleveland"),
                                             ("North Tyneside", "northumbria")])
def test_r1_themes(themes: list[str], teams: set[str], area: str, force: str) -> None:
    record = decide_record(intelligence_report(area=area, themes=themes))
    got = assert_routed(record, _resolve(teams, force))
    assert {d["priority"] for d in got.values()} == {"routine"}
    assert {d["due"] for d in got.values()} == {None}
    assert all("R1" in d["rules"] for d in got.values())
    assert {d["view"] for d in got.values()} == {"full"}


# ---------------------------------------------------------------- R2 sar

R2_CASES = [
    # (id, overrides, recipients (cleveland: Middlesbrough), withheld {team: rule}, priority)
    ("none-no-codes", {}, {"F.fiu"}, {}, "routine"),
    ("none-other-codes", {"glossary_codes": ["XXS99XX", "XXPROPXX"]}, {"F.fiu"}, {}, "routine"),
    ("none-v2", {"glossary_codes": ["XXV2XX"]}, {"F.safeguarding"}, {}, "high"),
    ("none-v3", {"glossary_codes": ["XXV3XX"]}, {"F.safeguarding", "F.polit"}, {}, "high"),
    ("none-v2-v3", {"glossary_codes": ["XXV2XX", "XXV3XX"]}, {"F.safeguarding", "F.polit"}, {}, "high"),
    ("daml", {"defence_type": "daml"}, {"F.fiu"}, {}, "routine"),
    ("daml-v2", {"defence_type": "daml", "glossary_codes": ["XXS99XX", "XXV2XX"]},
     {"F.fiu", "F.safeguarding"}, {}, "high"),
    ("daml-v3", {"defence_type": "daml", "glossary_codes": ["XXV3XX"]},
     {"F.fiu", "F.safeguarding", "F.polit"}, {}, "high"),
    ("datf", {"defence_type": "datf"}, {"ctp.ne"}, {}, "routine"),
    ("datf-v3", {"defence_type": "datf", "glossary_codes": ["XXV3XX"]}, {"ctp.ne"},
     {"F.safeguarding": "R2", "F.polit": "R2"}, "high"),
    ("datf-every-code", {"defence_type": "datf", "glossary_codes": [
        "XXV2XX", "XXDRUXX", "XXFIREXX", "XXMSHTXX", "XXOICXX", "XXPRFXX", "XXTBMLXX", "XXVAXX", "XXMLTMXX"]},
     {"ctp.ne"}, {"F.safeguarding": "R2", "F.ocg": "R2", "nersou.riu": "R2", "nersou.rart": "R2"}, "high"),
    ("datf-firearms", {"defence_type": "datf", "glossary_codes": ["XXFIREXX"]}, {"ctp.ne"},
     {"F.ocg": "R2"}, "high"),
    ("drugs", {"glossary_codes": ["XXDRUXX"]}, {"F.fiu", "F.ocg"}, {}, "routine"),
    ("firearms", {"glossary_codes": ["XXFIREXX"]}, {"F.fiu", "F.ocg"}, {}, "high"),
    ("slavery", {"glossary_codes": ["XXMSHTXX"]}, {"F.fiu", "F.safeguarding", "nersou.riu"}, {}, "routine"),
    ("immigration", {"glossary_codes": ["XXOICXX"]}, {"F.fiu", "nersou.riu"}, {}, "routine"),
    ("enablers", {"glossary_codes": ["XXPRFXX"]}, {"F.fiu", "nersou.rart"}, {}, "routine"),
    ("trade-based", {"glossary_codes": ["XXTBMLXX"]}, {"F.fiu", "nersou.rart"}, {}, "routine"),
    ("virtual-assets", {"glossary_codes": ["XXVAXX"]}, {"F.fiu", "nersou.rart"}, {}, "routine"),
    ("mltm", {"glossary_codes": ["XXMLTMXX"]}, {"F.fiu", "nersou.rart"}, {}, "routine"),
    ("property-only", {"glossary_codes": ["XXPROPXX"]}, {"F.fiu"}, {}, "routine"),
    ("daml-typologies", {"defence_type": "daml", "glossary_codes": ["XXS99XX", "XXDRUXX", "XXVAXX"]},
     {"F.fiu", "F.ocg", "nersou.rart"}, {}, "routine"),
    ("v2-firearms-no-fiu", {"glossary_codes": ["XXV2XX", "XXFIREXX"]}, {"F.safeguarding", "F.ocg"}, {}, "high"),
]


@pytest.mark.parametrize(("overrides", "teams", "held", "priority"), [c[1:] for c in R2_CASES],
                         ids=[c[0] for c in R2_CASES])
def test_r2_sar(overrides: dict[str, Any], teams: set[str], held: dict[str, str], priority: str) -> None:
    record = decide_record(sar(**overrides))
    got = assert_routed(record, _resolve(teams, "cleveland"),
                        {(f"cleveland.{t[2:]}" if t.startswith("F.") else t): r for t, r in held.items()})
    assert {d["priority"] for d in got.values()} == {priority}
    if overrides.get("defence_type") != "daml":
        assert {d["due"] for d in got.values()} == {None}


def test_r2_datf_withheld_reason_names_terrorist_finance() -> None:
    record = decide_record(sar(defence_type="datf", glossary_codes=["XXDRUXX"]))
    (item,) = record["withheld"]
    assert item["recipient"] == "cleveland.ocg"
    assert "DATF" in item["reason"] or "terrorist" in item["reason"].lower()


# ---------------------------------------------------------------- R3 cse_referral

R3_CASES = [
    ("low", {}, {"F.polit"}, "routine"),
    ("medium", {"kirat_band": "medium"}, {"F.polit"}, "routine"),
    ("high", {"kirat_band": "high"}, {"F.polit"}, "routine"),
    ("very-high", {"kirat_band": "very_high"}, {"F.polit"}, "high"),
    ("child", {"child_identified": True}, {"F.polit", "F.safeguarding"}, "routine"),
    ("commercial", {"commercial_indicator": True}, {"F.polit", "nersou.riu"}, "routine"),
    ("both-very-high", {"child_identified": True, "commercial_indicator": True, "kirat_band": "very_high"},
     {"F.polit", "F.safeguarding", "nersou.riu"}, "high"),
    ("defaults-false", {"child_identified": None, "commercial_indicator": None}, {"F.polit"}, "routine"),
]


@pytest.mark.parametrize(("overrides", "teams", "priority"), [c[1:] for c in R3_CASES],
                         ids=[c[0] for c in R3_CASES])
def test_r3_cse_referral(overrides: dict[str, Any], teams: set[str], priority: str) -> None:
    sub = cse_referral(**overrides)
    for key in ("child_identified", "commercial_indicator"):
        if sub[key] is None:
            del sub[key]
    got = assert_routed(decide_record(sub), _resolve(teams, "northumbria"))
    assert {d["priority"] for d in got.values()} == {priority}


# Due: exactly N x 24 hours after submitted_at (instants, written by hand; BST starts 2026-03-29 01:00 UTC,
# ends 2026-10-25 01:00 UTC).
R3_DUE = [
    ("very_high", "2026-03-28T12:00:00+00:00", "2026-03-29T12:00:00+00:00"),
    ("high", "2026-03-28T12:00:00+00:00", "2026-04-04T12:00:00+00:00"),
    ("medium", "2026-03-28T12:00:00+00:00", "2026-04-11T12:00:00+00:00"),
    ("low", "2026-03-28T12:00:00+00:00", "2026-04-27T12:00:00+00:00"),
    ("very_high", "2026-10-24T09:30:00+01:00", "2026-10-25T08:30:00+00:00"),
    ("high", "2026-10-24T09:30:00+01:00", "2026-10-31T08:30:00+00:00"),
    ("medium", "2026-12-25T23:00:00-05:00", "2027-01-09T04:00:00+00:00"),
    ("low", "2026-12-17T10:15:00+00:00", "2027-01-16T10:15:00+00:00"),
    ("very_high", "2027-02-28T23:30:00+00:00", "2027-03-01T23:30:00+00:00"),
    ("low", "2028-02-10T00:00:00Z", "2028-03-11T00:00:00+00:00"),
]


@pytest.mark.parametrize(("band", "submitted_at", "due"), R3_DUE,
                         ids=[f"{b}-{s[:10]}" for b, s, _ in R3_DUE])
def test_r3_kirat_due(band: str, submitted_at: str, due: str) -> None:
    record = decide_record(cse_referral(kirat_band=band, submitted_at=submitted_at, child_identified=True))
    got = assert_routed(record, {"northumbria.polit", "northumbria.safeguarding"})
    for delivery in got.values():
        assert delivery["due"] is not None
        assert datetime.fromisoformat(delivery["due"]) == datetime.fromisoformat(due)
        assert datetime.fromisoformat(delivery["due"]).utcoffset() is not None


# ---------------------------------------------------------------- R4 premises_report

R4_CASES = [
    ("nuisance", {}, {"F.neighbourhood"}),
    ("closure", {"concerns": ["closure_candidate"]}, {"F.neighbourhood"}),
    ("cuckooing", {"concerns": ["cuckooing"]}, {"F.neighbourhood", "F.safeguarding"}),
    ("exploitation", {"concerns": ["exploitation"]}, {"F.neighbourhood", "F.safeguarding"}),
    ("vulnerable", {"vulnerable_occupant": True}, {"F.neighbourhood", "F.safeguarding"}),
    ("drug-supply", {"concerns": ["drug_supply"]}, {"F.neighbourhood", "F.ocg"}),
    ("cuckooing-drugs", {"concerns": ["cuckooing", "drug_supply", "nuisance"]},
     {"F.neighbourhood", "F.safeguarding", "F.ocg"}),
    ("vulnerable-drugs", {"concerns": ["drug_supply"], "vulnerable_occupant": True},
     {"F.neighbourhood", "F.safeguarding", "F.ocg"}),
]


@pytest.mark.parametrize(("overrides", "teams"), [c[1:] for c in R4_CASES], ids=[c[0] for c in R4_CASES])
def test_r4_premises_report(overrides: dict[str, Any], teams: set[str]) -> None:
    got = assert_routed(decide_record(premises_report(**overrides)), _resolve(teams, "durham"))
    assert all("R4" in d["rules"] for d in got.values())


# ---------------------------------------------------------------- R5 prison_intelligence (home area)


@pytest.mark.parametrize(("area", "fib"), [
    ("Gateshead", "northumbria.fib"), ("County Durham", "durham.fib"), ("Hartlepool", "cleveland.fib"),
    ("outside_region", "nersou.riu"),
])
@pytest.mark.parametrize("partner", ["hmpps", "force-cleveland"])
def test_r5_prison_intelligence_goes_to_the_prisoners_home_force(partner: str, area: str, fib: str) -> None:
    record = decide_record(prison_intelligence(area=area, partner=partner))
    assert_routed(record, {"nersou.prison", fib})


# ---------------------------------------------------------------- R6 gain_request, R7 cyber_incident


@pytest.mark.parametrize(("partner", "area"), [("hmrc", "Hartlepool"), ("council-sunderland", "Sunderland"),
                                               ("force-durham", "outside_region"), ("glaa", "Gateshead")])
def test_r6_gain_request_goes_to_gain_only(partner: str, area: str) -> None:
    got = assert_routed(decide_record(gain_request(partner=partner, area=area)), {"nersou.gain"})
    assert got["nersou.gain"]["rules"] == ["R6"]


@pytest.mark.parametrize(("area", "fib"), [("Stockton-on-Tees", "cleveland.fib"), ("Sunderland", "northumbria.fib"),
                                           ("outside_region", "nersou.riu")])
def test_r7_cyber_incident(area: str, fib: str) -> None:
    assert_routed(decide_record(cyber_incident(area=area)), {"nersou.cyber", fib})


# ---------------------------------------------------------------- R9 threat to life

R9_CASES = [
    ("report", intelligence_report(threat_to_life=True, themes=["drugs"]),
     {"durham.fib", "durham.ocg", "durham.control"}),
    ("sar", sar(threat_to_life=True), {"cleveland.fiu", "cleveland.control"}),
    ("cse", cse_referral(threat_to_life=True, kirat_band="low"), {"northumbria.polit", "northumbria.control"}),
    ("premises", premises_report(threat_to_life=True), {"durham.neighbourhood", "durham.control"}),
    ("prison", prison_intelligence(threat_to_life=True), {"nersou.prison", "northumbria.fib",
                                                          "northumbria.control"}),
    ("gain", gain_request(threat_to_life=True), {"nersou.gain", "cleveland.control"}),
    ("cyber", cyber_incident(threat_to_life=True), {"nersou.cyber", "cleveland.fib", "cleveland.control"}),
]


@pytest.mark.parametrize(("payload", "teams"), [c[1:] for c in R9_CASES], ids=[c[0] for c in R9_CASES])
def test_r9_threat_to_life_adds_control_and_every_delivery_is_immediate(payload: dict[str, Any],
                                                                        teams: set[str]) -> None:
    got = assert_routed(decide_record(payload), teams)
    assert {d["priority"] for d in got.values()} == {"immediate"}
    control = next(t for t in teams if t.endswith(".control"))
    assert "R9" in got[control]["rules"]


@pytest.mark.parametrize("payload", [intelligence_report(), sar(), cse_referral(kirat_band="very_high"),
                                     gain_request(), intelligence_report(threat_to_life=False)],
                         ids=["report", "sar", "cse-very-high", "gain", "explicit-false"])
def test_r9_no_threat_to_life_no_control(payload: dict[str, Any]) -> None:
    got = delivered(decide_record(payload))
    assert not any(t.endswith(".control") for t in got)
    assert "immediate" not in {d["priority"] for d in got.values()}


# ---------------------------------------------------------------- R10 covert source (R8 link: test_policy_ocg)


@pytest.mark.parametrize("source_type", ["chis", "undercover", "technical", "surveillance"])
def test_r10_covert_source_adds_cab(source_type: str) -> None:
    record = decide_record(covert_report(source_type=source_type))
    got = assert_routed(record, {"durham.fib": "sanitised", "durham.cab": "full"})
    assert "R10" in got["durham.cab"]["rules"]


@pytest.mark.parametrize("source_type", ["open_source", "partner_record", "member_of_public"])
def test_r10_non_covert_source_adds_no_cab(source_type: str) -> None:
    record = decide_record(covert_report(source_type=source_type))
    assert_routed(record, {"durham.fib": "full"})


# ---------------------------------------------------------------- priority: highest of applied rules

PRIORITY_CASES = [
    ("v3-withheld-by-datf", sar(defence_type="datf", glossary_codes=["XXV3XX"]), {"ctp.ne"}, "high"),
    ("v2-withheld-by-datf", sar(defence_type="datf", glossary_codes=["XXV2XX"]), {"ctp.ne"}, "high"),
    ("firearms-withheld-low-grade",
     sar(glossary_codes=["XXFIREXX"], grading={"scheme": "3x5x2", "source": "3", "intelligence": "A",
                                               "handling": "P"}), {"cleveland.fib"}, "high"),
    ("very-high-withheld-by-named",
     cse_referral(kirat_band="very_high", grading={"scheme": "3x5x2", "source": "1", "intelligence": "A",
                                                   "handling": "C"},
                  handling_conditions=["named_recipients_only"], named_recipients=["nersou.riu"]),
     {"nersou.riu"}, "high"),
    ("ttl-beats-high", sar(threat_to_life=True, glossary_codes=["XXV3XX"]),
     {"cleveland.safeguarding", "cleveland.polit", "cleveland.control"}, "immediate"),
    ("ttl-code5", intelligence_report(threat_to_life=True, grading={"scheme": "5x5x5", "source": "A",
                                                                    "intelligence": "1", "handling": "5"}),
     {"durham.control"}, "immediate"),
    ("routine", intelligence_report(themes=["drugs"]), {"durham.fib", "durham.ocg"}, "routine"),
]


@pytest.mark.parametrize(("payload", "teams", "priority"), [c[1:] for c in PRIORITY_CASES],
                         ids=[c[0] for c in PRIORITY_CASES])
def test_priority_is_the_highest_of_applied_rules_even_if_withheld(payload: dict[str, Any], teams: set[str],
                                                                    priority: str) -> None:
    record = decide_record(payload)
    got = delivered(record)
    assert record["status"] == "routed"
    assert set(got) == teams
    assert {d["priority"] for d in got.values()} == {priority}


def test_due_survives_when_its_recipient_is_withheld() -> None:
    """DAML F.fiu withheld as low grade: the due still travels on F.fib's delivery."""
    record = decide_record(sar(defence_type="daml", grading={"scheme": "5x5x5", "source": "D",
                                                            "intelligence": "1", "handling": "1"}))
    got = assert_routed(record, {"cleveland.fib"}, {"cleveland.fiu": "H4"})
    assert got["cleveland.fib"]["due"] == "2026-12-30T23:59:59+00:00"


def test_due_is_the_earliest_of_applied_rules() -> None:
    """Two due rules (a variant of the default ruleset): the earlier due wins, on every delivery."""
    text = DEFAULT_RULESET.read_text(encoding="utf-8")
    extra = (
        "  - {rule: R3, says: \"test: an identified child is due within 2 hours\",\n"
        "     when: {kind: cse_referral, child_identified: true}, due: {hours: 2, after: submitted_at}}\n"
        "\n  # R4 premises_report\n"
    )
    assert text.count("\n  # R4 premises_report\n") == 1
    variant = parse_ruleset(text.replace("\n  # R4 premises_report\n", "\n" + extra, 1).encode())
    sub = cse_referral(kirat_band="high", child_identified=True, submitted_at="2026-12-17T10:15:00+00:00")
    decision, _ = decide_payload(encode(sub), variant, Reference.empty(), NOW)
    got = delivered(decision.to_dict())
    assert set(got) == {"northumbria.polit", "northumbria.safeguarding"}
    for delivery in got.values():
        assert datetime.fromisoformat(delivery["due"]) == datetime.fromisoformat("2026-12-17T12:15:00+00:00")
    sub = cse_referral(kirat_band="very_high", child_identified=False, submitted_at="2026-12-17T10:15:00+00:00")
    decision, _ = decide_payload(encode(sub), variant, Reference.empty(), NOW)
    for delivery in decision.to_dict()["deliveries"]:
        assert datetime.fromisoformat(delivery["due"]) == datetime.fromisoformat("2026-12-18T10:15:00+00:00")


# ---------------------------------------------------------------- outside_region

OUTSIDE_CASES = [
    ("report-firearms", intelligence_report(area="outside_region", themes=["firearms"]), {"nersou.riu"}),
    ("report-every-theme", intelligence_report(area="outside_region", themes=[
        "drugs", "firearms", "fraud", "cse", "modern_slavery", "cyber", "organised_immigration"]),
     {"nersou.riu", "nersou.cyber"}),
    ("report-ttl", intelligence_report(area="outside_region", threat_to_life=True), {"nersou.riu"}),
    ("sar-v3", sar(area="outside_region", glossary_codes=["XXV3XX", "XXPRFXX"]), {"nersou.riu", "nersou.rart"}),
    ("sar-daml", sar(area="outside_region", defence_type="daml"), {"nersou.riu"}),
    ("cse", cse_referral(area="outside_region", child_identified=True, commercial_indicator=True),
     {"nersou.riu"}),
    ("premises", premises_report(area="outside_region", concerns=["cuckooing", "drug_supply"]), {"nersou.riu"}),
    ("prison", prison_intelligence(area="outside_region"), {"nersou.prison", "nersou.riu"}),
    ("gain", gain_request(area="outside_region"), {"nersou.gain"}),
]


@pytest.mark.parametrize(("payload", "teams"), [c[1:] for c in OUTSIDE_CASES], ids=[c[0] for c in OUTSIDE_CASES])
def test_outside_region_f_teams_go_to_riu_once(payload: dict[str, Any], teams: set[str]) -> None:
    got = assert_routed(decide_record(payload), teams)
    if payload.get("threat_to_life"):
        assert got["nersou.riu"]["priority"] == "immediate"


def test_outside_region_covert_goes_to_riu_sanitised() -> None:
    """H6 treats the stand-in as nersou.riu, not F.cab: a sanitised view."""
    got = assert_routed(decide_record(covert_report(area="outside_region")), {"nersou.riu": "sanitised"})
    assert set(got["nersou.riu"]["omitted"]) == {"source_type", "source_reference", "narrative"}
