"""`intelbus audit whatif`: the real router routes real submissions on a private redis-server, then the
decision log is decided again under a candidate ruleset; the bus is left byte for byte as it was."""

from __future__ import annotations

import argparse
import asyncio
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import covert_report, grading, intelligence_report, premises_report, sar
from redis.exceptions import ResponseError
from redis_procs import RedisProc
from redis_replies import as_bytes, decoded
from router_harness import decisions, drained, running_router

from bus.audit.compare import Comparison, Difference, compare, describe, summarise
from bus.audit.log import bound
from bus.audit.whatif import Change, Report, Skipped, Target, Unavailable, judge, target, what_if
from bus.batch import Engine
from bus.cli import audit_whatif
from bus.errors import BusError, RulesetError
from bus.keys import Keys
from bus.policy import DEFAULT_RULESET, decide_payload, load_policy
from bus.settings import Settings
from bus.wire import READ_OUT_LIMIT

DRUGS_RULE = ('  - {rule: R1, says: "drugs and county lines intelligence goes to the OCG disruption team",\n'
              '     when: {kind: intelligence_report, themes: {any: [drugs, county_lines]}}, add: [F.ocg]}\n')
"""The one routing clause the candidate drops: drugs and county lines no longer add the force's OCG team."""

DURHAM, CLEVELAND = "force-durham", "force-cleveland"
OCG_PHONE = {"full_name": "Casey Fictional", "phones": ["07700 900001"]}  # OCG-DUR-001, led by durham.ocg

# name -> (submission, whether the candidate removes its OCG team): delivered to F.ocg via the drugs or
# county_lines theme, and by nothing else. Hand-written from the ruleset, not computed.
FIRST: dict[str, tuple[dict[str, Any], bool]] = {
    "drugs": (intelligence_report(themes=["drugs"]), True),
    "county_lines": (intelligence_report(themes=["county_lines"]), True),
    "covert_drugs": (covert_report(themes=["drugs"]), True),  # durham.ocg had a sanitised view (R1, H6)
    "threat_to_life": (intelligence_report(themes=["drugs"], threat_to_life=True), True),  # the scout's
    "drugs_and_firearms": (intelligence_report(themes=["drugs", "firearms"]), False),  # firearms adds F.ocg too
    "fraud": (intelligence_report(themes=["fraud"]), False),
    "low_grade_drugs": (intelligence_report(themes=["drugs"], grading=grading(source="3")), False),  # H4 withheld
    "drugs_ocg_member": (intelligence_report(themes=["drugs"], nominals=[OCG_PHONE]), False),  # R8 keeps it
    "sar_drugs": (sar(glossary_codes=["XXDRUXX"]), False),  # R2 adds F.ocg
    "premises_drugs": (premises_report(concerns=["drug_supply"]), False),  # R4 adds F.ocg
    "poison": (intelligence_report(themes=["drugs"], narrative="POISON in the narrative"), False),
}
SECOND: dict[str, tuple[dict[str, Any], bool]] = {  # published after the first lot is decided
    "cleveland_drugs": (intelligence_report(partner=CLEVELAND, area="Middlesbrough", themes=["drugs"]), True),
    "late_fraud": (intelligence_report(themes=["fraud"]), False),
}
SUBMISSIONS = FIRST | SECOND
REMOVED = {name for name, (_, removed) in SUBMISSIONS.items() if removed}


def _sid(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


SIDS = {name: _sid(index) for index, name in enumerate(SUBMISSIONS, 1)}


def _payload(name: str) -> bytes:
    return orjson.dumps(SUBMISSIONS[name][0] | {"submission_id": SIDS[name]})


def _poisoned(raw: bytes, *args: Any, **kwargs: Any) -> Any:
    """The real engine, except that one submission trips an engine bug every time (it ends as poison)."""
    if b"POISON" in raw:
        raise ZeroDivisionError("engine bug on this submission")
    return decide_payload(raw, *args, **kwargs)


@dataclass(frozen=True)
class Bus:
    url: str
    records: list[dict[str, Any]]  # the decision log, each with its decision_id
    first_of_second: str  # decision id of the first decision of the second lot


async def _publish(client: aioredis.Redis, names: list[str], extra: list[tuple[str, dict[str, bytes]]]) -> None:
    pipe = client.pipeline(transaction=False)
    for name in names:
        partner = SUBMISSIONS[name][0]["partner"]
        pipe.xadd(Keys().ingress(partner), {"payload": _payload(name)})
    for stream, fields in extra:
        pipe.xadd(stream, fields)  # type: ignore[arg-type]
    await pipe.execute()


async def _populate(url: str) -> Bus:
    client = aioredis.Redis.from_url(url)
    keys = Keys()
    odd = [
        (keys.ingress(DURHAM), {"payload": _payload("drugs")}),  # the same submission again: a duplicate
        (keys.ingress("hmrc"), {"payload": b'{"schema_version": 1,'}),  # not JSON
        (keys.ingress("hmrc"), {"payload": _payload("fraud")}),  # names force-durham: spoofing
        (keys.ingress(DURHAM), {"payload": _payload("late_fraud"), "trace": b"x"}),  # a field besides payload
    ]
    async with running_router(url, decider=_poisoned, max_deliveries=1, claim_idle_ms=150) as router:
        await _publish(client, list(FIRST), odd)
        await drained(router)
        first = len(await decisions(client))
        await _publish(client, list(SECOND), [])
        await drained(router)
    records = await decisions(client)
    await client.aclose()
    return Bus(url, records, records[first]["decision_id"])


@pytest.fixture(scope="module")
def bus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bus]:
    """One private redis-server routed once by the real router, shared by the tests that only read it."""
    proc = RedisProc(tmp_path_factory.mktemp("whatif_redis"))
    try:
        proc.start()
        yield asyncio.run(_populate(proc.url))
    finally:
        proc.stop()


def _candidate(tmp_path: Path) -> Path:
    text = Path(DEFAULT_RULESET).read_text(encoding="utf-8")
    assert text.count(DRUGS_RULE) == 1
    path = tmp_path / "candidate.yaml"
    path.write_text(text.replace(DRUGS_RULE, ""), encoding="utf-8")
    return path


async def _what_if(url: str, ruleset_path: Path, since: str = "-", until: str = "+") -> Report:
    ruleset, reference = load_policy(ruleset_path, None)
    client = aioredis.Redis.from_url(url)
    try:
        return await what_if(client, Keys(), ruleset, reference, since, until)
    finally:
        await client.aclose()


def _changed_sids(report: Report) -> set[str]:
    return {str(change.record["submission_id"]) for change in report.changes}


def _records_of(bus: Bus, status: str) -> list[dict[str, Any]]:
    return [r for r in bus.records if r["status"] == status]


def test_the_bus_holds_what_the_tests_expect(bus: Bus) -> None:
    """The population itself: every submission decided once, one duplicate, one poison, three other quarantines."""
    assert len(bus.records) == len(SUBMISSIONS) + 4
    [duplicate] = _records_of(bus, "duplicate")
    assert duplicate["submission_id"] == SIDS["drugs"]
    poison = [r for r in _records_of(bus, "quarantined") if r["reason"].startswith("poison:")]
    assert [r["submission_id"] for r in poison] == [SIDS["poison"]]
    assert len(_records_of(bus, "quarantined")) == 4
    teams = {r["submission_id"]: [d["recipient"] for d in r["deliveries"]] for r in _records_of(bus, "routed")}
    assert {name for name, sid in SIDS.items() if sid not in teams} == {"poison"}
    assert teams[SIDS["drugs"]] == ["durham.fib", "durham.ocg"] and "cleveland.ocg" in teams[SIDS["cleveland_drugs"]]


async def test_candidate_without_a_theme_team_changes_exactly_those_submissions(bus: Bus, tmp_path: Path) -> None:
    report = await _what_if(bus.url, _candidate(tmp_path))
    assert _changed_sids(report) == {SIDS[name] for name in REMOVED}
    for change in report.changes:
        comparison = change.comparison
        assert comparison.status is None and comparison.reason is None
        [difference] = comparison.differences
        team = "cleveland.ocg" if change.record["submission_id"] == SIDS["cleveland_drugs"] else "durham.ocg"
        rules = ("R1", "H6") if change.record["submission_id"] == SIDS["covert_drugs"] else ("R1",)
        assert (difference.change, difference.team, difference.rules, difference.after) == \
            ("removed", team, rules, None)
        assert difference.withheld_by is None
    summary = report.summary()
    zero = dict.fromkeys(("added", "removed", "view", "priority", "due"), 0)
    assert summary["by_rule"] == {"R1": zero | {"removed": 5}, "H6": zero | {"removed": 1}}
    assert summary["by_team"] == {"cleveland.ocg": zero | {"removed": 1}, "durham.ocg": zero | {"removed": 4}}
    assert report.totals() == {"examined": len(bus.records), "unchanged": len(bus.records) - 7, "changed": 5,
                               "duplicates_not_redecided": 1, "poison_not_redecided": 1, "unavailable": 0,
                               "failed": 0}
    text = audit_whatif.render(report, "candidate.yaml")
    [drugs] = [c for c in report.changes if c.record["submission_id"] == SIDS["drugs"]]
    assert f"  {drugs.decision_id}  {SIDS['drugs']}: durham.ocg removed (was selected by R1)\n" in text


async def test_the_shipped_ruleset_as_candidate_changes_nothing(bus: Bus) -> None:
    report = await _what_if(bus.url, Path(DEFAULT_RULESET))
    assert report.changes == [] and report.unavailable == [] and report.failed == []
    assert report.examined == len(bus.records) and report.unchanged == len(bus.records) - 2
    shipped = load_policy(None, None)[0].digest
    assert dict(report.originals) == {shipped: len(bus.records) - 2}  # quarantines included, reasons equal


async def _snapshot(client: aioredis.Redis) -> dict[bytes, bytes]:
    keys = sorted([key async for key in client.scan_iter(count=1000)])
    return {key: as_bytes(await client.dump(key)) for key in keys}


async def _calls(client: aioredis.Redis) -> dict[str, int]:
    stats = await client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


async def test_whatif_leaves_every_key_byte_identical_and_only_reads(bus: Bus, tmp_path: Path) -> None:
    client = aioredis.Redis.from_url(bus.url)
    before = await _snapshot(client)
    calls = await _calls(client)
    report = await _what_if(bus.url, _candidate(tmp_path))
    used = {name for name, n in (await _calls(client)).items() if n > calls.get(name, 0)}
    after = await _snapshot(client)
    await client.aclose()
    assert report.changes and len(before) > 20
    assert after == before
    # "client": Redis 6.2 counts every CLIENT subcommand (redis-py sends SETINFO on connect) as one; 7 splits them
    assert "xrange" in used and used <= {"xrange", "info", "client|setinfo", "client", "hello", "ping"}, used


async def test_an_entry_gone_from_ingress_and_a_record_without_one_are_listed_unavailable(
        redis_proc: RedisProc, tmp_path: Path) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    async with running_router(redis_proc.url) as router:
        await _publish(client, ["drugs", "fraud", "sar_drugs"], [])
        await drained(router)
    records = {r["submission_id"]: r for r in await decisions(client)}
    gone = records[SIDS["fraud"]]
    assert await client.xdel(gone["stream"], gone["entry_id"]) == 1
    orphan = dict(records[SIDS["drugs"]])
    for name in ("stream", "entry_id", "decision_id"):
        del orphan[name]
    orphan_id = decoded(await client.xadd(Keys().decisions, {"decision": orjson.dumps(orphan)}))
    await client.aclose()

    report = await _what_if(redis_proc.url, _candidate(tmp_path))
    why = {u.decision_id: u.why for u in report.unavailable}
    assert set(why) == {gone["decision_id"], orphan_id}
    assert why[gone["decision_id"]].startswith(f"ingress entry {gone['stream']} {gone['entry_id']} is gone")
    assert "no stream/entry_id" in why[orphan_id]
    assert {u.submission_id for u in report.unavailable} == {SIDS["fraud"], SIDS["drugs"]}
    assert report.totals() == {
        "examined": 4, "unchanged": 1, "changed": 1, "duplicates_not_redecided": 0, "poison_not_redecided": 0,
        "unavailable": 2, "failed": 0}
    assert _changed_sids(report) == {SIDS["drugs"]}
    text = audit_whatif.render(report, "candidate.yaml")
    assert f"  {gone['decision_id']}  {SIDS['fraud']}: ingress entry" in text
    assert f"  {orphan_id}  {SIDS['drugs']}: the record names no ingress entry" in text


async def test_duplicates_and_poison_are_counted_not_redecided(bus: Bus, tmp_path: Path) -> None:
    report = await _what_if(bus.url, _candidate(tmp_path))
    [duplicate] = _records_of(bus, "duplicate")
    assert report.duplicates == 1
    assert duplicate["decision_id"] not in {c.decision_id for c in report.changes}
    [poison] = report.poison
    assert poison.submission_id == SIDS["poison"]
    assert poison.why.startswith("poison: processing failed 1 times (limit 1); last error: ZeroDivisionError")
    text = audit_whatif.render(report, "candidate.yaml")
    assert "\n  duplicates not re-decided        1  (decided by the dedupe marks, not by the ruleset" in text
    assert "\n  poison not re-decided            1  (quarantined after repeated processing failures" in text
    assert f"\n  {poison.decision_id}  {SIDS['poison']}: poison: processing failed 1 times" in text


def _ms(decision_id: str) -> int:
    return int(decision_id.split("-")[0])


def _rfc3339(ms: int) -> str:
    return (datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)).isoformat()


def _expected_changes(records: list[dict[str, Any]]) -> set[str]:
    removed = {SIDS[name] for name in REMOVED}
    return {r["submission_id"] for r in records if r["status"] != "duplicate" and r["submission_id"] in removed}


async def test_since_and_until_slice_the_log(bus: Bus, tmp_path: Path) -> None:
    candidate = _candidate(tmp_path)
    ids = [r["decision_id"] for r in bus.records]
    report = await _what_if(bus.url, candidate, bound(ids[3]), bound(ids[-4], upper=True))
    inside = bus.records[3:-3]
    assert report.examined == len(inside)
    assert _changed_sids(report) == _expected_changes(inside)
    assert {c.decision_id for c in report.changes} <= set(ids[3:-3])

    since = _ms(bus.first_of_second)  # RFC 3339: from the millisecond of the second lot's first decision
    until = _ms(ids[-1])  # ... to the millisecond of the last one, all of it
    inside = [r for r in bus.records if since <= _ms(r["decision_id"]) <= until]
    report = await _what_if(bus.url, candidate, bound(_rfc3339(since)), bound(_rfc3339(until), upper=True))
    assert report.examined == len(inside) >= len(SECOND)
    assert _changed_sids(report) == _expected_changes(inside) >= {SIDS["cleveland_drugs"]}

    ms, seq = ids[-1].split("-")
    empty = await _what_if(bus.url, candidate, f"{ms}-{int(seq) + 1}", "+")  # after the last id: nothing
    assert empty.examined == 0 and empty.changes == []


def _cli(bus: Bus, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    audit_whatif.add_arguments(parser)
    return audit_whatif.handle(parser.parse_args(list(argv)), Settings(redis_url=bus.url))


def _text_totals(text: str) -> dict[str, int]:
    block = text.split("totals:\n", 1)[1]
    labels = {"examined": "examined", "unchanged": "unchanged", "changed": "changed",
              "duplicates not re-decided": "duplicates_not_redecided", "poison not re-decided": "poison_not_redecided",
              "unavailable": "unavailable", "failed": "failed"}
    out = {}
    for line in block.splitlines():
        label, count = line[:28].strip(), line[28:36].strip()
        out[labels[label]] = int(count)
    return out


async def test_json_output_parses_and_matches_the_text_report(bus: Bus, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    candidate = str(_candidate(tmp_path))
    assert await asyncio.to_thread(_cli, bus, "--ruleset", candidate, "--json") == 0
    out = capsys.readouterr()
    document = orjson.loads(out.out)
    assert out.err == ""  # not a terminal: no progress
    assert await asyncio.to_thread(_cli, bus, "--ruleset", candidate) == 0
    text = capsys.readouterr().out
    totals = document["summary"]["totals"]
    assert totals == _text_totals(text) and totals["changed"] == len(document["changes"]) == 5
    changed_lines = text.split("changed:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split()[0] for line in changed_lines] == [c["decision_id"] for c in document["changes"]]
    assert {c["submission_id"] for c in document["changes"]} == {SIDS[name] for name in REMOVED}
    assert all(c["summary"] in text for c in document["changes"])
    assert document["summary"]["by_team"]["durham.ocg"]["removed"] == 4
    assert document["ruleset"] == load_policy(Path(candidate), None)[0].digest
    assert [p["submission_id"] for p in document["poison"]] == [SIDS["poison"]]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_progress_goes_to_a_terminal_only(bus: Bus, tmp_path: Path) -> None:
    ruleset, reference = load_policy(_candidate(tmp_path), None)
    client = aioredis.Redis.from_url(bus.url)
    terminal = _Terminal()
    report = await audit_whatif.run(client, Keys(), ruleset, reference, "-", "+", terminal)
    await client.aclose()
    assert report.examined == len(bus.records)
    shown, total = terminal.getvalue(), len(bus.records)
    assert shown.startswith("\r[") and shown.endswith("\n") and f"] {total}/{total} 100%" in shown


def test_bad_bounds_and_rulesets_are_bus_errors_before_any_redis(tmp_path: Path) -> None:
    unreachable = Bus("redis://127.0.0.1:1/0", [], "")
    with pytest.raises(BusError, match="not an RFC 3339 date-time or a stream id"):
        _cli(unreachable, "--ruleset", str(_candidate(tmp_path)), "--since", "yesterday")
    with pytest.raises(RulesetError, match="cannot read ruleset"):
        _cli(unreachable, "--ruleset", str(tmp_path / "missing.yaml"))


# ---- the pure steps: what a log row is, what a fetched entry gives -------------------------------------

KEYS = Keys()
STREAM = KEYS.ingress(DURHAM)
WHEN = "2026-12-17T11:00:00+00:00"


def _row(record: dict[str, Any] | bytes) -> dict[bytes, bytes]:
    return {b"decision": record if isinstance(record, bytes) else orjson.dumps(record)}


def _logged(**fields: Any) -> dict[str, Any]:
    return {"submission_id": _sid(1), "status": "routed", "reason": None, "stream": STREAM, "entry_id": "5-0",
            "decided_at": WHEN} | fields


TARGET_CASES: list[tuple[str, dict[bytes, bytes], str]] = [
    ("routed", _row(_logged()), "target"),
    ("quarantined", _row(_logged(status="quarantined", reason="invalid submission: x")), "target"),
    ("duplicate", _row(_logged(status="duplicate")), "duplicate"),
    ("poison", _row(_logged(status="quarantined", reason="poison: processing failed 5 times")), "poison"),
    ("no-field", {b"other": b"{}"}, "unavailable: no readable decision record"),
    ("not-json", _row(b"{oops"), "unavailable: no readable decision record"),
    ("not-an-object", _row(b"[1]"), "unavailable: not a JSON object"),
    ("no-stream", _row(_logged(stream=None)), "unavailable: no stream/entry_id"),
    ("no-entry-id", _row(_logged(entry_id="")), "unavailable: no stream/entry_id"),
    ("not-ingress", _row(_logged(stream="intel:quarantine")), "unavailable: is not an ingress stream"),
    ("no-decided-at", _row(_logged(decided_at=None)), "unavailable: decided_at is not a date-time"),
]


@pytest.mark.parametrize(("fields", "expected"), [case[1:] for case in TARGET_CASES],
                         ids=[case[0] for case in TARGET_CASES])
def test_target(fields: dict[bytes, bytes], expected: str) -> None:
    item = target("9-0", fields, KEYS)
    if expected == "target":
        assert isinstance(item, Target) and (item.stream, item.entry_id) == (STREAM, "5-0")
        assert item.decided_at == datetime.fromisoformat(WHEN)
    elif expected in ("duplicate", "poison"):
        assert isinstance(item, Skipped) and item.kind == expected and item.submission_id == _sid(1)
    else:
        assert isinstance(item, Unavailable) and not item.failed and expected.split(": ")[1] in item.why


def _judged(reply: Any, record: dict[str, Any] | None = None) -> Any:
    ruleset, reference = load_policy(None, None)
    engine = Engine(ruleset, reference, KEYS)
    logged = record or _logged()
    item = target("9-0", _row(logged), KEYS)
    assert isinstance(item, Target)
    return judge(engine, item, reply)


def _offline(raw: bytes) -> dict[str, Any]:
    ruleset, reference = load_policy(None, None)
    decision, _ = decide_payload(raw, ruleset, reference, datetime.fromisoformat(WHEN), ingress_owner=DURHAM)
    return decision.to_dict() | {"stream": STREAM, "entry_id": "5-0"}


def test_judge_decides_the_entry_as_the_router_reads_it() -> None:
    raw = orjson.dumps(intelligence_report(submission_id=_sid(1), themes=["drugs"]))
    same = _judged([[b"5-0", [b"payload", raw]]], _offline(raw))
    assert isinstance(same, Change) and not same.comparison.changed
    extra = _judged([[b"5-0", [b"payload", raw, b"payload", raw]]], _offline(raw))  # a repeated name: kept
    assert isinstance(extra, Change) and extra.comparison.status == ("routed", "quarantined")
    assert "2 fields named payload" in str(extra.comparison.reason)
    big = orjson.dumps(intelligence_report(submission_id=_sid(1), narrative="x" * READ_OUT_LIMIT))
    oversized = _judged([[b"5-0", [b"payload", big]]], _offline(big))  # not read out, as the router does
    assert isinstance(oversized, Change) and oversized.comparison.reason is not None
    before, after = oversized.comparison.reason
    assert "invalid submission" in str(before) and "not read, kept whole" in str(after)


def test_judge_lists_what_cannot_be_decided_again() -> None:
    gone = _judged([])
    assert isinstance(gone, Unavailable) and "is gone (trimmed or deleted)" in gone.why
    refused = _judged(ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"))
    assert isinstance(refused, Unavailable) and "WRONGTYPE" in refused.why and not refused.failed
    other = _judged([[b"5-0", [b"payload", orjson.dumps(intelligence_report(submission_id=_sid(2)))]]])
    assert isinstance(other, Unavailable) and f"now holds another submission ({_sid(2)})" in other.why


def test_judge_lists_a_candidate_that_raises_as_failed() -> None:
    ruleset, reference = load_policy(None, None)
    engine = Engine(ruleset, reference, KEYS, decider=_poisoned)
    item = target("9-0", _row(_logged()), KEYS)
    assert isinstance(item, Target)
    raw = orjson.dumps(intelligence_report(submission_id=_sid(1), narrative="POISON"))
    failed = judge(engine, item, [[b"5-0", [b"payload", raw]]])
    assert isinstance(failed, Unavailable) and failed.failed
    assert failed.why == "re-deciding raised ZeroDivisionError: engine bug on this submission"


# ---- the pure comparison, table-driven ----------------------------------------------------------------

DUE = "2026-12-30T23:59:59+00:00"


def _delivery(team: str, *rules: str, view: str = "full", priority: str = "routine", due: str | None = None,
              omitted: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"recipient": team, "view": view, "priority": priority, "due": due, "rules": list(rules),
            "omitted": list(omitted)}


def _record(*deliveries: dict[str, Any], status: str = "routed", reason: str | None = None,
            withheld: tuple[tuple[str, str], ...] = ()) -> dict[str, Any]:
    return {"submission_id": _sid(1), "status": status, "reason": reason, "deliveries": list(deliveries),
            "withheld": [{"recipient": team, "reason": "because", "rule": rule} for team, rule in withheld]}


FIB, OCG = _delivery("durham.fib", "R1"), _delivery("durham.ocg", "R1")
SANITISED = ("reporter_name", "reporter_type")
NOBODY = "no delivery is left after handling: H4 low grade"
COMPARE_CASES: list[tuple[str, dict[str, Any], dict[str, Any], Comparison]] = [
    ("same", _record(FIB, OCG), _record(FIB, OCG), Comparison()),
    ("rules-only-is-no-change", _record(_delivery("durham.ocg", "R1", "R8")), _record(_delivery("durham.ocg", "R8")),
     Comparison()),
    ("withheld-only-is-no-change", _record(FIB, withheld=(("durham.ocg", "H4"),)), _record(FIB), Comparison()),
    ("team-added", _record(FIB), _record(FIB, OCG),
     Comparison(differences=(Difference("added", "durham.ocg", None, "full", ("R1",)),))),
    ("team-added-was-withheld", _record(FIB, withheld=(("durham.ocg", "H4"),)), _record(FIB, OCG),
     Comparison(differences=(Difference("added", "durham.ocg", None, "full", ("R1",), "H4"),))),
    ("team-removed", _record(FIB, OCG), _record(FIB),
     Comparison(differences=(Difference("removed", "durham.ocg", "full", None, ("R1",)),))),
    ("team-removed-now-withheld", _record(FIB, OCG), _record(FIB, withheld=(("durham.ocg", "H5"),)),
     Comparison(differences=(Difference("removed", "durham.ocg", "full", None, ("R1",), "H5"),))),
    ("added-and-removed", _record(FIB, OCG), _record(FIB, _delivery("nersou.riu", "R8")),
     Comparison(differences=(Difference("added", "nersou.riu", None, "full", ("R8",)),
                             Difference("removed", "durham.ocg", "full", None, ("R1",))))),
    ("full-to-sanitised", _record(_delivery("cleveland.ocg", "R2")),
     _record(_delivery("cleveland.ocg", "R2", "H5", view="sanitised", omitted=SANITISED)),
     Comparison(differences=(Difference("view", "cleveland.ocg", "full",
                                        "sanitised without reporter_name, reporter_type", ("R2", "H5")),))),
    ("sanitised-to-full", _record(_delivery("durham.cab", "R10", "H6", view="sanitised", omitted=("narrative",))),
     _record(_delivery("durham.cab", "R10")),
     Comparison(differences=(Difference("view", "durham.cab", "sanitised without narrative", "full",
                                        ("R10", "H6")),))),
    ("omitted-fields-changed", _record(_delivery("x.fib", "H6", view="sanitised", omitted=("narrative",))),
     _record(_delivery("x.fib", "H6", view="sanitised", omitted=("narrative", "source_type"))),
     Comparison(differences=(Difference("view", "x.fib", "sanitised without narrative",
                                        "sanitised without narrative, source_type", ("H6",)),))),
    ("omitted-order-is-no-change", _record(_delivery("x.fib", "H6", view="sanitised", omitted=("b", "a"))),
     _record(_delivery("x.fib", "H6", view="sanitised", omitted=("a", "b"))), Comparison()),
    ("priority", _record(_delivery("durham.fib", "R1")), _record(_delivery("durham.fib", "R1", "R9",
                                                                           priority="immediate")),
     Comparison(differences=(Difference("priority", "durham.fib", "routine", "immediate", ("R1", "R9")),))),
    ("due-set", _record(_delivery("cleveland.fiu", "R2")), _record(_delivery("cleveland.fiu", "R2", due=DUE)),
     Comparison(differences=(Difference("due", "cleveland.fiu", None, DUE, ("R2",)),))),
    ("priority-and-due", _record(_delivery("s.polit", "R3", due=DUE)),
     _record(_delivery("s.polit", "R3", priority="high", due="2026-12-18T10:15:00+00:00")),
     Comparison(differences=(Difference("priority", "s.polit", "routine", "high", ("R3",)),
                             Difference("due", "s.polit", DUE, "2026-12-18T10:15:00+00:00", ("R3",))))),
    ("routed-to-quarantined", _record(FIB), _record(status="quarantined", reason=NOBODY,
                                                    withheld=(("durham.fib", "H4"),)),
     Comparison(("routed", "quarantined"), (None, NOBODY),
                (Difference("removed", "durham.fib", "full", None, ("R1",), "H4"),))),
    ("quarantined-to-routed", _record(status="quarantined", reason=NOBODY), _record(FIB),
     Comparison(("quarantined", "routed"), (NOBODY, None),
                (Difference("added", "durham.fib", None, "full", ("R1",)),))),
    ("quarantine-reason-changed", _record(status="quarantined", reason="invalid submission: a"),
     _record(status="quarantined", reason="invalid submission: b"),
     Comparison(None, ("invalid submission: a", "invalid submission: b"))),
]


@pytest.mark.parametrize(("before", "after", "expected"), [case[1:] for case in COMPARE_CASES],
                         ids=[case[0] for case in COMPARE_CASES])
def test_compare(before: dict[str, Any], after: dict[str, Any], expected: Comparison) -> None:
    comparison = compare(before, after)
    assert comparison == expected
    assert comparison.changed == bool(expected.status or expected.reason or expected.differences)


DESCRIBE_CASES = [
    (Comparison(differences=(Difference("removed", "durham.ocg", "full", None, ("R1",), "H5"),)),
     "durham.ocg removed (was selected by R1; now withheld by H5)"),
    (Comparison(differences=(Difference("added", "nersou.riu", None, "sanitised without narrative", ("R8",)),)),
     "nersou.riu added, sanitised without narrative view (selected by R8)"),
    (Comparison(differences=(Difference("due", "c.fiu", DUE, None, ("R2",)),)), f"c.fiu due {DUE} -> none (R2)"),
    (Comparison(("routed", "quarantined"), (None, NOBODY), (Difference("removed", "d.fib", "full", None, ("R1",)),)),
     f'routed -> quarantined; reason none -> "{NOBODY}"; d.fib removed (was selected by R1)'),
]


@pytest.mark.parametrize(("comparison", "words"), DESCRIBE_CASES)
def test_describe(comparison: Comparison, words: str) -> None:
    assert describe(comparison) == words


def test_summarise_counts_each_change_under_its_rules_and_team() -> None:
    comparisons = [case[3] for case in COMPARE_CASES]
    summary = summarise(comparisons)
    assert summary["by_team"]["durham.ocg"] == {"added": 2, "removed": 3, "view": 0, "priority": 0, "due": 0}
    assert summary["by_rule"]["H4"] == {"added": 1, "removed": 1, "view": 0, "priority": 0, "due": 0}
    assert list(summary["by_rule"])[:3] == ["H4", "H5", "H6"] and list(summary["by_rule"])[-1] == "R10"
    assert summary["status"] == {"quarantined -> routed": 1, "routed -> quarantined": 1}
    assert summary["reason_changed"] == 3
