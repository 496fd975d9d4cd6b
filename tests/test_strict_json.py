"""SUBMISSIONS.md "Strict JSON", at the byte level: what a Python dict cannot even express (repeated keys,
numbers out of the double range) is refused with a sentence that names the problem, and the producer's
local check refuses exactly what the bus refuses."""

from __future__ import annotations

import orjson
import pytest
from policy_cases import SID, decide_record, intelligence_report, sar

from producers import PartnerClient
from schemas import SubmissionRejected, parse_payload


def _raw(doc: dict[str, object], **replace: str) -> bytes:
    """The document encoded, then each ``"key": value`` text replaced (to write what dicts cannot)."""
    text = orjson.dumps(doc).decode()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode()


SAR_AMOUNT = '"amount_gbp":48500'
CASES = [
    ("repeated-key", _raw(intelligence_report(source_type="open_source"),
                          **{'"source_type":"open_source"': '"source_type":"chis","source_type":"open_source"'}),
     ("repeats the key 'source_type'",)),
    ("repeated-key-escaped", _raw(intelligence_report(source_type="open_source"),
                                  **{'"source_type":"open_source"': '"source_type":"chis","source\\u005ftype":"x"'}),
     ("repeats the key 'source_type'",)),
    ("repeated-nested-key", _raw(sar(nominals=[{"full_name": "A B", "role": "suspect"}]),
                                 **{'"role":"suspect"': '"role":"suspect","role":"victim"'}),
     ("repeats the key 'role'",)),
    ("amount-1e400", _raw(sar(amount_gbp=48500), **{SAR_AMOUNT: '"amount_gbp":1e400'}),
     ("amount_gbp", "finite")),
    ("amount-minus-1e400", _raw(sar(amount_gbp=48500), **{SAR_AMOUNT: '"amount_gbp":-1e400'}), ("amount_gbp",)),
    ("amount-infinity", _raw(sar(amount_gbp=48500), **{SAR_AMOUNT: '"amount_gbp":Infinity'}), ("not valid JSON",)),
    ("amount-nan", _raw(sar(amount_gbp=48500), **{SAR_AMOUNT: '"amount_gbp":NaN'}), ("not valid JSON",)),
    ("version-1e400", _raw(sar(), **{'"schema_version":1': '"schema_version":1e400'}), ("schema_version",)),
    ("version-true", orjson.dumps(sar(schema_version=True)), ("schema_version must be the integer 1",)),
    ("version-1.0", orjson.dumps(sar(schema_version=1.0)), ("schema_version must be the integer 1",)),
    ("version-huge", _raw(sar(), **{'"schema_version":1': '"schema_version":100000000000000000000000001'}),
     ("schema_version",)),
    ("offset-without-colon", orjson.dumps(sar(submitted_at="2027-02-01T09:30:00+0000")), ("submitted_at", "RFC 3339")),
    ("no-seconds", orjson.dumps(sar(submitted_at="2027-02-01T09:30Z")), ("submitted_at", "RFC 3339")),
    ("leap-second", orjson.dumps(sar(submitted_at="2027-02-01T09:30:60Z")), ("submitted_at", "real moment")),
    ("hour-25", orjson.dumps(sar(submitted_at="2027-02-01T25:30:00Z")), ("submitted_at",)),
    ("year-0-in-utc", orjson.dumps(sar(submitted_at="0001-01-01T00:00:00+01:00")), ("submitted_at",)),
    ("year-9999-disclosure", orjson.dumps(sar(defence_type="daml", disclosure_date="9999-12-31")),
     ("disclosure_date", "9998")),
    ("year-9999-submitted", orjson.dumps(sar(submitted_at="9999-12-31T23:00:00+00:00")), ("submitted_at",)),
    ("lone-surrogate", _raw(sar(), **{"Customer transferred": "Customer \\udc00 transferred"}),  # views re-encode
     ("not valid JSON", "surrogate")),
    ("compact-date", orjson.dumps(sar(disclosure_date="20261217")), ("disclosure_date", "YYYY-MM-DD")),
    ("week-date", orjson.dumps(sar(disclosure_date="2026-W51-4")), ("disclosure_date",)),
]


@pytest.mark.parametrize(("raw", "fragments"), [(raw, f) for _, raw, f in CASES], ids=[c[0] for c in CASES])
def test_refused_by_the_bus_and_the_producer_alike(raw: bytes, fragments: tuple[str, ...]) -> None:
    partner = "ukfiu" if b'"kind":"sar"' in raw else "force-durham"
    record = decide_record(raw, ingress_owner=partner)
    assert record["status"] == "quarantined"
    for fragment in fragments:
        assert fragment in record["reason"], record["reason"]
    with pytest.raises(SubmissionRejected) as refused:
        PartnerClient(None, partner).prepare(raw)  # type: ignore[arg-type]  # refused before any I/O
    assert refused.value.reason in record["reason"]


def test_the_partner_gets_its_submission_id_back_even_from_a_repeated_key() -> None:
    raw = _raw(sar(), **{'"area":"Middlesbrough"': '"area":"Middlesbrough","area":"Hartlepool"'})
    record = decide_record(raw, ingress_owner="ukfiu")
    assert record["submission_id"] == SID


def test_year_9998_leaves_room_for_the_daml_deadline() -> None:
    record = decide_record(sar(defence_type="daml", disclosure_date="9998-12-31"), ingress_owner="ukfiu")
    assert record["status"] == "routed"
    assert record["deliveries"][0]["due"].startswith("9999-01-")


def test_a_sanitised_view_comes_from_the_one_parse() -> None:
    parsed = parse_payload(orjson.dumps(sar()))
    assert parsed.document["submission_id"] == SID and parsed.submission.submission_id == SID
