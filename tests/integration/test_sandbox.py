"""Loading untrusted models for real: --trust-model past the load gate, and --sandbox.

The sandbox tests are skipped, with the reason, where neither bwrap nor unshare works.
"""

from __future__ import annotations

import os
import platform
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from envrun.errors import SandboxUnavailable
from envrun.run.sandbox import find_sandbox
from tests.helpers import INPUTS, make_model, make_unsafe_model
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

PY = platform.python_version()
INPUT = INPUTS / "localwheel.json"


def _no_sandbox() -> str:
    try:
        find_sandbox()
    except SandboxUnavailable as exc:
        return f"no sandbox tool works here: {exc.value}"
    return ""


needs_sandbox = pytest.mark.skipif(bool(_no_sandbox()), reason=_no_sandbox() or "-")


def test_a_trusted_dangerous_model_is_loaded(tmp_path: Path, shared_cache: Path) -> None:
    model = make_unsafe_model(tmp_path / "unsafe", python_version=PY)
    refused = run_envrun("predict", model, INPUT, cache_dir=shared_cache)
    assert refused.returncode == 2, refused.stderr
    trusted = run_envrun("predict", "--trust-model", model, INPUT, cache_dir=shared_cache)
    # Past the gate, the model's own loader ran (and refused to unpickle anything).
    assert trusted.returncode == 4, trusted.stderr
    assert "this test model never unpickles python_model.pkl" in trusted.stderr


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel completes them from the backlog)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def _model_that_reaches_out(root: Path, port: int) -> Path:
    return make_model(
        root,
        env=None,
        python_version=PY,
        loader_source=f"""
        import os, socket

        class M:
            def __init__(self, path):
                self.path = path

            def predict(self, model_input, params=None):
                said = []
                try:
                    socket.create_connection(("127.0.0.1", {port}), timeout=5).close()
                    said.append("connected")
                except OSError as exc:
                    said.append("no connection: " + str(exc))
                try:
                    open(os.path.join(self.path, "written.txt"), "w").close()
                    said.append("written")
                except OSError as exc:
                    said.append("not written: " + str(exc))
                return said

        def _load_pyfunc(path):
            return M(path)
        """,
    )


def test_without_the_sandbox_the_model_reaches_the_network_and_its_dir(
    tmp_path: Path, shared_cache: Path, listener: int
) -> None:
    model = _model_that_reaches_out(tmp_path / "m", listener)
    result = run_envrun("predict", model, INPUT, cache_dir=shared_cache)
    assert result.returncode == 0, result.stderr
    assert result.json()["predictions"] == ["connected", "written"]


@needs_sandbox
def test_the_sandbox_takes_the_network_and_the_model_dir_away(
    tmp_path: Path, shared_cache: Path, listener: int
) -> None:
    model = _model_that_reaches_out(tmp_path / "m", listener)
    result = run_envrun("predict", "--sandbox", model, INPUT, cache_dir=shared_cache)
    assert result.returncode == 0, result.stderr
    connection, written = result.json()["predictions"]
    assert connection.startswith("no connection: ")
    assert written.startswith("not written: ") and "Read-only file system" in written
    assert not (model / "written.txt").exists()
    assert sorted(os.listdir(model)) == ["MLmodel", "code"]  # nothing written there


@needs_sandbox
def test_check_runs_its_env_side_in_the_sandbox(
    tmp_path: Path, shared_cache: Path, listener: int
) -> None:
    model = _model_that_reaches_out(tmp_path / "m", listener)
    result = run_envrun(
        "check", "--sandbox", "--no-host", "--json", model, INPUT, cache_dir=shared_cache
    )
    doc = result.json()
    assert doc["sides"]["env"]["status"] == "ok", result.stderr
    assert not (model / "written.txt").exists()
