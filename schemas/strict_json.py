"""Strict JSON (SUBMISSIONS.md, "On the wire"): one parse that refuses what the interface forbids.

A key repeated in one object (at any depth, also when it is spelled with escapes), ``NaN``/``Infinity``
literals, and anything that is not JSON are errors. Numbers out of the double range (``1e400``) parse
to infinity here and are refused by the models (every number field is finite); jiter does the work in
Rust, about as fast as orjson.
"""

from __future__ import annotations

import re
from typing import Any

import jiter

_DUPLICATE = re.compile(r'^Detected duplicate key "(.*)" at (line \d+ column \d+)$', re.S)


class StrictJsonError(ValueError):
    """The payload is not strict JSON; the message says where and why."""


def load_strict(data: bytes) -> Any:
    """Parse ``data`` as strict JSON; raise ``StrictJsonError`` with a sentence a partner can act on."""
    try:
        return jiter.from_json(data, allow_inf_nan=False, cache_mode="keys", catch_duplicate_keys=True)
    except ValueError as exc:
        message = str(exc)
        duplicate = _DUPLICATE.match(message)
        if duplicate:
            key, where = duplicate.groups()
            raise StrictJsonError(f"payload repeats the key {key[:100]!r} in one object ({where}): "
                                  "a repeated key is an error, not last-one-wins") from None
        raise StrictJsonError(f"payload is not valid JSON: {message}") from None


def load_lenient(data: bytes) -> Any:
    """Best effort, never raises: the parsed payload (repeated keys allowed), or ``None``. Only for
    reading a ``submission_id`` out of a payload that was already refused."""
    try:
        return jiter.from_json(data, allow_inf_nan=True)
    except Exception:  # anything at all: this is only a courtesy to the partner
        return None
