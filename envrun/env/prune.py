"""Removing envs: least recently used first, never one in use (its use lock cannot be taken)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from envrun.env.cache import SCHEMA, EnvEntry, list_envs
from envrun.env.inuse import is_held, try_lock
from envrun.env.layout import CacheLayout
from envrun.env.sizes import Inode, TreeScan
from envrun.env.store import remove_dir
from envrun.errors import EnvrunError
from envrun.settings import Settings

_AGE = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", re.IGNORECASE)
_SECONDS = {"": 86400.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}
# Fingerprint prefixes shorter than this would too easily name the wrong env.
MIN_PREFIX = 6


def parse_age(text: str, *, source: str) -> float:
    """Seconds from "30d", "12h", "2w", "90m", "45s" (a bare number is days)."""
    match = _AGE.fullmatch(text.strip())
    if match is None:
        raise EnvrunError(
            f"cannot read the age given by {source}",
            value=text,
            fix="write a number with a unit s, m, h, d or w (e.g. 30d)",
        )
    return float(match.group(1)) * _SECONDS[match.group(2).lower()]


@dataclass
class Removal:
    """What a prune, rm or gc removed (or, in a dry run, would remove) and what it left."""

    kind: str
    dry_run: bool
    removed: list[EnvEntry] = field(default_factory=list)
    skipped: list[tuple[EnvEntry, str]] = field(default_factory=list)
    freed_bytes: int = 0
    envs_bytes_before: int = 0
    envs_bytes_after: int = 0

    def to_json(self) -> dict[str, Any]:
        """`envrun cache prune --json` and `envrun cache rm --json`."""
        return {
            "schema": SCHEMA,
            "kind": self.kind,
            "dry_run": self.dry_run,
            "removed": [e.to_json() for e in self.removed],
            "skipped": [{**e.to_json(), "reason": why} for e, why in self.skipped],
            "freed_bytes": self.freed_bytes,
            "envs_bytes_before": self.envs_bytes_before,
            "envs_bytes_after": self.envs_bytes_after,
        }


def prune(
    settings: Settings,
    *,
    older_than: float | None = None,
    max_size: int | None = None,
    keep: int | None = None,
    dry_run: bool = False,
    now: float | None = None,
) -> Removal:
    """Remove complete envs, least recently used first, that are not in use.

    An env goes when its last use is older than `older_than` seconds, or while the envs
    together (as du counts them, each file once) exceed `max_size` bytes; the `keep` most
    recently used always stay. With only `keep`, every other env goes.
    """
    now = time.time() if now is None else now
    listing = list_envs(settings)
    scans = [e.scan for e in listing.envs if e.scan is not None]
    tally = _Tally(scans)
    report = Removal("prune", dry_run, envs_bytes_before=tally.total)
    candidates = [e for e in listing.envs if e.complete]  # least recently used first
    if keep is not None:
        candidates = candidates[: max(0, len(candidates) - keep)]
    only_keep = older_than is None and max_size is None
    for entry in candidates:
        old = older_than is not None and (entry.last_used or 0.0) < now - older_than
        big = max_size is not None and tally.total > max_size
        if not (old or big or only_keep):
            continue
        _take(entry, report, tally, settings)
    report.envs_bytes_after = tally.total
    return report


def remove_envs(
    settings: Settings,
    *,
    fingerprints: tuple[str, ...] = (),
    model_path: Path | None = None,
    dry_run: bool = False,
) -> Removal:
    """Remove the envs named by fingerprint (or a prefix of 6+ characters) or built for a model."""
    listing = list_envs(settings)
    tally = _Tally([e.scan for e in listing.envs if e.scan is not None])
    report = Removal("rm", dry_run, envs_bytes_before=tally.total)
    model = str(model_path) if model_path is not None else None
    for entry in listing.envs:
        named = any(
            len(fp) >= MIN_PREFIX
            and (entry.fingerprint.startswith(fp) or fp.startswith(entry.name))
            for fp in fingerprints
        )
        used = model is not None and any(m.get("path") == model for m in entry.models)
        if named or used:
            _take(entry, report, tally, settings)
    report.envs_bytes_after = tally.total
    return report


def _take(entry: EnvEntry, report: Removal, tally: _Tally, settings: Settings) -> None:
    """Remove one env under its exclusive use lock, or record why it stays."""
    layout = CacheLayout(settings.cache_dir)
    use_lock = layout.use_lock(entry.name)
    if report.dry_run:
        # Look without creating anything: a dry run leaves the cache as it found it.
        if is_held(use_lock):
            report.skipped.append((entry, "in use"))
            return
    else:
        # Created if missing, so an env nobody used since use locks exist still gets locked.
        lease = try_lock(use_lock, exclusive=True, create=True)
        if lease is None:
            report.skipped.append((entry, "in use"))
            return
        try:
            remove_dir(entry.path, layout)
            lease.unlink()
        finally:
            lease.release()
    report.removed.append(entry)
    if entry.scan is not None:
        report.freed_bytes += tally.drop(entry.scan)


class _Tally:
    """The envs' bytes counted once, kept current as envs are removed."""

    def __init__(self, scans: list[TreeScan]) -> None:
        self.sizes: dict[Inode, int] = {}
        self.nlink: dict[Inode, int] = {}
        self.links: dict[Inode, int] = {}
        for scan in scans:
            for key, (size, nlink, seen) in scan.inodes.items():
                self.sizes[key] = size
                self.nlink[key] = nlink
                self.links[key] = self.links.get(key, 0) + seen
        self.total = sum(self.sizes.values())
        self.gone: dict[Inode, int] = {}

    def drop(self, scan: TreeScan) -> int:
        """Forget one env's links; returns the bytes whose every link is now gone."""
        freed = 0
        for key, (size, nlink, seen) in scan.inodes.items():
            self.links[key] -= seen
            self.gone[key] = self.gone.get(key, 0) + seen
            if self.links[key] == 0:
                self.total -= size
            if self.gone[key] >= nlink:
                freed += size
        return freed
