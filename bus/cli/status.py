"""``intelbus status [--json] [--watch SECONDS]``: the bus at a glance (read-only; the operator user suffices)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import redis.asyncio as aioredis

from bus.settings import Settings
from bus.status.figures import gather, to_json
from bus.status.render import render

CLEAR = "\x1b[H\x1b[2J"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    status = commands.add_parser("status", help="what waits, what is pending and how old, per partner and team")
    status.add_argument("--json", action="store_true", help="every figure as one JSON document")
    status.add_argument("--watch", type=float, metavar="SECONDS", help="show it again every SECONDS until Ctrl-C")
    status.set_defaults(handler=_status)


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.runtime import _with_redis
    from bus.errors import ConfigError
    from bus.policy import load_ruleset

    if args.watch is not None and args.watch <= 0:
        raise ConfigError("--watch: a number of seconds above 0")
    ruleset = load_ruleset(settings.ruleset)
    keys = settings.keys()
    colour = sys.stdout.isatty() and not args.json

    async def work(redis: aioredis.Redis) -> int:
        while True:
            status = await gather(redis, keys, ruleset)
            shown = to_json(status) if args.json else render(status, colour)
            print((CLEAR if colour and args.watch else "") + shown, flush=True)
            if args.watch is None:
                return 0
            await asyncio.sleep(args.watch)

    return _with_redis(settings, work)
