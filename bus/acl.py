"""Redis ACL users generated from the registry (DESIGN.md decision 6): pure functions, no I/O.

One user per party, each allowed an explicit list of commands (never a category, so nothing new
appears when Redis grows a command) on explicit key patterns:

=======================  ===============================================================================
user                     may
=======================  ===============================================================================
``router``               call the bus's own Redis functions (FCALL; on 6.2 EVALSHA and SCRIPT LOAD),
                         the commands those run, and create its groups and record failures; keys
                         ``<prefix>:ingress:*``, ``:feed:*``, ``:receipt:*``, ``:decisions``, ``:quarantine``,
                         ``:audit``, ``:seen:*``, ``:scout``, ``:scouted``, ``:failures``, ``:checkpoints`` (the audit
                         checkpointer XADDs signed checkpoints) only; for the checkpointer also XRANGE,
                         XREVRANGE, XLEN and XINFO STREAM of the consultation streams ``:consult:*``
                         (read only) and SET, GET and PEXPIRE of its lease ``:checkpointer``; for
                         retention (``bus.retention.loop``) XTRIM of the streams it trims only, EXISTS, HSCAN,
                         MULTI/EXEC, its lease ``:retainer`` and its status hash ``:retention``; and CLIENT ID,
                         CLIENT TRACKING and SUBSCRIBE to ``__redis__:invalidate`` only, by which the
                         scout is told which ingress streams changed (``bus.wake``: key names, never values)
``admin``                (Redis 7) load the function library (FUNCTION LOAD/LIST/DELETE), nothing else
``partner-<id>``         XADD to ``<prefix>:ingress:<id>``; read (XREAD, XRANGE, XREVRANGE, XLEN) its receipts
                         ``<prefix>:receipt:<id>`` (bus.receipts); nothing else, not even reading its
                         ingress back
``team-<id>``            read (group reads, XRANGE), ack, claim and create its group on its two feed
                         streams ``<prefix>:feed:<id>`` and ``<prefix>:feed:<id>:immediate``; XADD its
                         consultation records (``bus.audit.consult``) to ``<prefix>:consult:<id>`` only
``operator``             read-only commands (XRANGE, XINFO, XPENDING, SCAN, HGET, ...) on ``<prefix>:*``
``default``              off: a connection that does not authenticate can do nothing
=======================  ===============================================================================

Every user may also PING, HELLO and CLIENT SETNAME (connection set-up and health checks). On a Redis Cluster
(``cluster=True``, ``intelbus acl generate --cluster``) every user may also ask ``CLUSTER SLOTS`` (where the
region's slot is served, ``bus.cluster``: node addresses, no keys) and ``WAIT`` (``bus.replicas``), and each
user's name carries its region (``ne.router``, ``ne.partner-ukfiu``) so that several regions' users live on
one cluster side by side; ``intelbus acl load`` sets them on every node (``bus.acl_load``), and the file
leaves out the ``default`` user, which is the operators' to turn off once replication has a user of its own
(``masteruser``: a replica logs in to its master, after a failover too). CLIENT
SETINFO, which redis-py sends on connect and whose error it ignores, is not granted: Redis 7.0 rejects an
ACL file naming that subcommand (it arrived in 7.2). The rules use only syntax Redis 6.2 and 7.0 both
load (no ``%R~``/``%W~`` key permissions), but for one thing: a file for Redis 7 gives the five narrow
grants above (the partner's reads of its receipts, the team's XADD to its consultation stream, the router's
reads of consultation streams, its
lease commands and its XTRIM of the streams retention trims: feeds, receipts, ingress, quarantine and the
audit logs, the last three only once archived, bus.retention) as *selectors*, ``(+xadd ~<prefix>:consult:<id>)``: those
commands on those keys only (Redis 7.0 and later). A file for 6.2, which has no selectors, adds those
commands and keys to the user's other rights (below). Passwords are ``secrets.token_urlsafe(32)``; the
ACL file holds only their sha256 (``#<hex>``), the credentials file the passwords themselves.

What ACLs cannot narrow (Redis checks a command and its keys, not its options): a partner's XADD may
carry ``MAXLEN``/``MINID`` and so trim its *own* ingress stream (the router detects it: unread entries
that vanish, and pending ones deleted, are written to the audit stream); likewise a team's XADD may trim
its *own* consultation log (the router's audit checkpointer detects a log that holds fewer records than it
checkpointed, writes ``audit_log_shrank`` to the audit stream, and ``intelbus audit verify`` names what
went); a team may create other groups, or read with ``NOACK``, on its *own* feeds; the operator's SCAN
lists key names outside the prefix too; the router may run directly the commands its functions run (XADD
to any stream under the prefix, XGROUP SETID on ingress), because a function's commands are checked
against its caller's rights; with ``CLIENT TRACKING ... BCAST`` the router could be told the *names* of
keys written outside its patterns (never their values; it knows every partner and team name anyway).
On Redis 6.2 (no selectors) the narrow grants widen: a partner may read its own ingress stream back and
XADD to its own receipt stream (it could forge receipts for itself, which only it reads, or break the
stream, which costs it its own receipts only: lua/commit.lua writes them with pcall); a team's XADD
reaches its own feeds too (it could
add entries to them, trim them, or break them with the largest id, which costs it its own deliveries only:
lua/commit.lua) and it can read its own consultation stream; the router may run all
its commands on the consultation streams, XADD included, SET, GET and PEXPIRE on every key it may
touch, and XTRIM on every stream it may touch (the decisions and the audit stream too: the checkpointer's
signed checkpoints still show any record so removed). So on 6.2 "only the team appends to its
consultation stream" holds against partners, other teams and operators, not against the router.

On Redis 7 the router runs no code but the library an administrator loaded: it has ``FCALL`` and no
``EVAL``, ``EVALSHA``, ``SCRIPT`` or ``FUNCTION``, so it can neither run a script of its own nor
block Redis with one. Redis 6.2 (the embedded fallback, which has no functions) needs ``EVALSHA`` and
``SCRIPT LOAD`` for the router: there a router user could load and run any script. Generate the file
for the Redis that will load it (``redis_version``): 6.2 refuses a file naming ``FCALL``.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from bus.errors import ConfigError
from bus.keys import Keys
from bus.policy.ruleset import Ruleset

Role = Literal["router", "admin", "partner", "team", "operator", "default"]

SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
"""Ids and prefixes that are safe both as an ACL key pattern (no glob characters) and as a user name."""
SAFE_PREFIX = re.compile(r"^[A-Za-z0-9_.-]+(?::\{[A-Za-z0-9_.-]+\})?$")
"""A key prefix: a safe name, and a region's hash tag after it (``intel:{ne}``; braces are no glob characters)."""

RedisVersion = Literal["7", "6.2"]
CONNECTION = ("+ping", "+hello", "+client|setname")
CLUSTER_CONNECTION = ("+cluster|slots", "+wait")  # bus.cluster: where the slot is; bus.replicas: WAIT
ROUTER_RUNS = (  # what lua/*.lua run: a function's commands are checked against its caller's rights
    "+xreadgroup", "+xack", "+xclaim", "+xpending", "+xrange", "+xrevrange", "+xlen", "+xadd", "+xgroup|create",
    "+xgroup|setid", "+xinfo|stream", "+xinfo|groups", "+hget", "+hset", "+hdel", "+time",
)
ROUTER_CALLS = {"7": ("+fcall",), "6.2": ("+evalsha", "+script|load")}
ROUTER_WAKE = ("+client|id", "+client|tracking", "+subscribe")  # bus.wake: told which ingress streams changed
ROUTER_CHANNELS = ("__redis__:invalidate",)  # tracking's invalidation messages: key names, never values
# bus.audit.checkpointer: it hashes each team's consultation log (read only) and holds its lease (SET NX PX,
# GET, PEXPIRE) on <prefix>:checkpointer; on Redis 7 each is a selector on those keys alone
ROUTER_AUDIT_READS = ("+xrange", "+xrevrange", "+xlen", "+xinfo|stream", "+exists", "+xinfo|groups",
                      "+xpending")  # the last three: retention's watermark (bus.retention.facts.groups_of)
ROUTER_AUDIT = ("+set", "+get", "+pexpire")
# bus.retention.loop: it looks at its streams' groups and its dedupe marks, archives, and removes, each step
# with its erasure record in one call of lua/erase.lua (XTRIM or HDEL, HINCRBY, XADD); an archived segment's
# record and position in one MULTI/EXEC. XTRIM is a selector on the streams retention trims (on 6.2: on all
# the router's keys)
ROUTER_RETENTION = ("+exists", "+hscan", "+hlen", "+hincrby", "+multi", "+exec", "+discard")
ROUTER_TRIM = ("+xtrim",)
ADMIN_COMMANDS = (*CONNECTION, "+fcall", "+function|load", "+function|list", "+function|delete")
PARTNER_COMMANDS = (*CONNECTION, "+xadd")
PARTNER_RECEIPTS = ("+xread", "+xrange", "+xrevrange", "+xlen")  # bus.receipts, on <prefix>:receipt:<id> only
TEAM_COMMANDS = (
    *CONNECTION,
    "+xreadgroup", "+xack", "+xautoclaim", "+xclaim", "+xpending", "+xgroup|create",
    "+xrange", "+xrevrange", "+xlen", "+xinfo|stream", "+xinfo|groups", "+xinfo|consumers",
)
TEAM_CONSULT = ("+xadd",)  # bus.audit.consult: its consultation records, on <prefix>:consult:<team> only
OPERATOR_COMMANDS = (
    *CONNECTION,
    "+xrange", "+xrevrange", "+xlen", "+xread", "+xpending", "+xinfo|stream", "+xinfo|groups",
    "+xinfo|consumers", "+scan", "+type", "+exists", "+ttl", "+pttl", "+dbsize",
    "+hget", "+hmget", "+hgetall", "+hlen", "+hexists", "+hkeys", "+hvals", "+hscan",
)


def new_password() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Selector:
    """``commands`` on ``key_patterns`` only: a Redis 7 selector, ``(+cmd ... ~pattern ...)``."""

    commands: tuple[str, ...]
    key_patterns: tuple[str, ...]

    def rule(self) -> str:
        return "(" + " ".join([*self.commands, *(f"~{pattern}" for pattern in self.key_patterns)]) + ")"


@dataclass(frozen=True, slots=True)
class AclUser:
    """One Redis user: its name, what it may run on which keys, and its password (``None``: no login)."""

    name: str
    role: Role
    subject: str | None
    commands: tuple[str, ...]
    key_patterns: tuple[str, ...]
    password: str | None = field(default=None, repr=False)
    channels: tuple[str, ...] = ()  # Pub/Sub channels it may subscribe to (exact names)
    selectors: tuple[Selector, ...] = ()  # Redis 7 only: narrower grants beside the root permissions
    cluster: bool = False  # a Redis Cluster's user: its URL is redis+cluster://

    @property
    def password_hash(self) -> str | None:
        return None if self.password is None else hashlib.sha256(self.password.encode()).hexdigest()

    def rules(self) -> str:
        """The ACL rules after ``user <name>``, exactly as written to the ACL file."""
        login = ["off", "resetpass"] if self.password is None else ["on", "resetpass", f"#{self.password_hash}"]
        tokens = [*login, "resetkeys", "resetchannels", "-@all", *self.commands]
        tokens += [f"~{pattern}" for pattern in self.key_patterns]
        tokens += [f"&{channel}" for channel in self.channels]
        tokens += [selector.rule() for selector in self.selectors]
        return " ".join(tokens)

    @property
    def all_key_patterns(self) -> tuple[str, ...]:
        """Every key pattern it may touch, root and selectors."""
        return (*self.key_patterns, *(p for selector in self.selectors for p in selector.key_patterns))

    def line(self) -> str:
        return f"user {self.name} {self.rules()}"

    def url(self, host_hint: str) -> str:
        if self.password is None:
            raise ValueError(f"user {self.name} has no password")
        if self.cluster:
            seeds = ",".join(_host_port(host) for host in host_hint.split(","))
            return f"redis+cluster://{self.name}:{self.password}@{seeds}"
        return f"redis://{self.name}:{self.password}@{_host_port(host_hint)}/0"

    @property
    def env_name(self) -> str:
        return "INTELBUS_USER_" + re.sub(r"[^A-Z0-9]", "_", self.name.upper())


def _safe(kind: str, value: str) -> str:
    if not SAFE_NAME.match(value):
        raise ConfigError(f"{kind} {value!r} cannot be a Redis ACL user or key pattern: "
                          "use only letters, digits, '_', '.' and '-'")
    return value


def _safe_prefix(prefix: str) -> str:
    if not SAFE_PREFIX.match(prefix):
        raise ConfigError(f"key prefix {prefix!r} cannot be a Redis ACL key pattern: use only letters, digits, "
                          "'_', '.' and '-', and a region's tag after it (intel:{ne})")
    return prefix


def _host_port(host_hint: str) -> str:
    host = host_hint.strip() or "localhost"
    if host.startswith("["):  # [ipv6]:port or [ipv6]
        return host if "]:" in host else f"{host}:6379"
    return host if ":" in host else f"{host}:6379"


Grants = tuple[tuple[str, ...], tuple[str, ...], tuple[Selector, ...]]


def _narrow(commands: tuple[str, ...], patterns: tuple[str, ...], grants: Sequence[Selector],
            redis_version: RedisVersion) -> Grants:
    """(commands, key patterns, selectors): ``grants`` as selectors on Redis 7; on 6.2, which has none,
    merged into the root permissions (wider: each command on every key; stated in the module docstring)."""
    if redis_version == "7":
        return commands, patterns, tuple(grants)
    merged = [*commands, *(command for grant in grants for command in grant.commands)]
    keys = dict.fromkeys((*patterns, *(p for grant in grants for p in grant.key_patterns)))
    return tuple(dict.fromkeys(merged)), tuple(keys), ()


def router_user(keys: Keys, password: str, redis_version: RedisVersion = "7") -> AclUser:
    p = _safe_prefix(keys.prefix)
    own = (f"{p}:ingress:*", f"{p}:feed:*", f"{p}:receipt:*", keys.decisions, keys.quarantine, keys.audit,
           f"{p}:seen:*", keys.scout, keys.scouted, keys.failures, keys.checkpoints, keys.retention, keys.archive,
           keys.trimmed)
    trimmed = (f"{p}:feed:*", f"{p}:receipt:*", f"{p}:ingress:*", keys.quarantine, keys.decisions, keys.audit,
               f"{p}:consult:*", keys.checkpoints)
    # FCALL of lua/erase.lua names the stream it trims with the audit stream and the counts: on Redis 7 a
    # consultation stream is outside the root patterns, so the call itself needs the trim selector
    trim = Selector((*ROUTER_TRIM, *(("+fcall",) if redis_version == "7" else ())), (*trimmed, keys.trimmed))
    grants = (Selector(ROUTER_AUDIT_READS, (f"{p}:consult:*",)),
              Selector(ROUTER_AUDIT, (keys.checkpointer, keys.retainer)), trim)
    commands, patterns, selectors = _narrow(
        (*CONNECTION, *ROUTER_CALLS[redis_version], *ROUTER_RUNS, *ROUTER_WAKE, *ROUTER_RETENTION), own, grants,
        redis_version)
    return AclUser("router", "router", None, commands, patterns, password, ROUTER_CHANNELS, selectors)


def admin_user(password: str) -> AclUser:
    """Loads the function library at deploy time (``intelbus functions load``); touches no key."""
    return AclUser("admin", "admin", None, ADMIN_COMMANDS, (), password)


def partner_user(partner: str, keys: Keys, password: str, redis_version: RedisVersion = "7") -> AclUser:
    _safe("partner id", partner)
    receipts = Selector(PARTNER_RECEIPTS, (keys.receipts(partner),))
    commands, patterns, selectors = _narrow(PARTNER_COMMANDS, (keys.ingress(partner),), (receipts,), redis_version)
    return AclUser(f"partner-{partner}", "partner", partner, commands, patterns, password, selectors=selectors)


def team_user(team: str, keys: Keys, password: str, redis_version: RedisVersion = "7") -> AclUser:
    _safe("team id", team)
    consult = Selector(TEAM_CONSULT, (keys.consultations(team),))
    commands, patterns, selectors = _narrow(TEAM_COMMANDS, keys.feeds(team), (consult,), redis_version)
    return AclUser(f"team-{team}", "team", team, commands, patterns, password, selectors=selectors)


def operator_user(keys: Keys, password: str) -> AclUser:
    return AclUser("operator", "operator", None, OPERATOR_COMMANDS, (f"{_safe_prefix(keys.prefix)}:*",),
                   password)


DEFAULT_USER = AclUser("default", "default", None, (), (), None)


def users_for(partners: Iterable[str], teams: Iterable[str], keys: Keys,
              password: Callable[[], str] = new_password, redis_version: RedisVersion = "7",
              cluster: bool = False) -> list[AclUser]:
    """router, admin (Redis 7), one user per partner, one per team, operator, and ``default`` off; on a
    cluster (a region's keys only) the same, named for the region, and no ``default`` (module docstring)."""
    users = [router_user(keys, password(), redis_version)]
    if redis_version == "7":
        users.append(admin_user(password()))
    users += [partner_user(partner, keys, password(), redis_version) for partner in sorted(partners)]
    users += [team_user(team, keys, password(), redis_version) for team in sorted(teams)]
    users += [operator_user(keys, password())]
    users = _on_cluster(users, keys) if cluster else [*users, DEFAULT_USER]
    _check_unique(users)
    return users


def _on_cluster(users: list[AclUser], keys: Keys) -> list[AclUser]:
    if keys.region is None:
        raise ConfigError("a Redis Cluster's ACL is a region's: set INTELBUS_REGION (its users are named for it, "
                          "and its keys are all in its slot)")
    region = _safe("region", keys.region)
    return [replace(user, name=f"{region}.{user.name}", commands=(*user.commands, *CLUSTER_CONNECTION), cluster=True)
            for user in users]


def acl_users(ruleset: Ruleset, keys: Keys, password: Callable[[], str] = new_password,
              redis_version: RedisVersion = "7", cluster: bool = False) -> list[AclUser]:
    """The users of the registry in ``ruleset``; fresh passwords from ``password`` (one call per user)."""
    return users_for(ruleset.partners, ruleset.team_ids, keys, password, redis_version, cluster)


def _check_unique(users: Sequence[AclUser]) -> None:
    names: set[str] = set()
    envs: dict[str, str] = {}
    for user in users:
        if user.name in names:
            raise ConfigError(f"two Redis users would be called {user.name!r}")
        names.add(user.name)
        if user.env_name in envs:
            raise ConfigError(f"users {envs[user.env_name]!r} and {user.name!r} would share the credentials "
                              f"variable {user.env_name}")
        envs[user.env_name] = user.name


def render_aclfile(users: Iterable[AclUser]) -> str:
    """The ACL file (``redis-server --aclfile``): one ``user`` line per user. Redis allows no comments."""
    return "".join(user.line() + "\n" for user in users)


def _describe(user: AclUser) -> str:
    what = {
        "router": "the router",
        "admin": "administrator: loads the Redis function library (intelbus functions load), nothing else",
        "partner": f"partner {user.subject}: XADD to its ingress stream, read its receipts",
        "team": f"team {user.subject}: read and acknowledge its feed, append its consultation records",
        "operator": "operators: read everything, write nothing",
        "default": "default user: off",
    }
    return f"{what[user.role]} ({', '.join(user.all_key_patterns)})"


def render_credentials(users: Iterable[AclUser], host_hint: str) -> str:
    """``INTELBUS_USER_<NAME>=redis://<name>:<password>@<host>:<port>/0`` per user that can log in (a cluster's:
    ``redis+cluster://<name>:<password>@<host>:<port>,...``).

    Secret: hand each party its own line only. ``host_hint`` is ``host`` or ``host:port`` (port 6379
    when left out), or for a cluster several, comma-separated: the seed nodes."""
    lines = [
        "# intelbus Redis credentials (secret). Hand each party only its own line; Redis holds only hashes.",
        "# Each value is a REDIS_URL for that party's client; the keys after each description are that party's"
        " own (a region's carry its hash tag: use the same INTELBUS_PREFIX and INTELBUS_REGION there).",
    ]
    for user in users:
        if user.password is None:
            continue
        lines += [f"# {_describe(user)}", f"{user.env_name}={user.url(host_hint)}"]
    return "\n".join(lines) + "\n"
