"""Bad input and broken models: the documented message and exit code, never envrun's traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import INPUTS, MODELS, make_model, write
from tests.integration.conftest import CliResult, run_envrun

pytestmark = pytest.mark.integration


def _no_own_traceback(result: CliResult) -> None:
    # A model's traceback is shown indented behind "  | "; envrun's own never appears.
    assert not any(line.startswith("Traceback") for line in result.stderr.splitlines()), (
        result.stderr
    )
    assert "envrun/cli/" not in result.stderr


def _envs_built(cache: Path) -> bool:
    return (cache / "envs").exists() and any((cache / "envs").iterdir())


def test_malformed_json(tmp_path: Path, cache: Path) -> None:
    bad = write(tmp_path / "bad.json", '{"inputs": [1, 2,, 3]}\n')
    result = run_envrun("predict", MODELS / "localwheel", bad, cache_dir=cache)
    assert result.returncode == 2
    assert "line 1" in result.stderr
    assert "column" in result.stderr
    assert str(bad) in result.stderr
    _no_own_traceback(result)
    assert not _envs_built(cache)


def test_missing_column_fails_before_any_build(tmp_path: Path, cache: Path) -> None:
    payload = json.loads((INPUTS / "mlflow_sklearn.json").read_text())
    split = payload["dataframe_split"]
    split["columns"] = split["columns"][:3]
    split["data"] = [row[:3] for row in split["data"]]
    bad = write(tmp_path / "missing.json", json.dumps(payload))
    result = run_envrun("predict", MODELS / "mlflow_sklearn", bad, cache_dir=cache)
    assert result.returncode == 2
    assert "petal_width" in result.stderr
    _no_own_traceback(result)
    assert not _envs_built(cache)


def test_missing_mlmodel(tmp_path: Path, cache: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_envrun("predict", tmp_path / "empty", INPUTS / "localwheel.json", cache_dir=cache)
    assert result.returncode == 2
    assert "no MLmodel file" in result.stderr
    assert "fix:" in result.stderr
    _no_own_traceback(result)


def test_missing_input_file(cache: Path) -> None:
    result = run_envrun("predict", MODELS / "localwheel", "no-such-input.json", cache_dir=cache)
    assert result.returncode == 2
    assert "no-such-input.json" in result.stderr
    _no_own_traceback(result)


def test_unknown_loader_module(cache: Path) -> None:
    result = run_envrun(
        "predict", MODELS / "unknown_loader", INPUTS / "unknown_loader.json", cache_dir=cache
    )
    assert result.returncode == 4
    assert "no_such_module_xyz" in result.stderr
    assert "loading the model failed" in result.stderr
    # Only the worker's and importlib's frames: the error line says it all, -v shows them.
    assert "  | " not in result.stderr
    assert "-v shows it" in result.stderr
    _no_own_traceback(result)


def test_unknown_loader_module_traceback_with_v(cache: Path) -> None:
    result = run_envrun(
        "predict", MODELS / "unknown_loader", INPUTS / "unknown_loader.json", "-v", cache_dir=cache
    )
    assert result.returncode == 4
    assert "  | Traceback (most recent call last):" in result.stderr
    assert "  | ModuleNotFoundError: No module named 'no_such_module_xyz'" in result.stderr
    _no_own_traceback(result)


def test_loader_whose_own_import_fails_shows_its_traceback(tmp_path: Path, cache: Path) -> None:
    import platform

    model = make_model(
        tmp_path / "m",
        env=None,
        python_version=platform.python_version(),
        loader_source="""
        import no_such_dependency_xyz
        def _load_pyfunc(path):
            return None
        """,
    )
    result = run_envrun("predict", model, INPUTS / "localwheel.json", cache_dir=cache)
    assert result.returncode == 4
    assert "  | Traceback (most recent call last):" in result.stderr
    assert "my_loader.py\", line 1" in result.stderr
    assert "no_such_dependency_xyz" in result.stderr
    _no_own_traceback(result)


def test_model_that_raises(cache: Path) -> None:
    result = run_envrun("predict", MODELS / "raises", INPUTS / "raises.json", cache_dir=cache)
    assert result.returncode == 4
    assert "ValueError: bad input for raises model" in result.stderr
    assert "  | Traceback (most recent call last):" in result.stderr
    assert "raising_model.py" in result.stderr
    assert "hint: the traceback from the model's process is shown above" in result.stderr
    _no_own_traceback(result)


def _bare_model(root: Path, body: str) -> Path:
    """A model with no requirements at all: its env is just the interpreter (fast to build)."""
    import platform

    return make_model(
        root,
        env=None,
        python_version=platform.python_version(),
        loader_source=f"""
        import os, signal, time
        class M:
            def predict(self, model_input, params=None):
                {body}
        def _load_pyfunc(path):
            return M()
        """,
    )


def test_worker_killed_by_a_signal(tmp_path: Path, cache: Path) -> None:
    model = _bare_model(tmp_path / "m", "os.kill(os.getpid(), signal.SIGKILL)")
    result = run_envrun("predict", model, INPUTS / "localwheel.json", cache_dir=cache)
    assert result.returncode == 4
    assert "ended without an answer" in result.stderr
    assert "SIGKILL" in result.stderr
    _no_own_traceback(result)


def test_timeout_stops_a_hanging_model(tmp_path: Path, cache: Path) -> None:
    model = _bare_model(tmp_path / "m", "time.sleep(120)")
    result = run_envrun(
        "predict", model, INPUTS / "localwheel.json", "--timeout", "3", cache_dir=cache
    )
    assert result.returncode == 4
    assert "did not answer within 3 s" in result.stderr
    _no_own_traceback(result)


def test_interpreter_not_found(tmp_path: Path, cache: Path) -> None:
    model = make_model(tmp_path / "m", env=None, python_version="3.4.10")
    result = run_envrun("predict", model, INPUTS / "localwheel.json", cache_dir=cache)
    assert result.returncode == 2
    assert "no Python 3.4 interpreter found" in result.stderr
    assert "--python" in result.stderr
    _no_own_traceback(result)


def test_unwritable_output_file(cache: Path, tmp_path: Path) -> None:
    blocker = write(tmp_path / "file", "x")
    result = run_envrun(
        "predict",
        MODELS / "localwheel",
        INPUTS / "localwheel.json",
        "-o",
        blocker / "out.json",
        cache_dir=cache,
    )
    assert result.returncode == 2
    assert "cannot write the output file" in result.stderr
    _no_own_traceback(result)
