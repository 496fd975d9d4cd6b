"""``intelbus acl generate DIR``: the Redis ACL file and the credentials to hand out (DESIGN.md decision 6).

Writes ``DIR/users.acl`` (for ``redis-server --aclfile``; password hashes only, mode 0644 so a Redis
running as another user can read it) and ``DIR/credentials.env`` (one ``INTELBUS_USER_<NAME>=redis://...``
line per user, the passwords themselves, mode 0600). Existing files are left alone unless ``--force``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

from bus.acl import RedisVersion, acl_users, render_aclfile, render_credentials
from bus.errors import ConfigError
from bus.keys import Keys
from bus.policy.ruleset import Ruleset
from bus.settings import Settings

ACL_FILE = "users.acl"
CREDENTIALS_FILE = "credentials.env"
ACL_MODE = 0o644
CREDENTIALS_MODE = 0o600
DEFAULT_HOST = "localhost:6379"


def _write(path: Path, text: str, mode: int) -> None:
    """Write via a private temporary file renamed into place: the file never exists with a wider mode."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def generate(ruleset: Ruleset, keys: Keys, out_dir: Path, *, force: bool = False,
             host_hint: str = DEFAULT_HOST, redis_version: RedisVersion = "7",
             cluster: bool = False) -> tuple[Path, Path]:
    """Write ``users.acl`` and ``credentials.env`` into ``out_dir`` (created if missing) with fresh
    passwords; returns their paths. Raises ``ConfigError`` if either exists and ``force`` is false."""
    acl_path, credentials_path = out_dir / ACL_FILE, out_dir / CREDENTIALS_FILE
    existing = [str(path) for path in (acl_path, credentials_path) if path.exists()]
    if existing and not force:
        raise ConfigError(f"refusing to overwrite {', '.join(existing)} (give --force to replace them; "
                          "every password changes)")
    users = acl_users(ruleset, keys, redis_version=redis_version, cluster=cluster)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write(credentials_path, render_credentials(users, host_hint), CREDENTIALS_MODE)
        _write(acl_path, render_aclfile(users), ACL_MODE)
    except OSError as exc:
        raise ConfigError(f"cannot write ACL files in {out_dir}: {exc.strerror or exc}") from None
    return acl_path, credentials_path


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``intelbus acl generate DIR [--ruleset FILE] [--host HOST[:PORT]] [--force]``."""
    acl = commands.add_parser("acl", help="Redis ACL users for partners, teams, router and operators")
    acl_commands = acl.add_subparsers(dest="acl_command", required=True, metavar="ACTION")
    gen = acl_commands.add_parser("generate", help="write DIR/users.acl and DIR/credentials.env (0600)")
    gen.add_argument("dir", type=Path, help="folder for users.acl and credentials.env (never overwritten)")
    gen.add_argument("--ruleset", type=Path, help="ruleset whose partners and teams get users (default: shipped)")
    gen.add_argument("--host", default=DEFAULT_HOST, help=f"host[:port] in the credential URLs ({DEFAULT_HOST})")
    gen.add_argument("--force", action="store_true", help="replace existing files (new passwords for everyone)")
    gen.add_argument("--redis-version", choices=["7", "6.2"], default="7",
                     help="the Redis that loads the file: 7 (FCALL only for the router, an admin user to load "
                          "the functions) or 6.2 (no functions: the router needs EVALSHA and SCRIPT LOAD)")
    gen.add_argument("--cluster", action="store_true",
                     help="for a Redis Cluster (with INTELBUS_REGION): users named <region>.<name>, allowed CLUSTER "
                          "SLOTS and WAIT, redis+cluster:// URLs (give the seed nodes as --host h1:p1,h2:p2,...), "
                          "no default line; set them on every node with: intelbus acl load DIR")
    gen.set_defaults(handler=_generate)
    load = acl_commands.add_parser("load", help="set DIR/users.acl's users on the Redis of REDIS_URL (a cluster: "
                                                "on every node) with ACL SETUSER, and ACL SAVE where it can")
    load.add_argument("dir", type=Path, help="the folder intelbus acl generate wrote")
    load.set_defaults(handler=_load)


def _generate(args: argparse.Namespace, settings: Settings) -> int:
    from bus.policy import load_ruleset

    ruleset = load_ruleset(args.ruleset or settings.ruleset)
    acl_path, credentials_path = generate(ruleset, settings.keys(), args.dir, force=args.force,
                                          host_hint=args.host, redis_version=args.redis_version,
                                          cluster=args.cluster)
    users = len(ruleset.partners) + len(ruleset.team_ids) + (3 if args.redis_version == "7" else 2)
    if args.cluster:
        print(f"wrote {acl_path} ({users} users of region {settings.region}, for a Redis {args.redis_version} "
              f"Cluster; set them on every node with: REDIS_URL=<a cluster URL whose user may ACL SETUSER> "
              f"intelbus acl load {args.dir})")
    else:
        print(f"wrote {acl_path} ({users} users and default off, for Redis {args.redis_version}; start Redis with "
              f"--aclfile {acl_path})")
    print(f"wrote {credentials_path} (mode 0600: secret; hand each party only its own line)")
    if args.redis_version == "7":
        print("then, once per release: REDIS_URL=$INTELBUS_USER_ADMIN intelbus functions load")
    return 0


def _load(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from bus.acl_load import load_acl

    if not settings.redis_url:
        raise ConfigError("set REDIS_URL to the Redis (or a Redis Cluster: redis+cluster://...) to set the users on")
    path = args.dir / ACL_FILE
    if not path.is_file():
        raise ConfigError(f"no {path}: write it first with intelbus acl generate {args.dir}")
    results = asyncio.run(load_acl(settings.redis_url, path))
    for result in results:
        if result.role == "failed":
            print(f"{result.node} (failed): NOT SET: the cluster holds this node failed; run this again once it "
                  "is back, before it can be promoted")
            continue
        saved = "saved to its ACL file" if result.saved else "not saved (no ACL file: they last until it restarts)"
        deleted = f", {len(result.deleted)} users deleted ({', '.join(result.deleted)})" if result.deleted else ""
        print(f"{result.node} ({result.role}): {result.users} users set{deleted}, {saved}")
    missed = sum(result.role == "failed" for result in results)
    print(f"{len(results) - missed} of {len(results)} node(s) set. The default user is untouched: turn it off "
          "yourself once replicas log in with a user of their own (masteruser)")
    return 1 if missed else 0
