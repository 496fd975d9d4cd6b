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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis.asyncio as aioredis
from redis import exceptions as redis_errors
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

SCHEME = "redis+cluster://"
SLOTS = 16384
SEED_CONNECT_TIMEOUT = 2.0  # a seed that does not answer in this long is passed over for the next
# Replies of a node that no longer serves the slot (or cannot yet): the connection must ask the cluster again.
MOVED_ERRORS = (redis_errors.MovedError, redis_errors.AskError, redis_errors.ReadOnlyError,
                redis_errors.ClusterDownError, redis_errors.TryAgainError, redis_errors.MasterDownError)
# A refused login or command: asking another seed would be refused too, and it is not "unreachable".
REFUSED = (redis_errors.AuthenticationError, redis_errors.AuthorizationError, redis_errors.NoPermissionError)
# A blocked read on a node that has just become a replica ("UNBLOCKED force unblock from blocking operation,
# instance state changed (master -> replica?)"): the slot has moved with the role.
ROLE_CHANGED = "instance state changed"


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    seeds: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = field(default=None, repr=False)
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
    seeds = tuple(_seed(host, number) for number, host in enumerate(hosts.split(","), start=1) if host)
    if not seeds:
        raise ValueError(f"{SCHEME} needs at least one host:port")
    if parts.path not in ("", "/", "/0"):
        raise ValueError("a Redis Cluster has only database 0")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - {"slot"})
    if unknown:  # redis:// options (ssl, timeouts, ...) are not read here: say so rather than ignore them
        raise ValueError(f"a {SCHEME} URL takes no options ({', '.join(unknown)}); TLS to a cluster is not "
                         "supported yet")
    slot = query.get("slot")
    if slot is not None and not (slot.isdigit() and int(slot) < SLOTS):
        raise ValueError(f"slot must be 0..{SLOTS - 1}")
    return ClusterAddress(seeds, unquote(username) or None, unquote(password) or None,
                          None if slot is None else int(slot))


def _seed(host: str, number: int) -> tuple[str, int]:
    name, _, port = host.rpartition(":")
    if name.startswith("[") and name.endswith("]"):  # [ipv6]:port
        name = name[1:-1]
    if not name or not port.isdigit() or not 0 < int(port) < 65536:
        # not the text itself: a password with an unescaped '/' or '#' ends up here, in part
        raise ValueError(f"seed {number} of the {SCHEME} URL is not host:port")
    return name, int(port)


def for_slot(url: str, slot: int) -> str:
    """``url`` with its connections pinned to ``slot``."""
    parse(url)  # refuses a bad URL before anything connects
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "slot"] + [("slot", str(slot))]
    return f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}"


def slot_row(reply: Any, slot: int) -> list[Any] | None:
    """The row of a ``CLUSTER SLOTS`` reply that covers ``slot``: [start, end, master, replica...] (replicas
    that have failed, or whose offset is not yet known, are left out by Redis); None if no node serves it."""
    for row in reply or ():
        if int(row[0]) <= slot <= int(row[1]):
            return list(row)
    return None


def master_of(reply: Any, slot: int) -> tuple[str, int] | None:
    """The (host, port) of the master serving ``slot`` in a ``CLUSTER SLOTS`` reply; None if no node does."""
    row = slot_row(reply, slot)
    if row is None:
        return None
    host = row[2][0].decode() if isinstance(row[2][0], bytes) else str(row[2][0])
    return host, int(row[2][1])


_ANSWERED: dict[tuple[tuple[str, int], ...], int] = {}  # seeds -> the one that answered last: asked first


async def _ask_seeds(address: ClusterAddress, options: dict[str, Any], command: tuple[str, ...],
                     accept: Callable[[Any], bool]) -> tuple[str, Any]:
    """(seed host, reply) of the first seed whose reply to ``command`` is ``accept``-ed, starting from the one
    that answered last (a dead first seed costs one timeout once, not on every connect). A refused login or
    command is raised as it is (``REFUSED``); ``redis.ConnectionError`` when no seed answered usefully."""
    first = _ANSWERED.get(address.seeds, 0)
    order = [*range(first, len(address.seeds)), *range(first)]
    timeout = min(float(options.get("socket_connect_timeout") or SEED_CONNECT_TIMEOUT), SEED_CONNECT_TIMEOUT)
    errors: list[str] = []
    for index in order:
        host, port = address.seeds[index]
        seed = aioredis.Connection(host=host, port=port, username=address.username, password=address.password,
                                   retry=Retry(NoBackoff(), 0), socket_connect_timeout=timeout,
                                   socket_timeout=options.get("socket_timeout") or SEED_CONNECT_TIMEOUT)
        try:
            await seed.connect()  # type: ignore[no-untyped-call]
            await seed.send_command(*command)
            reply = await seed.read_response()
        except REFUSED:
            raise
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.ResponseError,
                OSError) as exc:  # down, or not a cluster node (yet): the next seed may answer
            errors.append(f"{host}:{port}: {exc}")
            continue
        finally:
            await seed.disconnect()
        if accept(reply):
            _ANSWERED[address.seeds] = index
            return host, reply
        errors.append(f"{host}:{port}: does not know who serves the slot")
    raise redis_errors.ConnectionError(f"no seed node of the cluster answered ({'; '.join(errors)})")


async def locate(address: ClusterAddress, options: dict[str, Any]) -> tuple[str, int]:
    """The master that serves ``address.slot`` now, asked of the seeds (``_ask_seeds``)."""
    slot = 0 if address.slot is None else address.slot
    seed, reply = await _ask_seeds(address, options, ("CLUSTER", "SLOTS"),
                                   lambda reply: master_of(reply, slot) is not None)
    host, port = master_of(reply, slot) or (seed, 0)
    return (seed if host in ("", "?") else host), port  # an unannounced address is the seed's own


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

    async def connect_check_health(self, check_health: bool = True, retry_socket_connect: bool = True) -> None:
        if self.is_connected:
            return
        # outside redis-py's connect, which would wrap a refused login in a ConnectionError ("unreachable")
        self.host, self.port = await locate(self._address, self._seed_options)
        self._moved = False
        await super().connect_check_health(check_health, retry_socket_connect)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().read_response(*args, **kwargs)
        except MOVED_ERRORS:
            self._moved = True  # not now: the rest of a pipeline's replies are still to be read on it
            raise
        except redis_errors.ResponseError as exc:
            if ROLE_CHANGED not in str(exc):
                raise
            self._moved = True
            raise redis_errors.ClusterDownError(f"{exc} (the node is no longer the region's master)") from exc

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        if self._moved:
            self._moved = False
            await self.disconnect()  # and so the next connect asks the cluster where the slot is now
        await super().send_packed_command(command, check_health)


def needs_region(slot: int | None) -> int:
    """``slot``, or ``ValueError`` saying why a cluster needs a region."""
    if slot is None:
        raise ValueError("a Redis Cluster needs INTELBUS_REGION: without a region the bus's keys hash to many "
                         "slots and its atomic operations (one call over a batch's keys) cannot run there")
    return slot


def pool(url: str, connection_class: type[SlotConnection] = SlotConnection, **options: Any) -> aioredis.ConnectionPool:
    """A connection pool whose connections go to the master of the URL's slot. Raises ``ValueError`` for a
    URL with no slot (a cluster needs a region: without one the bus's keys span slots)."""
    address = parse(url)
    options = {"username": address.username, "password": address.password, "socket_keepalive": True, **options}
    return aioredis.ConnectionPool(connection_class=connection_class, seeds=address.seeds,
                                   slot=needs_region(address.slot), **options)


def connection_options(url: str) -> dict[str, Any]:
    """Keyword arguments that make a ``redis.asyncio.ConnectionPool`` (or FastStream's ``RedisBroker``, which
    passes its own on to one) connect to the master of the URL's slot: ``RedisBroker(**connection_options(url))``.
    Raises ``ValueError`` as :func:`pool` does."""
    address = parse(url)
    host, port = address.seeds[0]
    return {"url": f"redis://{host}:{port}", "connection_class": SlotConnection, "seeds": address.seeds,
            "slot": needs_region(address.slot), "username": address.username, "password": address.password}


async def nodes(url: str, options: dict[str, Any] | None = None) -> list[tuple[str, int, str]]:
    """Every node of the cluster as (host, port, role): ``master``, ``replica`` or ``failed`` (``CLUSTER
    NODES`` of a seed). For work each node must do itself, such as loading ACLs."""
    seed, reply = await _ask_seeds(parse(url), options or {}, ("CLUSTER", "NODES"), lambda reply: bool(reply))
    return parse_nodes(reply.decode() if isinstance(reply, bytes) else str(reply), seed)


def parse_nodes(text: str, seed_host: str) -> list[tuple[str, int, str]]:
    """(host, port, role) of each node in a ``CLUSTER NODES`` reply; role ``failed`` for one the cluster
    holds failed (or has no address for)."""
    found = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        flags = fields[2].split(",")
        address = fields[1].split("@", 1)[0].split(",", 1)[0]
        host, _, port = address.rpartition(":")
        if "fail" in flags or "noaddr" in flags or not port.isdigit():
            role = "failed"
        else:
            role = "master" if "master" in flags else "replica"
        found.append((host or seed_host, int(port) if port.isdigit() else 0, role))
    return found
