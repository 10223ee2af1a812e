from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import pytest

from envrun.env.interpreters import find_interpreter
from envrun.errors import InterpreterNotFound


def _fake_python(path: Path, version: str) -> Path:
    """A stand-in interpreter: a script answering envrun's probe with a fixed version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    answer = json.dumps(
        {
            "version": version,
            "implementation": "cpython",
            "platform": "linux-x86_64",
            "executable": str(path),
        }
    )
    path.write_text(f"#!/bin/sh\necho '{answer}'\n")
    path.chmod(0o755)
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "PYENV_ROOT": str(tmp_path / "pyenv"),
        "UV_PYTHON_INSTALL_DIR": str(tmp_path / "uvpy"),
        "PATH": str(tmp_path / "bin"),
    }


def test_current_interpreter_matches_exactly(tmp_path: Path) -> None:
    version = platform.python_version()
    match = find_interpreter(
        version, explicit=None, cache_file=tmp_path / "c.json", environ=_env(tmp_path)
    )
    assert match.interpreter.version == version
    assert match.interpreter.origin == "current interpreter"
    assert match.warning is None


def test_exact_version_from_pyenv(tmp_path: Path) -> None:
    _fake_python(tmp_path / "pyenv" / "versions" / "3.7.99" / "bin" / "python3.7", "3.7.99")
    match = find_interpreter(
        "3.7.99", explicit=None, cache_file=tmp_path / "c.json", environ=_env(tmp_path)
    )
    assert match.interpreter.origin == "pyenv"
    assert match.interpreter.version == "3.7.99"
    assert match.warning is None


def test_uv_managed_and_path(tmp_path: Path) -> None:
    _fake_python(
        tmp_path / "uvpy" / "cpython-3.6.98-linux-x86_64-gnu" / "bin" / "python3.6", "3.6.98"
    )
    _fake_python(tmp_path / "bin" / "python3.5", "3.5.97")
    env = _env(tmp_path)
    assert (
        find_interpreter(
            "3.6", explicit=None, cache_file=tmp_path / "c.json", environ=env
        ).interpreter.origin
        == "uv-managed"
    )
    assert (
        find_interpreter(
            "3.5.97", explicit=None, cache_file=tmp_path / "c.json", environ=env
        ).interpreter.origin
        == "PATH"
    )


def test_same_minor_with_warning(tmp_path: Path) -> None:
    _fake_python(tmp_path / "pyenv" / "versions" / "3.7.1" / "bin" / "python3.7", "3.7.1")
    _fake_python(tmp_path / "pyenv" / "versions" / "3.7.5" / "bin" / "python3.7", "3.7.5")
    match = find_interpreter(
        "3.7.99", explicit=None, cache_file=tmp_path / "c.json", environ=_env(tmp_path)
    )
    assert match.interpreter.version == "3.7.5"
    assert match.warning is not None
    assert "3.7.99 is not installed" in match.warning


def test_none_found_lists_what_was_seen(tmp_path: Path) -> None:
    _fake_python(tmp_path / "bin" / "python3.5", "3.5.97")
    with pytest.raises(InterpreterNotFound) as err:
        find_interpreter(
            "3.4.1", explicit=None, cache_file=tmp_path / "c.json", environ=_env(tmp_path)
        )
    text = str(err.value)
    assert "3.5.97" in text
    assert "--python" in text
    assert "uv python install 3.4.1" in text


def test_shims_are_skipped(tmp_path: Path) -> None:
    _fake_python(tmp_path / "shims" / "python3.4", "3.4.1")
    env = _env(tmp_path) | {"PATH": str(tmp_path / "shims")}
    with pytest.raises(InterpreterNotFound):
        find_interpreter("3.4.1", explicit=None, cache_file=tmp_path / "c.json", environ=env)


def test_explicit_python_wins_with_warning(tmp_path: Path) -> None:
    match = find_interpreter(
        "3.4.1", explicit=Path(sys.executable), cache_file=tmp_path / "c.json", environ={}
    )
    assert match.interpreter.origin == "--python"
    assert match.warning is not None
    assert "3.4.1" in match.warning


def test_explicit_python_that_does_not_run(tmp_path: Path) -> None:
    with pytest.raises(InterpreterNotFound, match="does not run"):
        find_interpreter(
            "3.11", explicit=tmp_path / "nope", cache_file=tmp_path / "c.json", environ={}
        )


def test_probe_results_are_cached_by_path_size_and_mtime(tmp_path: Path) -> None:
    fake = _fake_python(tmp_path / "bin" / "python3.5", "3.5.97")
    cache = tmp_path / "c.json"
    env = _env(tmp_path)
    find_interpreter("3.5.97", explicit=None, cache_file=cache, environ=env)
    data = json.loads(cache.read_text())
    (key,) = [k for k in data if k.startswith(str(fake))]
    data[key]["version"] = "3.5.96"  # a cached answer is trusted while the file is unchanged
    cache.write_text(json.dumps(data))
    assert (
        find_interpreter("3.5", explicit=None, cache_file=cache, environ=env).interpreter.version
        == "3.5.96"
    )
    _fake_python(fake, "3.5.95")  # rewritten: size/mtime change, so it is probed again
    assert (
        find_interpreter("3.5", explicit=None, cache_file=cache, environ=env).interpreter.version
        == "3.5.95"
    )
