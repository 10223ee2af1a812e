"""Disk usage counted as `du -sb` counts it: apparent sizes, every inode once, links not followed.

uv hardlinks installed files from its own cache, so an env's files may add up to gigabytes that
removing the env would not free. Each env's bytes are split into those only it links to and
those also linked from the installer's cache (or from elsewhere: another env, say).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

Inode = tuple[int, int]


@dataclass
class TreeScan:
    """Every inode under one directory: size, link count, and how many of its links are here."""

    root: Path
    inodes: dict[Inode, list[int]]

    @property
    def total(self) -> int:
        """Bytes as `du -sb ROOT` reports them."""
        return sum(entry[0] for entry in self.inodes.values())

    def linked_elsewhere(self) -> Iterable[Inode]:
        """Inodes with links outside this tree."""
        return (key for key, (_, nlink, seen) in self.inodes.items() if seen < nlink)


@dataclass(frozen=True)
class Usage:
    """One env's bytes, split by who else holds them; the parts add up to `total`."""

    total: int
    unique: int
    shared_installer_cache: int
    shared_other: int

    def to_json(self) -> dict[str, int]:
        """The `size` object of `envrun cache list --json`."""
        return {
            "total_bytes": self.total,
            "unique_bytes": self.unique,
            "shared_installer_cache_bytes": self.shared_installer_cache,
            "shared_other_bytes": self.shared_other,
        }


@dataclass(frozen=True)
class CacheDirScan:
    """An installer's cache: its `du -sb` size and the inodes it shares through hardlinks."""

    path: Path
    total: int
    linked: frozenset[Inode]


def scan_tree(root: Path) -> TreeScan:
    """Stat everything under `root` (root included) without following symlinks."""
    inodes: dict[Inode, list[int]] = {}
    for st in _walk(root):
        key = (st.st_dev, st.st_ino)
        entry = inodes.get(key)
        if entry is None:
            # A directory's link count counts its subdirectories' "..", not hardlinks.
            nlink = 1 if stat.S_ISDIR(st.st_mode) else st.st_nlink
            inodes[key] = [st.st_size, nlink, 1]
        else:
            entry[2] += 1
    return TreeScan(root, inodes)


def scan_cache_dir(root: Path) -> CacheDirScan:
    """An installer cache's size and the inodes in it that have other links."""
    seen: set[Inode] = set()
    linked: set[Inode] = set()
    total = 0
    for st in _walk(root):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and not stat.S_ISDIR(st.st_mode):
            if key in seen:
                continue
            seen.add(key)
            linked.add(key)
        total += st.st_size
    return CacheDirScan(root, total, frozenset(linked))


def usage(scan: TreeScan, cache_inodes: frozenset[Inode] | set[Inode]) -> Usage:
    """Split a tree's bytes: only here, also in the installer's cache, also elsewhere."""
    unique = shared_cache = shared_other = 0
    for key, (size, nlink, seen) in scan.inodes.items():
        if seen >= nlink:
            unique += size
        elif key in cache_inodes:
            shared_cache += size
        else:
            shared_other += size
    return Usage(unique + shared_cache + shared_other, unique, shared_cache, shared_other)


def merged(root: Path, scans: Iterable[TreeScan]) -> TreeScan:
    """Several trees as one: an inode linked from two of them counted once, its links summed."""
    inodes: dict[Inode, list[int]] = {}
    for scan in scans:
        for key, (size, nlink, seen) in scan.inodes.items():
            entry = inodes.setdefault(key, [size, nlink, 0])
            entry[2] += seen
    return TreeScan(root, inodes)


def _walk(root: Path) -> Iterable[os.stat_result]:
    try:
        yield os.stat(root, follow_symlinks=False)
    except OSError:
        return
    stack = [str(root)]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except OSError:  # removed while we walked
                        continue
                    yield st
                    if stat.S_ISDIR(st.st_mode):
                        stack.append(entry.path)
        except OSError:  # unreadable or removed directory: what we cannot see, we do not count
            continue
