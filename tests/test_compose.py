"""Static checks of the deployment files: compose.yaml and Dockerfile.

Docker is not needed: compose.yaml is validated against the official Compose Specification JSON
Schema vendored in tests/data/compose-spec.json (provenance in tests/data/README.md), and the
commands the containers run are checked against the project's own sources.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from jsonschema.protocols import Validator

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
SCHEMA_FILE = Path(__file__).resolve().parent / "data" / "compose-spec.json"
PYPROJECT = ROOT / "pyproject.toml"

CLUSTER_ROUTERS = {"router-ne-a": "ne", "router-ne-b": "ne", "router-wy": "wy"}
CLUSTER_SERVICES = {*(f"redis-node-{n}" for n in range(1, 7)), "cluster-create", "functions-ne", "functions-wy",
                    *CLUSTER_ROUTERS}
# `intelbus` subcommands the compose file may use, checked against bus/cli.py once it exists.
KNOWN_SUBCOMMANDS = ["router"]


# --------------------------------------------------------------------------------------------- helpers


def _load_compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "compose.yaml must be a YAML mapping"
    return data


def _load_schema() -> dict[str, Any]:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert isinstance(schema, dict)
    return schema


def _validator_class(schema: dict[str, Any]) -> type[Validator]:
    """The validator class named by the schema's ``$schema``.

    The Compose schema spells draft-07 as ``https://json-schema.org/draft-07/schema``; jsonschema
    registers the meta-schema under ``http://`` only, so the scheme is normalised before lookup
    (an unknown ``$schema`` must fail here rather than silently fall back to the latest draft).
    """
    uri = schema["$schema"]
    normalised = re.sub(r"^https://", "http://", uri)
    # jsonschema returns ``default`` for an unknown $schema; its stubs allow only a class there, not None
    cls = jsonschema.validators.validator_for({"$schema": normalised}, default=None)  # type: ignore[arg-type]
    assert cls is not None, f"jsonschema has no validator for $schema {uri!r}"
    return cls


def _validator() -> Validator:
    schema = _load_schema()
    return _validator_class(schema)(schema)


def _errors(instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in _validator().iter_errors(instance)
    ]


def _as_argv(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, "Dockerfile ends with a dangling line continuation"
    return instructions


def _final_stage() -> list[tuple[str, str]]:
    instructions = _dockerfile_instructions()
    froms = [i for i, (kw, _) in enumerate(instructions) if kw == "FROM"]
    assert froms, "Dockerfile has no FROM"
    return instructions[froms[-1] :]


def _dockerfile_entrypoint() -> list[str]:
    entrypoints = [args for kw, args in _final_stage() if kw == "ENTRYPOINT"]
    assert entrypoints, "final Dockerfile stage has no ENTRYPOINT"
    value = json.loads(entrypoints[-1])  # exec (JSON array) form is required, see the test below
    assert isinstance(value, list)
    return [str(v) for v in value]


def _pyproject() -> dict[str, Any]:
    return tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))


def _project_image_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Services running the image built from this repository's Dockerfile."""
    built_images = {svc["image"] for svc in compose["services"].values() if "build" in svc and "image" in svc}
    return {
        name: svc
        for name, svc in compose["services"].items()
        if "build" in svc or svc.get("image") in built_images
    }


# --------------------------------------------------------------------------------------------- schema


def test_vendored_schema_is_a_valid_json_schema() -> None:
    schema = _load_schema()
    cls = _validator_class(schema)
    assert cls is jsonschema.Draft7Validator  # what the vendored version declares
    cls.check_schema(schema)
    assert schema.get("title") == "Compose Specification"


def test_compose_file_parses_and_uses_the_compose_specification_format() -> None:
    compose = _load_compose()
    assert "version" not in compose, "the Compose Specification format has no top-level `version:`"
    default = {name for name, svc in compose["services"].items() if not svc.get("profiles")}
    assert default == {"redis", "functions", "router", "team-example", "console"}
    assert set(compose["services"]) - default == CLUSTER_SERVICES


def test_compose_file_validates_against_the_compose_schema() -> None:
    errors = _errors(_load_compose())
    assert errors == [], "compose.yaml does not match the Compose Specification:\n" + "\n".join(errors)


def _misspelt_key(doc: dict[str, Any]) -> None:
    svc = doc["services"]["router"]
    svc["comand"] = svc.pop("command")


def _bad_depends_on_condition(doc: dict[str, Any]) -> None:
    doc["services"]["router"]["depends_on"]["functions"]["condition"] = "service_ready"


def _unknown_top_level_key(doc: dict[str, Any]) -> None:
    doc["service"] = doc.pop("services")


def _wrong_type(doc: dict[str, Any]) -> None:
    doc["services"]["redis"]["healthcheck"]["retries"] = ["ten"]


def _bad_volume_type(doc: dict[str, Any]) -> None:
    doc["services"]["redis"]["volumes"] = [{"type": "disk", "source": "redis-data", "target": "/data"}]


@pytest.mark.parametrize(
    "mutate",
    [_misspelt_key, _bad_depends_on_condition, _unknown_top_level_key, _wrong_type, _bad_volume_type],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_schema_rejects_broken_compose_files(mutate: Any) -> None:
    """The validator is not vacuous: small, realistic mistakes are reported."""
    doc = copy.deepcopy(_load_compose())
    mutate(doc)
    assert _errors(doc), f"{mutate.__name__}: a broken compose file passed validation"


# --------------------------------------------------------------------------------------------- Dockerfile


def test_dockerfile_entrypoint_is_the_intelbus_console_command() -> None:
    assert _dockerfile_entrypoint() == ["intelbus"]
    assert "intelbus" in _pyproject()["project"]["scripts"], "pyproject must define the `intelbus` script"


def test_dockerfile_uses_python_311_slim_installs_the_project_and_drops_root() -> None:
    instructions = _dockerfile_instructions()
    bases = [args.split()[0] for kw, args in instructions if kw == "FROM"]
    stage_names = {args.split()[-1] for kw, args in instructions if kw == "FROM" and " AS " in args.upper()}
    assert bases, "Dockerfile has no FROM"
    assert all(base == "python:3.11-slim" or base in stage_names for base in bases), bases
    assert any(kw == "RUN" and re.search(r"\bpip install \.(\s|$)", args) for kw, args in instructions)
    users = [args for kw, args in _final_stage() if kw == "USER"]
    assert users, "final stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    checks = [args for kw, args in _final_stage() if kw == "HEALTHCHECK"]
    assert len(checks) == 1 and checks[0].endswith('CMD ["python", "-m", "bus.health"]'), checks


# --------------------------------------------------------------------------------------------- services


def test_every_project_image_service_runs_a_command_that_exists() -> None:
    compose = _load_compose()
    services = _project_image_services(compose)
    assert set(services) == {"functions", "router", "team-example", "console", "functions-ne", "functions-wy",
                             *CLUSTER_ROUTERS}
    image_entrypoint = _dockerfile_entrypoint()
    for name, svc in services.items():
        entrypoint = _as_argv(svc["entrypoint"]) if "entrypoint" in svc else image_entrypoint
        command = _as_argv(svc.get("command"))
        assert entrypoint or command, f"{name}: runs nothing"
        if entrypoint == ["intelbus"]:
            assert command, f"{name}: `intelbus` needs a subcommand"
            _assert_intelbus_subcommand_exists(name, command[0])
        elif entrypoint[:2] == ["python", "-m"]:
            _assert_module_is_shipped(name, entrypoint[2])
        else:
            pytest.fail(f"{name}: unexpected entrypoint {entrypoint!r}")


def _assert_intelbus_subcommand_exists(service: str, subcommand: str) -> None:
    """Ask the real CLI parser: `intelbus <subcommand> --help` must parse (exit 0), not be an unknown choice."""
    from bus.cli import build_parser

    scripts = _pyproject()["project"]["scripts"]
    assert scripts.get("intelbus") == "bus.cli:main", scripts
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args([subcommand, "--help"])
    assert exited.value.code == 0, f"{service}: `intelbus {subcommand}` is not a subcommand"


def _assert_module_is_shipped(service: str, module: str) -> None:
    parts = module.split(".")
    top = parts[0]
    include = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    assert any(re.fullmatch(p.replace(".", r"\.").replace("*", ".*"), top) for p in include), (
        f"{service}: package {top!r} is not installed into the image (tool.setuptools include={include})"
    )
    assert (ROOT / top / "__init__.py").exists(), f"{service}: package {top!r} does not exist"
    as_dir = ROOT.joinpath(*parts)
    if as_dir.is_dir():
        assert (as_dir / "__main__.py").exists(), f"{service}: {module} is a package without __main__.py"
    elif as_dir.with_suffix(".py").exists():
        text = as_dir.with_suffix(".py").read_text(encoding="utf-8")
        assert "__main__" in text, f'{service}: {module} has no `if __name__ == "__main__"` block'
    # else: the module has not landed yet; its package is shipped (checked above).


def test_redis_is_durable_and_healthchecked() -> None:
    compose = _load_compose()
    redis = compose["services"]["redis"]
    assert redis["image"] == "redis:7.2-alpine"
    argv = _as_argv(redis["command"])
    pairs = list(itertools.pairwise(argv))
    assert ("--appendonly", "yes") in pairs, f"redis must enable AOF: {argv}"
    assert ("--appendfsync", "always") in pairs, f"redis must fsync every write: {argv}"
    assert " ".join(_as_argv(redis["healthcheck"]["test"])).count("redis-cli ping") == 1
    mounts = {v.split(":")[0]: v.split(":")[1] for v in redis["volumes"]}
    assert "/data" in mounts.values()
    named = next(src for src, dst in mounts.items() if dst == "/data")
    assert named in (compose.get("volumes") or {}), "redis /data must be a named volume"


def test_router_and_team_services_are_wired_as_specified() -> None:
    services = _load_compose()["services"]
    router, team = services["router"], services["team-example"]

    assert _as_argv(router["command"]) == ["router"]
    assert router["environment"]["REDIS_URL"] == "redis://redis:6379/0"
    assert router["depends_on"] == {"functions": {"condition": "service_completed_successfully"}}
    functions = services["functions"]  # the deploy step: the library loaded once, before any router
    assert _as_argv(functions["command"]) == ["functions", "load"]
    assert functions["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert functions["restart"] == "no"
    assert router["restart"] == "unless-stopped"
    assert router["stop_grace_period"] == "30s"

    assert _as_argv(team["entrypoint"]) == ["python", "-m", "consumers.example_service"]
    assert team["environment"] == {"REDIS_URL": "redis://redis:6379/0", "INTELBUS_TEAM": "durham.fib"}
    assert team["depends_on"] == {"router": {"condition": "service_healthy"}}  # its /readyz answered
    port = router["environment"]["INTELBUS_METRICS_PORT"]
    assert router["healthcheck"]["test"] == ["CMD", "python", "-m", "bus.health"] and port in router["expose"]
    assert router["environment"]["INTELBUS_METRICS_HOST"] == "0.0.0.0"  # scraped from outside the container
    assert team["restart"] == "unless-stopped"
    assert team.get("image") == router.get("image") and team.get("build") == router.get("build")


def test_the_console_listens_on_the_host_loopback_and_keeps_its_consultation_log() -> None:
    compose = _load_compose()
    console = compose["services"]["console"]
    assert _as_argv(console["command"]) == ["console"]
    port = console["environment"]["INTELBUS_CONSOLE_PORT"]
    assert console["ports"] == [f"127.0.0.1:{port}:{port}"]  # never published beyond the host
    assert console["environment"]["INTELBUS_CONSOLE_HOST"] == "0.0.0.0"  # reachable from the port mapping
    assert console["healthcheck"]["test"] == ["CMD", "python", "-m", "bus.health", "--console"]
    [volume] = console["volumes"]
    name, mount = volume.split(":")
    assert mount == "/home/intelbus/.intelbus" and name in compose["volumes"]
    assert "install -d -o intelbus -g intelbus /home/intelbus/.intelbus" in (ROOT / "Dockerfile").read_text()


def test_the_cluster_profile_is_two_regions_on_three_masters_with_a_replica_each() -> None:
    """Profile ``cluster``: six durable nodes on fixed addresses in the cluster network, joined once by
    ``redis-cli --cluster create`` with one replica each, and each region's functions and routers on it."""
    import ipaddress

    from bus.cluster import parse
    from bus.settings import Settings

    compose = _load_compose()
    services = compose["services"]
    assert all(services[name]["profiles"] == ["cluster"] for name in CLUSTER_SERVICES)
    subnet = ipaddress.ip_network(compose["networks"]["cluster"]["ipam"]["config"][0]["subnet"])
    addresses = []
    for n in range(1, 7):
        node = services[f"redis-node-{n}"]
        argv = list(itertools.pairwise(_as_argv(node["command"])))
        assert {("--cluster-enabled", "yes"), ("--appendonly", "yes"), ("--appendfsync", "always")} <= set(argv)
        address = node["networks"]["cluster"]["ipv4_address"]
        assert ipaddress.ip_address(address) in subnet and f"redis-node-{n}" in compose["volumes"]
        addresses.append(f"{address}:6379")
    create = " ".join(_as_argv(services["cluster-create"]["command"]))
    assert f"--cluster create {' '.join(addresses)} --cluster-replicas 1 --cluster-yes" in create
    assert "cluster_slots_assigned:16384" in create  # formed already: left alone, whichever node answers
    assert set(services["cluster-create"]["depends_on"]) == {f"redis-node-{n}" for n in range(1, 7)}
    for name, region in CLUSTER_ROUTERS.items():
        router, functions = services[name], services[f"functions-{region}"]
        env = router["environment"]
        assert env["INTELBUS_REGION"] == region == functions["environment"]["INTELBUS_REGION"]
        assert {f"{h}:{p}" for h, p in parse(env["REDIS_URL"]).seeds} <= set(addresses)
        assert Settings(redis_url=env["REDIS_URL"], region=region).cluster_url() is not None
        assert env["INTELBUS_REPLICAS"] == "1" and env["INTELBUS_CONSUMER_NAME"] == name
        assert router["depends_on"] == {f"functions-{region}": {"condition": "service_completed_successfully"}}
        assert functions["depends_on"] == {"cluster-create": {"condition": "service_completed_successfully"}}
        data = router["volumes"][0].split(":")
        assert data == [name, "/home/intelbus/.intelbus"] and name in compose["volumes"]  # its audit key, its own
        assert router["healthcheck"]["test"] == ["CMD", "python", "-m", "bus.health"]
    [_, mount] = services["router-wy"]["volumes"]  # Wyvern's own ruleset, mounted from the repository
    source, target, _ = mount.split(":")
    env = services["router-wy"]["environment"]
    assert env["INTELBUS_RULESET"] == f"{target}/ruleset.yaml" and (ROOT / source / "ruleset.yaml").is_file()
    assert env["INTELBUS_REFERENCE"] == f"{target}/reference" and (ROOT / source / "reference").is_dir()
