"""The retention policy as data: ``bus/data/retention.yaml`` (or ``INTELBUS_RETENTION``), validated whole.

Every error names the file and the key (``retention.yaml: keep.feeds: "7 days" is not a duration``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bus.errors import RetentionError
from bus.ids import ENTRY_ID, MAX_ID, id_key

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "data" / "retention.yaml"
KINDS = ("ingress", "feeds", "audit", "quarantine", "receipts")
OPTIONAL = {"receipts": "7d"}  # periods a file written before they existed may leave out: their defaults
UNITS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^([0-9]{1,7})([smhd])$")
HOLD_KINDS = ("partner", "team", "submission", "stream")


@dataclass(frozen=True, slots=True)
class Hold:
    """A legal hold: every entry it covers stays, whatever the periods say."""

    kind: str  # partner | team | submission | stream
    value: str
    why: str
    first: str = "0-0"  # for a stream hold: the id range it covers
    last: str = MAX_ID

    def __str__(self) -> str:
        where = f" {self.first}..{self.last}" if self.kind == "stream" else ""
        return f"hold on {self.kind} {self.value}{where} ({self.why})"


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    keep_ms: dict[str, int]
    dedupe_window_ms: int
    holds: tuple[Hold, ...] = ()
    source: str = "retention.yaml"

    def holds_of(self, kind: str) -> list[Hold]:
        return [hold for hold in self.holds if hold.kind == kind]


def duration_ms(text: Any, where: str) -> int:
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise RetentionError(f"{where}: {text!r} is not a duration (a number and s, m, h or d: \"7d\")")
    return int(match.group(1)) * UNITS[match.group(2)]


def show_duration(ms: int) -> str:
    for unit in ("d", "h", "m", "s"):
        if ms % UNITS[unit] == 0:
            return f"{ms // UNITS[unit]}{unit}"
    return f"{ms}ms"


def load_retention(path: Path | None = None) -> RetentionPolicy:
    path = path or DEFAULT_FILE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RetentionError(f"cannot read the retention file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise RetentionError(f"{path.name}: not YAML: {exc}") from None
    return parse_retention(doc, path.name)


def parse_retention(doc: Any, source: str = "retention.yaml") -> RetentionPolicy:
    if not isinstance(doc, dict):
        raise RetentionError(f"{source}: a mapping with keep, dedupe_window and holds is expected")
    unknown = set(doc) - {"keep", "dedupe_window", "holds"}
    if unknown:
        raise RetentionError(f"{source}: unknown key {sorted(unknown)[0]!r} (keep, dedupe_window, holds)")
    keep = doc.get("keep")
    required = [kind for kind in KINDS if kind not in OPTIONAL]
    if not isinstance(keep, dict) or not set(required) <= set(keep) <= set(KINDS):
        raise RetentionError(f"{source}: keep: a period for each of {', '.join(required)} is expected (and "
                             f"optionally {', '.join(OPTIONAL)}), nothing else")
    keep = {**OPTIONAL, **keep}
    keep_ms = {kind: duration_ms(keep[kind], f"{source}: keep.{kind}") for kind in KINDS}
    window = duration_ms(doc.get("dedupe_window"), f"{source}: dedupe_window")
    holds = doc.get("holds") or []
    if not isinstance(holds, list):
        raise RetentionError(f"{source}: holds: a list is expected")
    return RetentionPolicy(keep_ms, window, tuple(_hold(h, f"{source}: holds[{i}]") for i, h in enumerate(holds)),
                           source)


def _hold(doc: Any, where: str) -> Hold:
    if not isinstance(doc, dict):
        raise RetentionError(f"{where}: a mapping is expected")
    kinds = [k for k in HOLD_KINDS if k in doc]
    if len(kinds) != 1:
        raise RetentionError(f"{where}: exactly one of {', '.join(HOLD_KINDS)} is expected")
    why = doc.get("why")
    if not isinstance(why, str) or not why.strip():
        raise RetentionError(f"{where}: why: say why the hold exists (it is written with every plan)")
    allowed = {kinds[0], "why"} | ({"from", "to"} if kinds[0] == "stream" else set())
    if set(doc) - allowed:
        raise RetentionError(f"{where}: unknown key {sorted(set(doc) - allowed)[0]!r}")
    value = doc[kinds[0]]
    if not isinstance(value, str) or not value:
        raise RetentionError(f"{where}: {kinds[0]}: a name is expected")
    if kinds[0] != "stream":
        return Hold(kinds[0], value, why)
    return Hold("stream", value, why, *_id_range(doc, where))


def _id_range(doc: dict[str, Any], where: str) -> tuple[str, str]:
    first, last = str(doc.get("from", "0-0")), str(doc.get("to", MAX_ID))
    if not ENTRY_ID.match(first) or not ENTRY_ID.match(last):
        raise RetentionError(f"{where}: from and to are stream ids (\"1764547200000-0\")")
    if id_key(first) > id_key(last):  # a hold that covers nothing must not pass for one that holds
        raise RetentionError(f"{where}: from {first} is after to {last}: the hold would cover nothing")
    return first, last
