"""Load the ruleset and reference data once, at a command's start."""

from __future__ import annotations

from pathlib import Path

from bus.policy.reference import DEFAULT_REFERENCE, Reference, load_reference
from bus.policy.ruleset import Ruleset, load_ruleset


def load_policy(ruleset_path: Path | None, reference_dir: Path | None) -> tuple[Ruleset, Reference]:
    ruleset = load_ruleset(ruleset_path)
    reference = load_reference(reference_dir or DEFAULT_REFERENCE, ruleset.team_ids, ruleset.phone_region)
    return ruleset, reference
