"""The work list as tables: one header and rows of text per list, for CSV files and the HTML report."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bus.screen.worklist import Item, Worklist


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # the CSV file's stem
    title: str
    header: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


def _item(item: Item) -> tuple[str, ...]:
    return item.reference, item.kind, item.submitted_at.isoformat(), item.submission_id, str(item.line)


ITEM = ("reference", "kind", "submitted_at", "submission_id", "line")


def links(work: Worklist) -> Table:
    rows = [(r.ocg_id, r.ocg_name, r.tier, r.lead_team, r.via, *_item(r.item)) for r in work.links]
    return Table("ocg_links", "Strong OCG links (grouped by OCG, most linked first; newest first within each)",
                 ("ocg_id", "ocg_name", "tier", "lead_team", "linked_by", *ITEM), rows)


def possible(work: Worklist) -> Table:
    rows = [(r.ocg_id, r.ocg_name, r.nominal, r.member, r.check, *_item(r.item)) for r in work.possible]
    return Table("possible_matches", "Possible matches for review (equal names, a date of birth missing)",
                 ("ocg_id", "ocg_name", "nominal", "member", "check", *ITEM), rows)


def deadlines(work: Worklist) -> Table:
    rows = [("expired" if r.expired else "running", r.due.isoformat(), str(r.working_days_left), r.disclosure_date,
             r.team, *_item(r.item)) for r in work.deadlines]
    return Table("daml_deadlines", "DAML notice periods (soonest first)",
                 ("state", "due", "working_days_left", "disclosure_date", "team", *ITEM), rows)


def safeguarding(work: Worklist) -> Table:
    rows = [(r.force, r.risk, r.priority, " ".join(r.teams), *_item(r.item)) for r in work.safeguarding]
    return Table("safeguarding", "Vulnerability codes to refer (by force)",
                 ("force", "risk", "priority", "teams", *ITEM), rows)


def totals(work: Worklist) -> Table:
    rows = [("screened", "all", str(work.screened)), ("quarantined", "all", str(len(work.quarantined)))]
    for section, counts in (("kind", work.by_kind), ("force", work.by_force), ("team", work.by_team),
                            ("typology", work.by_typology)):
        rows += [(section, key, str(n)) for key, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    return Table("totals", "Totals", ("by", "key", "submissions"), rows)


def quarantined(work: Worklist) -> Table:
    rows = [(str(p.line), p.submission_id or "", p.reason) for p in work.quarantined]
    return Table("quarantined", "Not screened: invalid or quarantined lines (nothing is skipped silently)",
                 ("line", "submission_id", "reason"), rows)


TABLES: tuple[Callable[[Worklist], Table], ...] = (links, possible, deadlines, safeguarding, totals, quarantined)


def all_tables(work: Worklist) -> list[Table]:
    return [make(work) for make in TABLES]


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: str) -> str:
    """A partner's text that a spreadsheet would run as a formula (``=HYPERLINK(...)``) starts with a quote
    instead, so it is shown, never evaluated (OWASP, CSV injection)."""
    return f"'{cell}" if cell.startswith(FORMULA_STARTS) else cell


def write_csv(tables: list[Table], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in tables:
        path = folder / f"{table.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(table.header)
            writer.writerows([spreadsheet_safe(cell) for cell in row] for row in table.rows)
        written.append(path)
    return written
