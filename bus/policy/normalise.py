"""Normalisation of identifiers for OCG matching (POLICY.md, "Reference data formats").

Names are case-folded, accents removed, runs of spaces and hyphens made one space; UK phone numbers
become E.164 (``phonenumbers``); accounts keep only digits (sort code then account number); vehicle
registrations are upper case without spaces. Each function returns ``None`` for a value that normalises
to nothing, so an empty or unparseable identifier can never match another.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

_SPACES_AND_HYPHENS = re.compile(r"[\s\-‐‑‒–—]+")
_NOT_DIGIT = re.compile(r"\D")
_WHITESPACE = re.compile(r"\s+")
_PHONE_SEPARATORS = re.compile(r"[\s\-.]")
# The two spellings partners use nearly always: 0 + ten digits, or +44 + ten digits. For them E.164 is
# "+44" + the ten digits, exactly what phonenumbers gives (tests/test_normalise.py proves it); anything
# else goes through phonenumbers. Parsing is ~13 us a number; this keeps matching inside the budget.
_UK_NATIONAL = re.compile(r"^(?:0|\+44)([1-9]\d{9})$")


@lru_cache(maxsize=65_536)
def normalise_name(name: str) -> str | None:
    decomposed = unicodedata.normalize("NFKD", name.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = _SPACES_AND_HYPHENS.sub(" ", stripped).strip()
    return folded or None


@lru_cache(maxsize=65_536)
def normalise_phone(number: str, region: str = "GB") -> str | None:
    if region == "GB":
        fast = _UK_NATIONAL.match(_PHONE_SEPARATORS.sub("", number))
        if fast:
            return "+44" + fast.group(1)
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normalise_account(account: str) -> str | None:
    digits = _NOT_DIGIT.sub("", account)
    return digits or None


def normalise_vehicle(registration: str) -> str | None:
    compact = _WHITESPACE.sub("", registration).upper()
    return compact or None
