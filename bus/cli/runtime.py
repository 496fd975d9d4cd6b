"""Commands that talk to Redis: router, publish, feed tail, decisions, demo, redis.

With no REDIS_URL each of them uses the embedded redis-server of this working directory
(``bus.embedded``), started on first use and shared by every command run here.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import redis.asyncio as aioredis

from bus.errors import ConfigError
from bus.settings import Settings

T = TypeVar("T")


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    router = commands.add_parser("router", help="run the router until SIGTERM/SIGINT")
    router.add_argument("--ruleset", type=Path, help="ruleset file (default: INTELBUS_RULESET, else the shipped)")
    router.add_argument("--reference", type=Path,
                        help="OCG register folder (default: INTELBUS_REFERENCE, else the shipped sample)")
    router.add_argument("--asyncapi", action="store_true",
                        help="print the bus's AsyncAPI document and exit (the same as intelbus asyncapi)")
    router.set_defaults(handler=_router)

    publish = commands.add_parser("publish", help="publish JSON lines as a partner")
    publish.add_argument("--partner", required=True, help="the partner id whose ingress stream to write (its "
                         "Redis user in REDIS_URL)")
    publish.add_argument("file", nargs="?", default="-", help="JSON lines, one submission each (- or none: stdin)")
    publish.add_argument("--wait", type=float, metavar="SECONDS",
                         help="then wait up to SECONDS for each submission's receipt and print the lines that were "
                              "quarantined (with the reason) or were duplicates; exit 1 if any was quarantined")
    publish.set_defaults(handler=_publish)

    feed = commands.add_parser("feed", help="a team's feed")
    feed_commands = feed.add_subparsers(dest="feed_command", required=True, metavar="ACTION")
    tail = feed_commands.add_parser(
        "tail", help="print (and acknowledge) deliveries as they arrive",
        description="Print a team's deliveries, immediate first, as they arrive. Without --peek it reads as a "
                    "consumer of the team's group and acknowledges each, so it takes deliveries from the team's "
                    "other consumers. Each read is a consultation record. Redis: REDIS_URL (the team's own "
                    "credentials URL), else the embedded server.")
    tail.add_argument("team", help="the team id, e.g. durham.fib (the ruleset's teams)")
    tail.add_argument("--json", action="store_true", help="one JSON object per line")
    tail.add_argument("--count", type=int, help="stop after this many deliveries")
    tail.add_argument("--peek", action="store_true",
                      help="read without the group: take nothing from the team's consumers, acknowledge nothing")
    tail.add_argument("--from-start", action="store_true",
                      help="with --peek: from the oldest entry still held, not only new ones")
    tail.set_defaults(handler=_tail)

    asyncapi = commands.add_parser(
        "asyncapi", help="the bus's AsyncAPI 3 document: every stream, its fields and schemas, the groups",
        description="Print the AsyncAPI 3 document of the whole bus (JSON) for the ruleset's partners and teams; "
                    "its server is REDIS_URL's host (never its credentials), else the embedded Redis.")
    asyncapi.add_argument("--ruleset", type=Path, help="ruleset file (default: INTELBUS_RULESET, else the shipped)")
    asyncapi.set_defaults(handler=_asyncapi)

    decisions = commands.add_parser("decisions", help="replay the decision log (audit)")
    decisions.add_argument("--json", action="store_true", help="the records as JSON lines")
    decisions.add_argument("--submission", help="only this submission_id")
    decisions.add_argument("--archive", type=Path, metavar="DIR",
                           help="the retention archive, read before Redis (default: <data_dir>/archive)")
    decisions.set_defaults(handler=_decisions)

    demo = commands.add_parser("demo", help="the bus end to end on the embedded Redis")
    demo.set_defaults(handler=_demo)

    functions = commands.add_parser("functions", help="the bus's Redis function library (Redis 7)")
    functions_commands = functions.add_subparsers(dest="functions_command", required=True, metavar="ACTION")
    load = functions_commands.add_parser("load", help="load this release's library (an administrator's step, "
                                                      "once per release; the router user may only call it)")
    load.set_defaults(handler=_functions_load)

    redis_cmd = commands.add_parser("redis", help="the embedded redis-server of this working directory")
    redis_cmd.add_argument("action", choices=["start", "stop", "url"],
                           help="start it, stop it, or print its URL (for redis-cli -u)")
    redis_cmd.set_defaults(handler=_redis)


def _url(settings: Settings) -> str:
    from bus.embedded import resolve_redis_url

    return resolve_redis_url(settings)


def _with_redis(settings: Settings, work: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
    """Run ``work`` with a client on the bus's Redis (embedded unless REDIS_URL), closed afterwards."""
    from bus.transport import client

    async def main() -> T:
        redis = client(_url(settings))
        try:
            return await work(redis)
        finally:
            await redis.aclose()

    return asyncio.run(main())


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("intelbus.faststream").setLevel(logging.WARNING)


def _asyncapi(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from bus.asyncapi import document
    from bus.policy import load_ruleset

    ruleset = load_ruleset(getattr(args, "ruleset", None) or settings.ruleset)
    print(json.dumps(document(settings.keys(), ruleset, settings.redis_url), indent=2))
    return 0


def _router(args: argparse.Namespace, settings: Settings) -> int:
    from bus.policy import load_policy
    from bus.service import install_signal_handlers, run_router

    if args.asyncapi:  # before the reference data: the document needs the ruleset only
        return _asyncapi(args, settings)
    ruleset, reference = load_policy(args.ruleset or settings.ruleset, args.reference or settings.reference)
    _logging()
    url = _url(settings)
    # What is loaded by now (modules, the ruleset, the reference data: some 60,000 objects) lives as long as
    # the process: out of the collector's sight, a full collection no longer stalls routing, and the urgent
    # lane with it, for some 20 ms each time.
    gc.collect()
    gc.freeze()

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        await run_router(settings, ruleset, reference, url, stop)

    asyncio.run(main())
    return 0


def known(kind: str, name: str, names: Iterable[str]) -> str:
    """``name`` if the ruleset has it; otherwise a ``ConfigError`` with the nearest names (nothing is written
    for a partner or team that does not exist: no router reads its stream)."""
    import difflib

    if name in names:
        return name
    near = difflib.get_close_matches(name, sorted(names), n=3)
    hint = f"; did you mean {', '.join(near)}?" if near else ""
    raise ConfigError(f"no {kind} {name!r} in the ruleset{hint} (its {kind}s are in the ruleset file: "
                      "INTELBUS_RULESET, or the shipped bus/data/ruleset.yaml)")


def _publish(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.publish import publish_file
    from bus.policy import load_ruleset

    known("partner", args.partner, load_ruleset(settings.ruleset).partners)
    if args.wait is not None and not 0 < args.wait <= 86_400:
        raise ConfigError("--wait: a number of seconds above 0, at most 86400")
    summary = _with_redis(settings, lambda redis: publish_file(redis, args.partner, args.file, settings.keys(),
                                                               wait=args.wait, durability=settings.durability()))
    quarantined = (summary.outcomes or {}).get("quarantined", 0)
    return 0 if summary.rejected == 0 and quarantined == 0 else 1


def _tail(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.feed import tail
    from bus.errors import ConfigError
    from bus.policy import load_ruleset

    known("team", args.team, load_ruleset(settings.ruleset).team_ids)
    if args.from_start and not args.peek:
        raise ConfigError("--from-start goes with --peek (the group remembers where the team's consumers are)")
    if args.count is not None and args.count < 1:
        raise ConfigError("--count: a number of deliveries above 0")
    keys = settings.keys()
    if args.peek:
        from bus.cli.feed import peek

        _with_redis(settings, lambda redis: peek(redis, args.team, keys, args.json, count=args.count,
                                                 from_start=args.from_start))
        return 0
    _with_redis(settings, lambda redis: tail(redis, args.team, keys, args.json, count=args.count))
    return 0


def _decisions(args: argparse.Namespace, settings: Settings) -> int:
    from bus.archive.reader import archive_dir
    from bus.archive.store import Archive
    from bus.audit.replay import replay

    archive = Archive(args.archive or archive_dir(settings.region_dir))
    _with_redis(settings, lambda redis: replay(redis, settings.keys(), sys.stdout, as_json=args.json,
                                               submission=args.submission, archive=archive))
    return 0


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from bus.demo import run_demo
    from bus.embedded import EmbeddedRedis
    from bus.policy import load_policy

    ruleset, reference = load_policy(settings.ruleset, settings.reference)
    embedded = settings.redis_url is None
    url = _url(settings)
    where = f"embedded redis-server in {settings.data_dir}/redis (AOF, appendfsync {settings.appendfsync})" \
        if embedded else url
    print(f"intelbus demo on {where}")
    try:
        return asyncio.run(run_demo(settings, ruleset, reference, url, sys.stdout))
    finally:
        if embedded:
            EmbeddedRedis.stop(settings)
            print(f"embedded redis-server stopped; its data stays in {settings.data_dir}/redis")


def _functions_load(args: argparse.Namespace, settings: Settings) -> int:
    from bus.errors import ConfigError, UnknownCommandError
    from bus.library import load_functions

    async def load(redis: aioredis.Redis) -> str:
        try:
            return await load_functions(redis)
        except UnknownCommandError:
            raise ConfigError("this Redis has no functions (Redis 6.2): the router runs the same code as "
                              "scripts there, and needs nothing loaded") from None

    print(_with_redis(settings, load))
    return 0


def _redis(args: argparse.Namespace, settings: Settings) -> int:
    from bus.embedded import EmbeddedRedis

    if args.action == "stop":
        EmbeddedRedis.stop(settings)
        return 0
    print(_url(settings))
    return 0
