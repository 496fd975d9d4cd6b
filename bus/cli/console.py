"""``intelbus console``: the read-only web console (``bus.console``) for operators, and ``--verify-log``."""

from __future__ import annotations

import argparse
import asyncio
import socket
from pathlib import Path

from bus.errors import ConfigError
from bus.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    console = commands.add_parser(
        "console", help="the read-only web console: status, quarantine, audit search (operator login)",
        description="Serve the console on INTELBUS_CONSOLE_HOST:INTELBUS_CONSOLE_PORT (default 127.0.0.1:8470) "
                    "for the bus at REDIS_URL (default: the embedded Redis). Log in as the operator Redis user; "
                    "what an operator is shown is recorded in INTELBUS_CONSOLE_LOG before it is shown.")
    console.add_argument("--host", help="address to listen on (default INTELBUS_CONSOLE_HOST, 127.0.0.1)")
    console.add_argument("--port", type=int, help="port to listen on (default INTELBUS_CONSOLE_PORT, 8470)")
    console.add_argument("--verify-log", action="store_true",
                         help="check the consultation log's hash chain and exit (0 intact, 1 broken)")
    console.set_defaults(handler=_console)


def log_path(settings: Settings) -> Path:
    return settings.console_log or settings.region_dir / "console" / "consultations.jsonl"


def _console(args: argparse.Namespace, settings: Settings) -> int:
    from bus.console import log

    path = log_path(settings)
    if args.verify_log:
        from bus.errors import AuditError

        try:
            count = log.verify(path)
        except AuditError as exc:
            print(f"intelbus: {exc}")
            return 1
        print(f"{path}: {count} consultation records, chain intact")
        return 0
    host, port = args.host or settings.console_host, args.port or settings.console_port
    listener = _listen(host, port)
    return asyncio.run(_serve(settings, listener, path))


def _listen(host: str, port: int) -> socket.socket:
    """Bind before anything else: a port in use is a one-line error, not a server log."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        listener = socket.socket(info[0], socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(info[4])
        listener.listen(128)  # connections wait in the backlog until the server accepts them
    except OSError as exc:
        raise ConfigError(f"the console cannot listen on {host}:{port}: {exc.strerror or exc} "
                          "(choose another with --port or INTELBUS_CONSOLE_PORT)") from None
    return listener


async def _serve(settings: Settings, listener: socket.socket, path: Path) -> int:
    import uvicorn

    from bus.cli.runtime import _url
    from bus.console.app import Console, build_app
    from bus.console.login import Gate, operator_of, probe, without_credentials
    from bus.policy import load_ruleset

    url = without_credentials(_url(settings))
    gate = Gate(url, await probe(url), operator=operator_of(url, settings.region))
    console = Console(settings.keys(), load_ruleset(settings.ruleset), gate, path)
    host, port = listener.getsockname()[:2]
    print(f"intelbus console: http://{host}:{port}/ (Ctrl-C stops it); consultations are recorded in {path}",
          flush=True)
    if gate.mode == "local":
        print(f"this Redis has no ACLs: log in as {gate.operator} with the one-time password {gate.one_time}",
              flush=True)
    else:
        print(f"log in as the {gate.operator} Redis user (its password is in intelbus acl generate's credentials "
              "file)", flush=True)
    # proxy_headers off: uvicorn would otherwise take X-Forwarded-For from any loopback client as its address
    server = uvicorn.Server(uvicorn.Config(build_app(console), log_level="warning", access_log=False,
                                           lifespan="on", proxy_headers=False, server_header=False))
    await server.serve(sockets=[listener])
    return 0
