from __future__ import annotations

import argparse
import io
import pkgutil
from pathlib import Path

import pytest

from envrun import api
from envrun.cli import app as cli
from envrun.cli import commands
from envrun.cli.commands import COMMANDS
from envrun.cli.reporter import TerminalReporter

VERBS = ("predict", "resolve", "check", "lock", "drift", "env")


def test_internal_error_has_no_traceback_on_screen(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("unexpected state")

    monkeypatch.setattr(api, "resolve", boom)
    code = cli.main(["resolve", str(tmp_path), "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 70
    assert "internal error: RuntimeError: unexpected state" in err
    assert "Traceback" not in err
    report = Path(err.strip().rsplit(" ", 1)[-1])
    assert "Traceback" in report.read_text()
    report.unlink()


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert "predict" in capsys.readouterr().err


def test_reporter_plain_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    reporter = TerminalReporter(stream, quiet=False, verbose=False)
    reporter.step("installing 3 requirements with uv")
    reporter.line("Resolved 3 packages")  # only shown live on a terminal or with -v
    reporter.warn("something to know")
    text = stream.getvalue()
    assert "installing 3 requirements with uv" in text
    assert "Resolved 3 packages" not in text
    assert "envrun: warning: something to know" in text


def test_reporter_quiet_prints_nothing() -> None:
    stream = io.StringIO()
    reporter = TerminalReporter(stream, quiet=True, verbose=False)
    reporter.step("x")
    reporter.line("y")
    reporter.warn("z")
    assert stream.getvalue() == ""


def test_reporter_verbose_shows_tool_output() -> None:
    stream = io.StringIO()
    reporter = TerminalReporter(stream, quiet=False, verbose=True)
    reporter.line("Installed 3 packages")
    assert "  | Installed 3 packages" in stream.getvalue()


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:  # argparse keeps the subcommand table on this action only
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_verb_registers_with_its_handler() -> None:
    verbs = _subparsers(cli.build_parser())
    assert tuple(verbs) == VERBS
    for module in COMMANDS:
        name = module.__name__.rsplit(".", 1)[-1]
        handler = verbs[name].get_default("run")
        if name == "env":  # the handler sits on its actions
            handler = _subparsers(verbs[name])["path"].get_default("run")
        assert handler is module.run, name


def test_every_verb_module_is_in_the_command_table() -> None:
    found = {m.name for m in pkgutil.iter_modules(commands.__path__)}
    assert found == {m.__name__.rsplit(".", 1)[-1] for m in COMMANDS}


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        ([], ["--version", *VERBS]),
        (["predict"], ["-o", "--format", "--json", "--locked", "--timeout", "--rebuild"]),
        (["resolve"], ["--json"]),
        (["check"], ["--baseline", "--save-baseline", "--against", "--with", "--rtol", "--atol"]),
        (["check"], ["--report", "--no-host", "--json", "--timeout", "--rebuild"]),
        (["lock"], ["-o", "--exclude-newer"]),
        (["drift"], ["--fail-on", "--format", "--lock", "--skip", "-o"]),
        (["env"], ["path"]),
        (["env", "path"], ["--rebuild"]),
    ],
)
def test_help_of_every_verb(
    argv: list[str], options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*argv, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith(f"usage: envrun {' '.join(argv)}".rstrip() + " ")
    assert "exit codes:" in text
    assert "ENVRUN_CACHE_DIR" in text
    for option in options:
        assert option in text, option
    if argv and argv != ["env"]:
        assert "MODEL_DIR" in text
        assert "directory holding the MLmodel file" in text or "directories holding" in text
        for shared in ("--installer", "--python", "--cache-dir", "--strict", "--quiet"):
            assert shared in text, shared


def test_env_without_an_action_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["env"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: envrun env ")
    assert "build the env if needed and print its directory" in err


def test_unknown_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["frobnicate"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
