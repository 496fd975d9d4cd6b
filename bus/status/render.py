"""``intelbus status`` as tables: aligned, in colour on a terminal (a waiting threat to life in red),
plain when piped. Streams with nothing in them and no readers are left out (counted in a footnote)."""

from __future__ import annotations

from datetime import UTC, datetime

from bus.status.figures import Status, StreamFigures

RED, BOLD, RESET = "\x1b[31m", "\x1b[1m", "\x1b[0m"


def age(ms: int | None) -> str:
    if ms is None:
        return "-"
    seconds = max(ms, 0) / 1000
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


def _waiting(f: StreamFigures) -> str:
    return f"{f.waiting:,}" + ("+" if f.waiting_at_least else "")


def _row(name: str, f: StreamFigures, urgent: bool, colour: bool) -> str:
    line = (f"  {name:<42} {f.length:>9,} {_waiting(f):>9} {age(f.oldest_waiting_ms):>8} {f.pending:>8,} "
            f"{age(f.oldest_pending_ms):>8} {f.consumers:>4} {age(f.idle_ms):>8}"
            + ("" if f.group else "  (no group yet)"))
    alarm = urgent and (f.waiting or f.pending)
    return f"{RED}{line}{RESET}" if colour and alarm else line


def render(status: Status, colour: bool) -> str:
    head = f"{'':<2}{'':<42} {'length':>9} {'waiting':>9} {'oldest':>8} {'pending':>8} {'oldest':>8} " \
           f"{'cons':>4} {'idle':>8}"
    bold = (lambda s: f"{BOLD}{s}{RESET}") if colour else (lambda s: s)
    at = datetime.fromtimestamp(status.at_ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    lines = [bold(f"intelbus status at {at}"), "", bold("ingress (router group): per partner"), head]
    quiet = 0
    for partner, f in status.ingress.items():
        if f.length or f.pending:
            lines.append(_row(partner, f, False, colour))
        else:
            quiet += 1
    lines += ["", bold("feeds (team group): per team, immediate first"), head]
    for name, f in status.feeds.items():
        if f.length or f.pending or f.consumers:
            lines.append(_row(name, f, name.endswith(":immediate"), colour))
        else:
            quiet += 1
    lines += ["", bold("quarantined, by reason class")]
    for window, classes in status.quarantined.items():
        text = ", ".join(f"{reason} {count:,}" for reason, count in sorted(classes.items(), key=lambda kv: -kv[1]))
        lines.append(f"  last {window}: {text or 'none'}")
    checkpoint = age(status.at_ms - status.last_checkpoint_ms) + " ago" if status.last_checkpoint_ms else "none"
    last_run = _retention(status.retention)
    lines += ["", f"decisions in the last minute: {status.decisions_last_minute:,}",
              f"last audit checkpoint: {checkpoint}", f"last retention run: {last_run}",
              f"({quiet} empty streams with no readers not shown; --json shows every one)"]
    return "\n".join(lines)


def _retention(run: dict[str, str]) -> str:
    """The last retention run, as ``intel:retention`` holds it."""
    if not run:
        return "not run yet"
    done = (f"{run.get('at')} by {run.get('by')}: {run.get('archived', '0')} archived in {run.get('segments', '0')} "
            f"segments, {run.get('removed', '0')} removed in {run.get('seconds', '?')} s")
    return done + (f"; error: {run['error']}" if run.get("error") else "")
