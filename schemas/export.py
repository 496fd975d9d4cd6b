"""JSON Schema export of the submission interface, for partners who validate before they publish.

pydantic's schema is completed with what a standard validator needs to reject what the bus rejects:
patterns for dates, date-times and UUIDs (``format`` alone is advisory), the cross-field rules on
handling conditions and named recipients, and, from the region's ruleset, the valid areas (matched in
any letter case), team ids and handling condition codes.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from schemas.kinds import KINDS
from schemas.parse import SUBMISSION
from schemas.wire_types import DATE_PATTERN, DATETIME_PATTERN

DRAFT = "https://json-schema.org/draft/2020-12/schema"
FORMAT_PATTERNS = {"date": DATE_PATTERN, "date-time": DATETIME_PATTERN}


def case_insensitive_pattern(names: Iterable[str]) -> str:
    """An ECMA-262 pattern matching exactly these names in any letter case (no inline flags there)."""
    def one(name: str) -> str:
        out = []
        for ch in name:
            if ch.lower() != ch.upper():
                out.append(f"[{ch.lower()}{ch.upper()}]")
            else:
                out.append("\\" + ch if ch in r".^$*+?()[]{}|\/-" else ch)
        return "".join(out)

    return "^(?:" + "|".join(one(name) for name in names) + ")$"


def _with_patterns(node: Any) -> Any:
    if isinstance(node, dict):
        out = {key: _with_patterns(value) for key, value in node.items()}
        if out.get("type") == "string" and out.get("format") in FORMAT_PATTERNS and "pattern" not in out:
            out["pattern"] = FORMAT_PATTERNS[out["format"]]
        return out
    if isinstance(node, list):
        return [_with_patterns(item) for item in node]
    return node


CROSS_FIELD = [
    {   # handling_conditions only with 3x5x2 handling C
        "if": {"required": ["handling_conditions"],
               "properties": {"handling_conditions": {"type": "array", "minItems": 1}}},
        "then": {"required": ["grading"], "properties": {"grading": {
            "type": "object", "required": ["scheme", "handling"],
            "properties": {"scheme": {"const": "3x5x2"}, "handling": {"const": "C"}}}}},
    },
    {   # named_recipients exactly when named_recipients_only is given
        "if": {"required": ["handling_conditions"], "properties": {"handling_conditions": {
            "type": "array", "contains": {"const": "named_recipients_only"}}}},
        "then": {"required": ["named_recipients"], "properties": {"named_recipients": {"minItems": 1}}},
        "else": {"properties": {"named_recipients": {"maxItems": 0}}},
    },
]


def submission_schema(areas: Iterable[str] = (), teams: Iterable[str] = (),
                      conditions: Iterable[str] = ()) -> dict[str, Any]:
    """The whole interface: one schema, ``oneOf`` the kinds (discriminated by ``kind``)."""
    schema: dict[str, Any] = dict(_with_patterns(SUBMISSION.json_schema()))
    areas, teams, conditions = list(areas), sorted(teams), sorted(conditions)
    for model in KINDS:
        definition = schema["$defs"][model.__name__]
        definition["allOf"] = copy.deepcopy(CROSS_FIELD)
        props = definition["properties"]
        if areas:
            props["area"]["pattern"] = case_insensitive_pattern(areas)
            props["area"]["description"] = "one of: " + ", ".join(areas) + " (any letter case)"
        if teams:
            props["named_recipients"]["items"]["enum"] = teams
        if conditions:
            props["handling_conditions"]["anyOf"][0]["items"]["enum"] = conditions
    schema["$schema"] = DRAFT
    schema["title"] = "intelbus submission v1"
    schema["description"] = (
        "One submission per stream entry, field `payload`, at most 256 KiB (SUBMISSIONS.md). Strict JSON: a key "
        "repeated in one object (at any depth, also after unescaping) is refused, and so is schema_version 1.0 "
        "(JSON Schema counts it as the integer 1); a schema can express neither. submission_id is compared "
        "without regard to letter case.")
    return schema


def kind_schema(whole: dict[str, Any], model_name: str) -> dict[str, Any]:
    """One kind on its own, sharing the whole schema's definitions."""
    schema: dict[str, Any] = copy.deepcopy(whole["$defs"][model_name])
    schema["$defs"] = whole["$defs"]
    schema["$schema"] = DRAFT
    return schema


def export_schemas(folder: Path, areas: Iterable[str] = (), teams: Iterable[str] = (),
                   conditions: Iterable[str] = ()) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    whole = submission_schema(areas, teams, conditions)
    written = [folder / "submission.schema.json"]
    written[0].write_text(json.dumps(whole, indent=2) + "\n")
    for model in KINDS:
        kind = model.model_fields["kind"].annotation.__args__[0]  # type: ignore[union-attr]
        path = folder / f"{kind}.schema.json"
        path.write_text(json.dumps(kind_schema(whole, model.__name__), indent=2) + "\n")
        written.append(path)
    return written
