from __future__ import annotations

import io
from pathlib import Path

import pytest

from envrun import api
from envrun.cli import app as cli


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
    reporter = cli.TerminalReporter(stream, quiet=False, verbose=False)
    reporter.step("installing 3 requirements with uv")
    reporter.line("Resolved 3 packages")  # only shown live on a terminal or with -v
    reporter.warn("something to know")
    text = stream.getvalue()
    assert "installing 3 requirements with uv" in text
    assert "Resolved 3 packages" not in text
    assert "envrun: warning: something to know" in text


def test_reporter_quiet_prints_nothing() -> None:
    stream = io.StringIO()
    reporter = cli.TerminalReporter(stream, quiet=True, verbose=False)
    reporter.step("x")
    reporter.line("y")
    reporter.warn("z")
    assert stream.getvalue() == ""


def test_reporter_verbose_shows_tool_output() -> None:
    stream = io.StringIO()
    reporter = cli.TerminalReporter(stream, quiet=False, verbose=True)
    reporter.line("Installed 3 packages")
    assert "  | Installed 3 packages" in stream.getvalue()
