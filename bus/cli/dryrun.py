"""``intelbus route --dry-run``: decide JSON lines offline, one decision per line, in order."""

from __future__ import annotations

import sys
import time
from collections import Counter
from datetime import datetime
from typing import BinaryIO, TextIO

import orjson

from bus.policy import Reference, Ruleset, decide_payload
from bus.policy.explain import explain


def dry_run(source: BinaryIO, out: TextIO, ruleset: Ruleset, reference: Reference, now: datetime,
            explain_: bool = False, err: TextIO = sys.stderr) -> Counter[str]:
    """Each submission is decided on its own (no duplicate detection offline, as POLICY.md says)."""
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    for line in source:
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            continue
        decision, _ = decide_payload(raw, ruleset, reference, now)
        counts[decision.status] += 1
        if explain_:
            out.write(explain(decision) + "\n\n")
        else:
            out.write(orjson.dumps(decision.to_dict()).decode() + "\n")
    elapsed = time.perf_counter() - started
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to decide"
    err.write(f"dry run: {sum(counts.values())} submissions ({summary}) in {elapsed:.2f} s\n")
    return counts
