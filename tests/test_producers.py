"""The partner client against a real private redis-server: exact bytes on the wire, local validation,
spoofing refused, the publish command, and TransportError when Redis is gone."""

from __future__ import annotations

import asyncio
import io
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aredis
from redis_procs import RedisProc
from redis_replies import stream_rows

from bus.cli.publish import PublishSummary, publish_file
from bus.errors import SubmissionRejected, TransportError
from bus.keys import Keys
from bus.redis_binary import find_redis_cli
from producers import PartnerClient, retry_transport
from schemas.parse import parse_submission

PARTNER = "ukfiu"


def sar(**changes: Any) -> dict[str, Any]:
    """A valid SAR (the SUBMISSIONS.md example) with a fresh submission_id."""
    submission: dict[str, Any] = {
        "schema_version": 1, "submission_id": str(uuid.uuid4()), "partner": PARTNER, "kind": "sar",
        "submitted_at": "2026-12-17T10:15:00+00:00", "classification": "OFFICIAL-SENSITIVE",
        "area": "Middlesbrough", "sar_reference": "SAR-2026-0001", "disclosure_date": "2026-12-17",
        "defence_type": "daml", "glossary_codes": ["XXS99XX", "XXPROPXX"], "reporter_type": "bank",
        "reporter_name": "Example Bank plc", "amount_gbp": 48500,
        "narrative": "Customer seeks to transfer sale proceeds of a property bought in cash — Zoë's café.",
        "nominals": [{"full_name": "Jordan Example", "dob": "1988-03-02", "role": "suspect"}],
    }
    submission.update(changes)
    return submission


async def payloads(r: aredis.Redis, stream: str) -> list[tuple[str, bytes]]:
    return [(entry_id.decode(), fields[b"payload"]) for entry_id, fields in stream_rows(await r.xrange(stream))]


async def test_publish_one_sends_exact_bytes(r: aredis.Redis, keys: Keys) -> None:
    client = PartnerClient(r, PARTNER, keys)
    as_dict = sar()
    rest = {key: value for key, value in sar().items() if key != "schema_version"}
    spaced = b'{ "schema_version" : 1,\n' + orjson.dumps(rest)[1:]  # odd spacing stays exactly as given
    model = parse_submission(orjson.dumps(sar()))
    ids = [await client.publish(as_dict), await client.publish(spaced), await client.publish(model)]
    entries = stream_rows(await r.xrange(keys.ingress(PARTNER)))
    assert [entry_id.decode() for entry_id, _ in entries] == ids
    assert [set(fields) for _, fields in entries] == [{b"payload"}] * 3  # one field, nothing else
    assert [fields[b"payload"] for _, fields in entries] == [
        orjson.dumps(as_dict), spaced, orjson.dumps(model.model_dump(mode="json", exclude_unset=True))]
    assert await r.keys(f"{keys.prefix}:*") == [keys.ingress(PARTNER).encode()]  # the whole keyspace


async def test_publish_many_in_order_across_chunks(r: aredis.Redis, keys: Keys) -> None:
    items = [sar() for _ in range(1203)]
    ids = await PartnerClient(r, PARTNER, keys).publish_many(items, chunk=500)
    assert len(ids) == 1203
    got = await payloads(r, keys.ingress(PARTNER))
    assert [entry_id for entry_id, _ in got] == ids
    assert [payload for _, payload in got] == [orjson.dumps(item) for item in items]


async def test_invalid_item_names_index_and_field_and_sends_nothing(r: aredis.Redis, keys: Keys) -> None:
    client = PartnerClient(r, PARTNER, keys)
    bad = sar(nominals=[{"full_name": "A Person", "dob": "02/03/1988"}])
    with pytest.raises(SubmissionRejected) as caught:
        await client.publish_many([sar(), sar(), bad, sar()])
    assert caught.value.reason.startswith("item 2: ")
    assert "nominals[0].dob" in caught.value.reason
    assert caught.value.submission_id == bad["submission_id"]
    with pytest.raises(SubmissionRejected, match="unknown field 'colour'"):
        await client.publish(sar(colour="red"))
    with pytest.raises(SubmissionRejected, match="not valid JSON"):
        await client.publish(b"{not json")
    with pytest.raises(SubmissionRejected, match="256 KiB"):
        await client.publish(sar(narrative="x" * (300 * 1024)))
    assert await r.xlen(keys.ingress(PARTNER)) == 0
    assert await r.keys(f"{keys.prefix}:*") == []


async def test_spoofed_partner_is_refused(r: aredis.Redis, keys: Keys) -> None:
    with pytest.raises(SubmissionRejected, match="quarantined as spoofing") as caught:
        await PartnerClient(r, PARTNER, keys).publish(sar(partner="hmrc"))
    assert "'hmrc'" in caught.value.reason
    assert await r.xlen(keys.ingress(PARTNER)) == 0
    assert await r.xlen(keys.ingress("hmrc")) == 0


async def test_redis_cli_reads_back_the_exact_json(r: aredis.Redis, keys: Keys, redis_url_session: str) -> None:
    submission = sar()
    entry_id = await PartnerClient(r, PARTNER, keys).publish(submission)
    cli = find_redis_cli()
    result = subprocess.run([str(cli), "-u", redis_url_session, "XRANGE", keys.ingress(PARTNER), "-", "+"],
                            capture_output=True, check=True, timeout=10)
    assert result.stdout.split(b"\n")[:3] == [entry_id.encode(), b"payload", orjson.dumps(submission)]
    assert "Zoë's café".encode() in result.stdout  # UTF-8 untouched


def write_lines(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


async def test_publish_file_reports_bad_lines_and_publishes_the_rest(r: aredis.Redis, keys: Keys,
                                                                      tmp_path: Path) -> None:
    good = [sar() for _ in range(25)]
    lines = [orjson.dumps(s) for s in good[:2]] + [b"{broken", b""] + [orjson.dumps(s) for s in good[2:]]
    lines.insert(10, orjson.dumps(sar(partner="hmrc")))
    path = write_lines(tmp_path / "subs.jsonl", lines)
    out, err = io.StringIO(), io.StringIO()
    summary = await publish_file(r, PARTNER, str(path), keys, out=out, err=err, chunk=4)
    assert isinstance(summary, PublishSummary)
    assert (summary.published, summary.rejected) == (25, 2)
    assert [number for number, _ in summary.rejections] == [3, 11]
    assert "line 3: payload is not valid JSON" in err.getvalue()
    assert "line 11: partner is 'hmrc'" in err.getvalue()
    progress = [line for line in err.getvalue().splitlines() if line.startswith("published ")]
    assert progress[-1].startswith("published 25/25 (100%)")
    assert 3 <= len(progress) <= 11 and "\r" not in err.getvalue()  # not a terminal: about every 10 %
    assert out.getvalue().startswith("published 25, rejected 2, in ")
    assert [p for _, p in await payloads(r, keys.ingress(PARTNER))] == [orjson.dumps(s) for s in good]
    assert summary.entry_ids == [entry_id for entry_id, _ in await payloads(r, keys.ingress(PARTNER))]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


async def test_publish_file_progress_bar_on_a_terminal(r: aredis.Redis, keys: Keys) -> None:
    source = io.BytesIO(b"".join(orjson.dumps(sar()) + b"\n" for _ in range(10)))
    err = FakeTerminal()
    summary = await publish_file(r, PARTNER, source, keys, out=io.StringIO(), err=err, chunk=3)
    assert summary.published == 10 and summary.rejected == 0 and summary.rate > 0
    frames = err.getvalue().split("\r")[1:]
    assert len(frames) == 5  # 4 chunks + the final frame
    assert frames[-1].startswith("[" + "#" * 30 + "] 10/10 100%") and frames[-1].endswith("/s\n")


async def test_transport_error_when_the_server_is_down(redis_proc: RedisProc) -> None:
    client_redis = aredis.Redis.from_url(redis_proc.url)
    try:
        client = PartnerClient(client_redis, PARTNER, attempts=2, base_delay=0.01)
        await client.publish(sar())
        redis_proc.kill9()
        with pytest.raises(TransportError, match="Redis unreachable"):
            await client.publish(sar())
        started = time.monotonic()
        with pytest.raises(TransportError):
            await client.publish_many([sar(), sar()])
        assert time.monotonic() - started < 5
    finally:
        await client_redis.aclose()


async def test_chunk_is_resent_after_the_server_comes_back(redis_proc: RedisProc) -> None:
    client_redis = aredis.Redis.from_url(redis_proc.url)
    try:
        client = PartnerClient(client_redis, PARTNER, attempts=8, base_delay=0.05)
        first = await client.publish(sar())
        redis_proc.kill9()
        items = [sar() for _ in range(3)]
        publishing = asyncio.create_task(client.publish_many(items))
        await asyncio.to_thread(redis_proc.restart)  # AOF reloaded; the retry loop reconnects
        ids = await asyncio.wait_for(publishing, 15)
        got = await payloads(client_redis, Keys().ingress(PARTNER))
        assert got[0][0] == first
        assert [entry_id for entry_id, _ in got[1:]] == ids
        assert [p for _, p in got[1:]] == [orjson.dumps(s) for s in items]
    finally:
        await client_redis.aclose()


async def test_retry_transport_gives_up_after_attempts() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransportError("down")
        return "ok"

    assert await retry_transport(flaky, attempts=3, base_delay=0.001) == "ok"
    calls.clear()
    with pytest.raises(TransportError):
        await retry_transport(flaky, attempts=2, base_delay=0.001)
    assert len(calls) == 2
