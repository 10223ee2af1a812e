"""What the cache holds: each env with its models, status, last use and honest size; totals.

Every document returned here carries the schema `envrun.cache/1` (README: "envrun cache").
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envrun.env.backends import get_backend
from envrun.env.inuse import is_held, last_touched
from envrun.env.layout import CacheLayout
from envrun.env.sizes import (
    CacheDirScan,
    Inode,
    TreeScan,
    Usage,
    scan_cache_dir,
    scan_tree,
    usage,
)
from envrun.env.store import read_state
from envrun.settings import INSTALLERS, Settings

SCHEMA = "envrun.cache/1"
COMPLETE, INCOMPLETE, BUILDING, IN_USE = "complete", "incomplete", "building", "in use"


def iso(stamp: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC time, the way the JSON documents write times."""
    if stamp is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))


@dataclass
class EnvEntry:
    """One env directory as `envrun cache list` shows it."""

    name: str
    path: Path
    fingerprint: str
    status: str
    problem: str | None
    models: list[dict[str, str]]
    python: str | None
    installer: str | None
    installer_version: str | None
    as_of: str | None
    created: str | None
    last_used: float | None
    scan: TreeScan | None = field(default=None, repr=False)
    size: Usage | None = None

    @property
    def complete(self) -> bool:
        """Whether the env has a valid completion marker (in use or not)."""
        return self.status in (COMPLETE, IN_USE)

    def to_json(self) -> dict[str, Any]:
        """The env object of the `envrun.cache/1` documents."""
        return {
            "name": self.name,
            "path": str(self.path),
            "fingerprint": self.fingerprint,
            "status": self.status,
            "problem": self.problem,
            "models": self.models,
            "python": self.python,
            "installer": self.installer,
            "installer_version": self.installer_version,
            "as_of": self.as_of,
            "created": self.created,
            "last_used": iso(self.last_used),
            "size": self.size.to_json() if self.size is not None else None,
        }


@dataclass(frozen=True)
class InstallerCache:
    """An installer's own cache, located by asking the installer."""

    installer: str
    path: Path
    scan: CacheDirScan

    def to_json(self) -> dict[str, Any]:
        """The installer cache object of the `envrun.cache/1` documents."""
        return {"installer": self.installer, "path": str(self.path), "bytes": self.scan.total}


@dataclass
class Listing:
    """Every env in the cache, and the installer caches their files are linked from."""

    cache_dir: Path
    envs: list[EnvEntry]
    installer_caches: list[InstallerCache]

    def to_json(self) -> dict[str, Any]:
        """`envrun cache list --json`."""
        return {
            "schema": SCHEMA,
            "kind": "list",
            "cache_dir": str(self.cache_dir),
            "envs": [e.to_json() for e in self.envs],
            "installer_caches": [c.to_json() for c in self.installer_caches],
        }


def read_entry(layout: CacheLayout, env_dir: Path) -> EnvEntry:
    """An env's marker, models, status and last use (no sizes)."""
    name = env_dir.name
    raw = _read_json(layout.state_file(env_dir))
    fp = str(raw.get("fingerprint") or name) if isinstance(raw, dict) else name
    problem: str | None
    state, problem = read_state(env_dir, fp) if fp.startswith(name) else (None, "foreign marker")
    info = state or (raw if isinstance(raw, dict) else {})
    models = _read_json(layout.models_file(env_dir))
    use_lock = layout.use_lock(name)
    if state is None:
        status = BUILDING if _building(layout.env_lock(name)) else INCOMPLETE
    else:
        status = IN_USE if is_held(use_lock) else COMPLETE
        problem = None
    interp = info.get("interpreter") or {}
    installer = info.get("installer") or {}
    as_of = info.get("as_of") or {}
    created = info.get("created")
    last = last_touched(use_lock)
    if last is None and state is not None:
        last = last_touched(layout.state_file(env_dir))  # built before use was recorded
    return EnvEntry(
        name=name,
        path=env_dir,
        fingerprint=fp,
        status=status,
        problem=problem,
        models=[m for m in models if isinstance(m, dict)] if isinstance(models, list) else [],
        python=interp.get("version") if isinstance(interp, dict) else None,
        installer=installer.get("name") if isinstance(installer, dict) else None,
        installer_version=installer.get("version") if isinstance(installer, dict) else None,
        as_of=as_of.get("cutoff") if isinstance(as_of, dict) else None,
        created=str(created) if created else None,
        last_used=last,
    )


def list_envs(settings: Settings, *, sizes: bool = True) -> Listing:
    """Every env directory, least recently used first, with sizes split by sharing."""
    layout = CacheLayout(settings.cache_dir)
    envs = [read_entry(layout, d) for d in layout.env_dirs()]
    envs.sort(key=lambda e: (e.last_used or 0.0, e.name))
    caches: list[InstallerCache] = []
    if sizes:
        for entry in envs:
            entry.scan = scan_tree(entry.path)
        # An installer's cache is walked only when some env links to files outside itself.
        if any(any(True for _ in e.scan.linked_elsewhere()) for e in envs if e.scan):
            caches = installer_caches(settings, envs)
        linked = _linked(caches)
        for entry in envs:
            if entry.scan is not None:
                entry.size = usage(entry.scan, linked)
    return Listing(settings.cache_dir, envs, caches)


def installer_caches(settings: Settings, envs: Iterable[EnvEntry]) -> list[InstallerCache]:
    """The caches of the installers that built these envs (else the configured one)."""
    built_by: dict[str, Path | None] = {}
    for entry in envs:
        if entry.installer in INSTALLERS and entry.complete:
            built_by.setdefault(entry.installer, entry.path)
    if not built_by:
        built_by[settings.installer.value] = None
    found: list[InstallerCache] = []
    seen: set[Path] = set()
    for name, env_dir in sorted(built_by.items()):
        path = get_backend(name, settings).cache_dir(env_dir)
        if path is None or path in seen or not path.is_dir():
            continue
        seen.add(path)
        found.append(InstallerCache(name, path, scan_cache_dir(path)))
    return found


@dataclass
class SizeReport:
    """What envrun keeps on disk, by kind, and the installer caches its envs link into."""

    cache_dir: Path
    total: int
    envs: dict[str, int]
    parts: dict[str, dict[str, int]]
    installer_caches: list[InstallerCache]

    def to_json(self) -> dict[str, Any]:
        """`envrun cache size --json`."""
        return {
            "schema": SCHEMA,
            "kind": "size",
            "cache_dir": str(self.cache_dir),
            "total_bytes": self.total,
            "envs": self.envs,
            **self.parts,
            "installer_caches": [c.to_json() for c in self.installer_caches],
        }


def cache_size(settings: Settings) -> SizeReport:
    """Totals for envs, logs, tool envs and work dirs, and for the installers' caches."""
    layout = CacheLayout(settings.cache_dir)
    listing = list_envs(settings)
    # The envs dir as one tree: an inode two envs share counted once, as du counts it.
    together = usage(scan_tree(layout.envs), _linked(listing.installer_caches))
    cache_total = sum(c.scan.total for c in listing.installer_caches)
    envs = {
        "count": len(listing.envs),
        **together.to_json(),
        # What `du -sb INSTALLER_CACHE... CACHE/envs` says: each shared file counted once.
        "with_installer_caches_bytes": together.total
        - together.shared_installer_cache
        + cache_total,
    }
    parts = {
        "logs": _part(layout.logs, list(layout.log_files())),
        "tools": _part(layout.tools, list(layout.tool_dirs())),
        "tmp": _part(layout.tmp, list(layout.workdirs())),
    }
    return SizeReport(
        settings.cache_dir, scan_tree(layout.root).total, envs, parts, listing.installer_caches
    )


def _linked(caches: Iterable[InstallerCache]) -> frozenset[Inode]:
    return frozenset().union(*(c.scan.linked for c in caches))


def _part(directory: Path, items: list[Path]) -> dict[str, int]:
    return {"count": len(items), "bytes": scan_tree(directory).total if items else 0}


def _building(build_lock: Path) -> bool:
    if not build_lock.exists():
        return False
    from filelock import FileLock, Timeout

    lock = FileLock(str(build_lock))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return True
    lock.release()
    return False


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
