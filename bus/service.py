"""Running the router: connect, create groups, start FastStream, supervise, stop cleanly.

``run_router`` is what ``intelbus router`` and the demo call; ``asyncapi_app`` is the same router as a
FastStream app, for AsyncAPI documentation (``intelbus router --asyncapi``).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from contextlib import suppress
from typing import Any

import redis.asyncio as aioredis
from faststream import FastStream
from faststream.redis import RedisBroker
from faststream.specification import AsyncAPI
from redis.exceptions import RedisError

from bus.commit import Committer
from bus.errors import TransportError
from bus.keys import Keys
from bus.policy import Reference, Ruleset
from bus.recovery import recovery_loop
from bus.router import Router, build_broker, consumer_name, ensure_groups, supervise_groups
from bus.scout import Scout
from bus.settings import Settings
from bus.transport import packing_client

log = logging.getLogger("intelbus.router")


def ingress_streams(ruleset: Ruleset, keys: Keys) -> list[str]:
    """One stream per partner in the registry: Redis ACLs let nobody else write ingress."""
    return [keys.ingress(partner) for partner in sorted(ruleset.partners)]


async def run_router(settings: Settings, ruleset: Ruleset, reference: Reference, url: str,
                     stop: asyncio.Event, ready: Callable[[Router], None] | None = None,
                     prepare: Callable[[Router], None] | None = None) -> Router:
    """Route until ``stop`` is set. ``prepare`` sees the router before it reads anything; ``ready``
    once it is reading."""
    keys = Keys(settings.prefix)
    streams = ingress_streams(ruleset, keys)
    router = Router(settings, ruleset, reference, keys, consumer_name(settings))
    if prepare is not None:
        prepare(router)
    broker, subscribers = build_broker(router, url, streams)
    client = await broker.connect()
    committer_client = packing_client(url)  # its own pool: commits never queue behind blocking reads
    router.committer = Committer(committer_client, router.consumer)
    if not await _start(broker, subscribers, client, streams, stop):
        await committer_client.aclose()
        return router
    log.info("router %s reading %d ingress streams (ruleset %s)", router.consumer, len(streams), ruleset.digest)
    supervisor = asyncio.create_task(supervise_groups(client, subscribers, streams, stop))
    interval = max(0.05, settings.claim_idle_ms / 2000)
    recovery = asyncio.create_task(recovery_loop(client, router, streams, stop, interval))
    scout = asyncio.create_task(Scout(committer_client, router, streams).run(stop, settings.block_ms / 1000))
    if ready is not None:
        ready(router)
    try:
        await stop.wait()
    finally:
        for task in (supervisor, recovery, scout):
            task.cancel()
            with suppress(asyncio.CancelledError):
                await task
        await broker.stop()
        await committer_client.aclose()
        log.info("router stopped: %s", router.stats)
    return router


async def _start(broker: RedisBroker, subscribers: list[Any], client: aioredis.Redis, streams: list[str],
                 stop: asyncio.Event) -> bool:
    """Create the groups and start the subscribers, waiting with backoff while Redis is unreachable
    (a router started before its Redis must not exit). False if stopped before Redis came."""
    delay = 0.2
    while not stop.is_set():
        try:
            created = await ensure_groups(client, streams)
            if created:
                log.info("created router groups at 0 on %d ingress streams", len(created))
            await broker.start()
            return True
        except (TransportError, RedisError, OSError) as exc:
            log.warning("cannot start yet, Redis unreachable (%s); retrying in %.1f s", exc, delay)
            for subscriber in subscribers:  # undo a half-done start; the connection pool stays
                if subscriber.running:
                    await subscriber.stop()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 5.0)
    return False


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


def asyncapi_app(settings: Settings, ruleset: Ruleset, reference: Reference, url: str) -> FastStream:
    keys = Keys(settings.prefix)
    router = Router(settings, ruleset, reference, keys, consumer_name(settings))
    broker, _ = build_broker(router, url, ingress_streams(ruleset, keys))
    spec = AsyncAPI(broker, title="intelbus router", version="1",
                    description="Routes partner submissions to team feeds by the regional policy.")
    return FastStream(broker, specification=spec)
