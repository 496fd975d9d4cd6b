"""Turn wire bytes into a typed submission, or into one sentence a partner can act on.

``parse_submission`` is the only way bytes become a ``Submission``: size limit, JSON, schema, all with
strict types (``"1"`` is not ``1``, ``"true"`` is not ``true``).
"""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from bus.errors import SubmissionRejected
from schemas.kinds import KIND_NAMES, Submission

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_REPORTED_ERRORS = 3

SUBMISSION: TypeAdapter[Submission] = TypeAdapter(Submission)


def parse_submission(raw: bytes | str) -> Submission:
    """Validate one payload. Raises ``SubmissionRejected`` with the field and the rule it broke."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_PAYLOAD_BYTES:
        raise SubmissionRejected(
            f"payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (256 KiB)",
            _peek_submission_id(data),
        )
    try:
        return SUBMISSION.validate_json(data, strict=True)
    except ValidationError as exc:
        raise SubmissionRejected(_explain(exc, data), _peek_submission_id(data)) from None


def _peek_submission_id(data: bytes) -> str | None:
    """Best effort: the submission_id of a payload that failed, so the partner can find it."""
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    value = obj.get("submission_id") if isinstance(obj, dict) else None
    return value if isinstance(value, str) and len(value) <= 100 else None


def _explain(exc: ValidationError, data: bytes) -> str:
    errors = exc.errors(include_url=False)
    if errors and errors[0]["type"] == "json_invalid":
        return f"payload is not valid JSON: {errors[0]['ctx'].get('error', 'invalid')}" \
            if errors[0].get("ctx") else "payload is not valid JSON"
    if not _is_json_object(data):
        return "payload must be a JSON object (one submission per stream entry)"
    parts = [_one(err) for err in errors[:MAX_REPORTED_ERRORS]]
    more = len(errors) - MAX_REPORTED_ERRORS
    if more > 0:
        parts.append(f"and {more} more error{'s' if more > 1 else ''}")
    return "; ".join(parts)


def _is_json_object(data: bytes) -> bool:
    try:
        return isinstance(orjson.loads(data), dict)
    except orjson.JSONDecodeError:
        return False


def _where(loc: tuple[int | str, ...]) -> str:
    """('sar', 'nominals', 0, 'dob') -> 'nominals[0].dob' (the union tag is dropped)."""
    parts = list(loc)
    if parts and parts[0] in KIND_NAMES:
        parts = parts[1:]
    if len(parts) >= 2 and parts[0] == "grading" and parts[1] in ("3x5x2", "5x5x5"):
        del parts[1]
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "submission"


_RULES: dict[str, str] = {
    "missing": "is required",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "string_pattern_mismatch": "does not have the required form",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "timezone_aware": "must be an RFC 3339 date-time with an offset",
    "datetime_type": "must be an RFC 3339 date-time with an offset",
    "datetime_parsing": "must be an RFC 3339 date-time with an offset",
    "datetime_from_date_parsing": "must be an RFC 3339 date-time with an offset",
    "date_parsing": "must be a date written YYYY-MM-DD",
    "date_from_datetime_parsing": "must be a date written YYYY-MM-DD",
    "date_type": "must be a date written YYYY-MM-DD",
}


def _one(err: Any) -> str:
    where = _where(tuple(err["loc"]))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"unknown field '{where}': fields the bus does not know are refused, not ignored"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("discriminator", "")).strip("'")
        field = tag if where == "submission" else f"{where}.{tag}"
        return f"{field} must be one of {ctx.get('expected_tags')} (got {ctx.get('tag')!r})"
    if kind == "union_tag_not_found":
        tag = str(ctx.get("discriminator", "")).strip("'")
        return f"{where + '.' if where != 'submission' else ''}{tag} is required"
    if kind == "string_pattern_mismatch" and where == "submission_id":
        return "submission_id must be a UUID (8-4-4-4-12 hexadecimal digits)"
    if kind == "literal_error":
        return f"{where} must be one of {ctx.get('expected')} (got {err.get('input')!r})"
    if kind == "value_error":
        return f"{where + ': ' if where != 'submission' else ''}{ctx.get('error', err['msg'])}"
    if kind in _RULES:
        return f"{where} {_RULES[kind]}"
    message = str(err["msg"])
    return f"{where}: {message[:1].lower()}{message[1:]}"

