"""Screening a backlog: the pure engine's decisions turned into an analyst's work list (issue 13).

Nothing here matches names or counts deadlines itself: every link, possible match, recipient and due
time is what ``decide_payload`` found under the ruleset and reference data, exactly as the router would
decide it; this module only sorts those findings into lists. Each line of the backlog is decided on its
own; a line that is not a valid submission is listed with its line number and the rest are screened.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from bus.policy import QUARANTINED, Decision, Reference, Ruleset, decide_payload
from bus.policy.calendar import is_working_day
from bus.policy.decision import PRIORITIES
from schemas import Parsed, Sar

VULNERABILITY = {"XXV2XX": "adult", "XXV3XX": "child"}
"""Glossary codes that mark risk to a vulnerable adult or a child (DOMAIN.md)."""
CHUNK = 500  # lines between progress reports
SAFEGUARDING_TEAMS = (".safeguarding", ".polit")
NOT_REFERRED = "(no safeguarding team)"
"""The force of a vulnerability-coded submission that reaches no safeguarding team (e.g. a DATF)."""


@dataclass(frozen=True, slots=True)
class Item:
    """One screened submission, as the lists name it."""

    line: int
    submission_id: str
    reference: str  # the SAR reference (or the kind's own reference), else the submission_id
    kind: str
    submitted_at: datetime


@dataclass(frozen=True, slots=True)
class LinkRow:
    ocg_id: str
    ocg_name: str
    tier: str
    lead_team: str
    item: Item
    via: str  # the identifier that linked it, as the engine says it ("phone of Casey Fictional")


@dataclass(frozen=True, slots=True)
class PossibleRow:
    item: Item
    nominal: str
    ocg_id: str
    ocg_name: str
    member: str
    check: str


@dataclass(frozen=True, slots=True)
class DeadlineRow:
    item: Item
    disclosure_date: str
    due: datetime
    working_days_left: int  # working days after today up to the due day; 0 once expired
    expired: bool
    team: str


@dataclass(frozen=True, slots=True)
class SafeguardingRow:
    force: str
    item: Item
    risk: str  # adult, child, or adult and child
    priority: str
    teams: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Problem:
    """A line that was not screened as a submission: invalid, or quarantined by the policy."""

    line: int
    submission_id: str | None
    reason: str


@dataclass
class Worklist:
    ruleset: str
    reference: str
    now: datetime
    screened: int = 0
    links: list[LinkRow] = field(default_factory=list)
    possible: list[PossibleRow] = field(default_factory=list)
    deadlines: list[DeadlineRow] = field(default_factory=list)
    safeguarding: list[SafeguardingRow] = field(default_factory=list)
    quarantined: list[Problem] = field(default_factory=list)
    by_force: Counter[str] = field(default_factory=Counter)
    by_team: Counter[str] = field(default_factory=Counter)
    by_typology: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)

    def linked_per_ocg(self) -> list[tuple[str, int]]:
        """(OCG id, submissions linked to it), most first; the order of the links list."""
        counts = Counter(row.ocg_id for row in self.links)
        return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))


class Screener:
    """Decides lines one at a time (``add``) and sorts what it finds; ``finish`` orders the lists."""

    def __init__(self, ruleset: Ruleset, reference: Reference, now: datetime) -> None:
        self._ruleset, self._reference, self._now = ruleset, reference, now
        self.worklist = Worklist(ruleset.digest, reference.digest, now)
        self._days_left: dict[date, int] = {}

    def add(self, line: int, raw: bytes) -> None:
        decision, parsed = decide_payload(raw, self._ruleset, self._reference, self._now)
        work = self.worklist
        work.screened += 1
        if decision.status == QUARANTINED or parsed is None:
            work.quarantined.append(Problem(line, decision.submission_id, decision.reason or "quarantined"))
            return
        sub = parsed.submission
        item = Item(line, decision.submission_id or "", _reference_of(parsed), sub.kind, sub.submitted_at)
        work.by_kind[sub.kind] += 1
        codes: Sequence[str] = sub.glossary_codes if isinstance(sub, Sar) else ()
        self._count(decision, codes)
        self._links(decision, item)
        self._deadline(decision, parsed, item)
        self._safeguarding(decision, codes, item)

    def finish(self) -> Worklist:
        work = self.worklist
        order = {ocg: rank for rank, (ocg, _) in enumerate(work.linked_per_ocg())}
        work.links.sort(key=lambda row: (row.item.submitted_at, -row.item.line), reverse=True)  # newest first,
        work.links.sort(key=lambda row: order[row.ocg_id])  # then (a stable sort) grouped by OCG, largest first
        work.possible.sort(key=lambda row: (row.ocg_id, row.nominal, row.item.line))
        work.deadlines.sort(key=lambda row: (row.due, row.item.line))
        work.safeguarding.sort(key=lambda row: (row.force, row.risk != "adult and child", row.item.line))
        return work

    def _count(self, decision: Decision, codes: Sequence[str]) -> None:
        work = self.worklist
        teams = [delivery.recipient for delivery in decision.deliveries]
        work.by_team.update(teams)
        work.by_force.update({team.split(".", 1)[0] for team in teams})
        work.by_typology.update(set(codes))

    def _links(self, decision: Decision, item: Item) -> None:
        groups = self._reference.groups
        for link in decision.ocg_links:
            group = groups[link.ocg_id]
            self.worklist.links.append(LinkRow(link.ocg_id, group.name, group.tier, group.lead_team, item, link.via))
        for match in decision.possible_matches:
            name = groups[match.ocg_id].name
            check = (f"is this {match.nominal} the {name} member of that name? {match.reason}: compare dates "
                     "of birth, addresses and identifiers")
            self.worklist.possible.append(PossibleRow(item, match.nominal, match.ocg_id, name, match.member, check))

    def _deadline(self, decision: Decision, parsed: Parsed, item: Item) -> None:
        sub = parsed.submission
        if not isinstance(sub, Sar) or sub.defence_type != "daml":
            return
        timed = sorted((d.due, d.recipient) for d in decision.deliveries if d.due is not None)
        if not timed:  # withheld from every team that would have had the deadline: listed as quarantined
            return
        due, team = timed[0]
        self.worklist.deadlines.append(DeadlineRow(item, sub.disclosure_date.isoformat(), due,
                                                   self._working_days_left(due), due < self._now, team))

    def _working_days_left(self, due: datetime) -> int:
        if due < self._now:
            return 0
        left = self._days_left.get(due.date())
        if left is None:  # a backlog's DAMLs share a few dozen due days: count each once
            left = self._days_left[due.date()] = self._count_working_days(due)
        return left

    def _count_working_days(self, due: datetime) -> int:
        today, last = self._now.astimezone(self._ruleset.zone).date(), due.date()
        days = (today.fromordinal(n) for n in range(today.toordinal() + 1, last.toordinal() + 1))
        return sum(is_working_day(day, self._ruleset.country, self._ruleset.subdivision) for day in days)

    def _safeguarding(self, decision: Decision, codes: Sequence[str], item: Item) -> None:
        risks = {VULNERABILITY[code] for code in codes if code in VULNERABILITY}
        if not risks:
            return
        risk = " and ".join(sorted(risks))
        by_force: dict[str, list[str]] = {}
        for delivery in decision.deliveries:
            if delivery.recipient.endswith(SAFEGUARDING_TEAMS):
                by_force.setdefault(delivery.recipient.split(".", 1)[0], []).append(delivery.recipient)
        priority = max((d.priority for d in decision.deliveries), key=PRIORITIES.index)
        for force, teams in (by_force or {NOT_REFERRED: []}).items():
            self.worklist.safeguarding.append(SafeguardingRow(force, item, risk, priority, tuple(teams)))


def screen(lines: Sequence[bytes], ruleset: Ruleset, reference: Reference, now: datetime,
           advance: Callable[[int], None] = lambda lines: None) -> Worklist:
    """Screen JSON lines (blank lines skipped; line numbers count every line, from 1); ``advance(n)`` is
    told every ``CHUNK`` lines (and at the end) how many more were screened, for a progress bar."""
    screener = Screener(ruleset, reference, now)
    for start in range(0, len(lines), CHUNK):
        for number, line in enumerate(lines[start:start + CHUNK], start + 1):
            raw = line.rstrip(b"\r\n")
            if raw.strip():
                screener.add(number, raw)
        advance(min(CHUNK, len(lines) - start))
    return screener.finish()


def _reference_of(parsed: Parsed) -> str:
    sub = parsed.submission
    for name in ("sar_reference", "referral_id"):
        value = getattr(sub, name, None)
        if value:
            return str(value)
    return str(sub.submission_id)
