"""``intelbus audit``: verify, export, explain, whatif, keygen (see README.md, "For auditors").

verify and export read the checkpoints from Redis and from the file outside it, and trust only the public
keys given (``--public-key``, repeatable: files or folders), by default the data folder's keyring
(``<data_dir>/audit/keys``). Exit status: 0 intact, 1 a fault was found (named), 2 the command could
not run (a one-line error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bus.archive.reader import archive_dir
from bus.archive.store import Archive
from bus.audit import export as export_mod
from bus.audit.checkpointer import audit_logs, origin
from bus.audit.log import bound, raw_reader
from bus.audit.signing import keyring_dir, load_public_keys, new_key_file, public_pem
from bus.audit.store import checkpoint_file, every_checkpoint
from bus.audit.verify import Trusted, trust, verify_live
from bus.cli import audit_whatif
from bus.errors import AuditError
from bus.settings import Settings


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = commands.add_parser("audit", help="verify, export and question the audit log")
    actions = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    verify = actions.add_parser("verify", help="check the logs (or an export) against the signed checkpoints")
    _trust_options(verify)
    verify.add_argument("--file", type=Path, help="verify this export instead of the live logs (no Redis needed)")
    verify.set_defaults(handler=_verify)

    export = actions.add_parser("export", help="write the log, or a slice of it, for an auditor")
    export.add_argument("--out", type=Path, required=True, help="file to write (- for stdout)")
    export.add_argument("--since", help="RFC 3339 date-time (with offset) or a stream id")
    export.add_argument("--until", help="RFC 3339 date-time (with offset) or a stream id")
    for name, what in (("partner", "decisions on this partner's submissions"),
                       ("team", "decisions delivering to or withholding from this team, and its consultations"),
                       ("status", "routed, quarantined or duplicate"), ("rule", "decisions this rule id shaped"),
                       ("submission", "one submission_id")):
        export.add_argument(f"--{name}", help=f"only {what}")
    export.add_argument("--format", choices=["jsonl", "csv"], default="jsonl",
                        help="jsonl (verifiable offline, the default) or csv (no proofs)")
    _trust_options(export)
    export.set_defaults(handler=_export)

    explain = actions.add_parser("explain", help="one decision in words, and whether it verifies")
    explain.add_argument("decision_id", help="the decision's id in the decision log")
    explain.add_argument("--ruleset", type=Path, help="ruleset whose rule sentences to show (default: the shipped)")
    _trust_options(explain)
    explain.set_defaults(handler=_explain)

    whatif = actions.add_parser("whatif", help="what a candidate ruleset would have decided (writes nothing)")
    audit_whatif.add_arguments(whatif)
    whatif.set_defaults(handler=audit_whatif.handle)

    keygen = actions.add_parser("keygen", help="make a new signing key file (to rotate: set INTELBUS_AUDIT_KEY)")
    keygen.add_argument("file", type=Path, help="private key file to create (mode 0600)")
    keygen.set_defaults(handler=_keygen)


def _trust_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--public-key", type=Path, action="append", dest="public_keys", metavar="FILE",
                        help="trusted public key file or folder (repeatable; default: <data_dir>/audit/keys)")
    parser.add_argument("--checkpoints", type=Path,
                        help="checkpoint file kept outside Redis (default: <data_dir>/audit/checkpoints.jsonl)")
    parser.add_argument("--archive", type=Path, metavar="DIR",
                        help="the retention archive, read before Redis as one log (default: <data_dir>/archive)")


def _public_keys(args: argparse.Namespace, settings: Settings) -> dict[str, Ed25519PublicKey]:
    paths = args.public_keys or [keyring_dir(settings.region_dir)]
    if not args.public_keys and not paths[0].is_dir():
        raise AuditError(f"no public key: give --public-key FILE (none in {paths[0]}; the router logs which "
                         "file holds its public key)")
    keys = load_public_keys(paths)
    if not keys:
        raise AuditError(f"no public key found in {', '.join(map(str, paths))}")
    return keys


async def _trusted(redis: aioredis.Redis, args: argparse.Namespace, settings: Settings,
                   keys: dict[str, Ed25519PublicKey]) -> Trusted:
    bus_keys = settings.keys()
    path = args.checkpoints or checkpoint_file(settings.region_dir)
    if args.checkpoints is not None and not path.exists():
        raise AuditError(f"no checkpoint file {path}")
    return trust(await every_checkpoint(redis, bus_keys, path, _archive(args, settings)), keys, origin(bus_keys))


def _archive(args: argparse.Namespace, settings: Settings) -> Archive:
    return Archive(getattr(args, "archive", None) or archive_dir(settings.region_dir))


def _logs(settings: Settings) -> list[str]:
    from bus.policy import load_ruleset

    return audit_logs(settings.keys(), list(load_ruleset(settings.ruleset).team_ids))


def _counter(label: str) -> Any:
    """Progress on a terminal (stderr) only: a running count."""
    if not sys.stderr.isatty():
        return None
    seen = [0]

    def advance(n: int) -> None:
        seen[0] += n
        sys.stderr.write(f"\r{label} {seen[0]:,} records")
        sys.stderr.flush()

    return advance


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.runtime import _with_redis

    keys = _public_keys(args, settings)
    if args.file is not None:
        from bus.audit.offline import verify_export

        report: Any = verify_export(args.file, keys)
    else:
        async def work(redis: aioredis.Redis) -> Any:
            trusted = await _trusted(redis, args, settings, keys)
            return await verify_live(raw_reader(redis), _logs(settings), trusted, _counter("verified"),
                                     _archive(args, settings))

        report = _with_redis(settings, work)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(report.summary())
    for fault in report.faults[1:]:
        print(f"  also: {fault}")
    return 1 if report.faults else 0


def _export(args: argparse.Namespace, settings: Settings) -> int:
    from bus.cli.runtime import _with_redis

    keys = _public_keys(args, settings)
    filters = export_mod.Filters(bound(args.since) if args.since else "-",
                                 bound(args.until, upper=True) if args.until else "+",
                                 args.partner, args.team, args.status, args.rule, args.submission)

    async def work(redis: aioredis.Redis) -> int:
        trusted = await _trusted(redis, args, settings, keys)
        exporter = export_mod.Exporter(raw_reader(redis), settings.keys(), trusted, filters,
                                       _counter("read"), _archive(args, settings))
        selections = await exporter.select()
        return await _write(exporter, selections, args.out, args.format)

    written = _with_redis(settings, work)
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    print(f"audit export: {written:,} records to {args.out} ({args.format})", file=sys.stderr)
    return 0


async def _write(exporter: export_mod.Exporter, selections: list[export_mod.Selection], out: Path,
                 form: str) -> int:
    if str(out) == "-":
        if form == "csv":
            return await exporter.write_csv(sys.stdout, selections)
        return await exporter.write_jsonl(sys.stdout.buffer, selections)
    try:
        if form == "csv":
            with out.open("w", newline="", encoding="utf-8") as text:
                return await exporter.write_csv(text, selections)
        with out.open("wb") as binary:
            return await exporter.write_jsonl(binary, selections)
    except OSError as exc:
        raise AuditError(f"cannot write {out}: {exc.strerror}") from None


def _explain(args: argparse.Namespace, settings: Settings) -> int:
    from bus.audit.explain import explain_record
    from bus.audit.verify import verdict_for
    from bus.cli.runtime import _with_redis
    from bus.policy import load_policy

    keys = _public_keys(args, settings)
    ruleset, reference = load_policy(args.ruleset or settings.ruleset, settings.reference)
    bus_keys = settings.keys()

    async def work(redis: aioredis.Redis) -> str:
        trusted = await _trusted(redis, args, settings, keys)
        record, verdict = await verdict_for(raw_reader(redis), bus_keys.decisions, args.decision_id, trusted,
                                            _archive(args, settings))
        return explain_record(args.decision_id, record, ruleset.says, ruleset.digest, reference.digest, verdict)

    print(_with_redis(settings, work))
    return 0


def _keygen(args: argparse.Namespace, settings: Settings) -> int:
    signer = new_key_file(args.file)
    public = args.file.with_suffix(".pub")
    public.write_bytes(public_pem(signer.public))
    print(f"made signing key {signer.key_id}: private {args.file} (mode 0600), public {public}")
    print(f"to rotate: keep {public} with the auditors' trusted keys, then start the routers with "
          f"INTELBUS_AUDIT_KEY={args.file}")
    return 0
