"""A torch model whose pickle places its tensors on cuda:0 loads on this CPU-only host."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.helpers import MODELS, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

# The loader imports torch at module level (torch is there before the load) or, as many
# flavors do, inside _load_pyfunc (torch is imported during the load).
EAGER = """
import os

import torch


def _load_pyfunc(path):
    return Scale(torch.load(os.path.join(path, "weights.pt")))
"""
LAZY = """
import os


def _load_pyfunc(path):
    import torch

    return Scale(torch.load(os.path.join(path, "weights.pt")))
"""
SCALE = """

class Scale:
    def __init__(self, weights):
        self.weights = weights

    def predict(self, data, params=None):
        import torch

        return (torch.as_tensor(data, dtype=torch.float64) * self.weights).numpy()
"""
SAVE = (
    "import sys, torch; torch.save(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), sys.argv[1])"
)
PLAIN_LOAD = "import sys, torch; torch.load(sys.argv[1])"


def _as_if_saved_on_cuda(path: Path) -> None:
    """Rewrite the storage location in the archive's data.pkl from cpu to cuda:0.

    The location is the pickled string in each storage's persistent id; a CUDA save records
    "cuda:0" there. BINUNICODE is an opcode, a 4-byte little-endian length and the UTF-8 text.
    """
    with zipfile.ZipFile(path) as archive:
        entries = [(info, archive.read(info)) for info in archive.infolist()]
    cpu, cuda = b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for info, data in entries:
            if info.filename.endswith("/data.pkl"):
                assert data.count(cpu) == 1, data
            archive.writestr(info.filename, data.replace(cpu, cuda))


def test_cuda_saved_tensors_load_on_the_cpu(tmp_path: Path, shared_cache: Path) -> None:
    model = tmp_path / "model"
    for name in ("MLmodel", "python_env.yaml", "requirements.txt", "conda.yaml"):
        write(model / name, (MODELS / "torch_custom" / name).read_text())
    mlmodel = (model / "MLmodel").read_text()
    (model / "MLmodel").write_text(_pyfunc_only(mlmodel))
    (model / "data").mkdir()
    write(model / "code" / "cuda_loader.py", EAGER + SCALE)
    env = run_envrun("env", "path", model, cache_dir=shared_cache)
    assert env.returncode == 0, env.stderr
    python = Path(env.stdout.strip()) / "bin" / "python"
    weights = model / "data" / "weights.pt"
    subprocess.run([python, "-c", SAVE, weights], check=True)
    _as_if_saved_on_cuda(weights)

    plain = subprocess.run(
        [python, "-c", PLAIN_LOAD, weights], capture_output=True, text=True, check=False
    )
    assert plain.returncode != 0
    assert "Attempting to deserialize object on a CUDA device" in plain.stderr

    for device, loader in (("auto", EAGER), ("auto", LAZY), ("cpu", LAZY)):
        write(model / "code" / "cuda_loader.py", loader + SCALE)
        result = run_envrun(
            "predict", model, "-", "--device", device, cache_dir=shared_cache,
            stdin=b'{"inputs": [2.0, 2.0, 2.0]}',
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"predictions": [2.0, 4.0, 6.0]}
        assert "torch tensors are loaded onto the CPU" in result.stderr
        reason = "this host has no CUDA" if device == "auto" else "--device cpu"
        assert reason in result.stderr


def _pyfunc_only(mlmodel: str) -> str:
    """torch_custom's MLmodel with the loader swapped for cuda_loader and no examples."""
    lines = []
    skip = ("saved_input_example_info:", "  artifact_path:", "  serving_input_path:", "  type:")
    for line in mlmodel.splitlines():
        if line.startswith(skip):
            continue
        head, found, _ = line.partition("loader_module:")
        lines.append(f"{head}loader_module: cuda_loader" if found else line)
    return "\n".join(lines) + "\n"
