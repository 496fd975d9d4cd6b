"""Fictional submissions for the demo, benchmarks and the chaos script (never real people).

``realistic_mix`` draws a deterministic mix of kinds and partners, 1-2 KB each, about two deliveries
each under the default ruleset; ``demo_story`` is the curated set the demo publishes.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

AREAS = ["Newcastle upon Tyne", "Gateshead", "Sunderland", "Northumberland", "County Durham", "Darlington",
         "Hartlepool", "Middlesbrough", "Redcar and Cleveland", "Stockton-on-Tees"]
FIRST = ["Alex", "Sam", "Jo", "Chris", "Robin", "Kim", "Lee", "Jamie", "Drew", "Casey", "Morgan", "Taylor"]
LAST = ["Fictional", "Sample", "Placeholder", "Testcase", "Example", "Mock", "Dummy", "Madeup"]
WORDS = (
    "observed", "associated", "vehicle", "premises", "cash", "transfer", "meeting", "address", "phone",
    "contact", "supply", "route", "courier", "storage", "account", "property", "purchase", "late", "night",
    "frequent", "visitors",
)
BASE_TIME = datetime(2026, 12, 17, 9, 0, tzinfo=UTC)


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _nominal(rng: random.Random) -> dict[str, Any]:
    nominal: dict[str, Any] = {"full_name": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                               "role": rng.choice(["suspect", "victim", "witness", "associate", "unknown"])}
    if rng.random() < 0.7:
        nominal["dob"] = f"{rng.randint(1960, 2008)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if rng.random() < 0.6:
        nominal["phones"] = [f"07700 9{rng.randint(0, 99999):05d}"]
    if rng.random() < 0.3:
        nominal["accounts"] = [f"{rng.randint(10, 99)}-{rng.randint(10, 99)}-{rng.randint(10, 99)} "
                               f"{rng.randint(10**7, 10**8 - 1)}"]
    return nominal


def _common(rng: random.Random, partner: str, kind: str, index: int) -> dict[str, Any]:
    return {
        "schema_version": 1, "submission_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "partner": partner, "kind": kind,
        "submitted_at": (BASE_TIME + timedelta(seconds=index)).isoformat(),
        "classification": rng.choice(["OFFICIAL", "OFFICIAL-SENSITIVE"]), "area": rng.choice(AREAS),
        "nominals": [_nominal(rng) for _ in range(rng.randint(1, 3))],
    }


def _intel(rng: random.Random, index: int) -> dict[str, Any]:
    partner = rng.choice(["hmrc", "dwp", "border-force", "force-durham", "nersou", "council-sunderland"])
    sub = _common(rng, partner, "intelligence_report", index)
    sub.update(grading={"scheme": "3x5x2", "source": rng.choice("12"), "intelligence": rng.choice("ABC"),
                        "handling": "P"},
               themes=rng.sample(["drugs", "county_lines", "money_laundering", "fraud", "violence"], 2),
               source_type=rng.choice(["open_source", "partner_record", "member_of_public"]),
               narrative=_text(rng, rng.randint(60, 160)))
    if rng.random() < 0.01:  # the occasional threat to life: the scout routes it ahead of the queue
        sub["threat_to_life"] = True
    return sub


def _sar(rng: random.Random, index: int) -> dict[str, Any]:
    sub = _common(rng, "ukfiu", "sar", index)
    sub.update(sar_reference=f"SAR-2026-{index:06d}", disclosure_date="2026-12-17",
               defence_type=rng.choice(["none", "none", "daml"]),
               glossary_codes=rng.sample(["XXPROPXX", "XXDRUXX", "XXVAXX", "XXS99XX"], 1),
               reporter_type="bank", reporter_name="Example Bank plc", amount_gbp=rng.randint(500, 90000),
               narrative=_text(rng, rng.randint(60, 160)))
    return sub


def _cse(rng: random.Random, index: int) -> dict[str, Any]:
    sub = _common(rng, "nca-ceop", "cse_referral", index)
    sub.update(referral_id=f"CEOP-{index:06d}", kirat_band=rng.choice(["low", "medium", "high"]),
               platform="ExampleChat", child_identified=rng.random() < 0.5,
               media=[{"algorithm": "sha256", "value": f"{rng.getrandbits(256):064x}"}])
    return sub


def _premises(rng: random.Random, index: int) -> dict[str, Any]:
    sub = _common(rng, "council-sunderland", "premises_report", index)
    sub.update(address=f"{rng.randint(1, 200)} Example Street", concerns=["nuisance", "drug_supply"],
               sanitised_narrative=_text(rng, 40))
    return sub


GENERATORS = (_intel, _intel, _sar, _sar, _cse, _premises)


def realistic_mix(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [rng.choice(GENERATORS)(rng, index) for index in range(count)]


# Identifiers of the fictional OCG register (bus/data/reference): what a screened SAR may share with it.
REGISTER_PHONES = ["07700 900001", "07700 900014", "07700 900007", "07700 900021"]
REGISTER_ACCOUNTS = ["20-00-00 11112222", "40-11-22 33445566", "60-22-33 87654321"]
REGISTER_NAMES = ["Jordan Example", "Alex Placeholder", "Casey Fictional"]  # for name matches without a DOB
SAR_CODES = ["XXS99XX", "XXV2XX", "XXV3XX", "XXDRUXX", "XXFIREXX", "XXMSHTXX", "XXOICXX", "XXPROPXX", "XXVAXX",
             "XXTBMLXX", "XXPRFXX"]


def sar_backlog(count: int, today: datetime, seed: int = 11) -> list[dict[str, Any]]:
    """A national SAR export as a force receives it: disclosures over the last three weeks, a third asking
    for a defence (DAML), some carrying vulnerability codes, a few sharing an identifier with the OCG
    register (strong links) or only a name (possible matches). Deterministic for a seed."""
    rng = random.Random(seed)
    return [_backlog_sar(rng, index, today) for index in range(count)]


def _backlog_sar(rng: random.Random, index: int, today: datetime) -> dict[str, Any]:
    sub = _sar(rng, index)
    sub["submitted_at"] = (today - timedelta(days=rng.randint(0, 20), seconds=rng.randint(0, 86_000))).isoformat()
    sub["disclosure_date"] = (today - timedelta(days=rng.randint(1, 21))).date().isoformat()
    sub["defence_type"] = rng.choice(["none", "none", "daml"])
    codes = rng.sample(SAR_CODES[3:], rng.randint(1, 2))
    if rng.random() < 0.06:
        codes.append(rng.choice(["XXV2XX", "XXV3XX"]))
    if sub["defence_type"] == "daml":
        codes.append("XXS99XX")
    sub["glossary_codes"] = codes
    nominal = sub["nominals"][0]
    draw = rng.random()
    if draw < 0.04:
        nominal["phones"] = [rng.choice(REGISTER_PHONES)]
    elif draw < 0.06:
        nominal["accounts"] = [rng.choice(REGISTER_ACCOUNTS)]
    elif draw < 0.08:
        nominal["full_name"] = rng.choice(REGISTER_NAMES)
        nominal.pop("dob", None)
    return sub


def _fresh_id() -> str:
    return str(uuid.uuid4())


def demo_story(now: datetime) -> list[dict[str, Any]]:
    """The demo's submissions: each shows one part of the policy. Fresh ids, so a re-run is not a duplicate."""
    stamp = now.isoformat()
    common = {"schema_version": 1, "submitted_at": stamp, "classification": "OFFICIAL-SENSITIVE"}
    return [
        {**common, "submission_id": _fresh_id(), "partner": "ukfiu", "kind": "sar", "area": "Middlesbrough",
         "sar_reference": "SAR-DEMO-0001", "disclosure_date": now.date().isoformat(), "defence_type": "daml",
         "glossary_codes": ["XXS99XX", "XXPROPXX"], "reporter_type": "bank", "reporter_name": "Example Bank plc",
         "amount_gbp": 48500, "narrative": "Customer seeks to transfer sale proceeds of a property bought in cash.",
         "nominals": [{"full_name": "Riley Placeholder", "dob": "1988-03-02", "role": "suspect"}]},
        {**common, "submission_id": _fresh_id(), "partner": "ukfiu", "kind": "sar", "area": "Sunderland",
         "sar_reference": "SAR-DEMO-0002", "disclosure_date": now.date().isoformat(), "defence_type": "none",
         "glossary_codes": ["XXV3XX"], "reporter_type": "money_service_business", "reporter_name": "Demo Remit Ltd",
         "narrative": "Small repeated payments from an adult account to a 14-year-old's e-wallet."},
        {**common, "submission_id": _fresh_id(), "partner": "nca-ceop", "kind": "cse_referral",
         "area": "Gateshead", "referral_id": "CEOP-DEMO-0001", "kirat_band": "very_high", "platform": "ExampleChat",
         "child_identified": True, "media": [{"algorithm": "sha256", "value": "ab" * 32}]},
        {**common, "submission_id": _fresh_id(), "partner": "force-durham", "kind": "intelligence_report",
         "area": "County Durham", "grading": {"scheme": "3x5x2", "source": "1", "intelligence": "B",
                                              "handling": "P"},
         "themes": ["drugs", "county_lines"], "source_type": "chis", "source_reference": "CHIS-DEMO-7",
         "narrative": "Source reports the line is run from a flat above the bookmaker; handler notes attached.",
         "sanitised_narrative": "Intelligence indicates a county line is run from premises in the town centre.",
         "nominals": [{"full_name": "Casey Fictional", "phones": ["07700 900001"], "role": "suspect"}]},
        {**common, "submission_id": _fresh_id(), "partner": "force-northumbria", "kind": "intelligence_report",
         "area": "Newcastle upon Tyne", "threat_to_life": True,
         "grading": {"scheme": "3x5x2", "source": "2", "intelligence": "B", "handling": "P"},
         "themes": ["violence", "firearms"], "source_type": "member_of_public",
         "narrative": "Caller overheard a plan to shoot a named man tonight at his home address."},
        {**common, "submission_id": _fresh_id(), "partner": "council-sunderland", "kind": "premises_report",
         "area": "sunderland", "address": "12 Example Terrace, Sunderland", "concerns": ["cuckooing", "drug_supply"],
         "vulnerable_occupant": True,
         "grading": {"scheme": "3x5x2", "source": "2", "intelligence": "C", "handling": "C"},
         "handling_conditions": ["no_neighbourhood"]},
        {**common, "submission_id": _fresh_id(), "partner": "hmrc", "kind": "gain_request", "area": "Hartlepool",
         "purpose": "Share tax intelligence on a suspected front business", "requesting_officer": "HMRC officer 12"},
    ]
