"""``intelbus acl load DIR``: set the users of ``DIR/users.acl`` on a running Redis, or on every node of a Redis
Cluster (each node has its own users: a cluster does not share them), with ``ACL SETUSER``, and save them
(``ACL SAVE``) where the node was started with an ACL file.

``REDIS_URL`` names a user that may run ``ACL SETUSER`` (on a fresh cluster, ``default``). The ``default``
user's line, if the file has one, is left out: turning ``default`` off is the operators' step, once each
replica logs in to its master with a user of its own (``masteruser``/``masterauth``), since a replica that
cannot log in cannot resynchronise after a failover. Loading is idempotent: each user is ``reset`` first
(its passwords, keys, channels, commands and selectors), then given what the file says, in one command; a
region's user no longer in the file (``<region>.*``, a partner removed from the ruleset) is deleted. A node
the cluster holds failed cannot be reached: it is named, and the load counts as incomplete (exit 1): set the
users on it before it can be promoted, or its region's parties cannot log in there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import redis.asyncio as aioredis

from bus import cluster
from bus.errors import ConfigError, TransportError
from bus.transport import client as redis_client
from bus.transport import text, translate_errors


@dataclass(frozen=True, slots=True)
class NodeResult:
    node: str  # host:port
    role: str  # master, replica, "redis" for a single Redis, or "failed" (not reached: nothing set)
    users: int
    saved: bool  # False: the node has no ACL file; the users last until it restarts
    deleted: tuple[str, ...] = ()  # the region's users it had that the file no longer has


def acl_lines(path: Path) -> list[tuple[str, list[str]]]:
    """(user name, rule arguments) of each ``user`` line but ``default``'s; a selector ``(...)`` is one
    argument. Raises ``ConfigError`` for a line that is not ``user <name> <rules>``."""
    users = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = rule_arguments(line)
        if len(parts) < 3 or parts[0] != "user":
            raise ConfigError(f"{path}:{number}: not a 'user <name> <rules>' line")
        if parts[1] != "default":
            users.append((parts[1], parts[2:]))
    return users


def rule_arguments(line: str) -> list[str]:
    """``line`` split on spaces, but a parenthesised selector kept whole."""
    arguments: list[str] = []
    depth = 0
    for word in line.split():
        if depth:
            arguments[-1] += " " + word
        else:
            arguments.append(word)
        depth += word.count("(") - word.count(")")
    return arguments


async def load_acl(url: str, path: Path) -> list[NodeResult]:
    """Set every user of ``path`` on the Redis of ``url`` (each node of a cluster). Raises ``ConfigError``
    for a bad file, ``TransportError`` for a node that refuses or cannot be reached."""
    users = acl_lines(path)
    if not cluster.is_cluster(url):
        parts = urlsplit(url)
        client = redis_client(url)
        try:
            return [await _load_node(client, users, f"{parts.hostname or parts.path}:{parts.port or ''}", "redis")]
        finally:
            await client.aclose()
    address = cluster.parse(url)
    results = []
    for host, port, role in await cluster.nodes(url):
        if role == "failed":
            results.append(NodeResult(f"{host}:{port}", role, 0, saved=False))
            continue
        client = aioredis.Redis(host=host, port=port, username=address.username, password=address.password)
        try:
            results.append(await _load_node(client, users, f"{host}:{port}", role))
        finally:
            await client.aclose()
    return results


def region_of(users: list[tuple[str, list[str]]]) -> str | None:
    """The region every user's name starts with (``ne.`` in ``ne.router``), if they all share one."""
    regions = {name.partition(".")[0] for name, _ in users if "." in name}
    return regions.pop() if len(regions) == 1 and all("." in name for name, _ in users) else None


async def _load_node(client: aioredis.Redis, users: list[tuple[str, list[str]]], node: str, role: str) -> NodeResult:
    region = region_of(users)
    async with translate_errors(f"setting ACL users on {node}"):
        for name, rules in users:
            await client.execute_command("ACL", "SETUSER", name, "reset", *rules)  # type: ignore[no-untyped-call]
        stale: tuple[str, ...] = ()
        if region is not None:
            known = {text(name) for name in await client.execute_command("ACL", "USERS")}  # type: ignore[no-untyped-call]
            named = {name for name, _ in users}
            stale = tuple(sorted(name for name in known if name.startswith(f"{region}.") and name not in named))
            if stale:
                await client.execute_command("ACL", "DELUSER", *stale)  # type: ignore[no-untyped-call]
    try:
        async with translate_errors(f"saving the ACL on {node}"):
            await client.execute_command("ACL", "SAVE")  # type: ignore[no-untyped-call]
    except TransportError as exc:
        if NO_ACL_FILE not in str(exc):
            raise
        return NodeResult(node, role, len(users), saved=False, deleted=stale)
    return NodeResult(node, role, len(users), saved=True, deleted=stale)


NO_ACL_FILE = "not configured to use an ACL file"  # ACL SAVE's refusal on a node started without --aclfile
