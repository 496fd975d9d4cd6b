"""``intelbus audit whatif --ruleset FILE [--reference DIR] [--since T] [--until T] [--json]``.

Decides the decision log's submissions again under a candidate ruleset (``bus.audit.whatif``) and prints what
would change: one line per changed submission, then counts by rule and by team, then the totals. Nothing is
written to the bus; the exit status is 0 whatever changes (what-if reports, it does not judge).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import orjson
import redis.asyncio as aioredis

from bus.archive.reader import archive_dir
from bus.archive.store import Archive
from bus.audit.compare import COLUMNS, describe
from bus.audit.log import bound
from bus.audit.whatif import WHY_DUPLICATE, WHY_POISON, Report, what_if
from bus.keys import Keys
from bus.policy import Reference, Ruleset
from bus.settings import Settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ruleset", type=Path, required=True, help="the candidate ruleset file")
    parser.add_argument("--reference", type=Path,
                        help="candidate OCG register folder (default: the configured reference data)")
    parser.add_argument("--since", help="first decision: RFC 3339 date-time (with offset) or a decision id")
    parser.add_argument("--until", help="last decision: RFC 3339 date-time (with offset) or a decision id")
    parser.add_argument("--json", action="store_true", help="one JSON document (changes and summary)")
    parser.add_argument("--archive", type=Path, metavar="DIR",
                        help="the retention archive, read before Redis (default: <data_dir>/archive)")


def handle(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.runtime import _with_redis
    from bus.policy import load_policy

    ruleset, reference = load_policy(args.ruleset, args.reference or settings.reference)
    since = bound(args.since) if args.since else "-"
    until = bound(args.until, upper=True) if args.until else "+"
    keys = settings.keys()
    archive = Archive(args.archive or archive_dir(settings.region_dir))
    report = _with_redis(settings, lambda redis: run(redis, keys, ruleset, reference, since, until, sys.stderr,
                                                     archive))
    if args.json:
        sys.stdout.write(orjson.dumps(report.to_dict()).decode() + "\n")
    else:
        sys.stdout.write(render(report, args.ruleset))
    return 0


async def run(client: aioredis.Redis, keys: Keys, ruleset: Ruleset, reference: Reference, since: str,
              until: str, err: TextIO, archive: Archive | None = None) -> Report:
    """``what_if`` with progress on ``err`` when it is a terminal (the total is the log's length, so a
    sliced run's bar shows the share of the whole log it read)."""
    from bus.cli.progress import Progress, _isatty

    if not _isatty(err):
        return await what_if(client, keys, ruleset, reference, since, until, archive=archive)
    progress = Progress(int(await client.xlen(keys.decisions)), err, "examined")
    report = await what_if(client, keys, ruleset, reference, since, until, on_page=progress.advance,
                           archive=archive)
    progress.total = progress.done  # a sliced run read less than the whole log: it is done all the same
    progress.finish()
    return report


# ---- the text report -----------------------------------------------------------------------------------

def render(report: Report, ruleset_path: Path | str) -> str:
    """The whole text report."""
    lines = _header(report, ruleset_path)
    lines += _section("changed", [f"{c.decision_id}  {c.record.get('submission_id') or '(no submission_id)'}: "
                                  f"{describe(c.comparison)}" for c in report.changes])
    lines += _section("unavailable (original bytes not available: not re-decided)", _listed(report.unavailable))
    lines += _section("failed (re-deciding raised an error)", _listed(report.failed))
    lines += _section(f"poison (not re-decided: {WHY_POISON})", _listed(report.poison))
    summary = report.summary()
    lines += _table("by rule", summary["by_rule"])
    lines += _table("by team", summary["by_team"])
    lines += _status(summary)
    lines += _totals(report)
    return "\n".join(lines) + "\n"


def _header(report: Report, ruleset_path: Path | str) -> list[str]:
    originals = ", ".join(f"{digest} ({n})" for digest, n in sorted(report.originals.items())) or "none"
    return [f"what-if: candidate ruleset {ruleset_path} ({report.ruleset}), reference {report.reference}",
            f"decisions from {_bound(report.since, '-', 'the start')} to {_bound(report.until, '+', 'the end')} "
            f"of the log; originals decided under: {originals}", ""]


def _bound(value: str, open_end: str, words: str) -> str:
    return words if value == open_end else value


def _section(title: str, rows: list[str]) -> list[str]:
    return [f"{title}:", *(f"  {row}" for row in rows), ""] if rows else []


def _listed(items: list[Any]) -> list[str]:
    return [f"{item.decision_id}  {item.submission_id or '(no submission_id)'}: {item.why}" for item in items]


def _table(title: str, rows: dict[str, dict[str, int]]) -> list[str]:
    if not rows:
        return [f"{title}: no changes", ""]
    width = max(len(title), *map(len, rows))
    head = f"{title:<{width}}" + "".join(f"  {column:>8}" for column in COLUMNS)
    body = [f"{name:<{width}}" + "".join(f"  {counts[column]:>8}" for column in COLUMNS)
            for name, counts in rows.items()]
    return [head, *body, ""]


def _status(summary: dict[str, Any]) -> list[str]:
    lines = [f"status {change}: {n}" for change, n in summary["status"].items()]
    if summary["reason_changed"]:
        lines.append(f"quarantine reason changed: {summary['reason_changed']}")
    return [*lines, ""] if lines else []


TOTAL_LABELS: tuple[tuple[str, str, Callable[[Report], str]], ...] = (
    ("examined", "examined", lambda r: ""),
    ("unchanged", "unchanged", lambda r: ""),
    ("changed", "changed", lambda r: ""),
    ("duplicates_not_redecided", "duplicates not re-decided", lambda r: f"  ({WHY_DUPLICATE})"),
    ("poison_not_redecided", "poison not re-decided", lambda r: f"  ({WHY_POISON})"),
    ("unavailable", "unavailable", lambda r: "  (listed above)" if r.unavailable else ""),
    ("failed", "failed", lambda r: "  (listed above)" if r.failed else ""),
)


def _totals(report: Report) -> list[str]:
    totals = report.totals()
    return ["totals:", *(f"  {label:<26}{totals[key]:>8}{note(report)}" for key, label, note in TOTAL_LABELS)]
