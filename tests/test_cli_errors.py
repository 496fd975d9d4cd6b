"""A command that cannot work says why in one line and exits 2: no traceback, nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.cli import main


@pytest.mark.parametrize(("env", "args", "says"), [
    ({"REDIS_URL": "notaurl"}, ["decisions"], "settings: REDIS_URL: 'notaurl' is not a Redis URL"),
    ({"REDIS_URL": "localhost:6379"}, ["router", "--asyncapi"], "settings: REDIS_URL: 'localhost:6379' is not a"),
    ({"REDIS_URL": "notaurl"}, ["feed", "tail", "durham.fib"], "is not a Redis URL"),
    ({"INTELBUS_BATCH_SIZE": "0"}, ["decisions"], "settings: INTELBUS_BATCH_SIZE: Input should be greater"),
    ({"INTELBUS_APPENDFSYNC": "sometimes"}, ["decisions"], "settings: INTELBUS_APPENDFSYNC: String should match"),
    # unknown names are refused before any Redis is touched (the URL points nowhere on purpose)
    ({"REDIS_URL": "redis://127.0.0.1:1"}, ["feed", "tail", "durham.nope"],
     "no team 'durham.nope' in the ruleset; did you mean durham."),
    ({"REDIS_URL": "redis://127.0.0.1:1"}, ["publish", "--partner", "ukfu", "-"],
     "no partner 'ukfu' in the ruleset; did you mean ukfiu?"),
    ({}, ["schema", "export", "/proc/nope"], "cannot write the JSON Schema files into /proc/nope: No such file"),
    ({"REDIS_URL": "redis://127.0.0.1:1"}, ["feed", "tail", "durham.fib", "--from-start"],
     "--from-start goes with --peek"),
    ({"REDIS_URL": "redis://127.0.0.1:1"}, ["feed", "tail", "durham.fib", "--peek", "--count", "0"],
     "--count: a number of deliveries above 0"),
    ({"REDIS_URL": "http://router:s3cret@redis:6379"}, ["decisions"], "'http://***@redis:6379' is not a Redis URL"),
])
def test_a_command_that_cannot_work_says_why_in_one_line(env: dict[str, str], args: list[str], says: str,
                                                        capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REDIS_URL", "INTELBUS_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("intelbus: ") and says in err and err.count("\n") == 1, err
    assert "s3cret" not in err  # a password in a mistyped URL is never echoed


def test_schema_export_onto_a_file_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "afile"
    target.write_text("keep me")
    assert main(["schema", "export", str(target)]) == 2
    assert "cannot write the JSON Schema files into" in capsys.readouterr().err and target.read_text() == "keep me"


def test_every_command_and_argument_is_explained_for_users() -> None:
    """``intelbus --help`` names the environment; every subcommand and every argument has a help text."""
    import argparse

    from bus.cli import build_parser

    parser = build_parser()
    assert "REDIS_URL" in parser.format_help() and "``" not in parser.format_help()
    missing: list[str] = []

    def walk(node: argparse.ArgumentParser, path: str) -> None:
        for action in node._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                for name, sub in action.choices.items():
                    if not helps.get(name):
                        missing.append(f"{path} {name}")
                    walk(sub, f"{path} {name}")
            elif action.help is None:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")

    walk(parser, "intelbus")
    assert missing == []
