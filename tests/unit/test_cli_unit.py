from __future__ import annotations

import argparse
import ast
import io
import pkgutil
import re
import sys
from pathlib import Path

import pytest

import envrun
from envrun import api, proc
from envrun.cli import app as cli
from envrun.cli import commands
from envrun.cli.commands import COMMANDS
from envrun.cli.reporter import TerminalReporter, shows_model_code
from envrun.errors import BridgeError, CommandFailed, EnvBuildError, EnvrunError, PredictError
from tests.helpers import INPUTS, MODELS, make_model

VERBS = (
    "predict", "batch", "serve", "resolve", "check", "example", "scan", "lock", "drift", "env",
    "cache",
)


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
        if name in ("env", "cache"):  # the handler sits on its actions
            actions = _subparsers(verbs[name])
            handler = actions["path" if name == "env" else "list"].get_default("run")
        assert handler is module.run, name


def test_every_verb_module_is_in_the_command_table() -> None:
    found = {m.name for m in pkgutil.iter_modules(commands.__path__)}
    assert found == {m.__name__.rsplit(".", 1)[-1] for m in COMMANDS}


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        ([], ["--version", *VERBS]),
        (["predict"], ["-o", "--format", "--json", "--locked", "--timeout", "--rebuild"]),
        (["predict"], ["--trust-model", "--sandbox"]),
        (["check"], ["--trust-model", "--sandbox"]),
        (["scan"], ["--format", "-o", "--cache-dir", "--verbose"]),
        (["resolve"], ["--json"]),
        (["check"], ["--baseline", "--save-baseline", "--against", "--with", "--rtol", "--atol"]),
        (["check"], ["--report", "--no-host", "--json", "--timeout", "--rebuild"]),
        (["check"], ["--load-only", "--as-of", "--exact-pins", "ENVRUN_AS_OF"]),
        (["example"], ["-o"]),
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
        # `example` and `scan` build no env: only -q/-v (and scan's --cache-dir) are shared.
        env_options = ("--installer", "--python", "--cache-dir", "--strict", "--as-of")
        for shared in (*(env_options if argv not in (["example"], ["scan"]) else ()), "--quiet"):
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


# Phrases that only make sense on a terminal: the CLI adds them, library messages never do.
_TERMINAL_HINT = re.compile(
    r"(see|shown|lines|output|is|are|traceback)\s+above|\brerun\b|\brun again\b|(^|\s)-v\b"
    r"|--verbose",
    re.IGNORECASE,
)
_MESSAGE_PARTS = ("what", "fix")


def _message_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """String parts of error messages: the arguments of a call that builds an error
    (SomethingError(...), CommandFailed(...)), any what=/fix= argument, any `what`/`fix` variable."""
    parts: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if name.endswith(("Error", "Failed", "Exception")):
                parts.append(node)
            parts += [k.value for k in node.keywords if k.arg in _MESSAGE_PARTS]
        elif isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id in _MESSAGE_PARTS for t in node.targets
        ):
            parts.append(node.value)
    return sorted(
        {
            (sub.lineno, sub.value)
            for part in parts
            for sub in ast.walk(part)
            if isinstance(sub, ast.Constant) and isinstance(sub.value, str)
        }
    )


def test_library_messages_assume_no_terminal() -> None:
    package = Path(envrun.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        if path.relative_to(package).parts[0] == "cli":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for lineno, text in _message_strings(tree):
            if _TERMINAL_HINT.search(text):
                offenders.append(f"{path.relative_to(package)}:{lineno}: {text!r}")
    assert not offenders, "\n".join(offenders)


@pytest.mark.parametrize(
    "source",
    [
        'raise BridgeError("x", fix="run again with -v to see its output")',
        'super().__init__("x", fix="see the command\'s output above")',
        'fix = "the error comes from the model\'s own code; its traceback is above"',
        'raise SpecError(f"{n} failed", fix=f"read the installer\'s last lines above; log: {log}")',
    ],
)
def test_the_guard_sees_a_terminal_hint(source: str) -> None:
    texts = [text for _, text in _message_strings(ast.parse(source))]
    assert any(_TERMINAL_HINT.search(text) for text in texts), texts


def _error_text(exc: EnvrunError, *, verbose: bool = False) -> str:
    stream = io.StringIO()
    TerminalReporter(stream, quiet=True, verbose=verbose).error(exc)
    return stream.getvalue()


def test_a_failed_command_shows_its_output_and_says_why_without_it() -> None:
    with pytest.raises(CommandFailed) as info:
        proc.run([sys.executable, "-c", "import sys; print('working'); sys.exit('boom: no disk')"])
    assert "fix: act on what it printed last: boom: no disk" in str(info.value)
    text = _error_text(info.value)
    assert "envrun: the command's last output lines:\n  | boom: no disk\n" in text
    assert "  hint: the command's last output lines are shown above\n" in text


def test_a_silent_failed_command_says_to_run_it_by_hand() -> None:
    with pytest.raises(CommandFailed) as info:
        proc.run([sys.executable, "-c", "raise SystemExit(3)"])
    assert "it printed nothing; run it by hand" in str(info.value)
    assert "hint:" not in _error_text(info.value)


def test_a_build_error_shows_the_installer_lines_then_the_hint() -> None:
    exc = EnvBuildError(
        "uv failed while building the env", fix="full log: /c/logs/x.log", tail="a\nb\nerror: c"
    )
    text = _error_text(exc)
    assert text.index("  | error: c") < text.index("envrun: error: uv failed")
    assert text.endswith("  hint: the installer's last lines are shown above\n")


def test_a_crashed_worker_points_at_v_then_shows_its_stderr_with_it() -> None:
    exc = BridgeError("the worker ended without an answer", stderr="Segmentation fault\n")
    quiet = _error_text(exc)
    assert "Segmentation fault" not in quiet
    assert "hint: rerun with -v to see what the worker wrote to stderr" in quiet
    loud = _error_text(exc, verbose=True)
    assert "envrun: the worker's stderr:\n  | Segmentation fault\n" in loud
    assert "hint: the worker's stderr is shown above" in loud


def _load_error(model: Path) -> PredictError:
    """The real error of loading `model` through the worker, in this process."""
    with pytest.raises(PredictError) as info:
        api.predict_in_process(model, str(INPUTS / "localwheel.json"))
    assert info.value.traceback
    return info.value


def test_a_missing_loader_module_shows_the_error_line_without_a_traceback(tmp_path: Path) -> None:
    exc = _load_error(make_model(tmp_path / "m", loader="nonexistent_module_xyz", env=None))
    assert not shows_model_code(exc.traceback)
    text = _error_text(exc)
    assert "Traceback" not in text
    assert "  | " not in text
    assert "envrun: error: loading the model failed: ModuleNotFoundError" in text
    assert "nonexistent_module_xyz" in text
    assert text.endswith("hint: the model's traceback holds only envrun's and the import "
                         "system's frames; -v shows it\n")


def test_v_shows_the_traceback_of_a_missing_loader_module(tmp_path: Path) -> None:
    exc = _load_error(make_model(tmp_path / "m", loader="nonexistent_module_xyz", env=None))
    text = _error_text(exc, verbose=True)
    assert "envrun: traceback from the model's process:\n  | Traceback" in text
    assert "hint: the traceback from the model's process is shown above" in text


def test_a_loader_whose_own_import_fails_shows_its_traceback(tmp_path: Path) -> None:
    model = make_model(
        tmp_path / "m",
        env=None,
        loader_source="""
        import no_such_dependency_xyz
        def _load_pyfunc(path):
            return None
        """,
    )
    exc = _load_error(model)
    assert shows_model_code(exc.traceback)
    text = _error_text(exc)
    assert f'  |   File "{model / "code" / "my_loader.py"}", line 1' in text
    assert "  | ModuleNotFoundError: No module named 'no_such_dependency_xyz'" in text


def test_a_model_that_raises_shows_its_traceback() -> None:
    with pytest.raises(PredictError) as info:
        api.predict_in_process(MODELS / "raises", str(INPUTS / "raises.json"))
    text = _error_text(info.value)
    assert "raising_model.py" in text
    assert "  | ValueError: bad input for raises model" in text


@pytest.mark.parametrize(
    ("frames", "model_code"),
    [
        (['File "<frozen importlib._bootstrap>", line 1204, in _gcd_import'], False),
        (['File "/opt/py/lib/python3.8/importlib/__init__.py", line 127, in import_module'], False),
        ([f'File "{Path(envrun.__file__).parent / "run/worker/core.py"}", line 9, in load'], False),
        (['File "/m/code/my_loader.py", line 3, in _load_pyfunc'], True),
        (['File "/env/lib/python3.11/site-packages/sklearn/base.py", line 9, in f'], True),
        (['File "/env/lib/python3.11/site-packages/importlib/x.py", line 9, in f'], True),
        ([], True),  # nothing readable: show it rather than hide something
    ],
)
def test_which_frames_are_the_models(frames: list[str], model_code: bool) -> None:
    text = "Traceback (most recent call last):\n"
    text += "".join(f"  {frame}\n    code\n" for frame in frames)
    assert shows_model_code(text + "ValueError: x\n") is model_code


def test_cache_rm_of_a_fingerprint_nothing_matches_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["cache", "rm", "deadbeef00", "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2
    assert "no cached env has a fingerprint that starts with this" in err and "deadbeef00" in err


def test_serve_refuses_a_missing_model_dir_before_opening_the_port(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["serve", str(tmp_path / "missing"), "--cache-dir", str(tmp_path / "c")])
    err = capsys.readouterr().err
    assert code == 2
    assert "model directory not found" in err and "listening on" not in err
