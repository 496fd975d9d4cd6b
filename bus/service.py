"""Running the router: connect, prepare the server-side library and the groups, run the three loops
(batch routing, scout, recovery) and the two housekeepers (the audit checkpointer beside them; retention
on a thread of its own, ``bus.housekeeping``) until stopped, then finish the batch in hand.

``run_router`` is what ``intelbus router``, the demo and the tests call; ``Router`` is what it returns
(and hands to ``ready`` once reading): its counts, and ``until_idle()`` for "everything decided".
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field

import redis.asyncio as aioredis

from bus.audit.checkpointer import make_checkpointer
from bus.batch import Decider, Engine
from bus.commit import Committer
from bus.endpoint import Endpoint
from bus.errors import TransportError
from bus.housekeeping import Housekeeping
from bus.keys import Keys
from bus.lanes import Lanes
from bus.library import Library
from bus.policy import Reference, Ruleset, decide_payload
from bus.progress import Progress, RouterStats
from bus.recovery import Recovery
from bus.retention.loop import make_retention
from bus.router import BatchLoop, consumer_name, ensure_groups
from bus.scout import Scout
from bus.settings import Settings
from bus.transport import client as redis_client
from bus.transport import packing_client

log = logging.getLogger("intelbus.router")


def ingress_streams(ruleset: Ruleset, keys: Keys) -> list[str]:
    """One stream per partner in the registry: Redis ACLs let nobody else write ingress."""
    return [keys.ingress(partner) for partner in sorted(ruleset.partners)]


@dataclass
class Router:
    """A running (or finished) router: what it is, what it did."""

    settings: Settings
    engine: Engine
    consumer: str
    progress: Progress = field(default_factory=Progress)
    consuming: bool = False  # its loops are running (``/readyz``)
    metrics_port: int | None = None  # the port its endpoint bound, when it has one

    @property
    def ruleset(self) -> Ruleset:
        return self.engine.ruleset

    @property
    def stats(self) -> RouterStats:
        return self.progress.stats

    async def until_idle(self) -> None:
        """Return once every entry written before the call is decided (see ``bus.progress``)."""
        await self.progress.until_idle()


async def run_router(settings: Settings, ruleset: Ruleset, reference: Reference, url: str,
                     stop: asyncio.Event, ready: Callable[[Router], None] | None = None,
                     decider: Decider = decide_payload) -> Router:
    """Route until ``stop`` is set; ``ready(router)`` once it is reading."""
    keys = settings.keys()
    streams = ingress_streams(ruleset, keys)
    router = Router(settings, Engine(ruleset, reference, keys, decider=decider), consumer_name(settings))
    client = packing_client(url)
    try:
        library = Library(client)
        if not await _prepare(client, library, streams, stop):
            return router
        committer = Committer(client, library, keys, router.consumer, durability=settings.durability(),
                              tally=router.stats.replication)
        lanes = Lanes()  # the scout's commits have right of way over the batch loop's calls
        loops = (
            BatchLoop(library, committer, router.engine, settings, streams, router.consumer, router.progress,
                      lanes),
            Scout(library, committer, router.engine, settings, streams, router.progress, url, lanes),
            Recovery(library, committer, router.engine, settings, streams, router.consumer, router.progress),
        )
        endpoint = await _endpoint(settings, keys, ruleset, url, router)  # a port in use fails before any loop runs
        inner = asyncio.Event()
        tasks = [asyncio.create_task(loop.run(inner)) for loop in loops]
        checkpointer = make_checkpointer(settings, keys, ruleset, url, router.consumer)
        if checkpointer is not None:
            tasks.append(asyncio.create_task(checkpointer.run(inner)))
        retention = make_retention(settings, keys, ruleset, url, router.consumer)
        housekeeping = Housekeeping([retention] if retention is not None else [])
        housekeeping.start()
        log.info("router %s reading %d ingress streams (ruleset %s, %s)", router.consumer, len(streams),
                 ruleset.digest, "Redis functions" if library.uses_functions else "Redis 6.2 scripts")
        router.consuming = True
        if ready is not None:
            ready(router)
        try:
            await stop.wait()
        finally:
            router.consuming = False
            if endpoint is not None:
                await endpoint.stop()
            inner.set()  # each loop finishes what it holds, then returns
            for task in tasks:
                with suppress(asyncio.CancelledError):
                    await task
            await housekeeping.stop()
            log.info("router stopped: %s", router.stats)
    finally:
        await client.aclose()
    return router


async def _endpoint(settings: Settings, keys: Keys, ruleset: Ruleset, url: str, router: Router) -> Endpoint | None:
    if settings.metrics_port is None:
        return None
    endpoint = Endpoint(redis_client(url), keys, ruleset, lambda: router.stats, lambda: router.consuming)
    router.metrics_port = await endpoint.start(settings.metrics_host, settings.metrics_port)
    return endpoint


async def _prepare(client: aioredis.Redis, library: Library, streams: list[str], stop: asyncio.Event) -> bool:
    """Load or check the library and create the groups, waiting with backoff while Redis is unreachable
    (a router started before its Redis must not exit). False if stopped before Redis came."""
    delay = 0.2
    while not stop.is_set():
        try:
            await library.prepare()
            created = await ensure_groups(client, streams, counted=library.uses_functions)
            if created:
                log.info("created router groups at 0 on %d ingress streams", len(created))
            return True
        except TransportError as exc:
            log.warning("cannot start yet, Redis unreachable (%s); retrying in %.1f s", exc, delay)
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            delay = min(delay * 2, 5.0)
    return False


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
