"""Example team service on FastStream 0.7: log every delivery of one team's feed and ack it.

Run it with ``INTELBUS_TEAM=<team> REDIS_URL=redis://… python -m consumers.example_service``, or with
FastStream's own command, ``faststream run consumers.example_service:app`` (key prefix from
``INTELBUS_PREFIX``, default ``intel``); stop it with SIGINT or SIGTERM. It is documentation by example,
so it does the few things every team service must do with FastStream on Redis streams:

* one batch ``StreamSub`` per feed stream (immediate and routine), so an immediate entry never queues
  behind the routine backlog: each subscriber has its own read loop;
* the groups are created at ``0`` before the subscribers start (FastStream would create them at ``$``
  and skip everything routed before the service first ran);
* ``max_records`` bounds each batch (without it one read returns the whole backlog);
* a raw parser: feed entries are plain fields, not FastStream envelopes. It also reads an entry that is
  exactly FastStream's envelope field (``__data__``) as the fields it carries, so a feed entry published
  through FastStream (``broker.publish(fields, stream=...)``) reads as the router's would, and FastStream's
  ``TestRedisBroker`` works, in memory (it gives no entry ids: each gets ``0-<n>``) or ``with_real=True``
  (tests/test_example_service.py shows both);
* ``AckPolicy.MANUAL`` plus an explicit XACK once the work is done (on Redis FastStream's nack/reject
  send nothing, so an entry that fails stays pending: a ``TeamClient`` reclaims those);
* every batch goes through a ``TeamClient`` as this consumer: ``accept`` writes the consultation record of
  the read (DPA 2018 s.62, ``bus.audit.consult``) before the handler looks at a delivery, and ``ack_many``
  XACKs and writes the record of the ack. A batch whose record cannot be written raises
  ``ConsultationError`` (FastStream logs it) and is not handled: it stays pending.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from faststream import AckPolicy, FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.redis.annotations import Redis, RedisBatchStreamMessage
from faststream.redis.message import RedisBatchStreamMessage as BatchMessage
from faststream.redis.parser.binary import BinaryMessageFormatV1
from pydantic import ValidationError

from bus import cluster
from bus.keys import TEAM_GROUP, Keys
from bus.settings import Settings
from bus.transport import text
from consumers.client import DEFAULT_KEYS, TeamClient

log = logging.getLogger("consumers.example_service")

BATCH = 100
POLL_MS = 500


ENVELOPE = b"__data__"  # the one field FastStream's own publishers write (faststream.redis.parser)


Fields = dict[bytes, bytes]


def unwrapped(fields: Fields | None) -> tuple[Fields | None, dict[str, Any]]:
    """(the fields an entry carries, its FastStream headers): its own and none (None or empty: deleted while
    pending), or, for an entry that is exactly FastStream's envelope holding a non-empty JSON object of
    strings, that object's and the envelope's headers. Anything else is left as it is (a delivery with what
    it holds, which the handler sees, records and acks like any other): nothing in an entry can stop the
    parser, whose failure would leave the whole batch pending."""
    if not fields or fields.keys() != {ENVELOPE}:
        return fields, {}
    try:
        body, headers = BinaryMessageFormatV1.parse(fields[ENVELOPE])
        inner = orjson.loads(body)
    except Exception:  # whatever the envelope holds, the entry is handed over as it is
        return fields, {}
    if not inner or not isinstance(inner, dict) or not all(isinstance(v, str) for v in inner.values()):
        return fields, {}
    said = headers if isinstance(headers, dict) else {}
    return {name.encode(): value.encode() for name, value in inner.items()}, said


async def raw_parser(message: Any) -> BatchMessage:
    """Hand the entries over as Redis gave them (ids, stream and field dicts stay in ``msg.raw_message``), each
    FastStream envelope read as the fields it carries; ids ``0-<n>`` where the test broker gives none, and the
    first envelope's correlation id (what the test broker's bookkeeping expects back)."""
    opened = [unwrapped(fields) for fields in message["data"]]
    ids = message["message_ids"] or [f"0-{n}".encode() for n in range(1, len(opened) + 1)]
    correlation = next((said for _, headers in opened if isinstance(said := headers.get("correlation_id"), str)),
                       None)
    message = {**message, "data": [fields for fields, _ in opened], "message_ids": ids}
    # group=None makes msg.ack() a no-op: the handler sends its own XACK (FastStream's typing wants a consumer)
    return BatchMessage(message, b"", consumer=None, group=None, correlation_id=correlation)  # type: ignore[arg-type]


Handler = Callable[[RedisBatchStreamMessage, Redis], Awaitable[None]]


def handler(team: str, consumer: str, keys: Keys) -> Handler:
    """The batch handler of ``team``'s subscribers, consuming as ``consumer``."""

    async def handle(msg: RedisBatchStreamMessage, redis: Redis) -> None:
        """Take the batch through a TeamClient (the read's consultation record), log each delivery, then
        ack the whole batch through it (ack only after the work is done; the ack's record)."""
        raw = msg.raw_message
        client = TeamClient(redis, team, consumer, keys)
        entries = zip(raw["message_ids"], raw["data"], strict=True)
        deliveries = await client.accept(text(raw["channel"]), entries)  # deleted while pending: acked here
        for delivery in deliveries:
            log.info("delivery priority=%s submission_id=%s view=%s due=%s entry=%s", delivery.priority,
                     delivery.submission_id, delivery.view, delivery.due.isoformat() if delivery.due else "-",
                     delivery.entry_id)
        await client.ack_many(deliveries)

    return handle


def build_app(redis_url: str, team: str, consumer: str, keys: Keys = DEFAULT_KEYS) -> FastStream:
    """The FastStream app for one team: one subscriber per feed stream, groups created at 0 first. A region's
    ``redis+cluster://`` URL (pinned to its slot, ``Settings.cluster_url``) gives FastStream's ``RedisBroker``
    the bus's slot-pinned connections (``bus.cluster``): every key of the region is on one node, so it needs
    none of ``RedisClusterBroker``'s routing, and keeps the pipelines the team client's acks use."""
    options = cluster.connection_options(redis_url) if cluster.is_cluster(redis_url) else {"url": redis_url}
    broker = RedisBroker(**options, log_level=logging.DEBUG)
    handle = handler(team, consumer, keys)
    for stream in keys.feeds(team):  # immediate first
        subscriber = broker.subscriber(
            stream=StreamSub(stream, group=TEAM_GROUP, consumer=consumer, batch=True, max_records=BATCH,
                             polling_interval=POLL_MS),
            ack_policy=AckPolicy.MANUAL, parser=raw_parser, title=stream,
            description=f"feed of team {team}: fields payload, submission_id, priority, view, due, decision_id",
        )
        subscriber(handle)
    app = FastStream(broker)

    @app.on_startup  # runs before broker.start(): connect() here is idempotent, start() reuses it
    async def create_groups() -> None:
        await TeamClient(await broker.connect(), team, consumer, keys).ensure_groups()
        log.info("team %s: groups %r ready on %s as consumer %s", team, TEAM_GROUP, keys.feeds(team), consumer)

    return app


def from_environment() -> FastStream:
    """The app as the environment describes it: ``INTELBUS_TEAM`` here, ``REDIS_URL`` (and
    ``INTELBUS_PREFIX``) through the one ``Settings`` object; ``SystemExit`` (2, with what to set) without
    them. The only place that reads the environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("consumers.example_service").setLevel(logging.INFO)
    try:
        settings = Settings()
    except ValidationError as exc:  # says which setting and why; never the value (a URL's password)
        print(f"bad settings: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    team = os.environ.get("INTELBUS_TEAM")
    if not team or not settings.redis_url:
        print("set INTELBUS_TEAM (the team id) and REDIS_URL (e.g. redis://host:6379/0)", file=sys.stderr)
        raise SystemExit(2)
    consumer = f"{team}-example-{socket.gethostname()}-{os.getpid()}"
    try:
        url = settings.cluster_url() or settings.redis_url
    except ValueError as exc:  # a cluster without INTELBUS_REGION
        print(exc, file=sys.stderr)
        raise SystemExit(2) from None
    return build_app(url, team, consumer, settings.keys())


def __getattr__(name: str) -> Any:
    """``app``, for ``faststream run consumers.example_service:app``: built when FastStream asks for it, so
    importing the module (tests, docs) needs no environment."""
    if name == "app":
        return from_environment()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> int:
    """``python -m consumers.example_service``: the same app, run until SIGINT or SIGTERM."""
    try:
        app = from_environment()
    except SystemExit as exc:
        return int(exc.code or 2)
    asyncio.run(app.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
