"""The retention archive: segments give back every byte; a writer cut short anywhere leaves nothing half
archived and nothing archived twice; on a real redis-server, ingress, quarantine and the audit logs leave
Redis only once archived and only when every reader is done; and every ``intelbus audit`` command reads
archive + live as one log that still verifies."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aredis
import yaml
from redis_procs import RedisProc
from redis_replies import command, stream_rows
from router_harness import drained, running_router
from stream_fill import fill

from bus.archive import segment
from bus.archive.reader import archive_dir, pages
from bus.archive.store import Archive
from bus.audit.log import raw_reader
from bus.cli import main
from bus.errors import ArchiveError
from bus.keys import ROUTER_GROUP, Keys
from bus.policy import load_ruleset
from bus.retention.plan import plan
from bus.retention.policy import DEFAULT_FILE, UNITS, RetentionPolicy, parse_retention
from bus.retention.run import Retention
from bus.samples import realistic_mix
from producers import PartnerClient

RULESET = load_ruleset(None)
PARTNER = sorted(RULESET.partners)[0]
DAY = UNITS["d"]
T0 = 1_700_000_000_000
LATER = T0 + 60 * DAY  # past every shipped period


def policy(holds: list[dict[str, str]] | None = None) -> RetentionPolicy:
    doc = yaml.safe_load(DEFAULT_FILE.read_text())
    doc["holds"] = holds or []
    return parse_retention(doc)


async def run(r: aredis.Redis, keys: Keys, archive: Archive, now_ms: int = LATER, **options: Any) -> Any:
    return await Retention(r, keys, RULESET, policy(options.get("holds")), "test", archive).run(now_ms)


async def ids(r: aredis.Redis, stream: str) -> list[str]:
    return [entry_id.decode() for entry_id, _ in stream_rows(await r.xrange(stream))]


async def whole(r: aredis.Redis, archive: Archive | None, stream: str) -> list[tuple[bytes, list[bytes]]]:
    return [record async for page in pages(raw_reader(r), archive, stream) for record in page]


async def ingress(r: aredis.Redis, keys: Keys, count: int, payload: Any = None) -> str:
    stream = keys.ingress(PARTNER)
    for i in range(count):
        body = payload(i) if payload else {"submission_id": f"S-{i}"}
        await r.xadd(stream, {"payload": orjson.dumps(body)}, id=f"{T0 + i}-0")
    return stream


# ---- the format and the manifest (no Redis) -------------------------------------------------------------

def test_a_segment_gives_back_every_byte(tmp_path: Path) -> None:
    records = [(b"1-0", [b"payload", b'{"a": "\xc3\xa9"}']), (b"1-1", [b"payload", b"\xff\xfe not utf-8"]),
               (b"2-0", [b"payload", b"x", b"payload", b"y"])]  # repeated names, as a hostile partner writes
    sha, size = segment.write(tmp_path / "s.jsonl.zst", {"stream": "s", "count": 3}, records)
    header, entries = segment.read(tmp_path / "s.jsonl.zst", sha)
    assert header == {"stream": "s", "count": 3} and list(entries) == records and size > 0
    with open(tmp_path / "s.jsonl.zst", "r+b") as handle:
        handle.seek(size // 2)
        handle.write(b"\x00")
    with pytest.raises(ArchiveError, match="SHA-256 is not the manifest's"):
        segment.read(tmp_path / "s.jsonl.zst", sha)


def test_a_writer_cut_short_leaves_nothing_half_archived(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    archive.prepare()
    first = archive.append("s", [(b"1-0", [b"f", b"1"])], "t", "test")
    # killed after the second segment's file was written, before its manifest line was whole
    archive.append("s", [(b"2-0", [b"f", b"2"])], "t", "test")
    lines = archive.manifest.read_bytes().splitlines(keepends=True)
    archive.manifest.write_bytes(lines[0] + lines[1][:20])
    reader = Archive(tmp_path)
    assert reader.segments() == [first] and reader.position("s") == (1, "1-0")  # readers ignore the torn line
    cleaned = reader.prepare()
    assert len(cleaned) == 2 and "torn last line" in cleaned[0] and "00000002.jsonl.zst" in cleaned[1]
    assert sorted(p.name for p in reader.files.iterdir()) == [first.name]
    again = reader.append("s", [(b"2-0", [b"f", b"2"])], "t", "test")  # written again, once
    assert [r[0] for r in reader.records("s")] == [b"1-0", b"2-0"] and again.start == 1
    with pytest.raises(ArchiveError, match="already archived"):
        reader.append("s", [(b"2-0", [b"f", b"2"])], "t", "test")


def test_a_long_lived_reader_takes_in_only_what_the_manifest_gained(tmp_path: Path) -> None:
    """A reader that stays open (the router's checkpointer beside its retention) parses the lines written
    since it last looked, not the whole manifest again for every segment; a manifest that shrank is parsed
    from the start, and one edited so that it no longer follows is named."""
    writer, reader = Archive(tmp_path), Archive(tmp_path)
    writer.prepare()
    writer.append("s", [(b"1-0", [b"f", b"1"])], "t", "test")
    assert reader.position("s") == (1, "1-0")
    writer.append("s", [(b"2-0", [b"f", b"2"])], "t", "test")
    writer.append("u", [(b"1-0", [b"f", b"1"])], "t", "test")
    assert reader.position("s") == (2, "2-0") and [g.name for g in reader.segments("u")] == ["00000003.jsonl.zst"]
    assert writer.segments() == reader.segments() == Archive(tmp_path).segments()  # as a fresh parse says
    lines = writer.manifest.read_bytes().splitlines(keepends=True)
    writer.manifest.write_bytes(lines[0] + lines[2])  # s's second segment's line removed
    assert reader.position("s") == (1, "1-0") and len(reader.segments()) == 2
    writer.manifest.write_bytes(lines[1] + lines[2])  # s's first removed: its second no longer follows
    with pytest.raises(ArchiveError, match=r"manifest.jsonl:1: segment 00000002.jsonl.zst does not follow"):
        reader.segments()
    writer.manifest.write_bytes(b"".join(lines))  # mended (and longer than the edit): taken in whole, once
    assert reader.segments() == Archive(tmp_path).segments() and reader.position("s") == (2, "2-0")
    bad = lines[0] + b'{"name": "x"}\n' + lines[1]  # a bad line amid good ones: none of them half taken
    writer.manifest.write_bytes(bad + lines[2])
    with pytest.raises(ArchiveError, match=r"manifest.jsonl:2: not a manifest line"):
        reader.segments()
    writer.manifest.write_bytes(b"".join(lines))
    assert reader.segments() == Archive(tmp_path).segments()
    writer.manifest.write_bytes(lines[0] + lines[2])
    assert len(reader.segments()) == 2
    writer.manifest.write_bytes(b"".join(lines))  # rewritten and grown: its last parsed line is elsewhere now
    assert reader.segments() == Archive(tmp_path).segments() and len(reader.segments()) == 3


def test_an_edited_manifest_is_named(tmp_path: Path) -> None:
    archive = Archive(tmp_path)
    archive.prepare()
    for i in range(3):
        archive.append("s", [(f"{i + 1}-0".encode(), [b"f", b"v"])], "t", "test")
    lines = archive.manifest.read_bytes().splitlines(keepends=True)
    archive.manifest.write_bytes(lines[0] + lines[2])  # a segment's line removed
    with pytest.raises(ArchiveError, match=r"manifest.jsonl:2: segment 00000003.jsonl.zst does not follow"):
        Archive(tmp_path).segments()
    archive.manifest.write_bytes(lines[0] + b'{"name": "../../etc/passwd"}\n')
    with pytest.raises(ArchiveError, match=r"manifest.jsonl:2: not a manifest line"):
        Archive(tmp_path).segments()


# ---- watermarks on a real redis-server ------------------------------------------------------------------

async def test_ingress_goes_only_once_decided_and_archived(r: aredis.Redis, keys: Keys, tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    stream = await ingress(r, keys, 10)
    removed = await run(r, keys, archive)
    assert await r.xlen(stream) == 10 and archive.position(stream) == (0, None)  # no router group: undecided
    rows = {row.stream: row for row in await plan(r, keys, RULESET, policy(), LATER, archive)}
    assert rows[stream].removable == 0 and rows[stream].blocked_by.startswith("no router group yet")
    await r.xgroup_create(stream, ROUTER_GROUP, id="0")
    reply: Any = await r.xreadgroup(ROUTER_GROUP, "router-1", {stream: ">"}, count=6)
    read = [entry_id for entry_id, _ in reply[0][1]]
    await r.xack(stream, ROUTER_GROUP, *read[:3], *read[4:])  # the fourth is still being decided
    rows = {row.stream: row for row in await plan(r, keys, RULESET, policy(), LATER, archive)}
    assert rows[stream].removable == 3 and "1 pending" in rows[stream].blocked_by and rows[stream].archived == 0
    removed = await run(r, keys, archive)
    assert removed.archived == {stream: 3} and removed.by_stream == {stream: 3}
    assert await ids(r, stream) == [f"{T0 + i}-0" for i in range(3, 10)]
    await r.xack(stream, ROUTER_GROUP, read[3])
    removed = await run(r, keys, archive)
    assert removed.archived == {stream: 3} and await ids(r, stream) == [f"{T0 + i}-0" for i in range(6, 10)]
    assert [i for i, _ in archive.records(stream)] == [f"{T0 + i}-0".encode() for i in range(6)]
    assert [i.decode() for i, _ in await whole(r, archive, stream)] == [f"{T0 + i}-0" for i in range(10)]
    events = [orjson.loads(f[b"event"]) for _, f in stream_rows(await r.xrange(keys.audit))]
    archived = [e for e in events if e["type"] == "archived"]
    assert [(e["stream"], e["count"], e["segment"]) for e in archived] == [
        (stream, 3, "00000001.jsonl.zst"), (stream, 3, "00000002.jsonl.zst")]
    assert archived[0]["sha256"] == archive.segments(stream)[0].sha256
    erased = [e for e in events if e["type"] == "erasure"]
    assert [(e["first"], e["before"], e["count"], e["archived"]) for e in erased] == [
        (f"{T0}-0", f"{T0 + 3}-0", 3, True), (f"{T0 + 3}-0", f"{T0 + 6}-0", 3, True)]
    assert await r.hget(keys.trimmed, stream) == b"6" and await r.hget(keys.archive, stream) == f"6 {T0 + 5}-0".encode()


async def test_the_scout_position_bounds_ingress(r: aredis.Redis, keys: Keys, tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    stream = await ingress(r, keys, 5)
    await r.xgroup_create(stream, ROUTER_GROUP, id="$")  # all read and decided
    await r.hset(keys.scout, stream, f"{T0 + 1}-0")
    rows = {row.stream: row for row in await plan(r, keys, RULESET, policy(), LATER, archive)}
    assert rows[stream].removable == 2 and rows[stream].blocked_by == f"scout: scanned up to {T0 + 1}-0"


async def test_quarantine_stays_its_period_then_is_archived(r: aredis.Redis, keys: Keys, tmp_path: Path) -> None:
    archive = Archive(tmp_path / "archive")
    for i in range(3):
        await r.xadd(keys.quarantine, {"reason": "H1", "stream": keys.ingress(PARTNER), "entry_id": f"{i}-0"},
                     id=f"{T0 + i * DAY}-0")
    removed = await run(r, keys, archive, now_ms=T0 + 31 * DAY)  # 30 days: the first is past it
    assert removed.by_stream == {keys.quarantine: 1} and await r.xlen(keys.quarantine) == 2
    held = [{"partner": PARTNER, "why": "preservation order"}]
    removed = await run(r, keys, archive, now_ms=LATER, holds=held)
    assert removed.by_stream == {} and await r.xlen(keys.quarantine) == 2  # the partner's quarantine is held
    assert removed.archived == {keys.quarantine: 2}  # archived all the same: archiving removes nothing


@pytest.mark.parametrize("hold", [{"submission": "s-2", "why": "disclosure request"},  # case-blind
                                  {"stream": "INGRESS", "from": f"{T0 + 2}-0", "to": f"{T0 + 2}-0", "why": "w"}])
async def test_a_held_submission_stays_in_redis(r: aredis.Redis, keys: Keys, tmp_path: Path,
                                                hold: dict[str, str]) -> None:
    archive = Archive(tmp_path / "archive")
    stream = await ingress(r, keys, 5)
    await r.xgroup_create(stream, ROUTER_GROUP, id="$")
    hold = {k: (stream if v == "INGRESS" else v) for k, v in hold.items()}
    removed = await run(r, keys, archive, holds=[hold])
    assert removed.by_stream == {stream: 2} and (await ids(r, stream))[0] == f"{T0 + 2}-0"
    row = next(row for row in await plan(r, keys, RULESET, policy([hold]), LATER, archive) if row.stream == stream)
    assert row.removable == 0 and row.blocked_by.startswith("hold on")


async def test_an_archive_that_is_not_the_one_redis_knows_stops_removal(r: aredis.Redis, keys: Keys,
                                                                         tmp_path: Path) -> None:
    stream = await ingress(r, keys, 6)
    await r.xgroup_create(stream, ROUTER_GROUP, id=f"{T0 + 2}-0")
    await run(r, keys, Archive(tmp_path / "first"))
    await r.xgroup_setid(stream, ROUTER_GROUP, id="$")
    other = Archive(tmp_path / "other")  # another host's data folder, or an empty restore
    removed = await run(r, keys, other)
    assert stream in removed.blocked and "Redis says 3 entries" in removed.blocked[stream]
    assert await r.xlen(stream) == 3 and other.position(stream) == (0, None)
    row = next(row for row in await plan(r, keys, RULESET, policy(), LATER, other) if row.stream == stream)
    assert row.removable == 0 and "not the archive they went to" in row.blocked_by
    await r.hset(keys.archive, stream, "garbage")  # a position nobody wrote: the run and the plan both stop at it
    assert "is not an archive position" in (await run(r, keys, other)).blocked[stream]
    row = next(row for row in await plan(r, keys, RULESET, policy(), LATER, other) if row.stream == stream)
    assert row.removable == 0 and "is not an archive position" in row.blocked_by


async def test_a_run_killed_mid_archive_loses_nothing_and_archives_nothing_twice(redis_proc: RedisProc,
                                                                                   tmp_path: Path) -> None:
    count = 160_000  # four segments of at most 50,000
    client = aredis.Redis.from_url(redis_proc.url)
    keys = Keys()
    stream = keys.ingress(PARTNER)
    try:
        await fill(client, stream, count, lambda i: {"payload": f'{{"submission_id": "S-{i}"}}'}, T0)
        await client.xgroup_create(stream, ROUTER_GROUP, id="$")  # all decided
        original = await whole(client, None, stream)
        env = {k: v for k, v in os.environ.items() if k != "INTELBUS_REDIS_URL"} | {
            "REDIS_URL": redis_proc.url, "INTELBUS_DATA_DIR": str(tmp_path)}
        proc = subprocess.Popen([sys.executable, "-m", "bus.cli", "retention", "run"], env=env, cwd=tmp_path,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        manifest = archive_dir(tmp_path) / "manifest.jsonl"
        while proc.poll() is None and (not manifest.exists() or manifest.read_bytes().count(b"\n") < 1):
            await asyncio.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else "ended before the kill"
        archive = Archive(archive_dir(tmp_path))
        archived, _ = archive.position(stream)
        assert 0 < archived < count and await client.xlen(stream) >= count - archived
        assert await whole(client, archive, stream) == original  # every entry once, byte for byte
        removed = await run(client, keys, archive, now_ms=int(time.time() * 1000))
        assert sum(removed.archived.values()) == count - archived and await client.xlen(stream) == 0
        assert [record async for page in pages(raw_reader(client), archive, stream)
                for record in page] == original
        segments = archive.segments(stream)
        assert sum(s.count for s in segments) == count and [s.start for s in segments] == sorted(
            {s.start for s in segments})
        events = [orjson.loads(f[b"event"]) for _, f in stream_rows(await client.xrange(keys.audit))]
        recorded = [e["segment"] for e in events if e["type"] == "archived"]
        assert recorded == [s.name for s in segments]  # each segment's record once, the killed run's too
        assert sum(e["count"] for e in events if e["type"] == "erasure") == count
    finally:
        await client.aclose()


# ---- the audit log across archive and live --------------------------------------------------------------

async def audit_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, data: Path,
                    *args: str) -> tuple[int, str]:
    monkeypatch.setenv("REDIS_URL", url)
    monkeypatch.setenv("INTELBUS_DATA_DIR", str(data))
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(args))
    out = capsys.readouterr()
    return code, out.out + out.err


async def test_the_audit_log_verifies_across_archive_and_live(redis_proc: RedisProc, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The real router decides 200 submissions and signs; retention (60 days on) archives and removes the
    decisions, ingress and checkpoints; the router runs again (no false "log shrank") and decides more; then
    verify, export, explain, what-if and replay all see the whole log, and a changed segment is named."""
    client = aredis.Redis.from_url(redis_proc.url)
    keys = Keys()
    data = tmp_path / "data"
    archive = Archive(archive_dir(data))

    async def publish(count: int, seed: int) -> None:
        by_partner: dict[str, list[dict[str, Any]]] = {}
        for submission in realistic_mix(count, seed=seed):
            by_partner.setdefault(submission["partner"], []).append(submission)
        for partner, items in by_partner.items():
            await PartnerClient(client, partner).publish_many(items)

    try:
        await publish(200, 3)
        async with running_router(redis_proc.url, data_dir=data, retention_run=False) as router:
            await drained(router)
        removed = await run(client, keys, archive, now_ms=int(time.time() * 1000) + 60 * DAY)
        assert removed.archived[keys.decisions] == 200 and await client.xlen(keys.decisions) == 0
        assert sum(removed.archived.get(keys.ingress(p), 0) for p in RULESET.partners) == 200
        assert await client.xlen(keys.checkpoints) == 1 and removed.blocked == {}  # the newest stays
        await publish(50, 4)
        async with running_router(redis_proc.url, data_dir=data, retention_run=False) as router:
            await drained(router)
        events = [orjson.loads(f[b"event"]) for _, f in stream_rows(await client.xrange(keys.audit))]
        assert not [e for e in events if e["type"] == "audit_log_shrank"]
        assert await client.xlen(keys.decisions) == 50

        code, out = await audit_cli(monkeypatch, capsys, redis_proc.url, data, "audit", "verify")
        assert code == 0 and out.startswith("audit verify: intact:"), out
        export = tmp_path / "all.jsonl"
        code, out = await audit_cli(monkeypatch, capsys, redis_proc.url, data, "audit", "export", "--out",
                                    str(export))
        assert code == 0, out
        code, out = await audit_cli(monkeypatch, capsys, redis_proc.url, data, "audit", "verify", "--file",
                                    str(export))
        assert code == 0 and "complete" in out, out
        first = archive.segments(keys.decisions)[0].first
        code, out = await audit_cli(monkeypatch, capsys, redis_proc.url, data, "audit", "explain", first)
        assert code == 0 and "verifies: #0 in its log" in out, out
        code, out = await audit_cli(monkeypatch, capsys, redis_proc.url, data, "decisions", "--json")
        assert code == 0 and len(out.strip().splitlines()) == 250
        shipped = Path(__file__).resolve().parent.parent / "bus" / "data" / "ruleset.yaml"
        code, out = await audit_cli(monkeypatch, capsys, redis_proc.url, data, "audit", "whatif", "--ruleset",
                                    str(shipped), "--json")
        totals = orjson.loads(out.strip().splitlines()[-1])["summary"]["totals"]
        assert code == 0 and totals["unavailable"] == 0 and totals["examined"] == 250, totals

        seg = archive.segments(keys.decisions)[0]  # a decision changed inside its archived segment
        header, entries = segment.read(archive.files / seg.name)
        records = list(entries)
        doc = orjson.loads(records[5][1][1])
        doc["deliveries"] = []
        records[5] = (records[5][0], [b"decision", orjson.dumps(doc)])
        sha, size = segment.write(archive.files / seg.name, header, records)
        code, out = await audit_cli(monkeypatch, capsys, redis_proc.url, data, "audit", "verify")
        assert code == 1 and f"archive: {archive.files / seg.name}: its SHA-256 is not the manifest's" in out, out
        manifest = archive.manifest.read_text().replace(seg.sha256, sha).replace(f'"size":{seg.size}',
                                                                                f'"size":{size}')
        archive.manifest.write_text(manifest)  # the manifest mended too: the signed tree still names it
        code, out = await audit_cli(monkeypatch, capsys, redis_proc.url, data, "audit", "verify")
        assert code == 1 and f"record {records[5][0].decode()} (#5) was changed" in out, out
    finally:
        await client.aclose()


async def test_raw_archive_reads_match_redis(r: aredis.Redis, keys: Keys, tmp_path: Path) -> None:
    """What the archive gives back for an entry is what XRANGE gave, repeated fields and odd bytes too."""
    stream = keys.ingress(PARTNER)
    await command(r, "XADD", stream, f"{T0}-0", "payload", b"\xff\x00", "payload", "second")
    await r.xgroup_create(stream, ROUTER_GROUP, id="$")
    before = await whole(r, None, stream)
    archive = Archive(tmp_path / "archive")
    await run(r, keys, archive)
    assert await r.xlen(stream) == 0 and await whole(r, archive, stream) == before
    assert before[0][1] == [b"payload", b"\xff\x00", b"payload", b"second"]
