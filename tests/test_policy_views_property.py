"""Property tests for H5, H6 and H7 over random valid submissions.

For random covert-sourced intelligence reports and random SARs (themes, areas, threat to life, grading,
handling conditions, nominals, and distinct marker strings), no ``sanitised`` payload from render_views
ever carries the covert source (source_type key, source_reference value, original narrative) or a SAR's
reporter (reporter_name, reporter_type); ``full`` views go only to the entitled teams; and a threat to
life inside the region always reaches F.control, immediately."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from policy_cases import AREAS, COVERT, NOW, build_reference, ruleset

from bus.policy import Reference, decide_payload, render_views

THEMES = ["drugs", "county_lines", "firearms", "money_laundering", "fraud", "cse", "modern_slavery",
          "exploitation", "cyber", "organised_immigration", "violence", "other"]
CODES = ["XXS99XX", "XXV2XX", "XXV3XX", "XXDRUXX", "XXFIREXX", "XXMSHTXX", "XXOICXX", "XXPRFXX", "XXTBMLXX",
         "XXVAXX", "XXMLTMXX", "XXPROPXX", "XXZZ1XX"]
POLICE = ["force-durham", "force-cleveland", "force-northumbria", "nersou"]
AREA_NAMES = [*AREAS, "outside_region"]
TEAMS = sorted(ruleset().team_ids)
PROPERTY = settings(max_examples=200, deadline=None)

markers = st.uuids().map(lambda u: u.hex)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    return build_reference(tmp_path_factory.mktemp("ocg_property"))


@st.composite
def nominals(draw: st.DrawFn) -> list[dict[str, Any]]:
    pool: list[dict[str, Any]] = [
        {"full_name": "Casey Local", "dob": "1990-05-14"},
        {"full_name": "Zoe Region Smith", "dob": "1985-01-02"},
        {"full_name": "Zoe Region Smith"},
        {"full_name": "Someone", "phones": ["+44 7700 900202"]},
        {"full_name": "Someone Else", "phones": ["07700 900101"], "vehicles": ["NX68REG"]},
        {"full_name": "Nobody", "accounts": ["11-22-33 44556677"]},
    ]
    chosen = draw(st.lists(st.sampled_from(pool), max_size=3))
    roles = st.sampled_from(["suspect", "victim", "witness", "associate", "unknown"])
    return [{**person, "role": draw(roles)} for person in chosen]


@st.composite
def graded(draw: st.DrawFn, required: bool) -> dict[str, Any]:
    """grading (or none, where allowed), plus handling conditions and named recipients that fit it."""
    scheme = draw(st.sampled_from(["3x5x2", "5x5x5"] if required else ["3x5x2", "5x5x5", None]))
    if scheme is None:
        return {}
    if scheme == "5x5x5":
        return {"grading": {"scheme": "5x5x5", "source": draw(st.sampled_from("ABCDE")),
                            "intelligence": draw(st.sampled_from("12345")),
                            "handling": draw(st.sampled_from("12345"))}}
    handling = draw(st.sampled_from("PC"))
    out: dict[str, Any] = {"grading": {"scheme": "3x5x2", "source": draw(st.sampled_from("123")),
                                       "intelligence": draw(st.sampled_from("ABCDE")), "handling": handling}}
    if handling == "C":
        codes = draw(st.lists(st.sampled_from(["police_only", "no_neighbourhood", "named_recipients_only"]),
                              unique=True))
        if codes:
            out["handling_conditions"] = codes
        if "named_recipients_only" in codes:
            out["named_recipients"] = draw(st.lists(st.sampled_from(TEAMS), min_size=1, max_size=4, unique=True))
    return out


def _common(draw: st.DrawFn, kind: str, partner: str) -> dict[str, Any]:
    return {
        "schema_version": 1, "submission_id": str(draw(st.uuids())), "partner": partner, "kind": kind,
        "submitted_at": "2026-12-17T10:15:00+00:00",
        "classification": draw(st.sampled_from(["OFFICIAL", "OFFICIAL-SENSITIVE"])),
        "area": draw(st.sampled_from(AREA_NAMES)), "threat_to_life": draw(st.booleans()),
        "nominals": draw(nominals()),
    }


@st.composite
def covert_reports(draw: st.DrawFn) -> dict[str, Any]:
    sub = _common(draw, "intelligence_report", draw(st.sampled_from(POLICE)))
    sub |= draw(graded(required=True))
    sub |= {"themes": draw(st.lists(st.sampled_from(THEMES), min_size=1, max_size=4, unique=True)),
            "source_type": draw(st.sampled_from(COVERT)),
            "narrative": f"NARRATIVE-{draw(markers)} the original account of the source"}
    if draw(st.booleans()):
        sub["source_reference"] = f"SOURCEREF-{draw(markers)}"
    choice = draw(st.sampled_from(["text", "null", "absent"]))
    if choice == "text":
        sub["sanitised_narrative"] = f"SAFE-{draw(markers)}"
    elif choice == "null":
        sub["sanitised_narrative"] = None
    return sub


@st.composite
def sars(draw: st.DrawFn) -> dict[str, Any]:
    sub = _common(draw, "sar", "ukfiu")
    sub |= draw(graded(required=False))
    sub |= {
        "sar_reference": f"SAR-{draw(markers)[:8]}",
        "disclosure_date": draw(st.dates(date(2020, 1, 1), date(2030, 12, 31))).isoformat(),
        "defence_type": draw(st.sampled_from(["none", "daml", "datf"])),
        "glossary_codes": draw(st.lists(st.sampled_from(CODES), max_size=5, unique=True)),
        "reporter_type": draw(st.sampled_from(["bank", "money_service_business", "accountant", "solicitor",
                                               "estate_agent", "other"])),
        "reporter_name": f"REPORTER-{draw(markers)} plc",
        "narrative": f"NARRATIVE-{draw(markers)}",
    }
    return sub


def _decide(sub: dict[str, Any], reference: Reference) -> tuple[dict[str, Any], dict[str, bytes], bytes]:
    raw = orjson.dumps(sub)
    decision, parsed = decide_payload(raw, ruleset(), reference, NOW, sub["partner"])
    assert parsed is not None, decision.reason
    record = decision.to_dict()
    assert record["status"] in ("routed", "quarantined")
    payloads = render_views(raw, decision)
    assert set(payloads) == {d["recipient"] for d in record["deliveries"]}
    if record["status"] == "quarantined":
        assert payloads == {}
        assert record["reason"]
    else:
        assert payloads
    return record, payloads, raw


def _force(sub: dict[str, Any]) -> str | None:
    return AREAS.get(sub["area"])


def _threat_to_life_reaches_control(sub: dict[str, Any], record: dict[str, Any]) -> None:
    force = _force(sub)
    if sub["threat_to_life"] and force:
        assert record["status"] == "routed", record["reason"]
        views = {d["recipient"]: d for d in record["deliveries"]}
        assert f"{force}.control" in views
    if sub["threat_to_life"]:
        assert {d["priority"] for d in record["deliveries"]} <= {"immediate"}


@PROPERTY
@given(covert_reports())
def test_covert_source_never_in_a_sanitised_view(reference: Reference, sub: dict[str, Any]) -> None:
    record, payloads, raw = _decide(sub, reference)
    force = _force(sub)
    entitled = {"nersou.siu"} | ({f"{force}.cab"} if force else set())
    secrets = [sub["narrative"].encode()]
    if "source_reference" in sub:
        secrets.append(sub["source_reference"].encode())
    for delivery in record["deliveries"]:
        team, payload = delivery["recipient"], payloads[delivery["recipient"]]
        if delivery["view"] == "full":
            assert team in entitled, f"{team} got the full covert report"
            assert payload == raw
            continue
        obj = orjson.loads(payload)
        assert not {"source_type", "source_reference", "narrative"} & set(obj)
        assert b'"source_type"' not in payload
        for secret in secrets:
            assert secret not in payload
        if sub.get("sanitised_narrative"):
            assert obj["sanitised_narrative"] == sub["sanitised_narrative"]
        else:
            assert team.endswith(".control"), f"{team} delivered without a sanitised_narrative"
    _threat_to_life_reaches_control(sub, record)


@PROPERTY
@given(sars())
def test_sar_reporter_never_in_a_sanitised_view(reference: Reference, sub: dict[str, Any]) -> None:
    record, payloads, raw = _decide(sub, reference)
    # The ruleset's reading of H5 (see its comments): "a force's fiu" is any force's fiu, and no force's
    # neighbourhood team ever receives a SAR.
    entitled = {"nersou.rart", "durham.fiu", "cleveland.fiu", "northumbria.fiu"}
    reporter = sub["reporter_name"].encode()
    for delivery in record["deliveries"]:
        team, payload = delivery["recipient"], payloads[delivery["recipient"]]
        assert team != "nersou.gain" and not team.endswith(".neighbourhood")
        if delivery["view"] == "full":
            assert team in entitled, f"{team} got the SAR reporter's identity"
            assert payload == raw
            continue
        obj = orjson.loads(payload)
        assert not {"reporter_name", "reporter_type"} & set(obj)
        assert b'"reporter_type"' not in payload and b'"reporter_name"' not in payload
        assert reporter not in payload
    _threat_to_life_reaches_control(sub, record)
