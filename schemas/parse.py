"""Turn wire bytes into a typed submission, or into one sentence a partner can act on.

``parse_payload`` is the only way bytes become a ``Submission``: size limit, strict JSON (one parse,
``schemas.strict_json``), then the models in pydantic's strict mode over the parsed objects (``"1"`` is
not ``1``, ``true`` is not ``1``, ``1.0`` is not ``1``). The parsed JSON object is kept beside the model,
so sanitised views are built from it without parsing again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import TypeAdapter, ValidationError

from schemas.errors import SubmissionRejected
from schemas.kinds import KIND_NAMES, Submission
from schemas.strict_json import StrictJsonError, load_lenient, load_strict

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_REPORTED_ERRORS = 3
MAX_ID_LENGTH = 100

SUBMISSION: TypeAdapter[Submission] = TypeAdapter(Submission)
_VALIDATE = SUBMISSION.validator.validate_python  # the core validator itself: TypeAdapter's wrapper costs ~1 us


@dataclass(frozen=True, slots=True)
class Parsed:
    """A valid submission: the model, and the JSON object it was validated from (the partner's keys)."""

    submission: Submission
    document: dict[str, Any]


def parse_payload(raw: bytes | str) -> Parsed:
    """Validate one payload. Raises ``SubmissionRejected`` with the field and the rule it broke."""
    data = raw.encode() if isinstance(raw, str) else raw
    if len(data) > MAX_PAYLOAD_BYTES:
        raise _rejected(f"payload is {len(data)} bytes; the limit is {MAX_PAYLOAD_BYTES} bytes (256 KiB)",
                        load_lenient(data))
    try:
        document = load_strict(data)
    except StrictJsonError as exc:
        raise _rejected(str(exc), load_lenient(data)) from None
    if not isinstance(document, dict):
        raise SubmissionRejected("payload must be a JSON object (one submission per stream entry)")
    try:
        submission: Submission = _VALIDATE(document, strict=True)
    except ValidationError as exc:
        raise _rejected(_explain(exc), document) from None
    return Parsed(submission, document)


def _rejected(reason: str, document: Any) -> SubmissionRejected:
    """The error, with what the payload claims (read once, best effort) so the partner can find it."""
    return SubmissionRejected(reason, _claim(document, "submission_id"), partner=_claim(document, "partner"),
                              kind=_claim(document, "kind"))


def parse_submission(raw: bytes | str) -> Submission:
    """``parse_payload`` without the parsed object."""
    return parse_payload(raw).submission


def peek_submission_id(data: bytes) -> str | None:
    """Best effort: the submission_id of a payload that failed, so the partner can find it."""
    return _claim(load_lenient(data), "submission_id")


def _claim(document: Any, field: str) -> str | None:
    value = document.get(field) if isinstance(document, dict) else None
    return value if isinstance(value, str) and len(value) <= MAX_ID_LENGTH else None


def _explain(exc: ValidationError) -> str:
    errors = exc.errors(include_url=False)
    parts = [_one(err) for err in errors[:MAX_REPORTED_ERRORS]]
    more = len(errors) - MAX_REPORTED_ERRORS
    if more > 0:
        parts.append(f"and {more} more error{'s' if more > 1 else ''}")
    return "; ".join(parts)


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
    "finite_number": "must be a finite number",
    "list_type": "must be a list",
    "string_pattern_mismatch": "does not have the required form",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
}


def _one(err: Any) -> str:
    where = _where(tuple(err["loc"]))
    kind = err["type"]
    ctx = err.get("ctx") or {}
    if kind == "extra_forbidden":
        return f"unknown field '{where[:200]}': fields the bus does not know are refused, not ignored"
    if kind == "union_tag_invalid":
        tag = str(ctx.get("discriminator", "")).strip("'")
        field = tag if where == "submission" else f"{where}.{tag}"
        return f"{field} must be one of {ctx.get('expected_tags')} (got {str(ctx.get('tag'))[:60]!r})"
    if kind == "union_tag_not_found":
        tag = str(ctx.get("discriminator", "")).strip("'")
        return f"{where + '.' if where != 'submission' else ''}{tag} is required"
    if kind == "string_pattern_mismatch" and where == "submission_id":
        return "submission_id must be a UUID (8-4-4-4-12 hexadecimal digits)"
    if kind == "literal_error":
        return f"{where} must be one of {ctx.get('expected')} (got {_short(err.get('input'))})"
    if kind == "value_error":
        return f"{where + ' ' if where != 'submission' else ''}{ctx.get('error', err['msg'])}"
    if kind in _RULES:
        return f"{where} {_RULES[kind]}"
    message = str(err["msg"])
    return f"{where}: {message[:1].lower()}{message[1:]}"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
