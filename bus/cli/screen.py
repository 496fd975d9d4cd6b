"""``intelbus screen FILE|- [--out DIR]``: screen a backlog offline into an analyst's work list.

No Redis, nothing published. The terminal gets a summary (and a progress bar on long input); ``--out DIR``
writes one CSV file per list and ``report.html``, self-contained.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from bus.cli.progress import Progress, read_lines
from bus.policy import Reference, Ruleset, load_policy
from bus.screen import Worklist, screen
from bus.screen.tables import all_tables, write_csv
from bus.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser],
             timestamp: Callable[[str], datetime]) -> None:
    screen = commands.add_parser("screen", help="screen a backlog offline into a work list (CSV, HTML report)")
    screen.add_argument("file", nargs="?", default="-", help="JSON lines of submissions, or - for stdin")
    screen.add_argument("--out", type=Path, help="write the CSV files and report.html into this folder")
    screen.add_argument("--now", type=timestamp, help="screening time: deadlines count from it (default: now)")
    screen.add_argument("--ruleset", type=Path, help="ruleset file (default: the shipped regional policy)")
    screen.add_argument("--reference", type=Path, help="folder with ocg_groups.csv and ocg_members.csv")
    screen.set_defaults(handler=_screen)


def screen_lines(lines: list[bytes], ruleset: Ruleset, reference: Reference, now: datetime,
                 err: TextIO = sys.stderr) -> Worklist:
    """``bus.screen.screen`` with its progress on ``err``."""
    progress = Progress(len(lines), err, "screened")
    work = screen(lines, ruleset, reference, now, advance=progress.advance)
    progress.finish()
    return work


def summary(work: Worklist) -> str:
    ocgs = len(work.linked_per_ocg())
    running = sum(not row.expired for row in work.deadlines)
    forces = sorted({row.force for row in work.safeguarding})
    return "\n".join([
        f"screened {work.screened} submissions (ruleset {work.ruleset}, reference {work.reference})",
        f"  strong OCG links: {len(work.links)} across {ocgs} OCGs",
        f"  possible matches to review: {len(work.possible)}",
        f"  DAML notice periods: {running} running, {len(work.deadlines) - running} expired",
        f"  safeguarding referrals: {len(work.safeguarding)}" + (f" ({', '.join(forces)})" if forces else ""),
        f"  quarantined or invalid: {len(work.quarantined)}"
        + (f" (first: line {work.quarantined[0].line}: {work.quarantined[0].reason[:100]})"
           if work.quarantined else ""),
    ])


def write_report(work: Worklist, folder: Path) -> list[Path]:
    from bus.screen.report import render_html  # matplotlib loads only when a report is written

    tables = all_tables(work)
    written = write_csv(tables, folder)
    page = folder / "report.html"
    page.write_text(render_html(work, tables), encoding="utf-8")
    return [*written, page]


def _screen(args: argparse.Namespace, settings: Settings) -> int:
    ruleset, reference = load_policy(args.ruleset or settings.ruleset, args.reference or settings.reference)
    work = screen_lines(read_lines(args.file), ruleset, reference, args.now or datetime.now(UTC))
    print(summary(work))
    if args.out is not None:
        for path in write_report(work, args.out):
            print(f"wrote {path}")
    return 0
