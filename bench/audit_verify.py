"""How fast ``intelbus audit verify`` re-hashes the live decision log and an export of it, against reading
each alone.

Fills a private redis-server's decision log with COUNT real decision records (the realistic mix decided
by the pure core), signs one checkpoint over it, exports the whole log as JSON lines, then times,
alternately: (a) the bare paged XRANGE read of the whole log (the baseline: what no verifier can beat on
this client), (v) ``verify_live`` over the same log, (p) reading and JSON-parsing every line of the export
(its baseline), and (f) ``verify_export`` of it. Prints records/s of each, v/a and f/p.
Run it on purpose: ``.venv/bin/python bench/audit_verify.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import redis.asyncio as aioredis

from bus.audit.checkpointer import Checkpointer, audit_logs, origin
from bus.audit.export import Exporter, Filters
from bus.audit.log import iter_raw, raw_reader
from bus.audit.offline import verify_export
from bus.audit.signing import load_public_keys, new_key_file, public_pem
from bus.audit.store import CheckpointFile, redis_checkpoints
from bus.audit.verify import Trusted, trust, verify_live
from bus.keys import Keys
from bus.policy import decide_payload, load_policy
from bus.samples import realistic_mix
from bus.servers import RedisProc

KEYS = Keys()


async def fill(url: str, count: int) -> int:
    ruleset, reference = load_policy(None, None)
    now = datetime.now(UTC)
    client = aioredis.Redis.from_url(url)
    size = 0
    for start in range(0, count, 2000):
        pipe = client.pipeline(transaction=False)
        for submission in realistic_mix(min(2000, count - start), seed=start):
            decision, _ = decide_payload(orjson.dumps(submission), ruleset, reference, now)
            record = orjson.dumps(decision.to_dict() | {"stream": "intel:ingress:x", "entry_id": "1-0"})
            size += len(record)
            pipe.xadd(KEYS.decisions, {"decision": record})
        await pipe.execute()
    await client.aclose()
    return size // count


async def read_only(url: str) -> float:
    client = raw_reader(aioredis.Redis.from_url(url))
    started, n = time.perf_counter(), 0
    async for page in iter_raw(client, KEYS.decisions, page=1000):
        n += len(page)
    await client.aclose()
    return n / (time.perf_counter() - started)


async def trusted_in(url: str, key_dir: Path) -> Trusted:
    client = aioredis.Redis.from_url(url)
    try:
        return trust([f async for f in redis_checkpoints(client, KEYS)], load_public_keys([key_dir]), origin(KEYS))
    finally:
        await client.aclose()


async def verify(url: str, key_dir: Path, teams: list[str]) -> tuple[float, str]:
    client = aioredis.Redis.from_url(url)
    report = await verify_live(raw_reader(client), audit_logs(KEYS, teams), await trusted_in(url, key_dir))
    await client.aclose()
    if report.faults:
        raise RuntimeError(report.summary())
    return report.records / report.seconds, report.summary()


async def export(url: str, key_dir: Path, out: Path) -> float:
    client = raw_reader(aioredis.Redis.from_url(url))
    exporter = Exporter(client, KEYS, await trusted_in(url, key_dir), Filters())
    started = time.perf_counter()
    with out.open("wb") as handle:
        written = await exporter.write_jsonl(handle, await exporter.select())
    await client.aclose()
    return written / (time.perf_counter() - started)


def parse_only(path: Path) -> float:
    started, n = time.perf_counter(), 0
    with path.open("rb") as handle:
        for line in handle:
            n += orjson.loads(line)["type"] == "record"
    return n / (time.perf_counter() - started)


def verify_file(path: Path, key_dir: Path) -> float:
    report = verify_export(path, load_public_keys([key_dir]))
    if report.faults:
        raise RuntimeError(report.summary())
    return report.records / report.seconds


def line(label: str, rates: list[float]) -> str:
    runs = ", ".join(f"{r:,.0f}" for r in rates)
    return f"{label:<31}{statistics.median(rates):>9,.0f} records/s (runs: {runs})"


async def main(count: int, repeat: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="intelbus-bench-audit-"))
    server = RedisProc(folder / "redis", durable=False).start()
    try:
        record_size = await fill(server.url, count)
        ruleset, _ = load_policy(None, None)
        teams = list(ruleset.team_ids)
        signer = new_key_file(folder / "keys" / "signing.key")
        (folder / "keys" / "signing.pub").write_bytes(public_pem(signer.public))
        client = raw_reader(aioredis.Redis.from_url(server.url))
        checkpointer = Checkpointer(client, KEYS, audit_logs(KEYS, teams), signer,
                                    CheckpointFile(folder / "checkpoints.jsonl"), origin(KEYS), "bench")
        started = time.perf_counter()
        await checkpointer.tick()
        sign_rate = count / (time.perf_counter() - started)
        await client.aclose()
        export_rate = await export(server.url, folder / "keys", folder / "export.jsonl")
        reads, verifies, parses, files, summary = [], [], [], [], ""
        for _ in range(repeat):
            reads.append(await read_only(server.url))
            rate, summary = await verify(server.url, folder / "keys", teams)
            verifies.append(rate)
            parses.append(parse_only(folder / "export.jsonl"))
            files.append(verify_file(folder / "export.jsonl", folder / "keys"))
        size = (folder / "export.jsonl").stat().st_size
        print(f"{count:,} decision records (median {record_size} B) on a private redis-server {server.port}")
        print(line("(a) paged XRANGE read alone:", reads))
        print(line("(v) audit verify (live):", verifies) + f"; v/a = {median_ratio(verifies, reads):.2f}")
        print(line("(p) export lines parsed alone:", parses) + f" ({size / 1e6:,.1f} MB)")
        print(line("(f) audit verify --file:", files) + f"; f/p = {median_ratio(files, parses):.2f}")
        for name, rates in (("live", verifies), ("file", files)):
            met = "met" if statistics.median(rates) >= 100_000 else "NOT met"
            print(f"    {name} target >= 100,000 records/s: {met}")
        print(f"checkpointer, first tick over the whole log: {sign_rate:,.0f} records/s; "
              f"export: {export_rate:,.0f} records/s")
        print(summary)
    finally:
        server.stop()


def median_ratio(rates: list[float], baseline: list[float]) -> float:
    return statistics.median(rates) / statistics.median(baseline)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.count, args.repeat))
