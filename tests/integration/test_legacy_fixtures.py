"""Models made by real old MLflow (fixtures/legacy/): what envrun does with each of them.

One row per fixture in TODAY: the exit code and the lines that tell the failure apart. Work on
legacy models flipped rows to `WORKS` (exit 0 and the output MLflow itself gave when it saved the
model); a failure that came from resolving with today's releases is kept in AS_OF_NOW, which
still shows it with `--as-of now`. fixtures/legacy/STATUS-before.md has what envrun did before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import FIXTURES
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


# What envrun does with each, by default. Every fixture that is not broken loads and predicts the
# output MLflow itself gave when it saved the model.
TODAY: dict[str, Outcome] = {
    # Unpinned `mlflow` and numpy: resolved as of the model's creation day (numpy 1.x).
    "mlflow1_sklearn": WORKS,
    # scikit-learn, numpy and pandas are conda packages only: mapped to PyPI and added.
    "mlflow2_conda_only": WORKS,
    # `code: .` is the model dir itself on the code path.
    "code_dot": WORKS,
    # The freeze pins sqlparse==0.3.1 next to mlflow==2.3.2, which needs sqlparse>=0.4.0: the
    # error says the exact pins conflict and names --exact-pins (EXTRA_ARGS below installs them).
    "frozen_conflict": fails(2, "exact pin", "--exact-pins", "sqlparse"),
    # The state_dict's storages say cuda:0 and this host has no GPU: loaded on the CPU.
    "torch_cuda": WORKS,
    # python_env.yaml names requirements.txt, which is gone: conda.yaml's pins, with a warning.
    "missing_requirements": WORKS,
}

# Fixtures that work with a flag the default refusal names.
WITH_FLAGS: dict[str, tuple[tuple[str, ...], Outcome]] = {
    "frozen_conflict": (("--exact-pins",), WORKS),
}

# With `--as-of now` a model whose fix is resolving as of its creation time still fails today's
# way, and the diagnosis points at --as-of.
AS_OF_NOW: dict[str, Outcome] = {
    "mlflow1_sklearn": fails(4, "numpy.dtype size changed", "--as-of"),
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


@pytest.mark.parametrize("name", sorted(WITH_FLAGS))
def test_legacy_fixture_with_the_flag_its_refusal_names(name: str, shared_cache: Path) -> None:
    flags, outcome = WITH_FLAGS[name]
    _check(name, outcome, _predict(name, shared_cache, *flags))


@pytest.mark.parametrize("name", sorted(AS_OF_NOW))
def test_legacy_fixture_as_of_now(name: str, shared_cache: Path) -> None:
    _check(name, AS_OF_NOW[name], _predict(name, shared_cache, "--as-of", "now"))
