"""The screening report as one self-contained HTML file: the tables and two charts drawn by matplotlib as
inline SVG (no network, no script, no build step; it opens from a USB stick on a locked-down desktop).

Every value from a submission is HTML-escaped; the page has a Content-Security-Policy that allows no
script and no remote resource at all.
"""

from __future__ import annotations

import html
import io
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

from bus.screen.tables import Table
from bus.screen.worklist import Worklist

if TYPE_CHECKING:
    from matplotlib.axes import Axes

HTML_ROWS = 200  # rows of each table shown in the page; the CSV files hold all of them
DEADLINE_DAYS = 14  # the DAML chart's horizon, from today

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:80rem}
h1{font-size:1.6rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ccc}
table{border-collapse:collapse;font-size:.85rem;width:100%}th,td{border:1px solid #ddd;padding:.25rem .4rem;
text-align:left;vertical-align:top}th{background:#f1f1f1}.note{color:#555;font-size:.85rem}
.charts{display:flex;flex-wrap:wrap;gap:2rem}.chart{flex:1 1 30rem}.chart svg{width:100%;height:auto}
.summary{width:auto}.summary td:first-child{font-weight:600}
"""


def _figure_svg(draw: Callable[[Axes], None]) -> str:
    """Run ``draw(axes)`` on a new figure; the SVG text, without its XML prologue."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "intelbus"}):  # real text; stable ids
        figure = Figure(figsize=(7, 3.6), layout="constrained")
        axes = figure.add_subplot()
        draw(axes)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})  # no timestamp: same input, same file
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def linked_chart(work: Worklist, top: int = 15) -> str:
    from matplotlib.ticker import MaxNLocator

    counts = work.linked_per_ocg()[:top]
    names = {row.ocg_id: row.ocg_name for row in work.links}

    def draw(axes: Axes) -> None:
        labels = [f"{ocg} {names[ocg]}" for ocg, _ in counts][::-1]
        values = [n for _, n in counts][::-1]
        if not counts:
            axes.text(0.5, 0.5, "no strong OCG links in this backlog", ha="center", va="center")
            axes.set_axis_off()
            axes.set_title("Submissions linked per OCG")
            return
        axes.barh(labels, values, color="#2b6cb0")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_xlabel("submissions with a strong link")
        axes.set_title("Submissions linked per OCG")

    return _figure_svg(draw)


def deadline_chart(work: Worklist) -> str:
    from matplotlib.ticker import MaxNLocator

    today = work.now.date()
    days = [today + timedelta(days=n) for n in range(DEADLINE_DAYS)]
    due = Counter(row.due.date() for row in work.deadlines if not row.expired)
    expired = sum(row.expired for row in work.deadlines)

    def draw(axes: Axes) -> None:
        labels = ["expired", *(day.strftime("%a %d %b") for day in days)]
        values = [expired, *(due.get(day, 0) for day in days)]
        colours = ["#c53030", *["#dd6b20" if n else "#a0aec0" for n in values[1:]]]
        axes.bar(labels, values, color=colours)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel("DAML notice periods ending")
        axes.set_title(f"DAML deadlines over the next {DEADLINE_DAYS} days")
        axes.tick_params(axis="x", labelrotation=60, labelsize=7)

    return _figure_svg(draw)


def _table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(name)}</th>" for name in table.header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>"
                   for row in table.rows[:HTML_ROWS])
    more = len(table.rows) - HTML_ROWS
    note = f'<p class="note">{more} more rows in {table.name}.csv</p>' if more > 0 else ""
    empty = '<p class="note">none</p>' if not table.rows else ""
    return (f'<h2 id="{table.name}">{html.escape(table.title)} ({len(table.rows)})</h2>'
            f"{empty or f'<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'}{note}")


def render_html(work: Worklist, tables: list[Table]) -> str:
    summary = [("screened", work.screened), ("strong OCG links", len(work.links)),
               ("possible matches", len(work.possible)),
               ("DAML running", sum(not r.expired for r in work.deadlines)),
               ("DAML expired", sum(r.expired for r in work.deadlines)),
               ("safeguarding referrals", len(work.safeguarding)), ("quarantined", len(work.quarantined))]
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>" for k, v in summary)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>Backlog screening {html.escape(work.now.isoformat())}</title><style>{_STYLE}</style></head>
<body><h1>Backlog screening</h1>
<p class="note">Screened at {html.escape(work.now.isoformat())} under ruleset {html.escape(work.ruleset)} and
reference data {html.escape(work.reference)}: the same input, ruleset and reference give the same report.</p>
<table class="summary">{rows}</table>
<div class="charts"><div class="chart" id="chart-ocg">{linked_chart(work)}</div>
<div class="chart" id="chart-daml">{deadline_chart(work)}</div></div>
{"".join(_table(table) for table in tables)}
</body></html>
"""
