"""Who may use the console: the ``operator`` Redis user, checked by Redis itself, and the sessions it opens.

On a Redis with the bus's ACL (``intelbus acl generate``), a login is the operator user's name and password:
the console logs in to Redis with them, one connection per session, so every read is made with the
operator's read-only rights and the console process holds no credentials of its own. Any other user (the
router, a team) is refused before Redis is asked. On a Redis without ACLs (the embedded one of the demo,
where any connection may do anything) there is no operator user to check against: the console prints a
one-time password at start, valid while it runs, and reads through an unauthenticated connection.

A session is a random token in an ``HttpOnly``, ``SameSite=Strict`` cookie; it ends at logout, after
``IDLE_S`` without a request, or ``MAX_S`` after login. After ``MAX_FAILURES`` failed logins from one
address, that address may not try again for ``LOCK_S``.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis.asyncio as aioredis
from redis.exceptions import AuthenticationError, AuthorizationError, RedisError, ResponseError

from bus.cluster import is_cluster
from bus.errors import LoginRefused, UnreachableError
from bus.transport import client

OPERATOR = "operator"
IDLE_S = 15 * 60
MAX_S = 8 * 3600
MAX_FAILURES = 5
LOCK_S = 60.0
MAX_SESSIONS = 20  # each holds a Redis connection: more logins close the oldest
MAX_ADDRESSES = 10_000  # failure counts kept; beyond, those older than LOCK_S are forgotten
Mode = Literal["acl", "local"]


def operator_of(url: str, region: str | None) -> str:
    """The operators' Redis user: ``operator``, or on a cluster the region's (``ne.operator``)."""
    return f"{region}.{OPERATOR}" if region is not None and is_cluster(url) else OPERATOR


def without_credentials(url: str) -> str:
    """``url`` with any user and password taken out, from its address and from its query (redis-py reads
    ``?username=&password=`` too, and they would win over a login's): a console login supplies its own."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if "@" not in parts.netloc and not any(k.lower() in ("username", "password", "user") for k, _ in pairs):
        return url
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if k.lower() not in ("username", "password", "user")])
    netloc = parts.netloc.rsplit("@", 1)[-1]  # by hand: urlunsplit drops unix:// when the host is empty
    return f"{parts.scheme}://{netloc}{parts.path}" + (f"?{query}" if query else "") + \
        (f"#{parts.fragment}" if parts.fragment else "")


async def probe(url: str) -> Mode:
    """``acl`` when Redis refuses a connection that has not logged in, ``local`` when it lets it in."""
    anonymous = client(url)
    try:
        await anonymous.ping()
        return "local"
    except (AuthenticationError, AuthorizationError, ResponseError) as exc:
        if "NOAUTH" in str(exc) or isinstance(exc, AuthenticationError | AuthorizationError):
            return "acl"
        raise UnreachableError(f"Redis at {url} answered the console's probe with: {exc}") from exc
    except RedisError as exc:
        raise UnreachableError(f"cannot reach Redis at {url}: {exc}") from exc
    finally:
        await anonymous.aclose()


@dataclass(slots=True)
class Session:
    user: str
    redis: aioredis.Redis
    csrf: str
    started: float
    seen: float


class Gate:
    """Checks logins (``mode`` as :func:`probe` found it) and keeps the sessions they open."""

    def __init__(self, url: str, mode: Mode, clock: Callable[[], float] = time.monotonic,
                 one_time: str | None = None, operator: str = OPERATOR) -> None:
        self.url, self.mode, self.clock = url, mode, clock
        self.operator = operator  # a cluster's is its region's (``ne.operator``: bus.acl)
        self.one_time = one_time or (secrets.token_urlsafe(18) if mode == "local" else None)
        self.sessions: dict[str, Session] = {}
        self.failures: dict[str, tuple[int, float]] = {}  # address -> (consecutive failures, last at)
        self._shared: aioredis.Redis | None = None

    async def login(self, user: str, password: str, address: str, replacing: str | None = None) -> str:
        """A new session's token (``replacing``: the browser's old one, closed); ``LoginRefused`` says why
        not (never which of name or password was wrong). The attempt is counted before Redis is asked, so
        attempts in parallel cannot each see the count before the others."""
        before = self.failures.get(address)
        count, last = before or (0, 0.0)
        if count >= MAX_FAILURES and self.clock() - last < LOCK_S:
            raise LoginRefused(f"too many failed logins from {address}: wait {LOCK_S:.0f} s")
        count = 0 if self.clock() - last >= LOCK_S else count
        self.failures[address] = (count + 1, self.clock())
        self._forget_failures()
        try:
            redis = await self._check(user, password)
        except UnreachableError:  # Redis down says nothing of the password: not a failed login
            if before is None:
                self.failures.pop(address, None)
            else:
                self.failures[address] = before
            raise
        self.failures.pop(address, None)
        if replacing:
            await self.logout(replacing)
        await self._sweep()
        while len(self.sessions) >= MAX_SESSIONS:
            await self.logout(min(self.sessions, key=lambda t: self.sessions[t].started))
        token, now = secrets.token_urlsafe(32), self.clock()
        self.sessions[token] = Session(user, redis, secrets.token_urlsafe(32), now, now)
        return token

    def _forget_failures(self) -> None:
        if len(self.failures) > MAX_ADDRESSES:
            now = self.clock()
            recent = sorted(((f[1], a) for a, f in self.failures.items() if now - f[1] < LOCK_S), reverse=True)
            self.failures = {a: self.failures[a] for _, a in recent[:MAX_ADDRESSES // 2]}  # the latest attempts

    async def _check(self, user: str, password: str) -> aioredis.Redis:
        if user != self.operator:
            raise LoginRefused(f"the console is for the {self.operator!r} user (read-only rights) only")
        if self.mode == "local":
            if self.one_time is None or not hmac.compare_digest(password.encode(), self.one_time.encode()):
                raise LoginRefused("wrong user name or password")
            if self._shared is None:
                self._shared = client(self.url)
            return self._shared
        redis = client(self.url, username=user, password=password)
        try:
            await redis.ping()  # the connection logs in (AUTH operator <password>) before its first command
        except (AuthenticationError, AuthorizationError, ResponseError) as exc:
            await redis.aclose()
            raise LoginRefused("wrong user name or password") from exc
        except RedisError as exc:
            await redis.aclose()
            raise UnreachableError(f"cannot reach Redis at {self.url}: {exc}") from exc
        return redis

    async def session(self, token: str | None, touch: bool = True) -> Session | None:
        """The live session of ``token``, or None; ``touch``: a request of the operator's restarts its idle
        clock (the status page's own reloads do not). Sessions that expired meanwhile are closed."""
        await self._sweep()
        found = self.sessions.get(token or "")
        if found is not None and touch:
            found.seen = self.clock()
        return found

    async def _sweep(self) -> None:
        """Close the sessions that expired unseen (no request came to find them expired)."""
        now = self.clock()
        for token, found in list(self.sessions.items()):
            if now - found.seen > IDLE_S or now - found.started > MAX_S:
                await self.logout(token)

    async def logout(self, token: str) -> None:
        found = self.sessions.pop(token, None)
        if found is not None and found.redis is not self._shared:
            await found.redis.aclose()

    async def close(self) -> None:
        for token in list(self.sessions):
            await self.logout(token)
        if self._shared is not None:
            await self._shared.aclose()
            self._shared = None
