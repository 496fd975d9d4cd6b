"""POLICY.md "Normalisation for matching" (bus.policy.normalise), and a property test that the fast
path of normalise_phone equals phonenumbers' own E.164 formatting for UK numbers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bus.policy.normalise import normalise_account, normalise_name, normalise_phone, normalise_vehicle


@pytest.mark.parametrize(("raw", "expected"), [
    ("Jordan Example", "jordan example"),
    ("JORDAN EXAMPLE", "jordan example"),
    ("  Jordan   Example  ", "jordan example"),
    ("Riley Sample-Jones", "riley sample jones"),
    ("Riley Sample - Jones", "riley sample jones"),
    ("Riley  Sample--Jones", "riley sample jones"),
    ("Sam Démo", "sam demo"),
    ("ZOË RÉGION", "zoe region"),
    ("Siobhán Ó Briain", "siobhan o briain"),
    ("François-Xavier", "francois xavier"),
    ("Straße", "strasse"),
    ("Jordan\tExample", "jordan example"),
    ("", None),
    ("  - ", None),
])
def test_normalise_name(raw: str, expected: str | None) -> None:
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(("a", "b"), [
    ("Sam Démo", "SAM DEMO"), ("Mary-Jane Watson", "mary jane  watson"), ("Zoë Région-Smith", "zoe region smith"),
])
def test_equal_names_normalise_equal(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


@pytest.mark.parametrize(("raw", "expected"), [
    ("07700 900123", "+447700900123"),
    ("07700900123", "+447700900123"),
    ("+44 7700 900123", "+447700900123"),
    ("+447700900123", "+447700900123"),
    ("0044 7700 900123", "+447700900123"),
    ("00447700900123", "+447700900123"),
    ("07700-900-123", "+447700900123"),
    ("07700.900.123", "+447700900123"),
    ("(07700) 900123", "+447700900123"),
    ("0191 496 0123", "+441914960123"),
    ("+44 191 496 0123", "+441914960123"),
    ("020 7946 0123", "+442079460123"),
    ("0113 496 0123", "+441134960123"),
    ("01632 960123", "+441632960123"),
    ("0044 20 7946 0123", "+442079460123"),
    ("", None),
    ("not a number", None),
])
def test_normalise_phone(raw: str, expected: str | None) -> None:
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("20-00-00 12345678", "20000012345678"),
    ("200000 12345678", "20000012345678"),
    ("20000012345678", "20000012345678"),
    ("20 00 00 / 12345678", "20000012345678"),
    ("", None),
    ("--", None),
])
def test_normalise_account(raw: str, expected: str | None) -> None:
    assert normalise_account(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("YR19 ABC", "YR19ABC"), ("yr19abc", "YR19ABC"), (" nx68  tee ", "NX68TEE"), ("AB12\tCDE", "AB12CDE"),
    ("", None), ("   ", None),
])
def test_normalise_vehicle(raw: str, expected: str | None) -> None:
    assert normalise_vehicle(raw) == expected


# ---------------------------------------------------------------- property: fast path == phonenumbers

digits = st.text(alphabet="0123456789", min_size=1, max_size=1)


def _block(n: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", min_size=n, max_size=n)


mobile = st.tuples(_block(3), _block(6)).map(lambda t: f"7{t[0]}{t[1]}")          # 7xxx xxxxxx
landline = st.tuples(st.sampled_from("123"), _block(3), _block(6)).map(lambda t: f"{t[0]}{t[1]}{t[2]}")
other = st.tuples(st.sampled_from("3589"), _block(9)).map(lambda t: f"{t[0]}{t[1]}")
national_ten = st.one_of(mobile, landline, other)  # the ten digits after 0 / +44


@st.composite
def uk_numbers(draw: st.DrawFn) -> str:
    ten = draw(national_ten)
    head, tail = ten[:4], ten[4:]
    style = draw(st.sampled_from([
        "0{h} {t}", "0{h}{t}", "+44 {h} {t}", "+44{h}{t}", "0{h}-{t}", "+44-{h}-{t}", "0{h}.{t}",
        "0{h3} {r}", "+44 {h3} {r}",
    ]))
    return style.format(h=head, t=tail, h3=ten[:3], r=ten[3:])


@settings(max_examples=200, deadline=None)
@given(uk_numbers())
def test_phone_fast_path_equals_phonenumbers(number: str) -> None:
    oracle = phonenumbers.format_number(phonenumbers.parse(number, "GB"), phonenumbers.PhoneNumberFormat.E164)
    assert normalise_phone(number, "GB") == oracle


@settings(max_examples=200, deadline=None)
@given(national_ten)
def test_phone_national_and_international_forms_agree(ten: str) -> None:
    assert normalise_phone(f"0{ten[:4]} {ten[4:]}") == normalise_phone(f"+44 {ten[:4]} {ten[4:]}") == "+44" + ten
