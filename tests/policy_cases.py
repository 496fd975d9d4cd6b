"""Factories and checks for the policy suite (tests/test_policy_*.py).

Every expectation in the policy tests is written by hand from shared/POLICY.md; nothing here computes
an expected value with the code under test. A factory returns one valid submission of its kind as a
dict; keyword overrides replace fields, and ``DROP`` removes one.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

from bus.policy import Decision, Reference, decide_payload, load_reference, load_ruleset
from bus.policy.ruleset import Ruleset

NOW = datetime(2027, 1, 4, 9, 0, 0, tzinfo=UTC)
SID = "5f0c6a9e-2d1b-4c38-9a57-0e7f4b1d2c11"
SUBMITTED_AT = "2026-12-17T10:15:00+00:00"
DROP = object()

KINDS = ("intelligence_report", "sar", "cse_referral", "premises_report", "prison_intelligence",
         "gain_request", "cyber_incident")
# POLICY.md, "Areas": local authority -> force.
AREAS = {
    "Newcastle upon Tyne": "northumbria", "Gateshead": "northumbria", "North Tyneside": "northumbria",
    "South Tyneside": "northumbria", "Sunderland": "northumbria", "Northumberland": "northumbria",
    "County Durham": "durham", "Darlington": "durham",
    "Hartlepool": "cleveland", "Middlesbrough": "cleveland", "Redcar and Cleveland": "cleveland",
    "Stockton-on-Tees": "cleveland",
}
COUNCILS = {
    "council-newcastle-upon-tyne", "council-gateshead", "council-north-tyneside", "council-south-tyneside",
    "council-sunderland", "council-northumberland", "council-county-durham", "council-darlington",
    "council-hartlepool", "council-middlesbrough", "council-redcar-and-cleveland", "council-stockton-on-tees",
}
COVERT = ("chis", "undercover", "technical", "surveillance")
NON_COVERT = ("open_source", "partner_record", "member_of_public")

NARRATIVE = "Subject seen handing packages to youths outside the shop on several evenings."
SANITISED = "Information indicates packages are being passed to youths near a shop."


@lru_cache(maxsize=1)
def ruleset() -> Ruleset:
    return load_ruleset()


def _apply(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if value is DROP:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _common(kind: str, partner: str, area: str) -> dict[str, Any]:
    return {
        "schema_version": 1, "submission_id": SID, "partner": partner, "kind": kind,
        "submitted_at": SUBMITTED_AT, "classification": "OFFICIAL", "area": area,
    }


def grading(handling: str = "P", source: str = "1", intelligence: str = "A") -> dict[str, str]:
    return {"scheme": "3x5x2", "source": source, "intelligence": intelligence, "handling": handling}


def legacy(handling: str = "1", source: str = "A", intelligence: str = "1") -> dict[str, str]:
    return {"scheme": "5x5x5", "source": source, "intelligence": intelligence, "handling": handling}


def conditions(*codes: str, named: Iterable[str] = ()) -> dict[str, Any]:
    """Overrides for 3x5x2 handling C with the given conditions (and named recipients)."""
    out: dict[str, Any] = {"grading": grading("C"), "handling_conditions": list(codes)}
    if named:
        out["named_recipients"] = list(named)
    return out


def intelligence_report(**overrides: Any) -> dict[str, Any]:
    base = _common("intelligence_report", "force-durham", "Darlington") | {
        "grading": grading(), "narrative": NARRATIVE, "themes": ["other"], "source_type": "member_of_public",
    }
    return _apply(base, overrides)


def covert_report(**overrides: Any) -> dict[str, Any]:
    base = intelligence_report(source_type="chis", source_reference="CHIS-REF-0001",
                               sanitised_narrative=SANITISED)
    return _apply(base, overrides)


def sar(**overrides: Any) -> dict[str, Any]:
    base = _common("sar", "ukfiu", "Middlesbrough") | {
        "sar_reference": "SAR-2026-0001", "disclosure_date": "2026-12-17", "defence_type": "none",
        "glossary_codes": [], "reporter_type": "bank", "reporter_name": "Example Bank plc",
        "amount_gbp": 48500, "narrative": "Customer transferred sale proceeds of a property bought in cash.",
    }
    return _apply(base, overrides)


def cse_referral(**overrides: Any) -> dict[str, Any]:
    base = _common("cse_referral", "nca-ceop", "Sunderland") | {
        "referral_id": "CEOP-2026-0001", "kirat_band": "low", "platform": "ExampleChat",
        "child_identified": False, "commercial_indicator": False,
        "media": [{"algorithm": "sha256", "value": "ab" * 32}],
    }
    return _apply(base, overrides)


def premises_report(**overrides: Any) -> dict[str, Any]:
    base = _common("premises_report", "council-darlington", "Darlington") | {
        "address": "1 Example Street, Darlington", "concerns": ["nuisance"], "vulnerable_occupant": False,
    }
    return _apply(base, overrides)


def prison_intelligence(**overrides: Any) -> dict[str, Any]:
    base = _common("prison_intelligence", "hmpps", "Gateshead") | {
        "establishment": "HMP Example", "prison_number": "A1234BC",
    }
    return _apply(base, overrides)


def gain_request(**overrides: Any) -> dict[str, Any]:
    base = _common("gain_request", "hmrc", "Hartlepool") | {
        "purpose": "Tax compliance check on a suspected front business", "requesting_officer": "Officer 123",
    }
    return _apply(base, overrides)


def cyber_incident(**overrides: Any) -> dict[str, Any]:
    base = _common("cyber_incident", "hmrc", "Stockton-on-Tees") | {
        "incident_type": "ransomware", "victim_organisation": "Example Ltd",
        "indicators": [{"type": "ip", "value": "192.0.2.10"}],
    }
    return _apply(base, overrides)


FACTORIES = {
    "intelligence_report": intelligence_report, "sar": sar, "cse_referral": cse_referral,
    "premises_report": premises_report, "prison_intelligence": prison_intelligence,
    "gain_request": gain_request, "cyber_incident": cyber_incident,
}


def encode(sub: Mapping[str, Any] | bytes) -> bytes:
    return sub if isinstance(sub, bytes) else orjson.dumps(sub)


def run(sub: Mapping[str, Any] | bytes, reference: Reference | None = None,
        ingress_owner: str | None = None) -> tuple[dict[str, Any], Decision, bytes]:
    """Decide one payload with the default ruleset; returns (record, decision, raw bytes)."""
    raw = encode(sub)
    decision, _ = decide_payload(raw, ruleset(), reference or Reference.empty(), NOW, ingress_owner)
    return decision.to_dict(), decision, raw


def decide_record(sub: Mapping[str, Any] | bytes, reference: Reference | None = None,
                  ingress_owner: str | None = None) -> dict[str, Any]:
    return run(sub, reference, ingress_owner)[0]


def delivered(record: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for delivery in record["deliveries"]:
        assert delivery["recipient"] not in out, f"{delivery['recipient']} delivered twice"
        out[delivery["recipient"]] = delivery
    return out


def withheld(record: Mapping[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in record["withheld"]:
        assert item["recipient"] not in out, f"{item['recipient']} withheld twice"
        assert item["reason"], f"{item['recipient']} withheld without a reason"
        out[item["recipient"]] = item["rule"]
    return out


def assert_routed(record: Mapping[str, Any], recipients: Iterable[str] | Mapping[str, str],
                  held: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Exact recipients (a set, or recipient -> view) and exact withheld (recipient -> rule)."""
    assert record["status"] == "routed", record["reason"]
    assert record["reason"] is None
    got = delivered(record)
    if isinstance(recipients, Mapping):
        assert {r: d["view"] for r, d in got.items()} == dict(recipients)
    else:
        assert set(got) == set(recipients)
    assert withheld(record) == dict(held or {})
    return got


def assert_quarantined(record: Mapping[str, Any], *fragments: str, submission_id: str | None = SID) -> None:
    assert record["status"] == "quarantined"
    assert record["deliveries"] == []
    reason = record["reason"]
    assert reason, "a quarantine must record its reason"
    for fragment in fragments:
        assert fragment.lower() in reason.lower(), f"{fragment!r} not in reason {reason!r}"
    assert record["submission_id"] == submission_id


def write_reference(folder: Path, groups: Iterable[str], members: Iterable[str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ocg_groups.csv").write_text(
        "ocg_id,name,home_force,tier,lead_team\n" + "".join(f"{row}\n" for row in groups), encoding="utf-8")
    (folder / "ocg_members.csv").write_text(
        "ocg_id,full_name,dob,phones,accounts,vehicles\n" + "".join(f"{row}\n" for row in members),
        encoding="utf-8")
    return folder


# The suite's own OCG register: one local group led by durham.ocg, one regional led by cleveland.ocg.
OCG_GROUPS = (
    "OCG-T-LOCAL,Test Local Group,durham,local,durham.ocg",
    "OCG-T-REGION,Test Regional Group,cleveland,regional,cleveland.ocg",
)
OCG_MEMBERS = (
    "OCG-T-LOCAL,Casey Local,1990-05-14,07700 900101,20-00-00 11110000,AB12 CDE",
    "OCG-T-LOCAL,Nodob Person,,,,",
    'OCG-T-REGION,Zoë Région-Smith,1985-01-02,"+44 7700 900202;0191 496 0202",40-11-22 22223333,NX68 REG',
)
LOCAL_PHONE = "07700 900101"
REGIONAL_PHONE = "+44 7700 900202"


def build_reference(folder: Path) -> Reference:
    write_reference(folder, OCG_GROUPS, OCG_MEMBERS)
    return load_reference(folder, ruleset().team_ids)



def nominal(full_name: str = "Pat Nobody", **fields: Any) -> dict[str, Any]:
    return {"full_name": full_name, **fields}
