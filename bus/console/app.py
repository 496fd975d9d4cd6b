"""The console's ASGI application (Starlette): routes, the login check, and the consultation record.

Every page but ``/login``, ``/healthz`` and the style sheet needs a session (else a redirect to ``/login``);
every POST from a browser must come from the console's own pages (``Sec-Fetch-Site``, else ``Origin``),
and every POST but the login's carries the session's form token. Every reply carries ``Cache-Control:
no-store`` and a Content-Security-Policy that allows no script, no inline style and no framing. The only
thing a page writes is the consultation record, to the log file (``bus.console.log``), before the content
it records is sent. The status page's stream figures are read at each request (two pipelined round
trips); its scans of the decision log (the last day's quarantines, the last minute's decisions) at most
every ``STATUS_TTL_S``, whoever asks.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from bus.audit.consult import timestamp
from bus.audit.export import Filters
from bus.console import log, pages, reads
from bus.console.login import Gate, Session
from bus.errors import AuditError, LoginRefused, TransportError
from bus.keys import Keys
from bus.policy import Ruleset
from bus.status.figures import gather, log_scans

Scans = tuple[dict[str, dict[str, int]], int]

COOKIE = "intelbus_console"
ENTRY_ID = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")
MAX_PART = 2**64 - 1  # each half of a stream id
FORM_BYTES = 8 * 1024
STATUS_TTL_S = 5.0
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; "
                               "base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


@dataclass(slots=True)
class Console:
    """What the pages need: the bus's keys and registry, who may log in, and where consultations go."""

    keys: Keys
    ruleset: Ruleset
    gate: Gate
    log_path: Path


Page = Callable[[Request, Session], Awaitable[Response]]


def _html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status)


class FormTooLarge(Exception):
    pass


async def _form(request: Request) -> dict[str, str]:
    """A small urlencoded form (at most FORM_BYTES, read no further; ``FormTooLarge`` beyond); {} else."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    if not request.headers.get("content-length", "0").isdigit() or \
            int(request.headers.get("content-length", "0")) > FORM_BYTES:
        raise FormTooLarge
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_BYTES:
            raise FormTooLarge
    try:
        return {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"), max_num_fields=10).items()}
    except ValueError:
        return {}


def entry_id(text: str) -> str | None:
    """``text`` when it is a stream id Redis would take (both halves at most 2^64-1), else None."""
    found = ENTRY_ID.fullmatch(text)
    return text if found and max(int(found.group(1)), int(found.group(2))) <= MAX_PART else None


def _same_origin(request: Request) -> bool:
    """A browser says where a request comes from: ``Sec-Fetch-Site`` (which no page can set), else ``Origin``.
    Any other site is refused; a client that says neither (curl, a script) is no browser a page could
    have tricked into posting."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


class Guard(BaseHTTPMiddleware):
    """The headers on every reply; a POST from another site refused before any route sees it."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method == "POST" and not _same_origin(request):
            response: Response = PlainTextResponse("cross-site request refused", status_code=403)
        else:
            response = await call_next(request)
        response.headers.update(HEADERS)
        return response


def signed_in(gate: Gate, page: Page, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
    """``page`` behind the login (a redirect to /login without a live session) and, for a POST, the CSRF
    token; a Redis that does not answer is a 503 page, not a traceback."""
    async def endpoint(request: Request) -> Response:
        session = await gate.session(request.cookies.get(COOKIE), touch=request.query_params.get("auto") != "1")
        if session is None:
            return RedirectResponse("/login", status_code=303)
        try:
            form = await _form(request) if post else {}
        except FormTooLarge:
            return PlainTextResponse("form too large", status_code=413)
        if post and not hmac.compare_digest(form.get("csrf", "").encode(), session.csrf.encode()):
            return PlainTextResponse("missing or stale form token: reload the page", status_code=403)
        try:
            return await page(request, session)
        except TransportError as exc:
            return _html(pages.message_page("Redis did not answer", str(exc), session.user, session.csrf), 503)
    return endpoint


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Routes:
    """One method per page; each is given the request and, behind ``signed_in``, the live session."""

    def __init__(self, console: Console) -> None:
        self.console, self.gate, self.keys = console, console.gate, console.keys
        self.teams = sorted(console.ruleset.team_ids)
        self._scans: tuple[float, Scans | None] = (0.0, None)  # shared: every session is the operator

    async def login_form(self, request: Request) -> Response:
        return _html(pages.login_page(None, self.gate.mode == "local"))

    async def login(self, request: Request) -> Response:
        try:
            form = await _form(request)
        except FormTooLarge:
            return PlainTextResponse("form too large", status_code=413)
        try:
            token = await self.gate.login(form.get("user", ""), form.get("password", ""), _address(request),
                                          replacing=request.cookies.get(COOKIE))
        except LoginRefused as exc:
            return _html(pages.login_page(str(exc), self.gate.mode == "local"), 401)
        except TransportError as exc:
            return _html(pages.login_page(str(exc), self.gate.mode == "local"), 503)
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            path="/")
        return response

    async def logout(self, request: Request, session: Session) -> Response:
        await self.gate.logout(request.cookies.get(COOKIE, ""))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def status(self, request: Request, session: Session) -> Response:
        figures = await gather(session.redis, self.keys, self.console.ruleset, light=True)  # pipelined: cheap
        read_at, scans = self._scans
        if scans is None or time.monotonic() - read_at > STATUS_TTL_S:
            scans = await log_scans(session.redis, self.keys, figures.at_ms)
            self._scans = (time.monotonic(), scans)
        figures.quarantined, figures.decisions_last_minute = scans
        return _html(pages.status_page(figures, session.user, session.csrf))

    async def quarantine(self, request: Request, session: Session) -> Response:
        before = request.query_params.get("before")
        if before is not None and entry_id(before) is None:
            return _html(pages.message_page("Quarantine", "before= takes an entry id", session.user,
                                            session.csrf), 400)
        entries, older = await reads.quarantine_page(session.redis, self.keys, before)
        return _html(pages.quarantine_list(entries, older, session.user, session.csrf))

    async def _entry(self, request: Request, session: Session) -> reads.Quarantined | Response:
        wanted = entry_id(request.path_params["entry_id"])
        found = await reads.quarantined(session.redis, self.keys, wanted) if wanted else None
        if found is None:
            return _html(pages.message_page("Not found", "no such quarantine entry", session.user,
                                            session.csrf), 404)
        return found

    async def entry(self, request: Request, session: Session) -> Response:
        found = await self._entry(request, session)
        if isinstance(found, Response):
            return found
        return _html(pages.quarantine_entry(found, session.user, session.csrf))

    async def entry_content(self, request: Request, session: Session) -> Response:
        """The content, once its consultation is on disk; not shown when it cannot be recorded."""
        found = await self._entry(request, session)
        if isinstance(found, Response):
            return found
        size = reads.size(found)
        if found.kept != "copy" and (size is None or size > reads.CONTENT_LIMIT):  # e.g. poison kept whole
            return _html(pages.too_large(found, size, session.user, session.csrf), 413)
        fields = await reads.content(session.redis, self.keys, found)
        page = pages.quarantine_content(found, fields, session.user, session.csrf)  # before: it cannot fail after
        try:
            await run_in_threadpool(log.append, self.console.log_path, {
                "at": timestamp(datetime.now(UTC)), "operator": session.user, "from": _address(request),
                "action": "show quarantined entry", "entry": f"{self.keys.quarantine} {found.entry_id}",
                "decision_id": found.decision_id, "held": fields is not None})
        except AuditError as exc:
            return _html(pages.message_page("Not shown", f"{exc}: the content is not shown until the consultation "
                                            "can be recorded", session.user, session.csrf), 503)
        return _html(page)

    async def audit(self, request: Request, session: Session) -> Response:
        form = {k: v.strip() for k, v in request.query_params.items() if k in ("submission", "team", "since", "until")}
        found, error = None, None
        if any(form.values()):
            try:
                filters = _filters(form, self.console.ruleset)
            except ValueError as exc:
                error = str(exc)
            else:
                found = await reads.search(session.redis, self.keys, filters)
        return _html(pages.audit_page(form, self.teams, found, error, session.user, session.csrf),
                     400 if error else 200)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _style(request: Request) -> Response:
    return Response(pages.STYLE, media_type="text/css")


def build_app(console: Console) -> Starlette:
    gate, r = console.gate, Routes(console)
    routes = [
        Route("/healthz", _healthz), Route("/console.css", _style),
        Route("/login", r.login_form, methods=["GET"]), Route("/login", r.login, methods=["POST"]),
        Route("/logout", signed_in(gate, r.logout, post=True), methods=["POST"]),
        Route("/", signed_in(gate, r.status)), Route("/quarantine", signed_in(gate, r.quarantine)),
        Route("/quarantine/{entry_id}", signed_in(gate, r.entry)),
        Route("/quarantine/{entry_id}/content", signed_in(gate, r.entry_content, post=True), methods=["POST"]),
        Route("/audit", signed_in(gate, r.audit)),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await gate.close()

    return Starlette(routes=routes, middleware=[Middleware(Guard)], lifespan=lifespan)


def _bound(text: str, name: str) -> str:
    """A search bound as a stream id: an id as given, or an RFC 3339 time with an offset."""
    if (re.fullmatch(r"[0-9]{1,20}", text) and int(text) <= MAX_PART) or entry_id(text):
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name}: not a time like 2026-12-17T10:00:00Z, nor a stream id: {text!r}") from None
    if moment.tzinfo is None:
        raise ValueError(f"{name}: give the time's offset, e.g. 2026-12-17T10:00:00Z")
    if moment.timestamp() < 0:
        raise ValueError(f"{name}: stream ids start in 1970")
    return str(int(moment.timestamp() * 1000))


def _filters(form: dict[str, str], ruleset: Ruleset) -> Filters:
    team = form.get("team") or None
    if team is not None and team not in ruleset.team_ids:
        raise ValueError(f"no team {team!r} in the ruleset")
    return Filters(since=_bound(form["since"], "since") if form.get("since") else "-",
                   until=_bound(form["until"], "until") if form.get("until") else "+",
                   team=team, submission=form.get("submission") or None)

