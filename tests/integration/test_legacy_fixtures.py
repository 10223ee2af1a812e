"""Models made by real old MLflow (fixtures/legacy/): what envrun does with each of them.

One row per fixture in TODAY: the exit code and the lines that tell the failure apart. Work on
legacy models flips a row to `WORKS` (exit 0 and the output MLflow itself gave when it saved the
model); a failure that comes from resolving with today's releases then moves to AS_OF_NOW, which
keeps showing it with `--as-of now`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import FIXTURES, ROOT
from tests.integration.conftest import CliResult, run_envrun

pytestmark = [pytest.mark.integration, pytest.mark.legacy]

LEGACY = FIXTURES / "legacy"


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    says: tuple[str, ...] = ()  # substrings of stderr, each required


WORKS = Outcome(0)


def fails(exit_code: int, *says: str) -> Outcome:
    return Outcome(exit_code, says)


TODAY: dict[str, Outcome] = {
    # Unpinned `mlflow` and numpy resolve to today's releases: numpy 2.x under scikit-learn 1.1.2.
    "mlflow1_sklearn": fails(4, "numpy.dtype size changed", "loading the model failed"),
    # scikit-learn, numpy and pandas are conda packages only; the env gets none of them.
    "mlflow2_conda_only": fails(2, "needs pandas, which is not installed"),
    # `code: .` crashes the MLmodel reader: exit 70 is a bug, never an acceptable answer.
    "code_dot": fails(70, "internal error", "IndexError"),
    # The freeze pins sqlparse==0.3.1 next to mlflow==2.3.2, which needs sqlparse>=0.4.0.
    "frozen_conflict": fails(2, "sqlparse", "No solution found"),
    # The state_dict's storages say cuda:0 and this host has no GPU.
    "torch_cuda": fails(4, "Attempting to deserialize object on a CUDA device"),
    # python_env.yaml names requirements.txt, which is gone; conda.yaml holds the pins.
    "missing_requirements": fails(2, "requirements file not found", "requirements.txt"),
}

# With `--as-of now` a model whose fix is resolving as of its creation time still fails today's
# way. The rows apply once predict has the flag.
AS_OF_NOW: dict[str, Outcome] = {
    "mlflow1_sklearn": fails(4, "numpy.dtype size changed"),
}


def _predict(name: str, cache: Path, *extra: str) -> CliResult:
    model = LEGACY / name
    return run_envrun("predict", model, LEGACY / "inputs" / f"{name}.json", *extra, cache_dir=cache)


def _check(name: str, outcome: Outcome, result: CliResult) -> None:
    assert result.returncode == outcome.exit_code, result.stderr
    for text in outcome.says:
        assert text in result.stderr, result.stderr
    if outcome.exit_code == 0:
        expected = json.loads((LEGACY / "expected" / f"{name}.json").read_text())
        assert result.json() == expected
    elif outcome.exit_code != 70:
        # A failure is envrun's typed message (a model's traceback is quoted behind "  | ").
        assert not any(ln.startswith("Traceback") for ln in result.stderr.splitlines())


def test_every_legacy_fixture_has_a_row_an_input_and_an_expected_output() -> None:
    models = {p.name for p in LEGACY.iterdir() if (p / "MLmodel").is_file()}
    assert models == set(TODAY)
    for name in models:
        assert (LEGACY / "inputs" / f"{name}.json").is_file()
        assert "predictions" in json.loads((LEGACY / "expected" / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(TODAY))
def test_legacy_fixture_today(name: str, shared_cache: Path) -> None:
    _check(name, TODAY[name], _predict(name, shared_cache))


def _predict_has_as_of() -> bool:
    usage = subprocess.run(
        [sys.executable, "-m", "envrun", "predict", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    return "--as-of" in usage.stdout


@pytest.mark.skipif(not _predict_has_as_of(), reason="envrun predict has no --as-of yet")
@pytest.mark.parametrize("name", sorted(AS_OF_NOW))
def test_legacy_fixture_as_of_now(name: str, shared_cache: Path) -> None:
    _check(name, AS_OF_NOW[name], _predict(name, shared_cache, "--as-of", "now"))
