"""POLICY.md R8 (OCG link), R10's regional-OCG clause, and the reference data formats.

The suite's own register (policy_cases.OCG_GROUPS / OCG_MEMBERS), written to tmp_path:
OCG-T-LOCAL (local, lead durham.ocg): Casey Local 1990-05-14, 07700 900101, 20-00-00 11110000, AB12 CDE;
  Nodob Person (no dob).
OCG-T-REGION (regional, lead cleveland.ocg): Zoë Région-Smith 1985-01-02, +44 7700 900202 and
  0191 496 0202, 40-11-22 22223333, NX68 REG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from policy_cases import (
    OCG_GROUPS,
    OCG_MEMBERS,
    assert_routed,
    build_reference,
    covert_report,
    cse_referral,
    decide_record,
    gain_request,
    intelligence_report,
    nominal,
    premises_report,
    ruleset,
    sar,
    write_reference,
)

from bus.errors import ReferenceDataError
from bus.policy import DEFAULT_REFERENCE, Reference, load_reference


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return build_reference(tmp_path_factory.mktemp("ocg"))


LOCAL = {"durham.fib", "durham.ocg"}  # intelligence report, Darlington, theme other, local OCG link
REGIONAL = {"durham.fib", "cleveland.ocg", "nersou.riu"}
NONE = {"durham.fib"}

R8_CASES = [
    # (id, nominal, recipients, linked ocg ids, possible-match ocg ids)
    ("phone-local-national", nominal(phones=["07700 900101"]), LOCAL, {"OCG-T-LOCAL"}, set()),
    ("phone-local-e164", nominal(phones=["+447700900101"]), LOCAL, {"OCG-T-LOCAL"}, set()),
    ("phone-local-0044", nominal(phones=["0044 7700 900101"]), LOCAL, {"OCG-T-LOCAL"}, set()),
    ("phone-local-dashes", nominal(phones=["07700-900-101"]), LOCAL, {"OCG-T-LOCAL"}, set()),
    ("phone-regional", nominal(phones=["07700900202"]), REGIONAL, {"OCG-T-REGION"}, set()),
    ("landline-regional", nominal(phones=["+44 191 496 0202"]), REGIONAL, {"OCG-T-REGION"}, set()),
    ("landline-national", nominal(phones=["0191 4960202"]), REGIONAL, {"OCG-T-REGION"}, set()),
    ("phone-other", nominal(phones=["07700 900999"]), NONE, set(), set()),
    ("account-local", nominal(accounts=["200000 11110000"]), LOCAL, {"OCG-T-LOCAL"}, set()),
    ("account-regional", nominal(accounts=["40-11-22-22223333"]), REGIONAL, {"OCG-T-REGION"}, set()),
    ("account-other", nominal(accounts=["40-11-22 22223334"]), NONE, set(), set()),
    ("vehicle-local", nominal(vehicles=["ab12cde"]), LOCAL, {"OCG-T-LOCAL"}, set()),
    ("vehicle-regional", nominal(vehicles=["nx68 reg"]), REGIONAL, {"OCG-T-REGION"}, set()),
    ("vehicle-other", nominal(vehicles=["NX68 REF"]), NONE, set(), set()),
    ("name-dob-local", nominal("CASEY LOCAL", dob="1990-05-14"), LOCAL, {"OCG-T-LOCAL"}, set()),
    ("name-dob-accents-hyphen", nominal("zoe  region smith", dob="1985-01-02"), REGIONAL, {"OCG-T-REGION"},
     set()),
    ("name-dob-hyphen-spaces", nominal("Zoë - Région--Smith", dob="1985-01-02"), REGIONAL, {"OCG-T-REGION"},
     set()),
    ("name-different-dob", nominal("Casey Local", dob="1990-05-15"), NONE, set(), set()),
    ("name-no-dob-nominal", nominal("Casey Local"), NONE, set(), {"OCG-T-LOCAL"}),
    ("name-null-dob-nominal", nominal("casey local", dob=None), NONE, set(), {"OCG-T-LOCAL"}),
    ("name-no-dob-member", nominal("Nodob Person", dob="1970-01-01"), NONE, set(), {"OCG-T-LOCAL"}),
    ("name-no-dob-either", nominal("NODOB-PERSON"), NONE, set(), {"OCG-T-LOCAL"}),
    ("other-name-same-dob", nominal("Casey Locale", dob="1990-05-14"), NONE, set(), set()),
    ("email-is-not-strong", nominal(emails=["casey@example.org"]), NONE, set(), set()),
]


@pytest.mark.parametrize(("person", "teams", "links", "possible"), [c[1:] for c in R8_CASES],
                         ids=[c[0] for c in R8_CASES])
def test_r8_strong_and_possible_matches(reference: Reference, person: dict[str, Any], teams: set[str], links: set[str],
                                        possible: set[str]) -> None:
    record = decide_record(intelligence_report(nominals=[person]), reference)
    got = assert_routed(record, teams)
    assert {link["ocg_id"] for link in record["ocg_links"]} == links
    assert {m["ocg_id"] for m in record["possible_matches"]} == possible
    for match in record["possible_matches"]:
        assert match["nominal"] == person["full_name"]
    for team in teams - NONE:
        assert "R8" in got[team]["rules"]


@pytest.mark.parametrize("role", ["suspect", "victim", "witness", "associate", "unknown", None])
def test_r8_nominals_of_every_role_count(reference: Reference, role: str | None) -> None:
    person = nominal(phones=["+44 7700 900202"])
    if role is not None:
        person["role"] = role
    record = decide_record(intelligence_report(nominals=[nominal("Someone Else"), person]), reference)
    assert_routed(record, REGIONAL)


def test_r8_two_ocgs_from_two_nominals(reference: Reference) -> None:
    record = decide_record(intelligence_report(nominals=[
        nominal("A", role="victim", vehicles=["AB12 CDE"]), nominal("B", role="witness", accounts=["40112222223333"]),
    ]), reference)
    assert_routed(record, LOCAL | REGIONAL)
    assert {link["ocg_id"] for link in record["ocg_links"]} == {"OCG-T-LOCAL", "OCG-T-REGION"}


def test_r8_strong_link_plus_possible_match_on_another_group(reference: Reference) -> None:
    record = decide_record(intelligence_report(nominals=[
        nominal("Nodob Person", phones=["07700 900202"]),
    ]), reference)
    assert_routed(record, REGIONAL)
    assert {m["ocg_id"] for m in record["possible_matches"]} == {"OCG-T-LOCAL"}


def test_r8_without_reference_data_no_link() -> None:
    record = decide_record(intelligence_report(nominals=[nominal(phones=["07700 900202"])]))
    assert_routed(record, NONE)
    assert record["ocg_links"] == [] and record["possible_matches"] == []


R8_KINDS = [
    ("sar", sar(nominals=[nominal(accounts=["40-11-22 22223333"])]),
     {"cleveland.fiu", "cleveland.ocg", "nersou.riu"}),
    ("cse", cse_referral(nominals=[nominal(phones=["07700 900101"])]), {"northumbria.polit", "durham.ocg"}),
    ("premises", premises_report(nominals=[nominal(vehicles=["AB12CDE"])]), {"durham.neighbourhood", "durham.ocg"}),
    ("gain", gain_request(nominals=[nominal("Casey Local", dob="1990-05-14")]), {"nersou.gain", "durham.ocg"}),
    ("outside-region", intelligence_report(area="outside_region", nominals=[nominal(phones=["07700 900101"])]),
     {"nersou.riu", "durham.ocg"}),
]


@pytest.mark.parametrize(("payload", "teams"), [c[1:] for c in R8_KINDS], ids=[c[0] for c in R8_KINDS])
def test_r8_applies_to_any_kind(reference: Reference, payload: dict[str, Any], teams: set[str]) -> None:
    assert_routed(decide_record(payload, reference), teams)


# ---------------------------------------------------------------- R10 with R8: nersou.siu


@pytest.mark.parametrize(("phones", "views"), [
    (["+44 7700 900202"], {"durham.fib": "sanitised", "durham.cab": "full", "cleveland.ocg": "sanitised",
                           "nersou.riu": "sanitised", "nersou.siu": "full"}),
    (["07700 900101"], {"durham.fib": "sanitised", "durham.cab": "full", "durham.ocg": "sanitised"}),
    ([], {"durham.fib": "sanitised", "durham.cab": "full"}),
], ids=["regional-adds-siu", "local-no-siu", "no-link-no-siu"])
def test_r10_siu_only_when_a_regional_ocg_is_linked(reference: Reference, phones: list[str],
                                                    views: dict[str, str]) -> None:
    record = decide_record(covert_report(nominals=[nominal(phones=phones)]), reference)
    assert_routed(record, views)


def test_r10_siu_not_for_non_covert_regional_link(reference: Reference) -> None:
    record = decide_record(intelligence_report(nominals=[nominal(phones=["+44 7700 900202"])]), reference)
    assert_routed(record, REGIONAL)


def test_r10_possible_match_is_not_a_link(reference: Reference) -> None:
    record = decide_record(covert_report(nominals=[nominal("Zoe Region Smith")]), reference)
    assert_routed(record, {"durham.fib": "sanitised", "durham.cab": "full"})
    assert {m["ocg_id"] for m in record["possible_matches"]} == {"OCG-T-REGION"}


def test_r8_lead_team_of_another_force_is_withheld_under_code_4(reference: Reference) -> None:
    """H3 code 4 from force-durham keeps durham teams only, even the OCG lead R8 added."""
    record = decide_record(intelligence_report(grading={"scheme": "5x5x5", "source": "A", "intelligence": "1",
                                                        "handling": "4"},
                                               nominals=[nominal(phones=["+44 7700 900202"])]), reference)
    assert_routed(record, {"durham.fib"}, {"cleveland.ocg": "H3", "nersou.riu": "H3"})


# ---------------------------------------------------------------- reference data


def test_shipped_sample_reference_loads() -> None:
    shipped = load_reference(DEFAULT_REFERENCE, ruleset().team_ids)
    assert shipped.groups
    assert {g.tier for g in shipped.groups.values()} <= {"local", "regional"}
    assert shipped.digest.startswith("sha256:")


def test_reference_digest_is_recorded(reference: Reference) -> None:
    record = decide_record(intelligence_report(), reference)
    assert record["reference"] == reference.digest != Reference.empty().digest


@pytest.mark.parametrize(("groups", "members", "fragment"), [
    (["G1,Name,durham,national,durham.ocg"], [], "tier"),
    (["G1,Name,durham,local,durham.ocgg"], [], "durham.ocgg"),
    (list(OCG_GROUPS), ["G9,Someone,,,,"], "G9"),
    (list(OCG_GROUPS), ["OCG-T-LOCAL,Someone,14/05/1990,,,"], "dob"),
])
def test_bad_reference_data_is_refused_naming_the_row(tmp_path: Path, groups: list[str], members: list[str],
                                                       fragment: str) -> None:
    write_reference(tmp_path, groups, members)
    with pytest.raises(ReferenceDataError, match=fragment):
        load_reference(tmp_path, ruleset().team_ids)


def test_reference_list_cells_are_semicolon_separated(tmp_path: Path) -> None:
    write_reference(tmp_path, OCG_GROUPS, OCG_MEMBERS)
    ref = load_reference(tmp_path, ruleset().team_ids)
    record = decide_record(intelligence_report(nominals=[nominal(phones=["01914960202"])]), ref)
    assert_routed(record, REGIONAL)
