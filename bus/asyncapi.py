"""The router's AsyncAPI document (``intelbus router --asyncapi``), drawn with FastStream.

FastStream documents the channels; it does not run the router's reads (``bus.router`` says why). The
document declares one subscriber per partner's ingress stream, the consumer group ``router``, and the
plain ``payload`` field partners write (SUBMISSIONS.md).
"""

from __future__ import annotations

import logging

from faststream import FastStream
from faststream.redis import RedisBroker, StreamSub
from faststream.specification import AsyncAPI

from bus.keys import ROUTER_GROUP, Keys
from bus.policy import Ruleset
from bus.settings import Settings


async def _documented_only(body: bytes) -> None:
    """Never called: the router reads through ``lua/read.lua``."""


def asyncapi_app(settings: Settings, ruleset: Ruleset, url: str) -> FastStream:
    keys = Keys(settings.prefix)
    broker = RedisBroker(url, logger=logging.getLogger("intelbus.faststream"))
    for partner in sorted(ruleset.partners):
        stream = keys.ingress(partner)
        broker.subscriber(
            stream=StreamSub(stream, group=ROUTER_GROUP, consumer="router", batch=True,
                             max_records=settings.batch_size),
            title=f"router:{stream}", description="Partner submissions; field payload (SUBMISSIONS.md).",
        )(_documented_only)
    spec = AsyncAPI(broker, title="intelbus router", version="1",
                    description="Routes partner submissions to team feeds by the regional policy.")
    return FastStream(broker, specification=spec)
