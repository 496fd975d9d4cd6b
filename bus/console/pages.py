"""The console's pages as HTML strings (pure functions; no I/O). Everything that came from Redis, and so
perhaps from a partner, is escaped; pages carry no script and no inline style (the console's
Content-Security-Policy forbids both)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import quote

import orjson

from bus.console.reads import Found, Quarantined
from bus.reasons import reason_class
from bus.status.figures import Status, StreamFigures
from bus.status.render import age
from schemas.kinds import KIND_NAMES

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fafafa; }
header { background: #1d3557; color: #fff; padding: .6rem 1.2rem; display: flex; gap: 1.2rem; align-items: center; }
header a { color: #fff; } header form { margin-left: auto; }
main { padding: 1rem 1.2rem; } h1 { font-size: 1.3rem; } h2 { font-size: 1.1rem; margin-top: 1.6rem; }
table { border-collapse: collapse; background: #fff; } td, th { border: 1px solid #ccc; padding: .25rem .6rem; }
td.n { text-align: right; font-variant-numeric: tabular-nums; } tr.alarm td { background: #fde2e2; }
pre { background: #fff; border: 1px solid #ccc; padding: .6rem; white-space: pre-wrap; word-break: break-all; }
.error { color: #a4161a; font-weight: bold; } .note { color: #555; } form.inline { display: inline; }
label { display: inline-block; margin: .3rem 1rem .3rem 0; }
"""


UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def when(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def layout(title: str, body: str, user: str | None = None, csrf: str | None = None,
           refresh_s: int | None = None) -> str:
    nav = ""
    if user is not None and csrf is not None:
        nav = ('<a href="/">Status</a><a href="/quarantine">Quarantine</a><a href="/audit">Audit search</a>'
               f'<form method="post" action="/logout"><input type="hidden" name="csrf" value="{_e(csrf)}">'
               f'{_e(user)} <button type="submit">Log out</button></form>')
    refresh = f'<meta http-equiv="refresh" content="{refresh_s}; url=/?auto=1">' if refresh_s else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{refresh}'
            f'<title>{_e(title)} · intelbus console</title><link rel="stylesheet" href="/console.css"></head>'
            f'<body><header><strong>intelbus</strong>{nav}</header><main><h1>{_e(title)}</h1>{body}</main>'
            '</body></html>')


def login_page(error: str | None, local: bool) -> str:
    hint = ('<p class="note">This Redis has no ACLs (the embedded one): log in as <code>operator</code> with the '
            'one-time password <code>intelbus console</code> printed when it started.</p>' if local else
            '<p class="note">Log in as the <code>operator</code> Redis user, with the password from '
            '<code>intelbus acl generate</code>\'s credentials file.</p>')
    failed = f'<p class="error" id="login-error">{_e(error)}</p>' if error else ""
    form = ('<form method="post" action="/login"><label>User <input name="user" value="operator" '
            'autocomplete="username"></label><label>Password <input name="password" type="password" '
            'autocomplete="current-password"></label><button type="submit">Log in</button></form>')
    return layout("Log in", failed + hint + form)


HEAD = ("<tr><th>stream</th><th>length</th><th>waiting</th><th>oldest waiting</th><th>pending</th>"
        "<th>oldest pending</th><th>consumers</th><th>idle</th></tr>")


def _row(kind: str, name: str, f: StreamFigures, urgent: bool) -> str:
    alarm = ' class="alarm"' if urgent and (f.waiting or f.pending) else ""
    waiting = f"{f.waiting:,}" + ("+" if f.waiting_at_least else "")
    group = "" if f.group else ' <span class="note">(no group yet)</span>'
    return (f'<tr id="{kind}-{_e(name)}"{alarm}><td>{_e(name)}{group}</td><td class="n length">{f.length:,}</td>'
            f'<td class="n waiting">{waiting}</td><td class="n">{age(f.oldest_waiting_ms)}</td>'
            f'<td class="n pending">{f.pending:,}</td><td class="n">{age(f.oldest_pending_ms)}</td>'
            f'<td class="n">{f.consumers}</td><td class="n">{age(f.idle_ms)}</td></tr>')


def status_page(status: Status, user: str, csrf: str) -> str:
    ingress = "".join(_row("ingress", p, f, False) for p, f in status.ingress.items() if f.length or f.pending)
    feeds = "".join(_row("feed", n, f, n.endswith(":immediate")) for n, f in status.feeds.items()
                    if f.length or f.pending or f.consumers)
    classes = "".join(
        f"<li>last {_e(window)}: " + (", ".join(f"{_e(reason)} {count:,}" for reason, count in
                                                sorted(counts.items(), key=lambda kv: -kv[1])) or "none") + "</li>"
        for window, counts in status.quarantined.items())
    checkpoint = f"{age(status.at_ms - status.last_checkpoint_ms)} ago" if status.last_checkpoint_ms else "none"
    run = status.retention
    retention = (f"{_e(run.get('at'))}: {_e(run.get('removed', '0'))} removed, {_e(run.get('archived', '0'))} "
                 "archived" + (f"; error: {_e(run['error'])}" if run.get("error") else "")) if run else "not run yet"
    body = (f'<p class="note">At {when(status.at_ms)}; this page reloads every 5 s. Streams with nothing in them '
            'and no readers are left out.</p>'
            f'<h2>Ingress (router group), per partner</h2><table id="ingress">{HEAD}{ingress}</table>'
            f'<h2>Feeds (team group), immediate first</h2><table id="feeds">{HEAD}{feeds}</table>'
            f'<h2>Quarantined, by reason class</h2><ul id="quarantined">{classes}</ul>'
            f'<p>Decisions in the last minute: <span id="decisions-rate">{status.decisions_last_minute:,}</span>; '
            f'last audit checkpoint: {checkpoint}; last retention run: {retention}.</p>')
    return layout("Status", body, user, csrf, refresh_s=5)  # to /?auto=1: a reload is not activity


def _quarantined_cells(entry: Quarantined, link: bool, consulted: bool = False) -> str:
    """The entry's row. Its reason is shown as its class only (a reason may quote what the partner wrote:
    a wrong value, field names), but on the page of its content, whose consultation is recorded."""
    sid = entry.submission_id  # of an invalid submission: whatever the partner put there
    reason = _e(entry.reason) if consulted else f'<span class="reason-class">{_e(reason_class(entry.reason))}</span>'
    shown = f'<a href="/quarantine/{quote(entry.entry_id)}">{_e(entry.entry_id)}</a>' if link else _e(entry.entry_id)
    return (f"<td>{shown}</td><td>{when(entry.at_ms)}</td><td>{_e(entry.stream)}</td><td>{reason}</td>"
            f"<td>{_e(sid) if consulted or UUID.fullmatch(sid) else '-'}</td><td>{_e(entry.decision_id)}</td>")


QUARANTINE_HEAD = ("<tr><th>entry</th><th>at</th><th>ingress stream</th><th>reason</th><th>submission_id</th>"
                   "<th>decision</th></tr>")


def quarantine_list(entries: Sequence[Quarantined], older: str | None, user: str, csrf: str) -> str:
    rows = "".join(f"<tr>{_quarantined_cells(entry, True)}</tr>" for entry in entries)
    more = f'<p><a id="older" href="/quarantine?before={quote(older)}">Older entries</a></p>' if older else ""
    body = ('<p class="note">Newest first. Content is hidden: open an entry to see it; showing it is recorded.</p>'
            f'<table id="quarantine">{QUARANTINE_HEAD}{rows or "<tr><td colspan=6>nothing quarantined</td></tr>"}'
            f'</table>{more}')
    return layout("Quarantine", body, user, csrf)


def quarantine_entry(entry: Quarantined, user: str, csrf: str) -> str:
    where = (f"copied into the quarantine entry ({entry.fields} fields)" if entry.kept == "copy" else
             f"left whole in {_e(entry.stream)} at {_e(entry.source_id)} (too large, or too many fields, to copy)")
    body = (f'<table>{QUARANTINE_HEAD}<tr>{_quarantined_cells(entry, False)}</tr></table>'
            f'<p>The entry as the partner wrote it is {where}; its reason in full is shown with it.</p>'
            f'<form method="post" action="/quarantine/{quote(entry.entry_id)}/content">'
            f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
            '<button type="submit" id="show-content">Show its content (this is recorded)</button></form>')
    return layout(f"Quarantined entry {entry.entry_id}", body, user, csrf)


SHOWN_BYTES = 256 * 1024  # of one value (a submission is at most 256 KiB; an entry kept whole may be larger)
SHOWN_FIELDS = 100
SHOWN_TOTAL = 2 * 1024 * 1024  # of a whole page of content
PRETTY_BYTES = 16 * 1024  # JSON up to this size is indented (deep nesting makes indented text far larger)


def _value(value: bytes, budget: int) -> str:
    """At most ``budget`` characters of ``value``: indented when it is small JSON, else as text."""
    limit = min(SHOWN_BYTES, budget)
    if len(value) <= PRETTY_BYTES:
        try:
            text = orjson.dumps(orjson.loads(value), option=orjson.OPT_INDENT_2).decode()
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # not JSON, or nested too deep to write back
            text = ""
        if text and len(text) <= limit:
            return text
    text = value[:limit].decode("utf-8", "backslashreplace")
    if len(value) > limit:
        text += f"\n... ({len(value) - limit:,} more bytes not shown: XRANGE reads the entry whole)"
    return text


def _fields(fields: Iterable[tuple[bytes, bytes]]) -> str:
    """The fields as HTML, until SHOWN_FIELDS of them or SHOWN_TOTAL escaped characters (at most one value
    beyond it)."""
    items, out, budget = list(fields), [], SHOWN_TOTAL
    for name, value in items[:SHOWN_FIELDS]:
        if budget <= 0:
            break
        shown = (f'<h2>field <code>{_e(name[:1024].decode("utf-8", "backslashreplace"))}</code></h2>'
                 f'<pre class="value">{_e(_value(value, budget))}</pre>')
        budget -= len(shown)
        out.append(shown)
    if len(out) < len(items):
        out.append(f'<p class="note">{len(items) - len(out):,} more fields not shown (XRANGE reads the entry '
                   'whole).</p>')
    return "".join(out)


def quarantine_content(entry: Quarantined, fields: Iterable[tuple[bytes, bytes]] | None, user: str,
                       csrf: str) -> str:
    if fields is None:
        shown = ('<p class="error">Redis no longer holds this entry: retention archived it and trimmed it '
                 '(see <code>intelbus retention</code>; the archive folder keeps it).</p>')
    else:
        shown = _fields(fields)
    body = (f'<table>{QUARANTINE_HEAD}<tr>{_quarantined_cells(entry, False, consulted=True)}</tr></table>'
            f'<p class="note">You consulted this content; the console recorded it.</p>'
            f'<div id="content">{shown}</div>')
    return layout(f"Quarantined entry {entry.entry_id}", body, user, csrf)


def too_large(entry: Quarantined, size: int | None, user: str, csrf: str) -> str:
    body = (f'<table>{QUARANTINE_HEAD}<tr>{_quarantined_cells(entry, False)}</tr></table>'
            f'<p class="error" id="message">The entry is {f"{size:,} bytes" if size else "of unknown size"}: '
            'not read here. Read it with '
            f'<code>redis-cli XRANGE {_e(entry.stream)} {_e(entry.source_id)} {_e(entry.source_id)}</code> '
            '(as the operator user).</p>')
    return layout(f"Quarantined entry {entry.entry_id}", body, user, csrf)


def _deliveries(record: Mapping[str, Any]) -> str:
    parts = [f"{_e(d.get('recipient'))} ({_e(d.get('priority'))}, {_e(d.get('view'))})"
             for d in record.get("deliveries", []) if isinstance(d, dict)]
    return ", ".join(parts) or "-"


def _withheld(record: Mapping[str, Any]) -> str:
    parts = [f"{_e(w.get('recipient'))} ({_e(w.get('rule'))})" for w in record.get("withheld", [])
             if isinstance(w, dict)]
    return ", ".join(parts) or "-"


def _decision_row(decision_id: str, record: Mapping[str, Any]) -> str:
    """What the bus decided, never what a partner wrote: a quarantine's reason as its class, the kind only
    when it is one of the bus's, the submission id only when it is a UUID."""
    kind = record.get("kind") if record.get("kind") in KIND_NAMES else "-"
    sid = str(record.get("submission_id") or "")
    reason = reason_class(str(record["reason"])) if record.get("status") == "quarantined" and record.get("reason") \
        else ""
    return (f'<tr><td>{_e(decision_id)}</td><td>{when(int(decision_id.split("-")[0]))}</td>'
            f'<td>{_e(record.get("partner"))}</td><td>{_e(kind)}</td>'
            f'<td class="status">{_e(record.get("status"))}</td><td class="submission">'
            f'{_e(sid) if UUID.fullmatch(sid) else "-"}</td><td>{_deliveries(record)}</td>'
            f'<td>{_withheld(record)}</td><td class="reason">{_e(reason)}</td></tr>')


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _consultation_row(entry_id: str, record: Mapping[str, Any]) -> str:
    return (f'<tr><td>{_e(entry_id)}</td><td>{_e(record.get("consumer"))}</td><td>{_e(record.get("action"))}</td>'
            f'<td class="n">{len(record.get("decision_ids") or [])}</td><td>{_e(record.get("at"))}</td></tr>')


def audit_page(form: Mapping[str, str], teams: Sequence[str], found: Found | None, error: str | None,
               user: str, csrf: str) -> str:
    options = "".join(f'<option value="{_e(t)}"{" selected" if form.get("team") == t else ""}>{_e(t)}</option>'
                      for t in teams)
    fields = (f'<form method="get" action="/audit"><label>submission_id <input name="submission" size="38" '
              f'value="{_e(form.get("submission", ""))}"></label><label>team <select name="team">'
              f'<option value="">any</option>{options}</select></label>'
              f'<label>since <input name="since" placeholder="2026-12-17T10:00Z" value="{_e(form.get("since", ""))}">'
              f'</label><label>until <input name="until" value="{_e(form.get("until", ""))}"></label>'
              '<button type="submit" id="search">Search</button></form>'
              '<p class="note">Times are RFC 3339 with an offset (or Z), or stream ids. Decisions show who received '
              'what, never the content.</p>')
    shown = f'<p class="error">{_e(error)}</p>' if error else ""
    if found is not None:
        rows = "".join(_decision_row(i, r) for i, r in found.decisions)
        capped = " (stopped there: narrow the time range to look further back)" if found.capped else ""
        shown += (f'<p id="found">{_count(len(found.decisions), "decision")} found in {found.scanned:,} read'
                  f'{capped}.</p>'
                  '<table id="decisions"><tr><th>decision</th><th>at</th><th>partner</th><th>kind</th><th>status</th>'
                  '<th>submission_id</th><th>delivered to</th><th>withheld from</th><th>reason</th></tr>'
                  f'{rows}</table>')
        if form.get("team"):
            consulted = "".join(_consultation_row(i, r) for i, r in found.consultations)
            shown += (f'<h2>Consultations by {_e(form["team"])}</h2><table id="consultations"><tr><th>record</th>'
                      f'<th>consumer</th><th>action</th><th>deliveries</th><th>at</th></tr>{consulted}</table>')
    return layout("Audit search", fields + shown, user, csrf)


def message_page(title: str, message: str, user: str | None = None, csrf: str | None = None) -> str:
    return layout(title, f'<p class="error" id="message">{_e(message)}</p>', user, csrf)
