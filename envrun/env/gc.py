"""What no run needs any more: builds nobody finishes, leftovers of killed processes, old logs.

Each item is removed only under the lock that proves nobody is using it: an incomplete env
under its build lock and its use lock, taken without waiting; a work dir or removal leftover
only when the process its name carries is gone and it has not changed for a while.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from envrun.env.cache import SCHEMA, read_entry
from envrun.env.inuse import try_lock
from envrun.env.layout import ENV_NAME_LENGTH, CacheLayout, owner_pid
from envrun.env.sizes import scan_tree
from envrun.env.store import read_state, remove_dir
from envrun.settings import Settings

LOG_AGE = 30 * 86400.0
# A work dir whose owner looks dead is still left alone this long: a pid from another pid
# namespace (a container sharing the cache) looks dead from here.
LEFTOVER_AGE = 3600.0


@dataclass(frozen=True)
class GcItem:
    """One thing gc looked at: what it is, why it is garbage, and whether it went."""

    kind: str
    path: Path
    reason: str
    bytes: int
    action: str  # "removed", "would remove" (a dry run) or "kept" (in use or being built)

    def to_json(self) -> dict[str, Any]:
        """An item of `envrun cache gc --json`."""
        return {
            "kind": self.kind,
            "path": str(self.path),
            "reason": self.reason,
            "bytes": self.bytes,
            "action": self.action,
        }


@dataclass
class GcReport:
    """Everything gc removed (or would remove), and what it left because it is in use."""

    dry_run: bool
    items: list[GcItem] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        """Bytes removed (or, in a dry run, that would be)."""
        return sum(i.bytes for i in self.items if i.action != "kept")

    def to_json(self) -> dict[str, Any]:
        """`envrun cache gc --json`."""
        return {
            "schema": SCHEMA,
            "kind": "gc",
            "dry_run": self.dry_run,
            "items": [i.to_json() for i in self.items],
            "freed_bytes": self.freed_bytes,
        }


def gc(
    settings: Settings,
    *,
    log_age: float = LOG_AGE,
    dry_run: bool = False,
    now: float | None = None,
) -> GcReport:
    """Remove incomplete builds nobody is building, orphaned locks and work dirs, old logs and
    tool envs whose base Python is gone."""
    now = time.time() if now is None else now
    layout = CacheLayout(settings.cache_dir)
    report = GcReport(dry_run)
    _incomplete_envs(layout, report)
    for path in [*layout.removal_leftovers(), *layout.workdirs()]:
        if _abandoned(path, now):
            kind = "work dir" if path.parent == layout.tmp else "removal leftover"
            _drop(report, kind, path, "its process is gone", partial(_rmtree, path))
    for tool_dir in layout.tool_dirs():
        _tool_env(layout, tool_dir, report)
    for log in layout.log_files():
        try:
            old = log.stat().st_mtime < now - log_age
        except OSError:
            continue
        if old:
            days = int(log_age // 86400)
            _drop(report, "log", log, f"older than {days} days", log.unlink)
    _orphaned_locks(layout, report)
    return report


def _incomplete_envs(layout: CacheLayout, report: GcReport) -> None:
    for env_dir in layout.env_dirs():
        entry = read_entry(layout, env_dir)
        if entry.complete:
            continue
        with _build_lock(layout.env_lock(env_dir.name)) as building:
            if not building:
                _keep(report, "incomplete env", env_dir, "being built")
                continue
            lease = try_lock(layout.use_lock(env_dir.name), exclusive=True, create=False)
            if lease is None and layout.use_lock(env_dir.name).exists():
                _keep(report, "incomplete env", env_dir, "in use")
                continue
            try:
                # Checked again under the locks: a build may have finished meanwhile.
                if read_state(env_dir, entry.fingerprint)[0] is not None:
                    continue
                reason = f"incomplete: {entry.problem}"

                def remove(d: Path = env_dir, held: Any = lease) -> None:
                    remove_dir(d, layout)
                    if held is not None:
                        held.unlink()

                _drop(report, "incomplete env", env_dir, reason, remove)
            finally:
                if lease is not None:
                    lease.release()


def _tool_env(layout: CacheLayout, tool_dir: Path, report: GcReport) -> None:
    python = tool_dir / "bin" / "python"
    if os.path.exists(python) and layout.tool_marker(tool_dir).exists():
        return
    reason = "its base Python is gone" if os.path.lexists(python) else "incomplete"
    with _build_lock(layout.tool_lock(tool_dir.name)) as free:
        if not free:
            _keep(report, "tool env", tool_dir, "being built")
            return
        _drop(report, "tool env", tool_dir, reason, lambda: remove_dir(tool_dir, layout))


def _orphaned_locks(layout: CacheLayout, report: GcReport) -> None:
    envs = {p.name for p in layout.env_dirs()}
    tools = {p.name for p in layout.tool_dirs()}
    for lock in layout.use_lock_files():
        if lock.stem in envs:
            continue
        lease = try_lock(lock, exclusive=True)
        if lease is None:
            continue  # held: a build about to create its env, or a removal in progress
        try:
            _drop(report, "lock", lock, "its env is gone", lease.unlink)
        finally:
            lease.release()
    for lock in layout.lock_files():
        owner = lock.stem
        is_env = len(owner) == ENV_NAME_LENGTH and all(c in "0123456789abcdef" for c in owner)
        if owner in (envs if is_env else tools):
            continue
        with _build_lock(lock) as free:
            if free:
                what = "env" if is_env else "tool env"
                _drop(report, "lock", lock, f"its {what} is gone", lock.unlink)


def _abandoned(path: Path, now: float) -> bool:
    pid = owner_pid(path)
    if pid is not None and _alive(pid):
        return False
    try:
        return path.stat().st_mtime < now - LEFTOVER_AGE
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


@contextmanager
def _build_lock(path: Path) -> Iterator[bool]:
    """Holds a build lock if it is free at once; yields whether it was."""
    from filelock import FileLock, Timeout

    if not path.exists():
        yield True
        return
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


def _drop(report: GcReport, kind: str, path: Path, reason: str, remove: Callable[[], None]) -> None:
    size = scan_tree(path).total
    if not report.dry_run:
        with contextlib.suppress(FileNotFoundError):  # gone already: as good as removed
            remove()
    action = "would remove" if report.dry_run else "removed"
    report.items.append(GcItem(kind, path, reason, size, action))


def _keep(report: GcReport, kind: str, path: Path, reason: str) -> None:
    report.items.append(GcItem(kind, path, reason, scan_tree(path).total, "kept"))


def _rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
