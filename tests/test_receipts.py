"""Receipts (bus.receipts) on a real redis-server with the real router: one per decision, written with it,
on the ingress owner's receipt stream, saying what became of the entry and never who received it."""

from __future__ import annotations

import subprocess
from collections import Counter

import orjson
import pytest
import redis.asyncio as aioredis
from policy_cases import conditions, gain_request, intelligence_report, sar
from redis_procs import RedisProc
from redis_replies import stream_rows
from router_harness import decisions, drained, running_router

from bus.errors import ReceiptsMissing
from bus.ids import predecessor
from bus.keys import Keys
from bus.reasons import REASON_CLASSES
from bus.receipts import AFTER_ADMISSION, CLASS_ONLY, Receipt, told
from bus.redis_binary import find_redis_cli
from bus.transport import text
from producers import PartnerClient

pytestmark = pytest.mark.asyncio
KEYS = Keys()
UKFIU, RECEIPTS = KEYS.ingress("ukfiu"), KEYS.receipts("ukfiu")
ROUTED_FIELDS = {b"entry_id", b"submission_id", b"outcome", b"decision_id"}
OTHER_ID = "00000000-0000-4000-8000-0000000000b2"


async def test_every_decision_has_one_receipt_saying_what_became_of_the_entry(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    first = sar(defence_type="daml")
    written = {
        "routed": {"payload": orjson.dumps(first)},
        "duplicate": {"payload": orjson.dumps(first)},  # the partner's retry
        "junk": {"payload": b'{"schema_version": 1,'},
        "spoofed": {"payload": orjson.dumps(intelligence_report(partner="force-durham"))},
        "two fields": {"payload": orjson.dumps(sar(submission_id="00000000-0000-4000-8000-000000000009")),
                       "trace": b"x"},
    }
    ids = {name: text(await client.xadd(UKFIU, fields)) for name, fields in written.items()}  # type: ignore[arg-type]
    async with running_router(redis_proc.url) as router:
        await drained(router)
    by_entry = {record["entry_id"]: record for record in await decisions(client)}
    rows = stream_rows(await client.xrange(RECEIPTS))
    assert Counter(fields[b"entry_id"].decode() for _, fields in rows) == Counter(ids.values())  # one each
    receipts = {fields[b"entry_id"].decode(): fields for _, fields in rows}
    for name, entry_id in ids.items():
        fields, decision = receipts[entry_id], by_entry[entry_id]
        assert fields[b"decision_id"].decode() == decision["decision_id"], name
        assert fields[b"outcome"].decode() == {"routed": "accepted"}.get(decision["status"], decision["status"]), name
        assert fields[b"submission_id"].decode() == (decision["submission_id"] or ""), name
    assert receipts[ids["routed"]].keys() == ROUTED_FIELDS  # nothing about recipients, priority or views
    assert receipts[ids["duplicate"]] == {
        b"entry_id": ids["duplicate"].encode(), b"submission_id": first["submission_id"].encode(),
        b"outcome": b"duplicate", b"decision_id": by_entry[ids["duplicate"]]["decision_id"].encode(),
        b"original_decision_id": by_entry[ids["routed"]]["decision_id"].encode()}
    classes = {name for _, name in REASON_CLASSES}
    for name, expected in (("junk", "invalid submission"), ("spoofed", "spoofing"), ("two fields", "malformed entry")):
        fields = receipts[ids[name]]
        assert fields.keys() == ROUTED_FIELDS | {b"reason", b"reason_class"}, name
        assert fields[b"reason"].decode() == by_entry[ids[name]]["reason"]
        assert fields[b"reason_class"].decode() == expected and expected in classes
    assert not await client.exists(KEYS.receipts("force-durham"))  # the spoofed-for partner hears nothing
    await client.aclose()


async def test_the_partner_client_waits_for_its_receipts_in_the_order_asked(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    partner = PartnerClient(client, "ukfiu")
    subs = [sar(submission_id=f"00000000-0000-4000-8000-{i:012d}") for i in range(5)]
    async with running_router(redis_proc.url) as router:
        ids = await partner.publish_many([*subs, subs[0]])  # the last: a resubmission
        got = await partner.wait_for_receipts(reversed(ids), timeout=30)
        await drained(router)
    assert list(got) == list(reversed(ids)) and all(isinstance(r, Receipt) for r in got.values())
    assert [got[i].outcome for i in ids] == ["accepted"] * 5 + ["duplicate"]
    assert [got[i].submission_id for i in ids] == [s["submission_id"] for s in [*subs, subs[0]]]
    assert got[ids[-1]].original_decision_id == got[ids[0]].decision_id
    assert str(got[ids[-1]]) == (f"{ids[-1]} {subs[0]['submission_id']}: duplicate of decision "
                                 f"{got[ids[0]].decision_id} [decision {got[ids[-1]].decision_id}]")
    await client.aclose()


async def test_waiting_for_receipts_that_do_not_come_says_which_and_keeps_those_that_did(
        redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    partner = PartnerClient(client, "ukfiu")
    async with running_router(redis_proc.url) as router:
        decided = await partner.publish(sar())
        await drained(router)
    never = await partner.publish(sar(submission_id="00000000-0000-4000-8000-000000000777"))  # no router now
    with pytest.raises(ReceiptsMissing, match=rf"1 of 2 entries on {UKFIU} have no receipt after 0.2 s "
                                              rf"\(first: {never}\): is the router running") as missing:
        await partner.wait_for_receipts([decided, never], timeout=0.2)
    assert missing.value.missing == [never] and list(missing.value.received) == [decided]
    await client.aclose()


async def test_what_is_not_a_receipt_on_the_stream_is_skipped(redis_proc: RedisProc) -> None:
    """On Redis 6.2 a partner may write its own receipt stream (bus.acl): what it wrote is not taken for one."""
    client = aioredis.Redis.from_url(redis_proc.url)
    partner = PartnerClient(client, "ukfiu")
    entry_id = await partner.publish(sar())
    for forged in ({"entry_id": entry_id, "outcome": "delivered to durham.fib", "decision_id": "1-0"},
                   {"entry_id": entry_id, "outcome": "accepted"}, {"junk": "x"}):
        await client.xadd(RECEIPTS, forged)  # type: ignore[arg-type]
    async with running_router(redis_proc.url) as router:
        got = await partner.wait_for_receipts([entry_id], timeout=30)
        await drained(router)
    [decision] = await decisions(client)
    assert got[entry_id].decision_id == decision["decision_id"] and got[entry_id].outcome == "accepted"
    await client.aclose()


async def test_a_redis_cli_partner_reads_its_receipt(redis_proc: RedisProc) -> None:
    """What a partner in any language does: XADD, then XREAD its receipt stream from just before that id."""
    cli = [str(find_redis_cli()), "-p", str(redis_proc.port)]
    payload = orjson.dumps(sar()).decode()
    entry_id = subprocess.run([*cli, "XADD", UKFIU, "*", "payload", payload], capture_output=True, text=True,
                              check=True).stdout.strip()
    async with running_router(redis_proc.url) as router:
        await drained(router)
    reply = subprocess.run([*cli, "XREAD", "COUNT", "10", "BLOCK", "5000", "STREAMS", RECEIPTS,
                            predecessor(entry_id)], capture_output=True, text=True, check=True).stdout.split("\n")
    fields = dict(zip(reply[2::2], reply[3::2], strict=False))
    assert fields["entry_id"] == entry_id and fields["outcome"] == "accepted"
    assert fields["submission_id"] == sar()["submission_id"]


def test_a_receipt_reads_back_and_prints_for_a_person() -> None:
    fields = {b"entry_id": b"5-0", b"submission_id": b"s-1", b"outcome": b"quarantined", b"decision_id": b"6-0",
              b"reason_class": b"H1 classification", b"reason": b"H1 SECRET material is not carried"}
    receipt = Receipt.from_entry(b"7-0", fields)
    assert receipt is not None and receipt.receipt_id == "7-0"
    assert str(receipt) == "5-0 s-1: quarantined (H1 classification): H1 SECRET material is not carried [decision 6-0]"
    assert receipt.as_json() == {"receipt_id": "7-0", "entry_id": "5-0", "submission_id": "s-1",
                                 "outcome": "quarantined", "decision_id": "6-0", "reason_class": "H1 classification",
                                 "reason": "H1 SECRET material is not carried"}
    unreadable = Receipt.from_entry("8-0", {"entry_id": "5-1", "submission_id": "", "outcome": "accepted",
                                            "decision_id": "9-0"})
    assert str(unreadable) == "5-1 (no readable submission_id): accepted [decision 9-0]"


REFUSALS = [  # every class the bus writes: what a receipt says of it (bus.receipts.told)
    ("spoofing: the submission says partner 'x'", "spoofing", True),
    ("unknown partner 'x': not in the ruleset's partner registry", "unknown partner", True),
    ("partner hmrc may not publish kind 'sar'", "kind not allowed", True),
    ("H1 classification: SECRET is above the bus's accreditation", "H1 classification", True),
    ("H2: unknown handling condition 'zz'", "H2 handling condition", True),
    ("area 'Atlantis' is not a local authority of the region", "unknown area", True),
    ("source_type 'chis' may not be sent by this partner", "covert source", True),
    ("named_recipients: 'x.y' is not a team id of the region", "named recipients", True),
    ("invalid submission: not valid JSON", "invalid submission", True),
    ("entry has no payload field", "malformed entry", True),
    ("poison: processing failed 5 times (limit 5); last error: KeyError: 'durham.fib'", "poison", False),
    ("something the list does not know", "other", False),
]


@pytest.mark.parametrize(("reason", "kind", "stated"), REFUSALS, ids=[kind for _, kind, _ in REFUSALS])
def test_a_refusal_names_its_class_and_its_reason_only_when_it_is_about_the_entry(reason: str, kind: str,
                                                                                  stated: bool) -> None:
    outcome, said_class, said = told(True, reason)
    assert (outcome, said_class) == ("quarantined", kind)
    assert (said == reason) is stated and (stated or said == CLASS_ONLY[kind])


def test_what_routing_made_of_an_admitted_entry_is_not_the_partners_to_know() -> None:
    """Routed, or left with no recipient by handling (which may turn on the OCG register): both 'accepted',
    with nothing else said; so a partner cannot probe the register or the handling rules with its entries."""
    assert told(False, "") == told(True, "no delivery is left after handling: H2 handling condition police_only "
                                        "(partner-facing recipient)") == ("accepted", "", "")
    assert {name for _, name in REASON_CLASSES} == {kind for _, kind, _ in REFUSALS} - {"other"} | {AFTER_ADMISSION}


async def test_an_entry_handling_left_with_no_recipient_reads_as_accepted(redis_proc: RedisProc) -> None:
    client = aioredis.Redis.from_url(redis_proc.url)
    partner = PartnerClient(client, "hmrc")
    async with running_router(redis_proc.url) as router:
        held = await partner.publish(gain_request(**conditions("police_only")))  # its only team is partner-facing
        got = await partner.wait_for_receipts([held], timeout=30)
        await drained(router)
    [decision] = await decisions(client)
    assert decision["status"] == "quarantined" and decision["reason"].startswith("no delivery is left")
    assert got[held].as_json().keys() == {"receipt_id", "entry_id", "submission_id", "outcome", "decision_id"}
    assert got[held].outcome == "accepted"
    await client.aclose()


async def test_a_receipt_stream_its_partner_broke_costs_that_partner_its_receipts_only(
        redis_proc: RedisProc, caplog: pytest.LogCaptureFixture) -> None:
    """On Redis 6.2 a partner may XADD to its own receipt stream; one written at the largest id makes every
    later XADD there fail. Its entries are still decided once each, with no receipt, and another partner's
    entries in the same commits are not touched."""
    client = aioredis.Redis.from_url(redis_proc.url)
    await client.xadd(RECEIPTS, {"x": "y"}, id="18446744073709551615-18446744073709551615")
    for payload in (orjson.dumps(sar()), b"junk", orjson.dumps(sar(submission_id=OTHER_ID))):
        await client.xadd(UKFIU, {"payload": payload})
    other = await PartnerClient(client, "hmrc").publish(gain_request())
    async with running_router(redis_proc.url) as router:
        await drained(router)
        stats = router.stats
    records = await decisions(client)
    per_entry = Counter((r["stream"], r["entry_id"]) for r in records)  # two streams may hold the same id
    assert len(records) == len(per_entry) == 4
    assert stats.failed == 0 and await client.xlen(RECEIPTS) == 1  # only what the partner wrote
    [(_, fields)] = stream_rows(await client.xrange(KEYS.receipts("hmrc")))
    assert fields[b"entry_id"].decode() == other
    warned = [r.getMessage() for r in caplog.records if "refused its entry" in r.getMessage()]
    assert len(warned) == 3 and all(line.startswith(UKFIU) and f"): {RECEIPTS} refused" in line for line in warned)
    await client.aclose()


async def test_a_feed_its_team_broke_costs_that_team_its_delivery_only(redis_proc: RedisProc,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """The same on a team's feed (on Redis 6.2 a team may XADD to its own feeds): the entry is decided once,
    its other delivery and everyone else's are written, nothing is retried or delivered twice."""
    client = aioredis.Redis.from_url(redis_proc.url)
    broken = KEYS.feed("durham.control", "immediate")  # a threat to life goes to durham.fib and durham.control
    await client.xadd(broken, {"x": "y"}, id="18446744073709551615-18446744073709551615")
    partner = PartnerClient(client, "force-durham")
    urgent = await partner.publish(intelligence_report(threat_to_life=True))
    plain = await partner.publish(intelligence_report(submission_id=OTHER_ID))
    async with running_router(redis_proc.url) as router:
        await drained(router)
        stats = router.stats
    records = {r["entry_id"]: r for r in await decisions(client)}
    assert sorted(records) == sorted([urgent, plain]) and stats.failed == 0
    decided = records[urgent]["decision_id"]
    assert [(d["recipient"], d["priority"]) for d in records[urgent]["deliveries"]] == [
        ("durham.fib", "immediate"), ("durham.control", "immediate")]
    for feed, count in ((KEYS.feed("durham.fib", "immediate"), 1), (broken, 0), (KEYS.feed("durham.fib"), 0)):
        written = [f.get(b"decision_id") for _, f in stream_rows(await client.xrange(feed))]
        assert written.count(decided.encode()) == count, feed
    assert await client.xlen(KEYS.feed("durham.fib")) == 1  # the plain report's delivery
    warned = [r.getMessage() for r in caplog.records if "refused its entry" in r.getMessage()]
    assert len(warned) == 1 and warned[0].startswith(f"{KEYS.ingress('force-durham')} {urgent}")
    assert f"{broken} refused" in warned[0]
    assert (await client.xpending(KEYS.ingress("force-durham"), "router"))["pending"] == 0
    await client.aclose()
