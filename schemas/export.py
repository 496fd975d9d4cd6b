"""JSON Schema export of the submission interface, for partners who validate before they publish.

pydantic's schema is completed with what a standard validator needs to reject what the bus rejects:
patterns for dates, date-times and UUIDs (``format`` alone is advisory), the cross-field rules on
handling conditions and named recipients, and, from the region's ruleset, the valid areas (matched in
any letter case), team ids, handling condition codes and (``Admission``) who may publish which kind, the
accredited classifications and who may submit covert sources. Only standard keywords, so strict
validators (Ajv 2020 strict, Python's jsonschema) take every file as it is; what a schema cannot say is in
its description.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.kinds import KINDS
from schemas.parse import SUBMISSION
from schemas.wire_types import YEAR

DRAFT = "https://json-schema.org/draft/2020-12/schema"
# what the bus's own parse takes (schemas.wire_types, then Python's calendar), as far as a pattern can say:
# months 01-12, days 01-31, hours 00-23, minutes and seconds 00-59 (a day past its month's end, such as
# 2026-02-30, only ``format`` rejects)
_DAY = r"(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
FORMAT_PATTERNS = {
    "date": rf"^{YEAR}-{_DAY}$",
    "date-time": rf"^{YEAR}-{_DAY}[Tt]{_CLOCK}:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-]{_CLOCK})$",
}


def case_insensitive_pattern(names: Iterable[str]) -> str:
    """An ECMA-262 pattern matching exactly these names in any letter case (no inline flags there)."""
    def one(name: str) -> str:
        out = []
        for ch in name:
            if ch.lower() != ch.upper():
                out.append(f"[{ch.lower()}{ch.upper()}]")
            else:
                out.append("\\" + ch if ch in r".^$*+?()[]{}|\/" else ch)  # only what "u" mode lets be escaped
        return "".join(out)

    return "^(?:" + "|".join(one(name) for name in names) + ")$"


def _with_patterns(node: Any) -> Any:
    """Patterns for the formats; and only standard keywords (pydantic's OpenAPI ``discriminator`` is
    unknown to JSON Schema, so strict validators such as Ajv refuse it); descriptions in plain text."""
    if isinstance(node, dict):
        out = {key: _with_patterns(value) for key, value in node.items()
               if not (key == "discriminator" and isinstance(value, dict) and "propertyName" in value)}
        if out.get("type") == "string" and out.get("format") in FORMAT_PATTERNS:
            out["pattern"] = FORMAT_PATTERNS[out["format"]]
        if isinstance(out.get("pattern"), str):
            out["pattern"] = _at_end(out["pattern"])
        if isinstance(out.get("description"), str):
            out["description"] = out["description"].replace("``", "`")
        return out
    if isinstance(node, list):
        return [_with_patterns(item) for item in node]
    return node


def _at_end(pattern: str) -> str:
    """``$`` that means the end in every dialect: Python's ``$`` also matches before a final newline, so
    ``(?![\\s\\S])`` follows it (ECMA-262's ``$`` is the end already)."""
    return pattern + r"(?![\s\S])" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern


def _among(values: Iterable[str]) -> dict[str, Any]:
    """One of ``values``; none when there are none (an empty ``enum`` is not valid JSON Schema)."""
    listed = sorted(values)
    return {"enum": listed} if listed else {"not": {}}


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
        "then": {"required": ["named_recipients"], "properties": {"named_recipients": {"type": "array",
                                                                                      "minItems": 1}}},
        "else": {"properties": {"named_recipients": {"type": "array", "maxItems": 0}}},
    },
]


@dataclass(frozen=True, slots=True)
class Admission:
    """The region's admission rules a schema can state (from its ruleset: ``bus.policy.Ruleset``)."""

    classifications: tuple[str, ...] = ()  # H1: those the bus is accredited for
    partners: Mapping[str, frozenset[str]] = field(default_factory=dict)  # partner -> the kinds it may publish
    police: frozenset[str] = frozenset()  # the partners that may submit covert-sourced intelligence
    covert: tuple[str, ...] = ()  # the covert source types


CANNOT_SAY = (
    "What no JSON Schema can say, and the bus still checks: the submission is the one field `payload` of a "
    "stream entry, at most 256 KiB; strict JSON (a key repeated in one object, at any depth, also after "
    "unescaping, is refused, and so is schema_version 1.0, which JSON Schema counts as the integer 1); "
    "`partner` must be the owner of the ingress stream it arrives on (else: spoofing); a date must exist in "
    "the calendar (2026-02-30 passes the pattern; validators that check `format` refuse it), and in UTC after year "
    "0 (0001-01-01T00:00:00+01:00 is not); strings hold no lone surrogate escape (\\ud800); submission_id is "
    "compared without regard to letter case (a repeat is a duplicate). A submission valid here may still be "
    "routed to nobody by the dissemination policy (POLICY.md).")


def _kind_rules(definition: dict[str, Any], kind: str, admission: Admission) -> None:
    """The admission rules of one kind's definition: who may publish it, H1, covert sources."""
    props = definition["properties"]
    if admission.partners:
        props["partner"] = {**props["partner"], **_among(p for p, kinds in admission.partners.items() if kind in kinds)}
    if admission.classifications:
        props["classification"] = {**props["classification"], "enum": list(admission.classifications)}
    if "source_type" in props and admission.covert:
        definition["allOf"].append({  # covert-sourced intelligence only from police partners
            "if": {"required": ["source_type"], "properties": {"source_type": {"enum": list(admission.covert)}}},
            "then": {"properties": {"partner": _among(admission.police)}}})


def submission_schema(areas: Iterable[str] = (), teams: Iterable[str] = (),
                      conditions: Iterable[str] = (), admission: Admission | None = None) -> dict[str, Any]:
    """The whole interface: one schema that checks a submission against its own kind only (``if`` kind is
    X ``then`` X's definition), so a validator names that kind's errors, not every kind's."""
    schema: dict[str, Any] = dict(_with_patterns(SUBMISSION.json_schema()))
    areas, teams, conditions = list(areas), sorted(teams), sorted(conditions)
    admission = admission or Admission()
    names = []
    for model in KINDS:
        kind = kind_name(model)
        names.append(kind)
        definition = schema["$defs"][model.__name__]
        definition["allOf"] = copy.deepcopy(CROSS_FIELD)
        props = definition["properties"]
        if areas:
            props["area"]["pattern"] = _at_end(case_insensitive_pattern(areas))
            props["area"]["description"] = "one of: " + ", ".join(areas) + " (any letter case)"
        if teams:
            props["named_recipients"]["items"]["enum"] = teams
        if conditions:
            props["handling_conditions"]["anyOf"][0]["items"]["enum"] = conditions
        _kind_rules(definition, kind, admission)
    schema.pop("oneOf", None)
    schema.update({
        "type": "object", "required": ["kind"], "properties": {"kind": {"enum": names}},
        "allOf": [{"if": {"required": ["kind"], "properties": {"kind": {"const": kind_name(model)}}},
                   "then": {"$ref": f"#/$defs/{model.__name__}"}} for model in KINDS],
    })
    schema["$schema"] = DRAFT
    schema["title"] = "intelbus submission v1"
    schema["description"] = ("One submission, of any kind; `kind` picks the definition it must meet. "
                             + CANNOT_SAY)
    return schema


def kind_name(model: Any) -> str:
    return str(model.model_fields["kind"].annotation.__args__[0])


def kind_schema(whole: dict[str, Any], model_name: str) -> dict[str, Any]:
    """One kind on its own, sharing the whole schema's definitions."""
    schema: dict[str, Any] = copy.deepcopy(whole["$defs"][model_name])
    schema["$defs"] = whole["$defs"]
    schema["$schema"] = DRAFT
    schema["description"] = (str(schema.get("description", "")) + " " + CANNOT_SAY).strip()
    return schema


def export_schemas(folder: Path, areas: Iterable[str] = (), teams: Iterable[str] = (),
                   conditions: Iterable[str] = (), admission: Admission | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    whole = submission_schema(areas, teams, conditions, admission)
    written = [folder / "submission.schema.json"]
    written[0].write_text(json.dumps(whole, indent=2) + "\n")
    for model in KINDS:
        path = folder / f"{kind_name(model)}.schema.json"
        path.write_text(json.dumps(kind_schema(whole, model.__name__), indent=2) + "\n")
        written.append(path)
    return written
