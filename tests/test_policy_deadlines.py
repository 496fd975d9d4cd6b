"""POLICY.md R2 DAML deadline: the end (23:59:59 Europe/London) of the 7th working day of the notice
period, which starts on the first working day after disclosure_date. Working days exclude Saturdays,
Sundays and bank holidays in England and Wales.

Every expected value is counted by hand below (bank holidays of England and Wales: 2026 Good Friday 3 Apr,
Easter Monday 6 Apr, Early May 4 May, Spring 25 May, Summer 31 Aug, Christmas Fri 25 Dec, Boxing Day
substitute Mon 28 Dec; 2027 New Year Fri 1 Jan, Good Friday 26 Mar, Easter Monday 29 Mar, Early May 3 May,
Spring 31 May, Summer 30 Aug, Christmas substitute Mon 27 Dec, Boxing Day substitute Tue 28 Dec.
BST: 2026-03-29 to 2026-10-25, 2027-03-28 to 2027-10-31)."""

from __future__ import annotations

import pytest
from policy_cases import assert_routed, decide_record, sar

DAML = [
    # disclosure (weekday): working days 1..7 -> due
    ("2026-12-17", "2026-12-30T23:59:59+00:00"),  # Thu: 18, 21, 22, 23, 24, (25, 28 holidays) 29, 30
    ("2026-12-18", "2026-12-31T23:59:59+00:00"),  # Fri: 21, 22, 23, 24, 29, 30, 31
    ("2026-12-22", "2027-01-05T23:59:59+00:00"),  # Tue: 23, 24, 29, 30, 31, (1 Jan) 4, 5
    ("2026-12-24", "2027-01-07T23:59:59+00:00"),  # Thu: 29, 30, 31, 4, 5, 6, 7
    ("2026-12-25", "2027-01-07T23:59:59+00:00"),  # Christmas Day: 29, 30, 31, 4, 5, 6, 7
    ("2026-12-26", "2027-01-07T23:59:59+00:00"),  # Sat: same
    ("2026-12-28", "2027-01-07T23:59:59+00:00"),  # Boxing Day substitute (Mon): 29 .. 7
    ("2026-12-31", "2027-01-12T23:59:59+00:00"),  # Thu: (1 Jan) 4, 5, 6, 7, 8, 11, 12
    ("2027-01-01", "2027-01-12T23:59:59+00:00"),  # New Year's Day: 4, 5, 6, 7, 8, 11, 12
    ("2027-03-22", "2027-04-02T23:59:59+01:00"),  # Mon: 23, 24, 25, (26 GF, 29 EM) 30, 31, 1, 2; BST 28 Mar
    ("2027-03-25", "2027-04-07T23:59:59+01:00"),  # Thu: 30, 31, 1, 2, 5, 6, 7
    ("2027-03-26", "2027-04-07T23:59:59+01:00"),  # Good Friday: same
    ("2027-03-18", "2027-03-31T23:59:59+01:00"),  # Thu: 19, 22, 23, 24, 25, 30, 31 (GMT->BST inside)
    ("2027-03-17", "2027-03-30T23:59:59+01:00"),  # Wed: 18, 19, 22, 23, 24, 25, 30
    ("2027-03-16", "2027-03-25T23:59:59+00:00"),  # Tue: 17, 18, 19, 22, 23, 24, 25 (still GMT)
    ("2026-03-20", "2026-03-31T23:59:59+01:00"),  # Fri: 23, 24, 25, 26, 27, 30, 31 (BST from 29 Mar)
    ("2026-03-18", "2026-03-27T23:59:59+00:00"),  # Wed: 19, 20, 23, 24, 25, 26, 27 (GMT)
    ("2026-03-09", "2026-03-18T23:59:59+00:00"),  # Mon: 10, 11, 12, 13, 16, 17, 18
    ("2026-04-02", "2026-04-15T23:59:59+01:00"),  # Thu before Easter 2026: (3, 6) 7, 8, 9, 10, 13, 14, 15
    ("2026-04-30", "2026-05-12T23:59:59+01:00"),  # Thu: 1 May, (4 May) 5, 6, 7, 8, 11, 12
    ("2026-10-01", "2026-10-12T23:59:59+01:00"),  # Thu: 2, 5, 6, 7, 8, 9, 12 (BST)
    ("2026-10-16", "2026-10-27T23:59:59+00:00"),  # Fri: 19, 20, 21, 22, 23, 26, 27 (GMT from 25 Oct)
    ("2026-10-15", "2026-10-26T23:59:59+00:00"),  # Thu: 16, 19, 20, 21, 22, 23, 26
    ("2026-10-13", "2026-10-22T23:59:59+01:00"),  # Tue: 14, 15, 16, 19, 20, 21, 22 (still BST)
    ("2026-12-04", "2026-12-15T23:59:59+00:00"),  # Fri: 7, 8, 9, 10, 11, 14, 15
    ("2026-12-05", "2026-12-15T23:59:59+00:00"),  # Sat: same
    ("2026-12-06", "2026-12-15T23:59:59+00:00"),  # Sun: same
    ("2026-12-07", "2026-12-16T23:59:59+00:00"),  # Mon: 8, 9, 10, 11, 14, 15, 16
    ("2026-08-28", "2026-09-09T23:59:59+01:00"),  # Fri: (31 Aug) 1, 2, 3, 4, 7, 8, 9
    ("2027-12-23", "2028-01-06T23:59:59+00:00"),  # Thu: 24, (27, 28) 29, 30, 31, (3 Jan 2028 sub.) 4, 5, 6
]


@pytest.mark.parametrize(("disclosure", "due"), DAML, ids=[d for d, _ in DAML])
def test_daml_due_is_end_of_seventh_working_day(disclosure: str, due: str) -> None:
    record = decide_record(sar(defence_type="daml", disclosure_date=disclosure,
                               submitted_at=f"{disclosure}T09:00:00+00:00"))
    got = assert_routed(record, {"cleveland.fiu"})
    assert got["cleveland.fiu"]["due"] == due


@pytest.mark.parametrize("disclosure", ["2026-12-17", "2027-03-22"])
def test_daml_due_travels_on_every_delivery(disclosure: str) -> None:
    record = decide_record(sar(defence_type="daml", disclosure_date=disclosure,
                               glossary_codes=["XXV3XX", "XXPRFXX"]))
    got = assert_routed(record, {"cleveland.fiu", "cleveland.safeguarding", "cleveland.polit", "nersou.rart"})
    assert len({d["due"] for d in got.values()}) == 1
    assert {d["priority"] for d in got.values()} == {"high"}


@pytest.mark.parametrize("defence", ["none", "datf"])
def test_no_due_without_daml(defence: str) -> None:
    record = decide_record(sar(defence_type=defence, glossary_codes=["XXS99XX"]))
    assert record["status"] == "routed"
    assert {d["due"] for d in record["deliveries"]} == {None}


def test_daml_outside_region_keeps_its_due() -> None:
    got = assert_routed(decide_record(sar(defence_type="daml", area="outside_region")), {"nersou.riu"})
    assert got["nersou.riu"]["due"] == "2026-12-30T23:59:59+00:00"
