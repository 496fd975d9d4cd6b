"""``intelbus status`` against a bus in a known state on a real redis-server: N entries queued with the
router stopped, M pending in a team consumer that died, K quarantined; lag counted, never guessed."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
import redis.asyncio as aredis
from policy_cases import conditions, covert_report, decide_record, intelligence_report, sar
from redis_procs import RedisProc
from router_harness import drained, running_router

from bus.cli import main
from bus.errors import TransportError
from bus.keys import IMMEDIATE, ROUTER_GROUP, TEAM_GROUP, Keys
from bus.policy import load_ruleset
from bus.reasons import REASON_CLASSES, reason_class
from bus.samples import realistic_mix
from bus.status.figures import gather
from bus.status.render import render
from consumers import TeamClient
from producers import PartnerClient

RULESET = load_ruleset(None)
KEYS = Keys()
N, M, K = 7, 3, 2


async def publish(client: aredis.Redis, partner: str, count: int, seed: int) -> None:
    items = [s | {"partner": partner} for s in realistic_mix(count * 20, seed=seed) if s["partner"] == partner][:count]
    assert len(items) == count
    await PartnerClient(client, partner).publish_many(items)


@pytest.fixture
async def known(redis_proc: RedisProc) -> Any:
    """The router decided a first lot and stopped; then N more for ukfiu and K malformed for hmrc were
    written; a team consumer read M deliveries and died without acknowledging them."""
    client = aredis.Redis.from_url(redis_proc.url)
    await publish(client, "ukfiu", 40, seed=3)
    async with running_router(redis_proc.url) as router:
        await drained(router)
    lengths = {t: await client.xlen(KEYS.feed(t)) for t in RULESET.team_ids}
    team = max(lengths, key=lambda t: lengths[t])
    assert lengths[team] > M
    reader = TeamClient(client, team, "analyst-dead")
    await reader.ensure_groups()
    got = await reader.read(count=1000)
    read = [d for d in got if d.stream == KEYS.feed(team)][:M]
    await reader.ack_many([d for d in got if d not in read])  # all but M, then it dies
    quarantined_before = await client.xlen(KEYS.quarantine)
    await publish(client, "ukfiu", N, seed=4)
    for _ in range(K):
        await client.xadd(KEYS.ingress("hmrc"), {"payload": b"{not json"})
    try:
        yield client, team, read, quarantined_before
    finally:
        await client.aclose()


async def test_the_figures_of_a_known_bus(known: Any) -> None:
    client, team, read, _ = known
    status = await gather(client, KEYS, RULESET)
    ukfiu = status.ingress["ukfiu"]
    assert (ukfiu.group, ukfiu.waiting, ukfiu.pending, ukfiu.waiting_at_least) == (True, N, 0, False)
    assert ukfiu.oldest_waiting_ms is not None and ukfiu.oldest_waiting_ms >= 0
    assert ukfiu.length == 40 + N and ukfiu.consumers == 1 and ukfiu.idle_ms is not None
    hmrc = status.ingress["hmrc"]
    assert (hmrc.waiting, hmrc.length) == (K, K)  # the router has not decided them: not quarantined yet
    feed = status.feeds[team]
    assert feed.pending == len(read) == M and feed.waiting == 0 and feed.consumers == 1
    assert feed.oldest_pending_ms is not None
    assert status.feeds[f"{team}:{IMMEDIATE}"].group
    other = next(t for t in RULESET.team_ids if t != team and status.feeds[t].length and not status.feeds[t].group)
    assert status.feeds[other].waiting == status.feeds[other].length  # no group: all of it unread
    assert status.decisions_last_minute == 40 and status.last_checkpoint_ms is not None
    text = render(status, colour=False)
    assert "ukfiu" in text and "(no group yet)" in text and "\x1b[" not in text


async def test_quarantine_counts_by_reason_class(known: Any, redis_proc: RedisProc) -> None:
    client, _, _, before = known
    async with running_router(redis_proc.url) as router:
        await drained(router)
    status = await gather(client, KEYS, RULESET)
    assert sum(status.quarantined["hour"].values()) == before + K
    assert status.quarantined["hour"].get("invalid submission", 0) >= K  # the K that are not JSON
    assert set(status.quarantined["hour"]) <= {name for _, name in REASON_CLASSES} | {"other"}
    assert status.ingress["hmrc"].waiting == 0 and status.ingress["ukfiu"].waiting == 0


async def test_lag_is_counted_when_redis_cannot_say(known: Any) -> None:
    """After XGROUP SETID Redis's lag is NULL; the figure is the count of entries after the group's id."""
    client, team, _, _ = known
    stream = KEYS.feed(team)
    await client.execute_command("XGROUP", "SETID", stream, TEAM_GROUP, "0")
    (info,) = [g for g in await client.xinfo_groups(stream) if g["name"] == TEAM_GROUP.encode()]
    status = await gather(client, KEYS, RULESET)
    assert status.feeds[team].waiting == await client.xlen(stream)
    assert info.get("lag") is None or info["lag"] == status.feeds[team].waiting
    await client.execute_command("XGROUP", "SETID", KEYS.ingress("ukfiu"), ROUTER_GROUP, "$")
    assert (await gather(client, KEYS, RULESET)).ingress["ukfiu"].waiting == 0


async def test_the_command(known: Any, redis_proc: RedisProc, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", redis_proc.url)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["status", "--json"]) == 0
    doc = orjson.loads(capsys.readouterr().out)
    assert doc["ingress"]["ukfiu"]["waiting"] == N and doc["ingress"]["hmrc"]["waiting"] == K
    assert await asyncio.to_thread(main, ["status"]) == 0
    assert "intelbus status at" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["status", "--watch", "0"]) == 2


REASON_CASES = [  # (payload, ingress stream's owner, class): each way the bus quarantines
    (intelligence_report(partner="hmrc"), "force-durham", "spoofing"),
    (intelligence_report(partner="<b>acme</b>: x"), "<b>acme</b>: x", "unknown partner"),
    (sar(partner="hmrc"), "hmrc", "kind not allowed"),
    (intelligence_report(classification="SECRET"), None, "H1 classification"),
    (intelligence_report(area="Leeds: <i>x</i>"), None, "unknown area"),
    (covert_report(partner="hmrc"), "hmrc", "covert source"),
    (intelligence_report(**conditions("no_such_code")), None, "H2 handling condition"),
    (intelligence_report(**conditions("named_recipients_only", named=["nobody.here"])), None, "named recipients"),
    (b"{not json", None, "invalid submission"),
]


@pytest.mark.parametrize(("payload", "owner", "expected"), REASON_CASES, ids=[c[2] for c in REASON_CASES])
def test_a_reason_class_is_from_a_fixed_list_never_what_a_partner_wrote(payload: Any, owner: str | None,
                                                                         expected: str) -> None:
    record = decide_record(payload, ingress_owner=owner)
    assert record["status"] == "quarantined" and reason_class(record["reason"]) == expected, record["reason"]


def test_wire_and_poison_reasons_have_classes_and_anything_else_is_other() -> None:
    assert reason_class("entry has no payload field (it has: <i>x</i>); a submission is one field") == \
        "malformed entry"
    assert reason_class("poison: processing failed 5 times (limit 5); last error: boom") == "poison"
    assert reason_class("no delivery is left after handling: H4 low grade") == "no delivery left"  # bus.policy
    assert reason_class("<script>: anything") == "other" and reason_class("") == "other"


async def test_a_key_of_the_wrong_type_is_a_transport_error_naming_what_was_read(redis_proc: RedisProc) -> None:
    client = aredis.Redis.from_url(redis_proc.url)
    try:
        await client.set(KEYS.feed("durham.fib"), "not a stream")
        with pytest.raises(TransportError, match="streams' groups"):
            await gather(client, KEYS, RULESET, light=True)
    finally:
        await client.aclose()
