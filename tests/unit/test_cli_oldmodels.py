"""The CLI for old models: --as-of and --exact-pins on every env verb, `envrun example`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envrun.cli import app as cli
from envrun.cli.options import make_settings
from envrun.cli.reporter import TerminalReporter
from tests.helpers import MODELS

ENV_VERBS = ("predict", "resolve", "check", "lock", "drift", "env path")


@pytest.mark.parametrize("verb", ENV_VERBS)
def test_every_env_verb_takes_as_of_and_exact_pins(verb: str, tmp_path: Path) -> None:
    argv = [*verb.split(), "M", "--as-of", "2023-01-02", "--exact-pins"]
    argv += ["I"] if verb == "predict" else []
    args = cli.build_parser().parse_args(argv)
    import io

    settings = make_settings(args, TerminalReporter(io.StringIO(), quiet=True, verbose=False))
    assert settings.as_of.value == "2023-01-02"
    assert settings.as_of.reason == "--as-of flag"
    assert settings.exact_pins is True


def test_a_bad_as_of_is_a_usage_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = str(MODELS / "numpy_custom")
    code = cli.main(["resolve", model, "--as-of", "last tuesday", "--cache-dir", str(tmp_path)])
    assert code == 2
    assert "cannot read the as-of value (from --as-of flag)" in capsys.readouterr().err


def test_resolve_shows_the_cutoff(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = str(MODELS / "numpy_custom")
    assert cli.main(["resolve", model, "--cache-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "resolved as of 2025-01-01 00:00 UTC, when the model was saved" in out
    assert (
        cli.main(["resolve", model, "--json", "--as-of", "now", "--cache-dir", str(tmp_path)]) == 0
    )
    doc = json.loads(capsys.readouterr().out)
    assert doc["as_of"]["cutoff"] is None
    assert doc["as_of"]["text"] == "resolved as of now (requested by --as-of flag)"


def test_example_prints_and_writes_the_synthetic_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    model = str(MODELS / "mlflow_sklearn")
    assert cli.main(["example", model]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == ["dataframe_split"]
    target = tmp_path / "out" / "input.json"
    assert cli.main(["example", model, "-o", str(target)]) == 0
    assert json.loads(target.read_text()) == printed
    assert capsys.readouterr().out == ""


def test_example_without_a_signature_says_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["example", str(MODELS / "numpy_custom")]) == 2
    err = capsys.readouterr().err
    assert "no input signature" in err
    assert "fix: pass an input file" in err
