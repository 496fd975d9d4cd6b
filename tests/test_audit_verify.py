"""Tamper evidence on a real redis-server: the real router decides real submissions and signs checkpoints;
then each way of altering the log is tried and ``intelbus audit verify`` must name it (exit 1), while an
untouched log and its export verify (exit 0), the export even with Redis gone."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from redis_procs import RedisProc
from redis_replies import command, stream_rows
from router_harness import drained, running_router

from bus.audit import export as export_mod
from bus.audit.checkpoint import from_json
from bus.audit.checkpointer import Checkpointer, audit_logs, origin
from bus.audit.log import raw_reader
from bus.audit.merkle import record_leaf
from bus.audit.signing import new_key_file, router_signer
from bus.audit.store import CheckpointFile, checkpoint_file
from bus.cli import main
from bus.keys import Keys
from bus.policy import load_ruleset
from bus.samples import realistic_mix
from producers.client import PartnerClient

KEYS = Keys()
DECISIONS = KEYS.decisions
COUNT = 242  # 240 submissions and 2 entries that are quarantined


class Bus:
    def __init__(self, proc: RedisProc, data: Path, client: aioredis.Redis) -> None:
        self.proc, self.data, self.client = proc, data, client

    async def cli(self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
                  data: Path | None = None) -> tuple[int, str]:
        """``intelbus audit ARGS`` as a user runs it (in a thread: it runs its own event loop)."""
        monkeypatch.setenv("REDIS_URL", self.proc.url)
        monkeypatch.setenv("INTELBUS_DATA_DIR", str(data or self.data))
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["audit", *args])
        out = capsys.readouterr()
        return code, out.out + out.err

    async def rows(self, key: str = DECISIONS) -> list[tuple[bytes, list[bytes]]]:
        reader = raw_reader(aioredis.Redis.from_url(self.proc.url))
        try:
            return [(i, f) for i, f in await command(reader, "XRANGE", key, "-", "+")]
        finally:
            await reader.aclose()

    async def rebuild(self, rows: list[tuple[bytes, list[bytes]]], key: str = DECISIONS) -> None:
        """Replace ``key`` by these entries, ids and all (what an attacker with Redis access can do)."""
        await self.client.delete(key)
        for entry_id, flat in rows:
            await command(self.client, "XADD", key, entry_id, *flat)


async def publish(client: aioredis.Redis, count: int) -> None:
    by_partner: dict[str, list[dict[str, Any]]] = {}
    for submission in realistic_mix(count - 2, seed=11):
        by_partner.setdefault(submission["partner"], []).append(submission)
    for partner, items in by_partner.items():
        await PartnerClient(client, partner).publish_many(items)
    for payload in (b"{not json", b'{"schema_version": 1}'):
        await client.xadd(KEYS.ingress("hmrc"), {"payload": payload})


@pytest.fixture
async def bus(redis_proc: RedisProc, tmp_path: Path) -> AsyncIterator[Bus]:
    client = aioredis.Redis.from_url(redis_proc.url)
    await publish(client, COUNT)
    data = tmp_path / "data"
    async with running_router(redis_proc.url, data_dir=data) as router:
        await drained(router)
    # stopping signed a last checkpoint: everything decided is covered
    assert await client.xlen(DECISIONS) == COUNT
    try:
        yield Bus(redis_proc, data, client)
    finally:
        await client.aclose()


async def test_an_untouched_log_verifies(bus: Bus, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = await bus.cli(capsys, monkeypatch, "verify")
    assert code == 0, out
    assert out.startswith("audit verify: intact: ") and f"{COUNT:,} under" in out and "0 newer" in out
    assert len(CheckpointFile(bus.data / "audit" / "checkpoints.jsonl").read().__next__()) == 2
    assert await bus.client.xlen(KEYS.checkpoints) >= 1


@pytest.mark.parametrize("tamper", ["changed", "deleted", "inserted", "reordered", "truncated"])
async def test_each_tamper_is_detected_and_names_the_record(bus: Bus, tamper: str,
                                                            capsys: pytest.CaptureFixture[str],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    rows = await bus.rows()
    target = rows[100][0].decode()
    if tamper == "changed":  # the stream rebuilt with the same ids, one field altered
        record = orjson.loads(rows[100][1][1])
        record["deliveries"] = []
        rows[100] = (rows[100][0], [b"decision", orjson.dumps(record)])
        await bus.rebuild(rows)
        expected = f"record {target} (#100) was changed"
    elif tamper == "deleted":
        await bus.client.xdel(DECISIONS, target)
        expected = f"record {target} (#100) was deleted"
    elif tamper == "inserted":  # a record given an id between two real ones
        at, forged = next((i, _after(rows[i][0])) for i in range(100, COUNT - 1)
                          if rows[i + 1][0] != _after(rows[i][0]))
        rows.insert(at + 1, (forged, rows[at][1]))
        await bus.rebuild(rows)
        expected = f"record {forged.decode()} (#{at + 1}) was inserted"
    elif tamper == "reordered":
        rows[100], rows[101] = (rows[100][0], rows[101][1]), (rows[101][0], rows[100][1])
        await bus.rebuild(rows)
        expected = f"record {target} (#100) was reordered: it holds what was checkpointed as {rows[101][0].decode()}"
    else:
        await bus.client.xtrim(DECISIONS, maxlen=COUNT - 7, approximate=False)
        assert (await bus.rows())[0][0] == rows[7][0]  # MAXLEN trims the oldest: the first 7 go
        expected = f"record {rows[0][0].decode()} (#0) was deleted"
    code, out = await bus.cli(capsys, monkeypatch, "verify")
    assert code == 1, out
    assert "NOT intact" in out and expected in out, out


def _after(entry_id: bytes) -> bytes:
    ms, seq = entry_id.split(b"-")
    return ms + b"-" + str(int(seq) + 1).encode()


async def test_a_tail_cut_off_is_named_as_truncation(bus: Bus, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    rows = await bus.rows()
    await bus.rebuild(rows[:-5])
    code, out = await bus.cli(capsys, monkeypatch, "verify")
    assert code == 1
    assert "truncated: the checkpoint of" in out and f"{COUNT} records, the stream holds {COUNT - 5}" in out
    assert f"from {rows[-5][0].decode()}" in out


async def _forge(bus: Bus, tmp_path: Path) -> None:
    """A consistent forgery: the log rewritten and re-checkpointed from scratch with another key."""
    rows = await bus.rows()
    rows = [(i, [b"decision", f[1].replace(b'"routed"', b'"quarantined"')]) for i, f in rows]
    await bus.rebuild(rows)
    await bus.client.delete(KEYS.checkpoints, KEYS.checkpointer)
    forger = new_key_file(tmp_path / "forger.pem")
    teams = list(load_ruleset(None).team_ids)
    reader = raw_reader(aioredis.Redis.from_url(bus.proc.url))
    checkpointer = Checkpointer(reader, KEYS, audit_logs(KEYS, teams), forger,
                                CheckpointFile(tmp_path / "forged.jsonl"), origin(KEYS), "forger")
    assert await checkpointer.tick() is not None
    await reader.aclose()


async def test_a_log_replaced_by_a_forgery_signed_with_another_key_is_detected(
        bus: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    await _forge(bus, tmp_path)
    code, out = await bus.cli(capsys, monkeypatch, "verify")
    assert code == 1
    assert "which is not a trusted public key" in out  # the forged checkpoint in Redis
    assert f"{DECISIONS}: record" in out and "(#0) was changed" in out  # against the file's real checkpoints
    # Redis alone (no file outside it), trusting only the real key: the forgery is still refused
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    code, out = await bus.cli(capsys, monkeypatch, "verify", "--public-key", str(bus.data / "audit" / "signing.pub"),
                        data=empty)
    assert code == 1 and "which is not a trusted public key" in out
    assert "no trusted checkpoint covers" in out


async def test_an_edited_checkpoint_fails_its_signature(bus: Bus, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    (_, fields), *_ = stream_rows(await bus.client.xrange(KEYS.checkpoints, count=1))
    doc = orjson.loads(fields[b"checkpoint"])
    doc["body"] = doc["body"].replace("time 2", "time 1")
    await bus.client.xadd(KEYS.checkpoints, {"checkpoint": orjson.dumps(doc)})
    code, out = await bus.cli(capsys, monkeypatch, "verify")
    assert code == 1 and "bad signature" in out


async def test_an_export_verifies_with_the_public_key_alone_after_redis_is_gone(
        bus: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    out_file = tmp_path / "audit.jsonl"
    code, out = await bus.cli(capsys, monkeypatch, "export", "--out", str(out_file))
    assert code == 0, out
    lines = [orjson.loads(line) for line in out_file.read_bytes().splitlines()]
    records = [line for line in lines if line["type"] == "record"]
    assert lines[0]["type"] == "export" and lines[1]["type"] == "checkpoint" and lines[-1]["type"] == "end"
    assert sum(1 for r in records if r["log"] == DECISIONS) == COUNT
    bus.proc.stop()
    public = str(bus.data / "audit" / "signing.pub")
    code, out = await bus.cli(capsys, monkeypatch, "verify", "--file", str(out_file), "--public-key", public)
    assert code == 0, out
    assert f"{len(records):,} records proved" in out and "complete: every record of every log it covers" in out
    assert "in the checkpoint of intelbus/intel at " in out  # which bus (which region) the export is of


async def test_a_slice_says_it_proves_its_records_not_that_none_is_missing(
        bus: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A header that claims a filter (it is unsigned: anyone can write one) makes the file a slice, and the
    verdict says what that proves, so deleting records behind a forged filter cannot pass as complete."""
    monkeypatch.setattr(export_mod, "RANGE_RECORDS", 50)
    out_file = tmp_path / "audit.jsonl"
    assert (await bus.cli(capsys, monkeypatch, "export", "--out", str(out_file)))[0] == 0
    lines = out_file.read_bytes().splitlines()
    header = orjson.loads(lines[0])
    header["by_content"], header["filters"] = True, {"status": "routed"}
    lines[0] = orjson.dumps(header)
    out_file.write_bytes(b"\n".join(lines) + b"\n")
    code, out = await bus.cli(capsys, monkeypatch, "verify", "--file", str(out_file))
    assert code == 0 and "complete: every record" in out  # nothing removed yet: still every record
    _drop_last_range(lines, {}, "")
    out_file.write_bytes(b"\n".join(lines) + b"\n")
    code, out = await bus.cli(capsys, monkeypatch, "verify", "--file", str(out_file))
    assert code == 0 and 'a slice ({"status":"routed"}' in out and "not that none is missing" in out


def _edit(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    victim["fields"][0][1] = victim["fields"][0][1].replace("routed", "quarantined", 1) + " "
    lines[12] = orjson.dumps(victim)
    return f"{where} was changed"


def _edit_and_leaf(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    """Its leaf hash re-computed to match: the range as a whole fails."""
    victim["fields"][0][1] += " "
    leaf = record_leaf(victim["id"].encode(), [b"decision", victim["fields"][0][1].encode()])
    victim["leaf"] = base64.b64encode(leaf).decode()
    lines[12] = orjson.dumps(victim)
    return f"{victim['log']} records #0..#49 (ids "


def _repeat(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    lines.insert(13, lines[12])
    return f"(#{victim['index']}, line 14) is out of order (after #{victim['index']}): records were reordered or " \
           "repeated"


def _insert(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    """A copy of a range's last record after it."""
    lines.insert(53, lines[52])
    return "line 54: a record outside any range line"


def _proof(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    doc = orjson.loads(lines[53])
    doc["proof"][0] = base64.b64encode(bytes(32)).decode()
    lines[53] = orjson.dumps(doc)
    return f"{victim['log']} records #50..#99 (ids "


def _drop_range(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    del lines[53:104]
    return f"{victim['log']} records #50..#99 are missing before line 54: deleted from the export"


def _drop_first_range(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    """The first range and its records gone, the end line's count mended: the file still claims the whole log."""
    del lines[2:53]
    end = orjson.loads(lines[-1])
    end["records"] -= 50
    lines[-1] = orjson.dumps(end)
    return f"{victim['log']} records #0..#49 are missing: deleted from the export"


def _drop_last_range(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    """The last range and its records gone, the end line's count mended: only a claim of completeness shows it."""
    at = max(i for i, line in enumerate(lines) if orjson.loads(line)["type"] == "range")
    last = orjson.loads(lines[at])
    end = orjson.loads(lines[-1])
    end["records"] -= last["end"] - last["start"]
    lines[at:] = [orjson.dumps(end)]
    return f"{last['log']} records #{last['start']}..#{last['end'] - 1} are missing: deleted from the export"


def _bad_base64(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    """A field value as base64 that is not: named, not a traceback."""
    victim["fields"][0][1] = {"b64": "abc"}
    lines[12] = orjson.dumps(victim)
    return f"{where}: a field value that is neither text nor base64"


def _bad_proof_hash(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    doc = orjson.loads(lines[53])
    doc["proof"][0] = "é" * 44  # not ASCII: binascii raises ValueError, not binascii.Error
    lines[53] = orjson.dumps(doc)
    return "line 54: a range proof that is not a list of base64 SHA-256 hashes"


def _old_format(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    lines[0] = lines[0].replace(export_mod.FORMAT.encode(), b"intelbus-audit-export/1")
    return f"not an {export_mod.FORMAT} export (it says intelbus-audit-export/1)"


def _delete(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    del lines[12]
    return f"#{victim['index']}..#{victim['index']} are missing"


def _swap(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    lines[12], lines[13] = lines[13], lines[12]
    return f"#{victim['index']}..#{victim['index']} are missing"  # the first sign of it: a gap


def _cut(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    del lines[-3:]
    return "no end line"


def _checkpoint(lines: list[bytes], victim: dict[str, Any], where: str) -> str:
    checkpoint = orjson.loads(lines[1])
    checkpoint["checkpoint"]["body"] = checkpoint["checkpoint"]["body"].replace("time 2", "time 1")
    lines[1] = orjson.dumps(checkpoint)
    return "bad signature"


TAMPERS = {f.__name__.strip("_").replace("_", "-"): f for f in (
    _edit, _edit_and_leaf, _delete, _swap, _repeat, _insert, _proof, _drop_range, _drop_first_range,
    _drop_last_range, _bad_base64, _bad_proof_hash, _cut, _checkpoint, _old_format)}


@pytest.mark.parametrize("tamper", TAMPERS)
async def test_a_tampered_export_is_named(bus: Bus, tmp_path: Path, tamper: str, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Each tamper of an export file (lines[12] is a record in the first range) is named."""
    monkeypatch.setattr(export_mod, "RANGE_RECORDS", 50)  # several ranges per log: lines[2] and lines[53] start two
    out_file = tmp_path / "audit.jsonl"
    assert (await bus.cli(capsys, monkeypatch, "export", "--out", str(out_file)))[0] == 0
    lines = out_file.read_bytes().splitlines()
    assert [orjson.loads(lines[i])["type"] for i in (2, 52, 53)] == ["range", "record", "range"]
    victim = orjson.loads(lines[12])
    expected = TAMPERS[tamper](lines, victim, f"{victim['log']} record {victim['id']} (#{victim['index']}, line 13)")
    out_file.write_bytes(b"\n".join(lines) + b"\n")
    code, out = await bus.cli(capsys, monkeypatch, "verify", "--file", str(out_file))
    assert code == 1 and expected in out, out


async def test_a_shrunk_log_is_written_to_the_audit_stream_once(bus: Bus, tmp_path: Path) -> None:
    teams = list(load_ruleset(None).team_ids)
    reader = raw_reader(aioredis.Redis.from_url(bus.proc.url))
    checkpointer = Checkpointer(reader, KEYS, audit_logs(KEYS, teams), router_signer(None, bus.data),
                                CheckpointFile(checkpoint_file(bus.data)), origin(KEYS), "again")
    checkpointer.resume()  # from the router's last checkpoint in the file: nothing to read again
    assert checkpointer.logs[DECISIONS].frontier.size == COUNT
    await bus.client.delete(KEYS.checkpointer)  # the router's lease, let go
    first = (await bus.rows())[0][0]
    await bus.client.xdel(DECISIONS, first)
    for _ in range(2):
        await checkpointer.tick()
    await reader.aclose()
    events = [orjson.loads(f[b"event"]) for _, f in stream_rows(await bus.client.xrange(KEYS.audit))]
    shrank = [e for e in events if e["type"] == "audit_log_shrank"]
    assert shrank == [{"type": "audit_log_shrank", "log": DECISIONS, "checkpointed": COUNT, "found": COUNT - 1,
                       "by": "again"}]


async def test_only_the_lease_holder_signs(bus: Bus, tmp_path: Path) -> None:
    teams = list(load_ruleset(None).team_ids)
    made = []
    for name in ("one", "two"):
        reader = raw_reader(aioredis.Redis.from_url(bus.proc.url))
        made.append(Checkpointer(reader, KEYS, audit_logs(KEYS, teams), new_key_file(tmp_path / f"{name}.pem"),
                                 CheckpointFile(tmp_path / f"{name}.jsonl"), origin(KEYS), name))
    await bus.client.delete(KEYS.checkpointer)
    results = [await checkpointer.tick() for checkpointer in made]
    assert results[0] is not None and results[1] is None
    assert await bus.client.get(KEYS.checkpointer) == b"one"
    for checkpointer in made:
        await checkpointer.client.aclose()


async def test_a_stop_during_a_tick_still_signs_what_was_committed_before_it(bus: Bus, tmp_path: Path) -> None:
    """The router sets stop once everything is decided; a tick already under way may have read the logs
    before the last commits. The checkpointer must tick once more, not take that tick as its last."""
    stop = asyncio.Event()
    client = bus.client

    class Late(Checkpointer):
        async def _catch_up(self, state: Any) -> bool:
            grown = await super()._catch_up(state)
            if state.name == DECISIONS and not stop.is_set():  # a commit lands behind this tick's read
                await client.xadd(DECISIONS, {"decision": b'{"late": true}'})
                stop.set()
            return grown

    await client.delete(KEYS.checkpointer)
    reader = raw_reader(aioredis.Redis.from_url(bus.proc.url))
    file = CheckpointFile(tmp_path / "late.jsonl")
    late = Late(reader, KEYS, audit_logs(KEYS, list(load_ruleset(None).team_ids)), new_key_file(tmp_path / "l.pem"),
                file, origin(KEYS), "late")
    await late.run(stop)
    last = file.last()
    assert last is not None and late.written == 2
    sizes = {head.name: head.size for head in from_json(last[1]).logs}
    assert sizes[DECISIONS] == COUNT + 1 == await client.xlen(DECISIONS)


async def test_explain_says_which_rules_decided_and_that_the_record_verifies(
        bus: Bus, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    rows = stream_rows(await bus.client.xrange(DECISIONS))
    routed = next((i, orjson.loads(f[b"decision"])) for i, f in rows[1:] if orjson.loads(f[b"decision"])["deliveries"])
    decision_id, record = routed[0].decode(), routed[1]
    code, out = await bus.cli(capsys, monkeypatch, "explain", decision_id)
    assert code == 0
    first = record["deliveries"][0]
    assert f"-> {first['recipient']}" in out and f"selected by {first['rules'][0]}: " in out
    assert "verifies: #" in out and "(the one loaded now)" in out
    await bus.client.xdel(DECISIONS, rows[0][0])
    code, out = await bus.cli(capsys, monkeypatch, "explain", decision_id)
    assert "does NOT verify" in out
    code, out = await bus.cli(capsys, monkeypatch, "explain", "1-1")
    assert code == 2 and "no record 1-1" in out


def test_no_public_key_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTELBUS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1")
    assert main(["audit", "verify"]) == 2
    assert "no public key: give --public-key" in capsys.readouterr().err



async def _export(bus: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                  *filters: str) -> list[dict[str, Any]]:
    out_file = tmp_path / f"export-{len(list(tmp_path.iterdir()))}.jsonl"
    code, out = await bus.cli(capsys, monkeypatch, "export", "--out", str(out_file), *filters)
    assert code == 0, out
    code, out = await bus.cli(capsys, monkeypatch, "verify", "--file", str(out_file))
    assert code == 0, out  # every slice verifies on its own
    return [line for line in map(orjson.loads, out_file.read_bytes().splitlines()) if line["type"] == "record"]


def _decision(record: dict[str, Any]) -> dict[str, Any]:
    assert record["fields"][0][0] == "decision"
    loaded: dict[str, Any] = orjson.loads(record["fields"][0][1])
    return loaded


async def test_export_slices_by_status_team_submission_and_time(
        bus: Bus, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    live = [(i.decode(), orjson.loads(f[b"decision"])) for i, f in stream_rows(await bus.client.xrange(DECISIONS))]
    quarantined = {i for i, d in live if d["status"] == "quarantined"}
    got = await _export(bus, tmp_path, capsys, monkeypatch, "--status", "quarantined")
    assert {r["id"] for r in got if r["log"] == DECISIONS} == quarantined and quarantined

    team = next(d["deliveries"][0]["recipient"] for _, d in live if d["deliveries"])
    to_team = {i for i, d in live if team in {x["recipient"] for x in d["deliveries"] + d["withheld"]}}
    got = await _export(bus, tmp_path, capsys, monkeypatch, "--team", team)
    assert {r["id"] for r in got if r["log"] == DECISIONS} == to_team
    assert {r["log"] for r in got} <= {DECISIONS, KEYS.consultations(team)}

    submission = live[17][1]["submission_id"]
    got = await _export(bus, tmp_path, capsys, monkeypatch, "--submission", submission)
    assert [_decision(r)["submission_id"] for r in got if r["log"] == DECISIONS] == [submission]

    got = await _export(bus, tmp_path, capsys, monkeypatch, "--since", live[50][0], "--until", live[59][0])
    assert [(r["index"], r["id"]) for r in got if r["log"] == DECISIONS] == [(50 + k, live[50 + k][0])
                                                                            for k in range(10)]

    csv_file = tmp_path / "audit.csv"
    code, _ = await bus.cli(capsys, monkeypatch, "export", "--out", str(csv_file), "--format", "csv")
    rows = csv_file.read_text().splitlines()
    assert code == 0 and rows[0].startswith("log,index,id,time,submission_id")
    assert sum(1 for row in rows[1:] if row.startswith(f"{DECISIONS},")) == COUNT
