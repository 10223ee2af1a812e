"""The worker package's own rules, held by tools: Python 3.8 syntax, stdlib and relative imports
only, and a runner that exposes the package alone inside the model's env."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from envrun.run.bridge import RUNNER
from envrun.run.worker import protocol

WORKER_DIR = RUNNER.parent / "worker"
CHECKED = [*sorted(WORKER_DIR.glob("*.py")), RUNNER]


def _python38() -> str | None:
    """A real Python 3.8, if this machine has one (pyenv or PATH; shims that fail are skipped)."""
    pyenv = sorted(str(p) for p in Path.home().glob(".pyenv/versions/3.8*/bin/python3.8"))
    for candidate in [*pyenv, shutil.which("python3.8")]:
        if candidate is None:
            continue
        probe = subprocess.run(
            [candidate, "-I", "-c", "import sys; print(sys.version_info[:2] == (3, 8))"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.stdout.strip() == "True":
            return candidate
    return None


PYTHON38 = _python38()
needs_python38 = pytest.mark.skipif(PYTHON38 is None, reason="no Python 3.8 on this machine")


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.name)
def test_parses_as_python_3_8(path: Path) -> None:
    ast.parse(path.read_text(encoding="utf-8"), str(path), feature_version=(3, 8))


@pytest.mark.parametrize("path", CHECKED, ids=lambda p: p.name)
def test_imports_only_the_standard_library_or_siblings(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    outside = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0:
                assert path != RUNNER, "the runner is run by path and cannot import relatively"
                continue
            names = [node.module or ""]
        else:
            continue
        outside += [n for n in names if n.split(".")[0] not in sys.stdlib_module_names]
    # __future__ is in stdlib_module_names; envrun, numpy and pandas are not.
    assert outside == [], f"{path.name} imports {outside}"


def test_module_level_code_never_imports_numpy_or_pandas() -> None:
    """A model env without numpy must still run the worker (JSON in, plain values out)."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import importlib; [importlib.import_module('worker.' + m) for m in sys.argv[2:]];"
        "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))"
    )
    modules = [p.stem for p in WORKER_DIR.glob("*.py") if p.stem != "__init__"]
    out = subprocess.run(
        [sys.executable, "-I", "-B", "-c", script, str(WORKER_DIR.parent), *modules],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.strip() == "[]"


SHADOWS = ("inputs", "protocol", "values", "bridge", "request", "encoding", "_runner", "worker")
# Worker and envrun modules the model does not ship: none may be importable under these names.
ABSENT = ("failure", "oneshot", "loading", "signature", "persistent", "pool", "api", "run")


def _shadowing_model(root: Path) -> tuple[Path, Path]:
    """A model whose code/ has modules named like envrun's and the worker's; returns (dir, ctl)."""
    model = root / "model"
    code = model / "code"
    code.mkdir(parents=True)
    for name in SHADOWS:
        (code / f"{name}.py").write_text(f"ORIGIN = 'model:{name}'\n")
    (code / "shadow_loader.py").write_text(
        textwrap.dedent(
            f"""
            import importlib, importlib.util, sys

            class Model:
                def predict(self, data):
                    found = {{n: importlib.import_module(n).ORIGIN for n in {SHADOWS!r}}}
                    worker = sys.modules.get("_envrun_worker")
                    return {{
                        "found": found,
                        "envrun": importlib.util.find_spec("envrun") is not None,
                        "absent": [n for n in {ABSENT!r} if importlib.util.find_spec(n)],
                        "worker_path": list(getattr(worker, "__path__", [])),
                        "data": data,
                    }}

            def _load_pyfunc(path):
                return Model()
            """
        )
    )
    ctl = root / "ctl"
    ctl.mkdir()
    (ctl / "input.json").write_text(json.dumps({"inputs": [[1, 2]]}))
    request = {
        "protocol": protocol.PROTOCOL,
        "model": {"dir": str(model), "loader_module": "shadow_loader", "code": "code"},
        "signature": None,
        "input": {"path": str(ctl / "input.json"), "format": "json"},
        "params": None,
    }
    (ctl / protocol.REQUEST_FILE).write_text(json.dumps(request))
    return model, ctl


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _run_shadowing_model(python: str, tmp_path: Path) -> None:
    model, ctl = _shadowing_model(tmp_path)
    before = _listing(model)
    result = subprocess.run(
        [python, "-I", "-B", str(RUNNER), "oneshot", str(ctl)],
        capture_output=True,
        text=True,
        check=False,
    )
    response = json.loads((ctl / protocol.RESPONSE_FILE).read_text())
    assert result.returncode == 0, response["error"]
    text = json.loads((ctl / protocol.PREDICTIONS_FILE).read_text())["predictions"]
    assert text["found"] == {name: f"model:{name}" for name in SHADOWS}
    assert text["envrun"] is False
    assert text["absent"] == []
    assert text["worker_path"] == [str(WORKER_DIR)]
    assert text["data"] == [[1, 2]]
    assert _listing(model) == before, "the worker wrote into the model directory"


def test_model_modules_named_like_envrun_modules_import_the_models_own(tmp_path: Path) -> None:
    # The base interpreter: no envrun installed, as in a model's env.
    _run_shadowing_model(getattr(sys, "_base_executable", sys.executable), tmp_path)


@needs_python38
def test_the_worker_runs_on_python_3_8(tmp_path: Path) -> None:
    assert PYTHON38 is not None
    _run_shadowing_model(PYTHON38, tmp_path)


def test_runner_refuses_unknown_entries() -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-B", str(RUNNER), "bridge"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_frames_round_trip_with_binary_attachments() -> None:
    blobs = [("a.npy", b"\x00\x01" * 10), ("empty", b""), ("text", "é".encode())]
    data = protocol.encode_frame(protocol.KIND_RESULT, {"id": 3, "x": [1.5]}, blobs)
    remaining, kind = protocol.frame_length(data[: protocol.PREFIX_SIZE])
    body = data[protocol.PREFIX_SIZE :]
    assert remaining == len(body)
    kind, header, got = protocol.decode_body(kind, body)
    assert kind == protocol.KIND_RESULT
    assert header["id"] == 3 and header["x"] == [1.5]
    assert got == dict(blobs)


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\x00\x00\x05{}", b"\x00\x00\x00\x02[]", b'\x00\x00\x00\x0c{"blobs":[1]}'],
)
def test_malformed_frames_are_refused(body: bytes) -> None:
    with pytest.raises(protocol.FrameError):
        protocol.decode_body(protocol.KIND_RESULT, body)
