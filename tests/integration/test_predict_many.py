"""`envrun predict MODEL IN1 IN2 IN3`: one env, one worker, one model load, one answer per input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import make_model, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

LOADER = """
import os

class Model:
    def predict(self, data, params=None):
        return [value * 10 for value in data]

def _load_pyfunc(path):
    with open(os.path.join(path, "loads.txt"), "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    return Model()
"""


@pytest.fixture
def model(tmp_path: Path) -> Path:
    root = make_model(tmp_path / "model", loader="counting", loader_source=LOADER)
    write(root / "python_env.yaml", "python: 3.11.7\nbuild_dependencies: []\ndependencies: []\n")
    return root


def test_three_inputs_load_the_model_once(model: Path, tmp_path: Path, shared_cache: Path) -> None:
    inputs = [write(tmp_path / f"in{i}.json", json.dumps({"inputs": [i, i + 1]})) for i in range(3)]
    result = run_envrun("predict", model, *inputs, cache_dir=shared_cache)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [json.loads(line) for line in lines] == [{"predictions": [10 * i, 10 * (i + 1)]} for i in range(3)]
    assert len((model / "loads.txt").read_text().split()) == 1

    out = tmp_path / "out"
    folder = inputs[0].parent
    result = run_envrun("predict", model, folder, "-o", out, cache_dir=shared_cache)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["in0.json", "in1.json", "in2.json"]
    assert json.loads((out / "in2.json").read_text()) == {"predictions": [20, 30]}
    assert len((model / "loads.txt").read_text().split()) == 2  # one more run, one more load


def test_a_bad_input_fails_before_any_load(model: Path, tmp_path: Path, shared_cache: Path) -> None:
    good = write(tmp_path / "good.json", json.dumps({"inputs": [1]}))
    bad = write(tmp_path / "bad.json", "{not json")
    result = run_envrun("predict", model, good, bad, cache_dir=shared_cache)
    assert result.returncode == 2, result.stderr
    assert not (model / "loads.txt").exists()
