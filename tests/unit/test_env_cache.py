"""The cache commands' library side on envs made by a stand-in installer: use locks, sizes,
prune, rm, gc and the envrun.cache/1 documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from filelock import FileLock

from envrun.env.cache import SCHEMA, cache_size, list_envs
from envrun.env.gc import LEFTOVER_AGE, gc
from envrun.env.inuse import TOUCH_INTERVAL, acquire, is_held, try_lock
from envrun.env.layout import CacheLayout
from envrun.env.prune import parse_age, prune, remove_envs
from envrun.env.requirements import IndexOptions
from envrun.env.sizes import scan_tree, usage
from envrun.env.store import EnvHandle, ensure_env
from envrun.errors import EnvrunError
from envrun.settings import Choice, Settings, parse_size
from tests.helpers import ROOT
from tests.unit.test_store import INTERP, FakeBackend, _spec


def _settings(cache: Path, **kw: object) -> Settings:
    return Settings(cache_dir=cache, installer=Choice("uv", "default"), **kw)  # type: ignore[arg-type]


def _env(cache: Path, fp: str, *, payload: int = 1000, **kw: object) -> EnvHandle:
    handle = ensure_env(
        _spec(),
        fp=fp,
        interpreter=INTERP,
        backend=FakeBackend(),  # type: ignore[arg-type]
        plan_index=IndexOptions(),
        installer_reason="default",
        settings=_settings(cache, **kw),
        model=(f"/models/{fp[:4]}", f"model-{fp[:4]}"),
    )
    (handle.path / "payload.bin").write_bytes(b"x" * payload)
    return handle


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.lstat().st_mtime_ns, p.lstat().st_size)
        for p in sorted(root.rglob("*"))
    }


def _du(*paths: Path) -> list[int]:
    out = subprocess.run(
        ["du", "-sb", *map(str, paths)], capture_output=True, text=True, check=True
    )
    return [int(line.split()[0]) for line in out.stdout.splitlines()]


# --- use locks -----------------------------------------------------------------------------------


def test_shared_locks_coexist_and_keep_out_an_exclusive_one(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "e.use"
    a = acquire(path, exclusive=False)
    b = acquire(path, exclusive=False)
    assert a is not None and b is not None
    assert try_lock(path, exclusive=True) is None
    assert is_held(path)
    a.release()
    assert try_lock(path, exclusive=True) is None
    b.release()
    lease = try_lock(path, exclusive=True)
    assert lease is not None
    lease.release()
    assert not is_held(path)


def test_a_lock_on_an_unlinked_file_is_not_trusted(tmp_path: Path) -> None:
    path = tmp_path / "e.use"
    remover = acquire(path, exclusive=True)
    assert remover is not None
    remover.unlink()
    remover.release()
    user = acquire(path, exclusive=False)
    assert user is not None
    # The user's lock is on the file the path names now, so a remover cannot take it.
    assert try_lock(path, exclusive=True) is None
    user.release()


def test_last_use_is_written_at_most_once_a_minute(tmp_path: Path) -> None:
    path = tmp_path / "e.use"
    path.write_bytes(b"")
    old = time.time() - 10 * TOUCH_INTERVAL
    os.utime(path, (old, old))
    lease = acquire(path, exclusive=False, touch=True)
    assert lease is not None
    lease.release()
    recent = path.stat().st_mtime
    assert recent > old + TOUCH_INTERVAL
    os.utime(path, (recent - 1, recent - 1))
    lease = acquire(path, exclusive=False, touch=True)
    assert lease is not None
    lease.release()
    assert path.stat().st_mtime == recent - 1  # a second hit within the minute writes nothing


def test_an_env_handle_holds_its_env_until_released(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _env(cache, "a1" * 32)
    use_lock = CacheLayout(cache).use_lock(first.fingerprint)
    assert is_held(use_lock)
    hit = _env(cache, "a1" * 32)
    assert not hit.built and is_held(use_lock)
    first.release()
    assert is_held(use_lock)
    hit.release()
    assert not is_held(use_lock)


def test_dropping_a_handle_lets_go_of_the_env(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    handle = _env(cache, "a2" * 32)
    use_lock = CacheLayout(cache).use_lock(handle.fingerprint)
    del handle
    assert not is_held(use_lock)


# --- sizes ---------------------------------------------------------------------------------------


def test_sizes_split_hardlinks_and_agree_with_du(tmp_path: Path) -> None:
    installer_cache = tmp_path / "installer-cache"
    env = tmp_path / "env"
    (installer_cache / "pkg").mkdir(parents=True)
    (env / "lib").mkdir(parents=True)
    (installer_cache / "pkg" / "big.so").write_bytes(b"b" * 50_000)
    os.link(installer_cache / "pkg" / "big.so", env / "lib" / "big.so")
    (env / "lib" / "own.py").write_bytes(b"o" * 7_000)
    os.link(env / "lib" / "own.py", env / "lib" / "own-again.py")  # twice in the env: counted once
    (env / "bin").mkdir()
    (env / "bin" / "python").symlink_to("/nonexistent/python3")
    from envrun.env.sizes import scan_cache_dir

    cache_scan = scan_cache_dir(installer_cache)
    split = usage(scan_tree(env), cache_scan.linked)
    assert split.total == _du(env)[0]
    assert split.shared_installer_cache == 50_000
    assert split.shared_other == 0
    assert split.unique == split.total - 50_000
    assert cache_scan.total == _du(installer_cache)[0]
    # du over both counts the shared file once, in the first tree it meets.
    assert _du(installer_cache, env)[1] == split.total - split.shared_installer_cache


# --- prune and rm --------------------------------------------------------------------------------


def _age(cache: Path, handle: EnvHandle, seconds: float) -> None:
    stamp = time.time() - seconds
    os.utime(CacheLayout(cache).use_lock(handle.fingerprint), (stamp, stamp))


def test_prune_removes_least_recently_used_first_and_never_an_env_in_use(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old, middle, new = (_env(cache, c * 64, payload=100_000) for c in "abc")
    for handle, days in ((old, 30), (middle, 20), (new, 1)):
        _age(cache, handle, days * 86400)
    middle.release()
    new.release()
    # `old` is still held, as a running predict holds it.
    report = prune(_settings(cache), older_than=10 * 86400)
    assert [e.name for e in report.removed] == [middle.path.name]
    assert [(e.name, why) for e, why in report.skipped] == [(old.path.name, "in use")]
    assert old.path.exists() and new.path.exists() and not middle.path.exists()
    assert report.freed_bytes >= 100_000
    assert not CacheLayout(cache).use_lock(middle.fingerprint).exists()
    old.release()
    again = prune(_settings(cache), max_size=1)
    assert [e.name for e in again.removed] == [old.path.name, new.path.name]
    assert again.envs_bytes_after == 0


def test_keep_spares_the_most_recent(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    handles = [_env(cache, c * 64) for c in "abc"]
    for i, handle in enumerate(handles):
        _age(cache, handle, (3 - i) * 3600)
        handle.release()
    report = prune(_settings(cache), keep=2)
    assert [e.name for e in report.removed] == [handles[0].path.name]


def test_a_dry_run_changes_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for c in "ab":
        _env(cache, c * 64).release()
    (CacheLayout(cache).logs / "old.log").write_text("x")
    os.utime(CacheLayout(cache).logs / "old.log", (0, 0))
    before = _snapshot(cache)
    report = prune(_settings(cache), max_size=0, dry_run=True)
    assert len(report.removed) == 2 and report.freed_bytes > 0
    assert gc(_settings(cache), dry_run=True).items
    assert _snapshot(cache) == before


def test_rm_by_fingerprint_prefix_or_model(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    a, b = _env(cache, "ab" * 32), _env(cache, "cd" * 32)
    a.release()
    b.release()
    assert not remove_envs(_settings(cache), fingerprints=("abab",)).removed  # too short
    assert [e.name for e in remove_envs(_settings(cache), fingerprints=("ababab",)).removed] == [
        a.path.name
    ]
    report = remove_envs(_settings(cache), model_path=Path("/models/cdcd"))
    assert [e.name for e in report.removed] == [b.path.name]
    assert not list(CacheLayout(cache).env_dirs())


def test_the_cap_prunes_after_a_build(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _env(cache, "a" * 64, payload=200_000)
    first.release()
    second = _env(cache, "b" * 64, cache_max_size=150_000)
    # The cap ran right after `second` was built (before its payload was written).
    assert not first.path.exists()
    assert second.path.exists()
    second.release()


# --- gc ------------------------------------------------------------------------------------------


def test_gc_removes_incomplete_builds_nobody_is_building(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    layout = CacheLayout(cache)
    killed, building = layout.env_dir("d" * 64), layout.env_dir("e" * 64)
    for env_dir in (killed, building):
        (env_dir / "bin").mkdir(parents=True)
    held = FileLock(str(layout.env_lock("e" * 64)))
    layout.locks.mkdir(parents=True)
    held.acquire()
    try:
        report = gc(_settings(cache))
    finally:
        held.release()
    actions = {Path(i.path).name: i.action for i in report.items if i.kind == "incomplete env"}
    assert actions == {killed.name: "removed", building.name: "kept"}
    assert not killed.exists() and building.exists()


def test_gc_leftovers_locks_logs_and_tool_envs(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    layout = CacheLayout(cache)
    complete = _env(cache, "f" * 64)
    complete.release()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(dead.stdout)
    old = time.time() - 2 * LEFTOVER_AGE
    orphan_dir = layout.tmp / f"lock-{dead_pid}-{10**15}"
    live_dir = layout.tmp / f"lock-{os.getpid()}-{10**15}"
    fresh_dir = layout.tmp / f"{'1' * 20}-{dead_pid}"
    for d in (orphan_dir, live_dir, fresh_dir):
        d.mkdir(parents=True)
    for d in (orphan_dir, live_dir):
        os.utime(d, (old, old))
    layout.locks.mkdir(parents=True, exist_ok=True)
    stale_use, stale_build = layout.use_lock("9" * 64), layout.env_lock("9" * 64)
    stale_use.write_bytes(b"")
    stale_build.write_bytes(b"")
    log_old, log_new = layout.logs / "a.log", layout.logs / "b.log"
    log_old.write_text("old")
    log_new.write_text("new")
    os.utime(log_old, (0, 0))
    tool = layout.tool_dir("pip-tools-3.6")
    (tool / "bin").mkdir(parents=True)
    (tool / "bin" / "python").symlink_to(tmp_path / "gone" / "python3.6")
    layout.tool_marker(tool).write_text("{}")
    report = gc(_settings(cache))
    removed = {i.path for i in report.items if i.action == "removed"}
    assert removed == {orphan_dir, stale_use, stale_build, log_old, tool}
    assert live_dir.exists() and fresh_dir.exists() and log_new.exists()
    assert complete.path.exists() and layout.use_lock(complete.fingerprint).exists()
    assert report.freed_bytes == sum(i.bytes for i in report.items)


# --- documents and parsing -----------------------------------------------------------------------


def test_documents_carry_the_schema_and_documented_fields(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    handle = _env(cache, "ab" * 32)
    listing = list_envs(_settings(cache)).to_json()
    assert listing["schema"] == SCHEMA == "envrun.cache/1"
    (env,) = listing["envs"]
    assert env["status"] == "in use"
    assert env["models"] == [{"path": "/models/abab", "name": "model-abab"}]
    assert set(env) == {
        *("name", "path", "fingerprint", "status", "problem", "models", "python", "installer"),
        *("installer_version", "as_of", "created", "last_used", "size"),
    }
    assert set(env["size"]) == {
        "total_bytes",
        "unique_bytes",
        "shared_installer_cache_bytes",
        "shared_other_bytes",
    }
    handle.release()
    size = cache_size(_settings(cache)).to_json()
    assert {"schema", "kind", "cache_dir", "total_bytes", "envs", "logs", "tools", "tmp"} <= set(
        size
    )
    assert size["total_bytes"] == _du(cache)[0]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for key in (
        *env,
        *env["size"],
        "freed_bytes",
        "envs_bytes_after",
        "with_installer_caches_bytes",
    ):
        assert f"`{key}`" in readme, key
    json.dumps(listing)


@pytest.mark.parametrize(
    ("text", "size"), [("20G", 20 * 1024**3), ("512m", 512 * 1024**2), ("1.5KiB", 1536), ("7", 7)]
)
def test_sizes_parse(text: str, size: int) -> None:
    assert parse_size(text, source="x") == size


def test_bad_values_are_usage_errors() -> None:
    with pytest.raises(EnvrunError):
        parse_size("lots", source="ENVRUN_CACHE_MAX_SIZE")
    with pytest.raises(EnvrunError):
        parse_age("-3d", source="--older-than")
    assert parse_age("2w", source="x") == 14 * 86400
