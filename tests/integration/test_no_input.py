"""Models without an input: `check` with a synthetic input, `check --load-only`, diagnoses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import copy_model, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

TENSOR_SIGNATURE = (
    "signature:\n"
    "  inputs: '"
    + json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}])
    + "'\n  outputs: null\n  params: null\n"
)
ABI_LOADER = """
def _load_pyfunc(path):
    raise ValueError(
        "numpy.dtype size changed, may indicate binary incompatibility. "
        "Expected 96 from C header, got 88 from PyObject"
    )
"""


def _without_examples(tmp_path: Path, signature: str = "") -> Path:
    """numpy_custom (numpy==2.2.6) with its examples removed, and optionally a signature."""
    model = copy_model("numpy_custom", tmp_path / "model")
    (model / "input_example.json").unlink()
    (model / "serving_input_example.json").unlink()
    lines = (model / "MLmodel").read_text().splitlines(keepends=True)
    skip = {"saved_input_example_info:", "  artifact_path:", "  serving_input_path:", "  type:"}
    kept = [ln for ln in lines if not any(ln.startswith(s) for s in skip)]
    (model / "MLmodel").write_text("".join(kept) + signature)
    return model


def test_check_without_example_uses_a_synthetic_input(tmp_path: Path, shared_cache: Path) -> None:
    model = _without_examples(tmp_path, TENSOR_SIGNATURE)
    result = run_envrun("check", model, "--json", cache_dir=shared_cache)
    doc = json.loads(result.stdout)
    assert result.returncode == 0, result.stderr
    assert doc["inputs"][0]["origin"] == "synthetic, from the signature"
    assert doc["verdict"]["status"] == "reproduced"
    assert doc["sides"]["env"]["env"]["as_of"].startswith("resolved as of 2025-01-01 00:00 UTC")
    shown = run_envrun("check", model, cache_dir=shared_cache)
    assert "input: synthetic, from the signature (synthetic_input.json)" in shown.stdout


def test_load_only_smoke_tests_a_model_with_no_input_at_all(
    tmp_path: Path, shared_cache: Path
) -> None:
    model = _without_examples(tmp_path)
    refused = run_envrun("check", model, cache_dir=shared_cache)
    assert refused.returncode == 2
    assert "--load-only" in refused.stderr
    result = run_envrun("check", model, "--load-only", "--json", cache_dir=shared_cache)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["verdict"]["status"] == "loaded"
    assert list(doc["sides"]) == ["env"]
    assert doc["sides"]["env"]["timings"]["load"] > 0


def test_load_only_failure_exits_4_with_its_diagnosis(tmp_path: Path, shared_cache: Path) -> None:
    model = _without_examples(tmp_path)
    write(model / "code" / "numpy_linear.py", ABI_LOADER)
    result = run_envrun("check", model, "--load-only", "--json", cache_dir=shared_cache)
    assert result.returncode == 4, result.stderr
    error = json.loads(result.stdout)["sides"]["env"]["error"]
    assert error["stage"] == "load"
    assert (
        "likely cause: a compiled package was built against another major version of numpy"
        in (error["diagnosis"])
    )
    shown = run_envrun(
        "predict", model, "-", cache_dir=shared_cache, stdin=b'{"inputs": [[1, 2, 3]]}'
    )
    assert shown.returncode == 4
    assert "likely cause:" in shown.stderr and "--as-of" in shown.stderr
