"""The ``intelbus`` command line: parse arguments, build the one Settings object, dispatch.

Each group of commands lives in a module of this package (``acl``, ``runtime``, ``publish``, ``feed``,
``dryrun``, ``screen``); errors from the ``BusError`` tree are printed as one line and exit 2, never as a
traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bus.errors import BusError, ConfigError
from bus.settings import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError("give an offset, e.g. 2026-12-17T10:00:00+00:00")
    return moment


def _policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ruleset", type=Path, help="ruleset file (default: the shipped regional policy)")
    parser.add_argument("--reference", type=Path, help="folder with ocg_groups.csv and ocg_members.csv")


DESCRIPTION = "intelbus: the regional intelligence-sharing bus on Redis streams (README.md says it all)."
ENVIRONMENT = """environment (one settings object; every INTELBUS_* variable is in README.md, "Settings"):
  REDIS_URL               the bus's Redis: redis://[user:password@]host:port/db, rediss://... or unix:///path,
                          or a Redis Cluster: redis+cluster://[user:password@]host:port[,host:port...]
                          (with INTELBUS_REGION); unset: an embedded redis-server kept under INTELBUS_DATA_DIR
  INTELBUS_DATA_DIR       the embedded Redis, audit keys and checkpoints, archive, console log (./.intelbus)
  INTELBUS_PREFIX         the key prefix (intel)
  INTELBUS_REGION         the region's id: its keys' hash tag, <prefix>:{<region>}:... (unset: none)
  INTELBUS_REPLICAS       replicas each publish and commit waits for (WAIT; default 0: none; set 1 on a
                          cluster with a replica per master)
  INTELBUS_RULESET        the ruleset file (default: the shipped regional policy)
  INTELBUS_REFERENCE      the OCG register folder (default: the shipped sample)
  INTELBUS_METRICS_PORT   the router's /metrics, /healthz and /readyz (off when unset)
  INTELBUS_CONSOLE_PORT   intelbus console's port (8470)

errors are one line on stderr and exit 2; intelbus COMMAND --help says more of each command."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intelbus", description=DESCRIPTION, epilog=ENVIRONMENT,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    route = commands.add_parser("route", help="decide submissions offline (--dry-run)")
    route.add_argument("--dry-run", action="store_true", required=True,
                       help="decide each JSON line and print its decision; nothing is published")
    route.add_argument("--explain", action="store_true", help="print each decision in words")
    route.add_argument("--now", type=_timestamp, help="decision time to record (default: now)")
    _policy_options(route)
    route.add_argument("file", nargs="?", default="-", help="JSON lines file, or - for stdin (default)")
    route.set_defaults(handler=_route)

    schema = commands.add_parser("schema", help="the submission interface as JSON Schema (and the AsyncAPI document)")
    schema_commands = schema.add_subparsers(dest="schema_command", required=True, metavar="ACTION")
    export = schema_commands.add_parser("export", help="write the JSON Schema files and asyncapi.json into DIR")
    export.add_argument("dir", type=Path, help="folder to write into (made if missing; files in it are replaced)")
    export.add_argument("--ruleset", type=Path, help="ruleset whose areas and teams to enumerate")
    export.set_defaults(handler=_schema_export)

    ruleset = commands.add_parser("ruleset", help="check a ruleset file")
    ruleset_commands = ruleset.add_subparsers(dest="ruleset_command", required=True, metavar="ACTION")
    check = ruleset_commands.add_parser("check", help="validate a ruleset (and reference data)")
    check.add_argument("file", type=Path, nargs="?", help="ruleset file (default: INTELBUS_RULESET, else the shipped)")
    check.add_argument("--reference", type=Path, help="folder with ocg_groups.csv and ocg_members.csv")
    check.set_defaults(handler=_ruleset_check)
    from bus.cli import screen  # offline too: no Redis

    screen.register(commands, _timestamp)
    _add_runtime_commands(commands)
    return parser


def _add_runtime_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Commands that talk to Redis (added by bus.cli.runtime, acl, audit, retention, status and console)."""
    from bus.cli import acl, audit, console, retention, runtime, status

    runtime.register(commands)
    acl.register(commands)
    audit.register(commands)
    retention.register(commands)
    status.register(commands)
    console.register(commands)


def _route(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.dryrun import dry_run
    from bus.policy import load_policy

    ruleset, reference = load_policy(args.ruleset or settings.ruleset, args.reference or settings.reference)
    now = args.now or datetime.now(UTC)
    if args.file == "-":
        dry_run(sys.stdin.buffer, sys.stdout, ruleset, reference, now, args.explain)
        return 0
    try:
        with open(args.file, "rb") as source:
            dry_run(source, sys.stdout, ruleset, reference, now, args.explain)
    except OSError as exc:
        raise BusError(f"cannot read {args.file}: {exc.strerror}") from None
    return 0


def _schema_export(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from bus.asyncapi import admission_of, document
    from bus.policy import load_ruleset
    from schemas.export import export_schemas

    ruleset = load_ruleset(args.ruleset or settings.ruleset)
    try:
        written = export_schemas(args.dir, ruleset.area_names, ruleset.team_ids, ruleset.handling_conditions,
                                 admission_of(ruleset))
        asyncapi = args.dir / "asyncapi.json"
        asyncapi.write_text(json.dumps(document(settings.keys(), ruleset, settings.redis_url), indent=2) + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write the JSON Schema files into {args.dir}: {exc.strerror}") from None
    for path in [*written, asyncapi]:
        print(path)
    return 0


def _ruleset_check(args: argparse.Namespace, settings: Settings) -> int:
    from bus.policy import load_policy

    ruleset, reference = load_policy(args.file or settings.ruleset, args.reference or settings.reference)
    rules = len(ruleset.says)
    print(f"{ruleset.source}: ok, ruleset {ruleset.digest}")
    print(f"  {rules} rule ids, {len(ruleset.team_ids)} teams, {len(ruleset.partners)} partners, "
          f"{len(ruleset.area_names) - 1} areas")
    print(f"  reference {reference.digest}: {len(reference.groups)} OCGs")
    return 0


def _settings() -> Settings:
    """The settings from the environment; one that cannot work is a ``ConfigError`` naming its variable."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable(error['loc'])}: {error['msg'].removeprefix('Value error, ')}"
                             for error in exc.errors())
        raise ConfigError(f"settings: {problems}") from None


def _variable(loc: tuple[int | str, ...]) -> str:
    name = str(loc[0]) if loc else "?"
    return name if name.isupper() else f"INTELBUS_{name.upper()}"


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings()
        handler: Handler = args.handler
        return handler(args, settings)
    except BusError as exc:
        print(f"intelbus: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130

