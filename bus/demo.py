"""``intelbus demo``: the bus end to end on the embedded Redis, in one process.

Starts the embedded redis-server (unless ``REDIS_URL`` is set) and the router, publishes the demo story
as partners would (plus a spoofed and a malformed entry, written the way ``redis-cli XADD`` would), waits
until every entry is decided, then prints what each team's feed received, what was quarantined and what
each partner reads back on its receipt stream, and verifies the audit log against the checkpoints the
router signed (as ``intelbus audit verify`` does).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import redis.asyncio as aioredis

from bus.audit.checkpointer import audit_logs, origin
from bus.audit.log import raw_reader
from bus.audit.signing import keyring_dir, load_public_keys
from bus.audit.store import checkpoint_file, every_checkpoint
from bus.audit.verify import Report, trust, verify_live
from bus.keys import Keys
from bus.policy import Reference, Ruleset
from bus.samples import demo_story
from bus.service import Router, run_router
from bus.settings import Settings
from bus.transport import client as redis_client
from bus.transport import text, xrange_rows
from producers import PartnerClient

WAIT_SECONDS = 30.0


async def run_demo(settings: Settings, ruleset: Ruleset, reference: Reference, url: str, out: TextIO) -> int:
    keys = settings.keys()
    client = redis_client(url)
    try:
        start = await _last_id(client, keys.decisions)
        stop, ready = asyncio.Event(), asyncio.Event()
        running: list[Router] = []

        def on_ready(router: Router) -> None:
            running.append(router)
            ready.set()

        router_task = asyncio.create_task(run_router(settings, ruleset, reference, url, stop, ready=on_ready))
        await asyncio.wait_for(ready.wait(), WAIT_SECONDS)
        out.write(f"router started: ruleset {ruleset.digest[:19]}…, reference {reference.digest[:19]}…\n")
        started = time.perf_counter()
        written = await _publish(client, keys, out)
        await asyncio.wait_for(running[0].until_idle(), WAIT_SECONDS)  # every entry decided
        decisions = await _decisions_since(client, keys, start)
        out.write(f"{len(decisions)} decisions, published and routed in {time.perf_counter() - started:.2f} s\n")
        stop.set()
        router: Router = await router_task
        _show(decisions, await _feeds(client, keys, decisions), await _quarantine(client, keys), out)
        await _show_receipts(client, keys, written, out)
        stats = router.stats
        out.write(f"\nrouter: {stats.routed + stats.scouted} routed ({stats.scouted} threat to life by the scout, "
                  f"ahead of the queue), {stats.quarantined} quarantined, "
                  f"{stats.duplicate} duplicate. Every decision is on {keys.decisions}; "
                  f"replay it with: intelbus decisions --json\n")
        if not settings.audit_checkpoints:
            return 0
        report = await _verify_audit(client, keys, settings, ruleset)
        out.write(f"\n{report.summary()}\n(the same check: intelbus audit verify; an auditor's copy: "
                  "intelbus audit export --out audit.jsonl)\n")
        return 1 if report.faults else 0
    finally:
        await client.aclose()


async def _verify_audit(client: aioredis.Redis, keys: Keys, settings: Settings, ruleset: Ruleset) -> Report:
    """What ``intelbus audit verify`` says of the logs now: the router signed a last checkpoint as it stopped."""
    trusted = trust(await every_checkpoint(client, keys, checkpoint_file(settings.region_dir)),
                    load_public_keys([keyring_dir(settings.region_dir)]), origin(keys))
    return await verify_live(raw_reader(client), audit_logs(keys, list(ruleset.team_ids)), trusted)


async def _last_id(client: aioredis.Redis, stream: str) -> str:
    last = await xrange_rows(client, stream, reverse=True, count=1)
    return last[0][0].decode() if last else "0-0"


async def _publish(client: aioredis.Redis, keys: Keys, out: TextIO) -> dict[str, list[str]]:
    """Publish the story; the entry ids written, by partner."""
    story = demo_story(datetime.now(UTC).replace(microsecond=0))
    by_partner: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for submission in story:
        by_partner[submission["partner"]].append(submission)
    written = {partner: await PartnerClient(client, partner, keys).publish_many(items)
               for partner, items in by_partner.items()}
    # A retry of the DAML SAR (the bus recognises the duplicate), a partner claiming to be another, and a
    # malformed entry: written with plain XADDs, as any Redis client (redis-cli included) would.
    spoofed = {**story[6], "partner": "dwp", "submission_id": "00000000-0000-4000-8000-000000000001"}
    for partner, payload in (("ukfiu", orjson.dumps(story[0])), ("hmrc", orjson.dumps(spoofed)),
                             ("dwp", b'{"schema_version": 1, "kind": "sar", oops')):
        written.setdefault(partner, []).append(text(await client.xadd(keys.ingress(partner), {"payload": payload})))
    out.write(f"published {len(story)} submissions from {len(by_partner)} partners, one retry, "
              "one spoofed and one malformed entry\n")
    return written


async def _show_receipts(client: aioredis.Redis, keys: Keys, written: dict[str, list[str]], out: TextIO) -> None:
    """What each partner can read back: its receipts (only its own, never who received a submission)."""
    out.write("\nWhat each partner reads back on its receipt stream (its own only; never who received it):\n")
    for partner, ids in sorted(written.items()):
        receipts = (await PartnerClient(client, partner, keys).wait_for_receipts(ids, WAIT_SECONDS)).values()
        said = Counter(r.outcome if r.outcome != "quarantined" else f"quarantined ({r.reason_class})"
                       for r in receipts)
        out.write(f"  {keys.receipts(partner):<32} " + ", ".join(f"{k} {n}" for k, n in sorted(said.items())) + "\n")


async def _decisions_since(client: aioredis.Redis, keys: Keys, start: str) -> list[dict[str, Any]]:
    entries = await xrange_rows(client, keys.decisions, min=f"({start}")
    return [orjson.loads(fields[b"decision"]) | {"decision_id": entry_id.decode()} for entry_id, fields in entries]


Rows = dict[str, list[dict[str, str]]]


async def _feeds(client: aioredis.Redis, keys: Keys, decisions: list[dict[str, Any]]) -> Rows:
    """What actually arrived in each team's feed streams for these decisions."""
    ours = {d["decision_id"] for d in decisions}
    teams = sorted({delivery["recipient"] for d in decisions for delivery in d["deliveries"]})
    arrived: dict[str, list[dict[str, str]]] = {}
    for team in teams:
        rows = []
        for stream in keys.feeds(team):
            for _, fields in await xrange_rows(client, stream):
                row = {k.decode(): v.decode(errors="replace") for k, v in fields.items()}
                if row["decision_id"] in ours:
                    rows.append(row | {"stream": stream})
        arrived[team] = rows
    return arrived


async def _quarantine(client: aioredis.Redis, keys: Keys) -> list[dict[str, str]]:
    """The quarantine stream; ``_show`` keeps this run's entries (by decision id)."""
    return [{k.decode(): v.decode(errors="replace") for k, v in fields.items()}
            for _, fields in await xrange_rows(client, keys.quarantine)]


def _show(decisions: list[dict[str, Any]], feeds: dict[str, list[dict[str, str]]],
          quarantine: list[dict[str, str]], out: TextIO) -> None:
    by_id = {d["decision_id"]: d for d in decisions}
    out.write("\nWhat each team's feed received (priority, view, due, submission):\n")
    for team, rows in feeds.items():
        out.write(f"  {team}\n")
        for row in rows:
            decision = by_id[row["decision_id"]]
            delivery = next(d for d in decision["deliveries"] if d["recipient"] == team)
            view = row["view"] + (f" (no {', '.join(delivery['omitted'])})" if delivery["omitted"] else "")
            lane = "immediate lane" if row["stream"].endswith(":immediate") else ""
            out.write(f"    {row['priority']:<9} {view:<55} due {row['due'] or '-':<25} "
                      f"{decision['kind']} from {decision['partner']} {lane}\n")
    ours = {d["decision_id"] for d in decisions}
    out.write("\nQuarantined (routed to nobody, kept whole with the reason):\n")
    for row in quarantine:
        if row["decision_id"] in ours:
            out.write(f"  {row['stream']} {row['entry_id']}: {row['reason'][:150]}\n")
    out.write("\nWithheld by handling rules, and duplicates:\n")
    for decision in decisions:
        for withheld in decision["withheld"]:
            out.write(f"  {withheld['recipient']}: {withheld['rule']} {withheld['reason']} "
                      f"({decision['kind']} from {decision['partner']})\n")
        if decision["status"] == "duplicate":
            out.write(f"  duplicate {decision['submission_id']} from {decision['partner']}: nothing routed again\n")
