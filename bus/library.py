"""The bus's own server-side operations (``lua/*.lua``), run as a Redis Function library on Redis 7 and
as scripts on Redis 6.2 (the embedded fallback, which has no functions).

On Redis 7 the library ``intelbus_<version>`` is loaded once, at deploy time, by a user allowed
``FUNCTION LOAD`` (``intelbus functions load``, or the embedded server's start-up); the router user is
then granted ``FCALL`` and nothing that runs other code (no ``EVAL``, ``SCRIPT``, ``FUNCTION``). The
version is a digest of the sources, so routers of two releases can share one Redis during an upgrade,
each calling its own functions. On Redis 6.2 the router loads the same code with ``SCRIPT LOAD`` and
runs it with ``EVALSHA``; a router user there can run any script it loads (stated in ``bus.acl``).

Each operation is one ``.lua`` file written as a script over ``KEYS``/``ARGV``; ``common.lua``'s helpers
come first, once in the library, in front of each script on 6.2.
"""

from __future__ import annotations

import hashlib
import logging
from enum import StrEnum
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from bus.errors import ConfigError, LibraryMissingError, PermissionDeniedError, TransportError, UnknownCommandError
from bus.transport import text, translate_errors

log = logging.getLogger("intelbus.library")


class Operation(StrEnum):
    READ = "read"
    COMMIT = "commit"
    SCOUT = "scout"
    CLAIM = "claim"
    ERASE = "erase"


def _source(name: str) -> str:
    return resources.files("bus").joinpath(f"lua/{name}.lua").read_text()


COMMON = _source("common")
BODIES = {op: _source(op.value) for op in Operation}
VERSION = hashlib.sha256("\n".join([COMMON, *BODIES.values()]).encode()).hexdigest()[:12]
LIBRARY = f"intelbus_{VERSION}"


def function_name(op: Operation | str) -> str:
    return f"intelbus_{op}_{VERSION}"


PROBE = function_name("version")


def library_code() -> str:
    """The Function library: the helpers, then each operation registered under its versioned name."""
    parts = [f"#!lua name={LIBRARY}", COMMON]
    for op, body in BODIES.items():
        parts.append(f"local function {op}_operation(KEYS, ARGV)\n{body}\nend\n"
                     f"redis.register_function('{function_name(op)}', {op}_operation)")
    parts.append(f"redis.register_function('{PROBE}', function() return '{VERSION}' end)")
    return "\n".join(parts) + "\n"


def script_code(op: Operation) -> str:
    return f"{COMMON}\n{BODIES[op]}"


class Library:
    """Runs the operations on one client: ``await library.prepare()`` once, then ``call``."""

    def __init__(self, client: aioredis.Redis) -> None:
        self._client = client
        self._functions: bool | None = None
        self._shas: dict[Operation, str] = {}

    @property
    def ready(self) -> bool:
        """``prepare`` has been awaited."""
        return self._functions is not None

    @property
    def uses_functions(self) -> bool:
        if self._functions is None:
            raise RuntimeError("Library.prepare() was not awaited")
        return self._functions

    async def prepare(self) -> None:
        """Find out how this Redis runs the operations; load the library if it is missing and this user
        may (an ACL'd router may not: then say what to run). Raises ``ConfigError`` or ``TransportError``."""
        try:
            async with translate_errors("checking the intelbus function library"):
                await self._client.fcall(PROBE, 0)
            self._functions = True
            return
        except UnknownCommandError:  # Redis 6.2: scripts
            self._functions = False
        except PermissionDeniedError:
            raise ConfigError("this Redis has functions but the router's Redis user may not FCALL: its ACL was "
                              "generated for Redis 6.2; generate it for this Redis (intelbus acl generate "
                              "--redis-version 7)") from None
        except LibraryMissingError:
            await self._load_or_explain()
            self._functions = True
            return
        for op in Operation:
            async with translate_errors(f"loading the {op} script"):
                self._shas[op] = text(await self._client.script_load(script_code(op)))

    async def _load_or_explain(self) -> None:
        try:
            await _load(self._client)
        except TransportError as exc:
            raise ConfigError(
                f"the Redis Function library {LIBRARY} is not loaded and this Redis user may not load it "
                f"({exc}); load it once as an administrator: REDIS_URL=<admin url> intelbus functions load"
            ) from None
        log.info("Redis Function library %s loaded", LIBRARY)

    def using(self, client: aioredis.Redis) -> Library:
        """This prepared library, called through another client (the scout's own connection)."""
        other = Library(client)
        other._functions, other._shas = self._functions, self._shas
        return other

    def _command(self, op: Operation, keys: list[str], args: list[Any]) -> tuple[Any, ...]:
        """The operation as one command: FCALL of its function, or on 6.2 EVALSHA of its script."""
        name = ("FCALL", function_name(op)) if self.uses_functions else ("EVALSHA", self._shas[op])
        return (*name, len(keys), *keys, *args)

    def queue(self, pipe: Any, op: Operation, keys: list[str], args: list[Any]) -> None:
        """Add one operation to a pipeline (``bus.replicas.Waiter`` sends it with its WAIT)."""
        pipe.execute_command(*self._command(op, keys, args))

    async def call(self, op: Operation, keys: list[str], args: list[Any]) -> Any:
        """Run one operation (the caller translates errors: it knows what it was doing)."""
        return await self._client.execute_command(*self._command(op, keys, args))  # type: ignore[no-untyped-call]


async def load_functions(client: aioredis.Redis) -> str:
    """``FUNCTION LOAD`` this release's library (an administrator's step; idempotent). Returns what was
    done. Raises ``UnknownCommandError`` on Redis 6.2, ``TransportError`` when not permitted."""
    doing = f"loading the Redis Function library {LIBRARY}"
    try:
        async with translate_errors(doing):
            await client.fcall(PROBE, 0)
        return f"{LIBRARY} was already loaded"
    except LibraryMissingError:
        pass
    await _load(client)
    return f"{LIBRARY} loaded"


async def _load(client: aioredis.Redis) -> None:
    """FUNCTION LOAD the library; refused because another process loaded it meanwhile is fine."""
    doing = f"loading the Redis Function library {LIBRARY}"
    try:
        async with translate_errors(doing):
            await client.function_load(library_code())
    except TransportError:
        async with translate_errors(doing):  # it is there now (loaded by another), or this raises
            await client.fcall(PROBE, 0)
