"""The cache: reuse, invalidation, failed and killed builds, concurrency, odd paths."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.helpers import INPUTS, ROOT, copy_model, tree_snapshot, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

INPUT = INPUTS / "localwheel.json"
EXPECTED = [3.0, 4.0, -6.5, 0.0, 20.0]


def _envs(cache: Path) -> list[Path]:
    root = cache / "envs"
    return sorted(p for p in root.iterdir() if not p.name.startswith(".")) if root.exists() else []


def test_second_call_builds_nothing(tmp_path: Path, cache: Path) -> None:
    model = copy_model("localwheel", tmp_path / "model")
    first = run_envrun("predict", model, INPUT, "--json", cache_dir=cache)
    assert first.returncode == 0, first.stderr
    assert first.json()["env"]["cache"] == "miss"
    state = Path(first.json()["env"]["path"]) / ".envrun-state.json"
    before = state.stat().st_mtime_ns
    second = run_envrun("predict", model, INPUT, "--json", cache_dir=cache)
    assert second.json()["env"]["cache"] == "hit"
    assert second.json()["predictions"] == EXPECTED
    assert state.stat().st_mtime_ns == before
    assert len(list((cache / "logs").iterdir())) == 1


def test_editing_an_included_file_gives_a_new_env(tmp_path: Path, cache: Path) -> None:
    model = copy_model("localwheel", tmp_path / "model")
    first = run_envrun("predict", model, INPUT, "--json", cache_dir=cache).json()
    with (model / "base.txt").open("a") as fh:
        fh.write("# a new line in an included file\n")
    second = run_envrun("predict", model, INPUT, "--json", cache_dir=cache).json()
    assert second["env"]["cache"] == "miss"
    assert second["env"]["fingerprint"] != first["env"]["fingerprint"]
    assert len(_envs(cache)) == 2


def test_moved_model_reuses_its_env(tmp_path: Path, cache: Path) -> None:
    a = copy_model("localwheel", tmp_path / "a")
    b = copy_model("localwheel", tmp_path / "b")
    first = run_envrun("predict", a, INPUT, "--json", cache_dir=cache).json()
    second = run_envrun("predict", b, INPUT, "--json", cache_dir=cache).json()
    assert second["env"]["cache"] == "hit"
    assert second["env"]["path"] == first["env"]["path"]


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_nonexistent_pin_is_a_clear_error_and_leaves_no_env(
    tmp_path: Path, cache: Path, installer: str
) -> None:
    model = copy_model("localwheel", tmp_path / "model")
    with (model / "requirements.txt").open("a") as fh:
        fh.write("\npackaging==0.0.424242\n")
    result = run_envrun("predict", model, INPUT, "--installer", installer, cache_dir=cache)
    assert result.returncode == 2, result.stderr
    assert "could not resolve the model's requirements" in result.stderr
    assert "packaging" in result.stderr
    assert "full log:" in result.stderr
    assert "Traceback" not in result.stderr
    assert _envs(cache) == []


def _slow_sdist(directory: Path) -> Path:
    """A source distribution whose build blocks while the file named by ENVRUN_TEST_SLOW_BUILD exists."""
    src = directory / "slowpkg-1.0"
    write(src / "slowpkg.py", "VALUE = 1\n")
    write(
        src / "setup.py",
        """
        import os, pathlib, time
        flag = os.environ.get("ENVRUN_TEST_SLOW_BUILD")
        if flag:
            pathlib.Path(flag).write_text("building")
            deadline = time.monotonic() + 300
            while pathlib.Path(flag).exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        from setuptools import setup
        setup(name="slowpkg", version="1.0", py_modules=["slowpkg"])
        """,
    )
    write(src / "PKG-INFO", "Metadata-Version: 2.1\nName: slowpkg\nVersion: 1.0\n")
    archive = directory / "slowpkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src, arcname="slowpkg-1.0")
    return archive


def _start_slow_build(model: Path, flag: Path, cache: Path) -> subprocess.Popen[bytes]:
    """Start a predict whose build blocks in the slow sdist until `flag` is removed."""
    archive = _slow_sdist(model / "wheels")
    with (model / "requirements.txt").open("a") as fh:
        fh.write(f"\n./wheels/{archive.name}\n")
    env = dict(os.environ, ENVRUN_CACHE_DIR=str(cache), ENVRUN_TEST_SLOW_BUILD=str(flag))
    proc = subprocess.Popen(
        [sys.executable, "-m", "envrun", "predict", str(model), str(INPUT)],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not flag.exists():
        assert proc.poll() is None, "the build ended before it could be stopped"
        assert time.monotonic() < deadline, "the slow build never started"
        time.sleep(0.1)
    return proc


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(args)
    return found


def test_build_killed_with_sigkill_is_rebuilt(tmp_path: Path, cache: Path) -> None:
    model = copy_model("localwheel", tmp_path / "model")
    flag = tmp_path / "building.flag"
    victim = _start_slow_build(model, flag, cache)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=60)
    flag.unlink()
    (half_built,) = _envs(cache)
    assert not (half_built / ".envrun-state.json").exists()

    again = run_envrun("predict", model, INPUT, "--json", cache_dir=cache)
    assert again.returncode == 0, again.stderr
    assert "rebuilding env: a previous build did not finish" in again.stderr
    assert again.json()["predictions"] == EXPECTED
    assert (half_built / ".envrun-state.json").exists()


def test_sigterm_stops_the_installer_and_removes_the_half_built_env(
    tmp_path: Path, cache: Path
) -> None:
    model = copy_model("localwheel", tmp_path / "model")
    flag = tmp_path / "building.flag"
    victim = _start_slow_build(model, flag, cache)
    try:
        victim.send_signal(signal.SIGTERM)  # to envrun alone, not its process group
        _, err = victim.communicate(timeout=60)
    finally:
        flag.unlink()
    assert victim.returncode == 143, err.decode()
    assert "envrun: terminated" in err.decode()
    assert "Traceback" not in err.decode()
    assert _envs(cache) == []
    assert _processes_mentioning(str(cache / "envs")) == []  # the installer did not outlive envrun


def test_four_concurrent_predicts_on_a_cold_cache_build_once(tmp_path: Path, cache: Path) -> None:
    model = copy_model("localwheel", tmp_path / "model")
    env = dict(os.environ, ENVRUN_CACHE_DIR=str(cache))
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "envrun", "predict", str(model), str(INPUT)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [r[1].decode() for r in results]
    assert all(json.loads(out) == {"predictions": EXPECTED} for out, _ in results)
    assert sum("building env" in err.decode() for _, err in results) == 1
    assert len(_envs(cache)) == 1
    assert len(list((cache / "logs").iterdir())) == 1


def test_read_only_model_dir_is_left_untouched(tmp_path: Path, cache: Path) -> None:
    model = copy_model("localwheel", tmp_path / "model")
    for path in [model, *model.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = tree_snapshot(model)
    try:
        result = run_envrun("predict", model, INPUT, cache_dir=cache)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == {"predictions": EXPECTED}
        assert tree_snapshot(model) == before
    finally:
        for path in [model, *model.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_paths_with_spaces_and_shell_metacharacters(tmp_path: Path) -> None:
    odd = tmp_path / "dir with spaces $(touch pwned) ; & 'quotes' \"dq\" `tick`"
    model = copy_model("localwheel", odd / "my model;|&")
    data = odd / "in put $HOME;.json"
    data.write_bytes(INPUT.read_bytes())
    cache = odd / "cache dir $x"
    result = run_envrun("predict", model, data, cache_dir=cache, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"predictions": EXPECTED}
    assert not (tmp_path / "pwned").exists()
    assert not (ROOT / "pwned").exists()


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_hash_checked_requirements(tmp_path: Path, cache: Path, installer: str) -> None:
    import hashlib

    model = copy_model("localwheel", tmp_path / "model")
    wheel = "wheels/envrun_fixture_pkg-1.0.0-py3-none-any.whl"
    digest = hashlib.sha256((model / wheel).read_bytes()).hexdigest()
    reqs = model / "requirements.txt"
    reqs.write_text(f"-r base.txt\n-c constraints.txt\n./{wheel} \\\n    --hash=sha256:{digest}\n")
    good = run_envrun("predict", model, INPUT, "--installer", installer, cache_dir=cache)
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout) == {"predictions": EXPECTED}

    wrong = "0" * 64
    reqs.write_text(f"-r base.txt\n-c constraints.txt\n./{wheel} --hash=sha256:{wrong}\n")
    bad = run_envrun("predict", model, INPUT, "--installer", installer, cache_dir=cache)
    assert bad.returncode == 2, bad.stderr
    assert "hash does not match" in bad.stderr
    assert digest in bad.stderr  # the installer's own lines name the hash it computed
    assert len(_envs(cache)) == 1  # only the good env; the failed one left nothing
