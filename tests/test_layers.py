"""The layering a partner or team depends on: ``schemas`` stands alone, the clients export their errors."""

from __future__ import annotations

import subprocess
import sys

import consumers
import producers
import schemas
from bus import errors


def test_schemas_imports_nothing_of_the_bus() -> None:
    code = "import schemas, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in ('bus', 'producers', " \
           "'consumers')))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_clients_depend_on_the_wire_contract_not_on_the_router() -> None:
    """A partner or team installs the clients for keys, ids, errors and the Redis error boundary (with the
    connections to a region's node of a cluster, ``bus.cluster``, and the replicas a write waits for,
    ``bus.replicas``), the partner client for the receipts it reads (``bus.receipts``, ``bus.reasons``), and
    the team client for the consultation record it writes (``bus.audit.consult``), nothing else: keep
    ``bus/audit/__init__.py`` empty of imports (replay reads the archive, which the clients never need)."""
    code = "import producers, consumers, sys; print(sorted(m for m in sys.modules if m.split('.')[0] == 'bus'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == \
        "['bus', 'bus.audit', 'bus.audit.consult', 'bus.cluster', 'bus.errors', 'bus.ids', 'bus.keys', " \
        "'bus.reasons', 'bus.receipts', 'bus.replicas', 'bus.transport']"


def test_the_command_line_lives_in_one_package() -> None:
    """Only ``bus.cli`` parses arguments; every other module is a library its commands call."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    parsers = {str(path.relative_to(root)) for package in ("bus", "producers", "consumers", "schemas")
               for path in (root / package).rglob("*.py") if "import argparse" in path.read_text()}
    assert parsers and all(path.startswith("bus/cli/") for path in parsers), parsers


def test_the_clients_export_the_errors_their_users_catch() -> None:
    assert producers.SubmissionRejected is schemas.SubmissionRejected is errors.SubmissionRejected
    assert producers.TransportError is consumers.TransportError is errors.TransportError
    assert consumers.GroupMissingError is errors.GroupMissingError
    assert consumers.ConsultationError is errors.ConsultationError
    assert issubclass(errors.ConsultationError, errors.TransportError)
    for error in (producers.SubmissionRejected, producers.TransportError, consumers.GroupMissingError):
        assert issubclass(error, errors.BusError) and errors.BusError is schemas.BusError


def test_every_transport_error_is_classified_by_the_code_redis_replies() -> None:
    from bus.transport import classify

    cases = {
        "NOGROUP No such key 'x' or consumer group 'router'": errors.GroupMissingError,
        "BUSYGROUP Consumer Group name already exists": errors.GroupExistsError,
        "NOPERM this user has no permissions to run the 'eval' command": errors.PermissionDeniedError,
        "unknown command `FCALL`, with args beginning with: `x`, `0`, ": errors.UnknownCommandError,
        "Function not found": errors.LibraryMissingError,
        "Error running script (call to f_1479c3): @user_script:90: NOGROUP No such key": errors.GroupMissingError,
        "WRONGTYPE Operation against a key holding the wrong kind of value": errors.TransportError,
    }
    assert {message: classify(message) for message in cases} == cases


def test_the_commit_arguments_are_the_ones_commit_lua_documents() -> None:
    """``bus.plan`` packs and ``commit.lua`` reads one entry's fixed arguments in the same order."""
    from bus.library import BODIES, Operation
    from bus.plan import ENTRY_FIELDS

    header = BODIES[Operation.COMMIT].split("local decisions", 1)[0].split("view_1 ..", 1)[0]
    words = [line.split() for line in header.splitlines() if line.startswith("--         ")]
    documented = [word[1] for word in words if len(word) > 1 and word[1].isidentifier()]
    assert documented == list(ENTRY_FIELDS)


def test_every_package_says_it_is_typed() -> None:
    """PEP 561: a partner's or team's type checker uses the clients' annotations (``py.typed``, shipped)."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    for package in ("bus", "producers", "consumers", "schemas"):
        assert (root / package / "py.typed").is_file() and "py.typed" in data[package], package
