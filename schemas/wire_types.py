"""The scalar types of the interface, exactly as SUBMISSIONS.md states them.

Payloads are parsed once (``schemas.strict_json``) and the Python objects are validated in pydantic's
strict mode, so these types take JSON's own values: a date-time is a string that must be RFC 3339 with
seconds and a colon in the offset; a date is ``YYYY-MM-DD``; ``schema_version`` is the integer ``1``
(never ``1.0`` or ``true``); numbers are finite. Dates stay within years 1 to 9998, which leaves room for
every deadline a ruleset computes from them (the longest is days, not years), so no date arithmetic can
overflow.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

MAX_YEAR = 9998
YEAR = r"(?!0000|9999)[0-9]{4}"  # ASCII digits (\d is any Unicode digit in Python)
DATE_PATTERN = rf"^{YEAR}-\d{{2}}-\d{{2}}$"
DATETIME_PATTERN = rf"^{YEAR}-\d{{2}}-\d{{2}}[Tt]\d{{2}}:\d{{2}}:\d{{2}}(\.\d+)?([Zz]|[+-]\d{{2}}:\d{{2}})$"
_DATE = re.compile(DATE_PATTERN)
_DATETIME = re.compile(DATETIME_PATTERN)
RFC3339 = "an RFC 3339 date-time with seconds and an offset (2026-11-20T09:30:00+00:00 or …Z)"


def _date(value: Any) -> Any:
    if isinstance(value, date):  # a model built in Python (the producer's own objects)
        return value
    if not isinstance(value, str) or not _DATE.match(value):
        raise ValueError(f"must be a date written YYYY-MM-DD, years 1 to {MAX_YEAR}")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"is not a calendar date ({value[:40]!r})") from None


def _datetime(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value
    if not isinstance(value, str) or not _DATETIME.match(value):
        raise ValueError(f"must be {RFC3339}")
    try:
        moment = datetime.fromisoformat(value.upper())
        moment.astimezone(UTC)  # 0001-01-01T00:00:00+01:00 is in year 0 in UTC
    except (ValueError, OverflowError):
        raise ValueError(f"is not a real moment ({value[:40]!r}); it must be {RFC3339}, years 1 to "
                         f"{MAX_YEAR}") from None
    return moment


def _version(value: Any) -> Any:
    if type(value) is not int or value != 1:
        raise ValueError(f"must be the integer 1 (got {value!r:.40})")
    return value


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number (this one is out of the range of a double)")
    return value


IsoDate = Annotated[date, BeforeValidator(_date), WithJsonSchema({"type": "string", "format": "date"})]
Timestamp = Annotated[datetime, BeforeValidator(_datetime),
                      WithJsonSchema({"type": "string", "format": "date-time"})]
SchemaVersion = Annotated[int, BeforeValidator(_version), WithJsonSchema({"type": "integer", "const": 1})]
Amount = Annotated[float, BeforeValidator(_finite), Field(ge=0, allow_inf_nan=False),
                   WithJsonSchema({"type": "number", "minimum": 0, "maximum": 1.7976931348623157e308})]
