"""The cache layout: the one place that names paths under the cache root, and lists them."""

from __future__ import annotations

from pathlib import Path

from envrun.env.layout import STATE_FILE, CacheLayout

FP = "0123456789abcdef" * 4


def test_env_paths_are_short_and_under_the_root(tmp_path: Path) -> None:
    layout = CacheLayout(tmp_path)
    env = layout.env_dir(FP)
    assert env == tmp_path / "envs" / FP[:20]
    assert layout.state_file(env) == env / STATE_FILE
    assert layout.env_lock(FP) == tmp_path / "locks" / f"{FP[:20]}.lock"
    assert layout.build_log(FP).parent == tmp_path / "logs"
    assert layout.build_log(FP).name.startswith(FP[:20] + "-")
    assert layout.lock_log("").name.startswith("lock-model-")
    assert layout.build_workdir(FP).parent == tmp_path / "tmp"
    removing = layout.removal_dir(env)
    assert removing.parent == env.parent and removing.name.startswith(f".{FP[:20]}.removing-")
    for path in (layout.tool_versions_memo, layout.interpreters_memo, layout.virtualenv_data):
        assert path.parent == tmp_path
    assert not any(tmp_path.iterdir())  # naming a path creates nothing


def test_listing_an_empty_or_missing_cache(tmp_path: Path) -> None:
    layout = CacheLayout(tmp_path / "never-created")
    assert list(layout.env_dirs()) == []
    assert list(layout.removal_leftovers()) == []
    assert list(layout.lock_files()) == []
    assert list(layout.log_files()) == []
    assert list(layout.tool_dirs()) == []
    assert list(layout.workdirs()) == []


def test_listing_tells_envs_from_removals_and_strays(tmp_path: Path) -> None:
    layout = CacheLayout(tmp_path)
    envs = [layout.env_dir("b" * 64), layout.env_dir("a" * 64)]
    for env in envs:
        env.mkdir(parents=True)
    doomed = layout.removal_dir(envs[0])
    doomed.mkdir()
    (layout.envs / "stray.txt").write_text("not an env")
    layout.tool_dir("pip-tools-7.6.2-cpython3.11.7").mkdir(parents=True)
    layout.env_lock("a" * 64).parent.mkdir()
    layout.env_lock("a" * 64).write_text("")
    layout.build_log("a" * 64).parent.mkdir()
    layout.build_log("a" * 64).write_text("log")
    work = layout.new_workdir("lock")
    assert work.is_dir() and not any(work.iterdir())
    assert list(layout.env_dirs()) == sorted(envs)
    assert list(layout.removal_leftovers()) == [doomed]
    assert [p.name for p in layout.tool_dirs()] == ["pip-tools-7.6.2-cpython3.11.7"]
    assert [p.name for p in layout.lock_files()] == [f"{'a' * 20}.lock"]
    assert len(list(layout.log_files())) == 1
    assert list(layout.workdirs()) == [work]
    assert layout.new_workdir("lock") != work
