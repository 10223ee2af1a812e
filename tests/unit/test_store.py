from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from envrun.env.backends import InstallPlan
from envrun.env.interpreters import Interpreter
from envrun.env.layout import STATE_FILE, CacheLayout
from envrun.env.requirements import IndexOptions, ReqLine
from envrun.env.spec import EnvSpec
from envrun.env.store import ensure_env
from envrun.errors import CommandFailed, EnvBuildError, ResolutionError
from envrun.settings import Choice, Settings

INTERP = Interpreter(sys.executable, "3.11.7", "cpython", "linux-x86_64", "test")


class FakeBackend:
    """Stands in for the installer seam: makes a dir whose bin/python links to this Python."""

    name = "fake"

    def __init__(self, *, fail_with: CommandFailed | None = None, delay: float = 0.0) -> None:
        self.fail_with = fail_with
        self.delay = delay
        self.builds = 0

    def version(self) -> str:
        return "1"

    def create(
        self, env_dir: Path, python: str, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        self.builds += 1
        (env_dir / "bin").mkdir(parents=True)
        (env_dir / "bin" / "python").symlink_to(python)
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("created\n")

    def install(
        self, env_dir: Path, plan: InstallPlan, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        time.sleep(self.delay)
        (env_dir / "installed").write_text("x")
        if self.fail_with is not None:
            raise self.fail_with

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        return {"demo": "1.0"}


def _spec() -> EnvSpec:
    req = ReqLine("demo==1.0", "demo", (), "requirements.txt:1", None)
    return EnvSpec(
        "3.11.7", "python_env.yaml", (), (req,), (), IndexOptions(), (), "python_env.yaml"
    )


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", installer=Choice("uv", "default"), **kw)  # type: ignore[arg-type]


def _ensure(tmp_path: Path, backend: FakeBackend, **kw: object):  # type: ignore[no-untyped-def]
    return ensure_env(
        _spec(),
        fp="ab" * 32,
        interpreter=INTERP,
        backend=backend,  # type: ignore[arg-type]
        plan_index=IndexOptions(),
        installer_reason="default",
        settings=_settings(tmp_path, **kw),
    )


def test_build_then_hit(tmp_path: Path) -> None:
    backend = FakeBackend()
    first = _ensure(tmp_path, backend)
    assert first.built
    assert first.reason == "no env for this fingerprint yet"
    state = json.loads((first.path / STATE_FILE).read_text())
    assert state["fingerprint"] == "ab" * 32
    assert state["installed"] == {"demo": "1.0"}
    assert state["installer"]["reason"] == "default"
    second = _ensure(tmp_path, backend)
    assert not second.built
    assert second.reason == "cache hit"
    assert backend.builds == 1


def test_incomplete_env_is_rebuilt_with_reason(tmp_path: Path) -> None:
    backend = FakeBackend()
    env = _ensure(tmp_path, backend).path
    (env / STATE_FILE).unlink()
    again = _ensure(tmp_path, backend)
    assert again.built
    assert "did not finish" in again.reason
    assert backend.builds == 2


def test_missing_interpreter_is_rebuilt(tmp_path: Path) -> None:
    backend = FakeBackend()
    env = _ensure(tmp_path, backend).path
    (env / "bin" / "python").unlink()
    (env / "bin" / "python").symlink_to(tmp_path / "gone-python")
    again = _ensure(tmp_path, backend)
    assert again.built
    assert "interpreter no longer exists" in again.reason


def test_corrupt_marker_is_rebuilt(tmp_path: Path) -> None:
    backend = FakeBackend()
    env = _ensure(tmp_path, backend).path
    (env / STATE_FILE).write_text("{not json")
    again = _ensure(tmp_path, backend)
    assert again.built
    assert "unreadable" in again.reason


def test_rebuild_flag(tmp_path: Path) -> None:
    backend = FakeBackend()
    _ensure(tmp_path, backend)
    again = _ensure(tmp_path, backend, rebuild=True)
    assert again.built
    assert again.reason == "--rebuild requested"


def test_failed_install_leaves_nothing(tmp_path: Path) -> None:
    failure = CommandFailed(["uv", "pip", "install"], 1, "", "error: something broke\n")
    with pytest.raises(EnvBuildError) as err:
        _ensure(tmp_path, FakeBackend(fail_with=failure))
    assert not CacheLayout(tmp_path / "cache").env_dir("ab" * 32).exists()
    assert err.value.log_path is not None
    assert Path(err.value.log_path).exists()
    assert "something broke" in err.value.tail
    assert not list((tmp_path / "cache" / "envs").iterdir())


def test_resolution_failure_is_typed(tmp_path: Path) -> None:
    failure = CommandFailed(
        ["uv", "pip", "install"],
        1,
        "",
        "  x No solution found when resolving dependencies:\n  Because there is no version of demo==9.9\n",
    )
    with pytest.raises(ResolutionError) as err:
        _ensure(tmp_path, FakeBackend(fail_with=failure))
    assert err.value.exit_code == 2
    assert "No solution found" in (err.value.value or "")


def test_concurrent_callers_build_once(tmp_path: Path) -> None:
    backend = FakeBackend(delay=0.5)
    results: list[bool] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(_ensure(tmp_path, backend).built)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results) == [False, False, False, True]
    assert backend.builds == 1


def test_before_build_runs_only_when_a_build_is_coming(tmp_path: Path) -> None:
    backend, calls = FakeBackend(), []
    settings = _settings(tmp_path)
    for _ in range(2):
        ensure_env(
            _spec(),
            fp="cd" * 32,
            interpreter=INTERP,
            backend=backend,  # type: ignore[arg-type]
            plan_index=IndexOptions(),
            installer_reason="default",
            settings=settings,
            before_build=lambda: calls.append("called"),
        )
    assert calls == ["called"]  # the second call is a cache hit
