"""A region on a Redis Cluster: connections pinned to the node that serves the region's hash slot.

Every key of a region carries its hash tag (``intel:{ne}:...``, :mod:`bus.keys`), so all of it is in one
slot, and so on one master at a time. A region's clients therefore need no cluster routing at all: each
connection asks the cluster which master serves the slot (``CLUSTER SLOTS``, from any seed node that
answers) when it connects, and then is an ordinary connection to that node. Everything the bus does on one
Redis works unchanged: one script call over many keys, MULTI/EXEC pipelines, blocking reads, client-side
tracking with a redirect to the scout's listener, and ``WAIT`` on the connection that wrote (WAIT counts
only that connection's writes, which a client that spreads commands over a pool of per-node connections,
as redis-py's ``RedisCluster`` does, cannot promise).

When the slot moves (a failover promotes the replica; a resharding moves the slot), the node answers
``MOVED``, ``READONLY``, ``CLUSTERDOWN`` or ``TRYAGAIN``, or the connection is lost: the connection is then
dropped, the error reaches the caller as ``UnreachableError`` (:mod:`bus.transport`), the caller retries the
whole operation with backoff as it does when a single Redis restarts, and the next connect asks the cluster
again.

``REDIS_URL=redis+cluster://[user:password@]host:port[,host:port...]``: the seed nodes (any of the cluster's
nodes; one is enough, more survive that one being down). The region (``INTELBUS_REGION``) gives the slot;
:func:`for_slot` writes it into the URL (``?slot=N``) so that every client made from it connects alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

SCHEME = "redis+cluster://"
SLOTS = 16384
# Replies of a node that no longer serves the slot (or cannot yet): the connection must ask the cluster again.
MOVED_ERRORS = (redis_errors.MovedError, redis_errors.AskError, redis_errors.ReadOnlyError,
                redis_errors.ClusterDownError, redis_errors.TryAgainError, redis_errors.MasterDownError)


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    seeds: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    slot: int | None = None


def is_cluster(url: str | None) -> bool:
    return url is not None and url.startswith(SCHEME)


def parse(url: str) -> ClusterAddress:
    """The seeds, login and slot of a ``redis+cluster://`` URL. Raises ``ValueError`` naming what is wrong."""
    if not is_cluster(url):
        raise ValueError(f"not a {SCHEME} URL")
    parts = urlsplit(url)
    login, _, hosts = parts.netloc.rpartition("@")
    username, _, password = login.partition(":") if login else ("", "", "")
    seeds = tuple(_seed(host) for host in hosts.split(",") if host)
    if not seeds:
        raise ValueError(f"{SCHEME} needs at least one host:port")
    if parts.path not in ("", "/", "/0"):
        raise ValueError("a Redis Cluster has only database 0")
    query = dict(parse_qsl(parts.query))
    slot = query.get("slot")
    if slot is not None and not (slot.isdigit() and int(slot) < SLOTS):
        raise ValueError(f"slot must be 0..{SLOTS - 1}")
    return ClusterAddress(seeds, unquote(username) or None, unquote(password) or None,
                          None if slot is None else int(slot))


def _seed(host: str) -> tuple[str, int]:
    name, _, port = host.rpartition(":")
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{host!r} is not host:port")
    return name, int(port)


def for_slot(url: str, slot: int) -> str:
    """``url`` with its connections pinned to ``slot``."""
    parse(url)  # refuses a bad URL before anything connects
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "slot"] + [("slot", str(slot))]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def master_of(reply: Any, slot: int) -> tuple[str, int] | None:
    """The (host, port) of the master serving ``slot`` in a ``CLUSTER SLOTS`` reply; None if no node does."""
    for row in reply or ():
        start, end, master = int(row[0]), int(row[1]), row[2]
        if start <= slot <= end:
            host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
            return host, int(master[1])
    return None


async def locate(address: ClusterAddress, options: dict[str, Any]) -> tuple[str, int]:
    """The master that serves ``address.slot`` now, asked of each seed in turn until one answers. Raises
    ``redis.ConnectionError`` when no seed answers and ``ClusterDownError`` when none serves the slot."""
    slot = 0 if address.slot is None else address.slot
    errors: list[str] = []
    for host, port in address.seeds:
        seed = aioredis.Connection(host=host, port=port, username=address.username, password=address.password,
                                   retry=Retry(NoBackoff(), 0), **options)
        try:
            await seed.connect()  # type: ignore[no-untyped-call]
            await seed.send_command("CLUSTER", "SLOTS")
            found = master_of(await seed.read_response(), slot)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            errors.append(f"{host}:{port}: {exc}")
            continue
        finally:
            await seed.disconnect()
        if found is None:
            raise redis_errors.ClusterDownError(f"CLUSTERDOWN no node of the cluster serves slot {slot}")
        return (host if found[0] in ("", "?") else found[0]), found[1]  # an unannounced ip is the seed's
    raise redis_errors.ConnectionError(f"no seed node of the cluster answered ({'; '.join(errors)})")


# What a seed connection keeps of the region's connections' options (the rest concern the one connection).
_SEED_OPTIONS = ("socket_timeout", "socket_connect_timeout")


class SlotConnection(aioredis.Connection):
    """A TCP connection to whichever master serves ``slot``, found at each connect."""

    def __init__(self, *, seeds: Sequence[tuple[str, int]], slot: int, **kwargs: Any) -> None:
        host, port = seeds[0]
        for given in ("host", "port", "db"):  # where it connects is the cluster's answer (FastStream passes them)
            kwargs.pop(given, None)
        super().__init__(host=host, port=port, **kwargs)
        self._address = ClusterAddress(tuple(seeds), kwargs.get("username"), kwargs.get("password"), slot)
        self._seed_options = {k: kwargs[k] for k in _SEED_OPTIONS if k in kwargs}
        self._moved = False

    async def _connect(self) -> None:
        self.host, self.port = await locate(self._address, self._seed_options)
        await super()._connect()  # type: ignore[no-untyped-call]

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except MOVED_ERRORS:
            self._moved = True  # not now: the rest of a pipeline's replies are still to be read on it
            raise

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if self._moved:
            self._moved = False
            await self.disconnect()  # and so the next connect asks the cluster where the slot is now
        await super().send_packed_command(command, check_health)


def pool(url: str, connection_class: type[SlotConnection] = SlotConnection, **options: Any) -> aioredis.ConnectionPool:
    """A connection pool whose connections go to the master of the URL's slot. Raises ``ValueError`` for a
    URL with no slot (a cluster needs a region: without one the bus's keys span slots)."""
    address = parse(url)
    if address.slot is None:
        raise ValueError("a Redis Cluster URL needs a region (INTELBUS_REGION): without one the bus's keys "
                         "hash to many slots and its atomic operations cannot run")
    options = {"username": address.username, "password": address.password, **options}
    options.pop("socket_keepalive", None)  # SlotConnection is TCP: keepalive is its default
    return aioredis.ConnectionPool(connection_class=connection_class, seeds=address.seeds, slot=address.slot,
                                   **options)


def connection_options(url: str) -> dict[str, Any]:
    """Keyword arguments that make a ``redis.asyncio.ConnectionPool`` (or FastStream's ``RedisBroker``, which
    passes its own on to one) connect to the master of the URL's slot: ``RedisBroker(**connection_options(url))``.
    Raises ``ValueError`` as :func:`pool` does."""
    address = parse(url)
    if address.slot is None:
        raise ValueError("a Redis Cluster URL needs a region (INTELBUS_REGION)")
    host, port = address.seeds[0]
    return {"url": f"redis://{host}:{port}", "connection_class": SlotConnection, "seeds": address.seeds,
            "slot": address.slot, "username": address.username, "password": address.password}


async def nodes(url: str, options: dict[str, Any] | None = None) -> list[tuple[str, int, str]]:
    """Every node of the cluster as (host, port, role): ``master`` or ``replica`` (``CLUSTER NODES`` of the
    first seed that answers; failed nodes left out). For work each node must do itself, such as loading ACLs."""
    address = parse(url)
    errors: list[str] = []
    for host, port in address.seeds:
        seed = aioredis.Connection(host=host, port=port, username=address.username, password=address.password,
                                   retry=Retry(NoBackoff(), 0), **(options or {}))
        try:
            await seed.connect()  # type: ignore[no-untyped-call]
            await seed.send_command("CLUSTER", "NODES")
            reply = await seed.read_response()
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as exc:
            errors.append(f"{host}:{port}: {exc}")
            continue
        finally:
            await seed.disconnect()
        return parse_nodes(reply.decode() if isinstance(reply, bytes) else str(reply), host)
    raise redis_errors.ConnectionError(f"no seed node of the cluster answered ({'; '.join(errors)})")


def parse_nodes(text: str, seed_host: str) -> list[tuple[str, int, str]]:
    """(host, port, role) of each healthy node in a ``CLUSTER NODES`` reply."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8 or "fail" in fields[2].split(",") or "noaddr" in fields[2]:
            continue
        address = fields[1].split("@", 1)[0].split(",", 1)[0]
        host, _, port = address.rpartition(":")
        role = "master" if "master" in fields[2].split(",") else "replica"
        found.append((host or seed_host, int(port), role))
    return found
