"""`envrun cache` on real envs: sizes against du, prune and --rebuild while predicts run, gc of
killed and running builds."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import INPUTS, ROOT, copy_model
from tests.integration.conftest import run_envrun
from tests.integration.test_cache import _start_slow_build

pytestmark = pytest.mark.integration

INPUT = INPUTS / "localwheel.json"
EXPECTED = [3.0, 4.0, -6.5, 0.0, 20.0]

# The model's predict announces itself, then waits for the test to open the gate: "running"
# is then a fact the test can wait for, not a guess about timing.
GATED = """
import os, time
from envrun_fixture_pkg import double


class Doubler:
    def predict(self, model_input, params=None):
        gate = os.environ["ENVRUN_TEST_GATE"]
        open(f"{gate}.started-{os.getpid()}", "w").close()
        deadline = time.monotonic() + 300
        while not os.path.exists(gate) and time.monotonic() < deadline:
            time.sleep(0.05)
        return [double(x) for x in model_input]


def _load_pyfunc(data_path):
    return Doubler()
"""


def _gated_model(tmp_path: Path, env: dict[str, str]) -> Path:
    """The gated model with its env built (gate open), the gate then closed again."""
    model = copy_model("localwheel", tmp_path / "model")
    (model / "code" / "double_model.py").write_text(GATED, encoding="utf-8")
    gate = Path(env["ENVRUN_TEST_GATE"])
    gate.touch()
    warm = _envrun(env, "predict", model, INPUT)
    assert warm.returncode == 0, warm.stderr
    gate.unlink()
    for started in gate.parent.glob(f"{gate.name}.started-*"):
        started.unlink()
    return model


@pytest.fixture
def reaper() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test started; any still running when it ends (a failure) are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def _env(cache: Path, uv_cache: Path, gate: Path) -> dict[str, str]:
    env = dict(os.environ, ENVRUN_CACHE_DIR=str(cache), UV_CACHE_DIR=str(uv_cache))
    env["ENVRUN_TEST_GATE"] = str(gate)
    env.pop("ENVRUN_INSTALLER", None)
    return env


def _envrun(env: dict[str, str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envrun", *map(str, args)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _start(
    env: dict[str, str], *args: str | Path, stderr: Path | None = None
) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "envrun", *map(str, args)]
    if stderr is None:
        return subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
    with stderr.open("w") as err:  # the child has its own copy of the file
        return subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True
        )


def _wait_for(what: str, condition: object) -> None:
    deadline = time.monotonic() + 300
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.05)


def _listing(env: dict[str, str]) -> dict[str, object]:
    result = _envrun(env, "cache", "list", "--json")
    assert result.returncode == 0, result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def _du(*paths: Path) -> list[int]:
    out = subprocess.run(
        ["du", "-sb", *map(str, paths)], capture_output=True, text=True, check=True
    )
    return [int(line.split()[0]) for line in out.stdout.splitlines()]


def test_sizes_agree_with_du_on_an_env_uv_hardlinked(tmp_path: Path) -> None:
    # uv's cache beside envrun's (one filesystem), so uv hardlinks from it, as it does at home.
    env = _env(tmp_path / "cache", tmp_path / "uv-cache", tmp_path / "gate")
    built = _envrun(env, "predict", copy_model("localwheel", tmp_path / "m"), INPUT, "--json")
    assert built.returncode == 0, built.stderr
    doc = _listing(env)
    assert doc["schema"] == "envrun.cache/1"
    (entry,) = doc["envs"]  # type: ignore[misc]
    (uv_cache,) = doc["installer_caches"]  # type: ignore[misc]
    assert Path(uv_cache["path"]) == tmp_path / "uv-cache"  # asked of uv, which got UV_CACHE_DIR
    size, path = entry["size"], Path(entry["path"])
    assert size["shared_installer_cache_bytes"] > 0, "uv linked nothing from its cache"
    assert size["total_bytes"] == _du(path)[0]
    assert (
        size["unique_bytes"] + size["shared_installer_cache_bytes"] + size["shared_other_bytes"]
        == size["total_bytes"]
    )
    # du over uv's cache, then the env, counts each shared file once: in uv's cache.
    cache_du, env_du = _du(Path(uv_cache["path"]), path)
    assert env_du == size["total_bytes"] - size["shared_installer_cache_bytes"]
    assert uv_cache["bytes"] == cache_du
    totals = json.loads(_envrun(env, "cache", "size", "--json").stdout)
    envs_dir = tmp_path / "cache" / "envs"
    assert totals["envs"]["with_installer_caches_bytes"] == sum(
        _du(Path(uv_cache["path"]), envs_dir)
    )
    assert totals["envs"]["total_bytes"] == _du(envs_dir)[0]


def test_prune_during_four_running_predicts_fails_none(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    gate = tmp_path / "gate"
    env = _env(tmp_path / "cache", tmp_path / "uv-cache", gate)
    model = _gated_model(tmp_path, env)
    procs = [_start(env, "predict", model, INPUT) for _ in range(4)]
    reaper.extend(procs)
    _wait_for("four predicts running", lambda: len(list(tmp_path.glob("gate.started-*"))) == 4)
    assert [e["status"] for e in _listing(env)["envs"]] == ["in use"]  # type: ignore[index,union-attr]
    pruned = _envrun(env, "cache", "prune", "--max-size", "0", "--json")
    assert pruned.returncode == 0, pruned.stderr
    doc = json.loads(pruned.stdout)
    assert doc["removed"] == [] and [s["reason"] for s in doc["skipped"]] == ["in use"]
    gate.touch()
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], [err for _, err in results]
    assert all(json.loads(out) == {"predictions": EXPECTED} for out, _ in results)
    # Nobody uses it now: the same prune removes it.
    again = json.loads(_envrun(env, "cache", "prune", "--max-size", "0", "--json").stdout)
    assert len(again["removed"]) == 1 and again["freed_bytes"] > 0
    assert _listing(env)["envs"] == []


def test_rebuild_waits_for_a_running_predict(
    tmp_path: Path, reaper: list[subprocess.Popen[str]]
) -> None:
    gate = tmp_path / "gate"
    env = _env(tmp_path / "cache", tmp_path / "uv-cache", gate)
    model = _gated_model(tmp_path, env)
    running = _start(env, "predict", model, INPUT)
    reaper.append(running)
    _wait_for("the predict running", lambda: any(tmp_path.glob("gate.started-*")))
    log = tmp_path / "rebuild.err"
    rebuild = _start(env, "env", "path", model, "--rebuild", stderr=log)
    reaper.append(rebuild)
    _wait_for("the rebuild waiting", lambda: "using this env to finish" in log.read_text())
    (entry,) = _listing(env)["envs"]  # type: ignore[misc]
    assert entry["status"] == "in use"
    state = Path(entry["path"]) / ".envrun-state.json"
    assert json.loads(state.read_text())["build_reason"] != "--rebuild requested"
    gate.touch()
    out, err = running.communicate(timeout=600)
    assert running.returncode == 0, err
    assert json.loads(out) == {"predictions": EXPECTED}
    rebuilt, _ = rebuild.communicate(timeout=600)
    assert rebuild.returncode == 0, log.read_text()
    assert rebuilt.strip() == entry["path"]
    assert json.loads(state.read_text())["build_reason"] == "--rebuild requested"


def test_gc_removes_a_killed_build_but_not_one_being_built(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    killed_model = copy_model("localwheel", tmp_path / "killed")
    killed_flag = tmp_path / "killed.flag"
    killed = _start_slow_build(killed_model, killed_flag, cache)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=60)
    killed_flag.unlink()
    (half_built,) = (p for p in (cache / "envs").iterdir() if not p.name.startswith("."))

    live_model = copy_model("localwheel", tmp_path / "live")
    (live_model / "base.txt").write_text("# another env\n")  # another fingerprint
    live_flag = tmp_path / "live.flag"
    live = _start_slow_build(live_model, live_flag, cache)
    try:
        building = [p for p in (cache / "envs").iterdir() if p not in (half_built,)]
        building = [p for p in building if not p.name.startswith(".")]
        result = run_envrun("cache", "gc", "--json", cache_dir=cache)
        assert result.returncode == 0, result.stderr
        items = {
            Path(i["path"]): i for i in result.json()["items"] if i["kind"] == "incomplete env"
        }
        assert items[half_built]["action"] == "removed"
        assert [items[p]["action"] for p in building] == ["kept"]
        assert not half_built.exists() and all(p.exists() for p in building)
    finally:
        # The sdist's build blocks in each of its setup.py runs while the flag exists.
        deadline = time.monotonic() + 600
        while live.poll() is None and time.monotonic() < deadline:
            live_flag.unlink(missing_ok=True)
            time.sleep(0.1)
    _, err = live.communicate(timeout=60)
    assert live.returncode == 0, err.decode()
    listing = run_envrun("cache", "list", "--json", cache_dir=cache).json()
    assert [e["status"] for e in listing["envs"]] == ["complete"]
