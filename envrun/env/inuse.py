"""Use locks: every run holds its env shared; removal holds it exclusively, or skips it.

One small file per env (`CacheLayout.use_lock`) carries an `fcntl.flock` lock and, in its
mtime, when the env was last used. A remover unlinks the file while it holds it exclusively, so
a lock is trusted only once the file it was taken on is still the one the path names.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from envrun.errors import EnvBuildError

# Last use is recorded at most this often: a warm run then pays one fstat, not a write.
TOUCH_INTERVAL = 60.0
WAIT_SECONDS = 3600.0
_POLL = 0.05


class EnvLease:
    """A held use lock on one env: shared while a run uses it, exclusive while it is removed."""

    def __init__(self, path: Path, fd: int, *, exclusive: bool) -> None:
        self.path = path
        self.exclusive = exclusive
        self._fd: int | None = fd

    @property
    def held(self) -> bool:
        """Whether the lock is still held."""
        return self._fd is not None

    def share(self) -> None:
        """Turn an exclusive hold into a shared one (a rebuilt env is now usable by others)."""
        if self._fd is not None and self.exclusive:
            fcntl.flock(self._fd, fcntl.LOCK_SH)
            self.exclusive = False

    def record_use(self) -> None:
        """Mark the env used now (a fresh build is its first use)."""
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.utime(self._fd)

    def unlink(self) -> None:
        """Remove the lock file (exclusive holders only: the env it guards is gone)."""
        if self._fd is not None and self.exclusive:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()

    def release(self) -> None:
        """Let go of the lock; safe to call twice."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> EnvLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        # A caller that drops its env handle without releasing still frees the env.
        self.release()


def try_lock(path: Path, *, exclusive: bool, create: bool = False) -> EnvLease | None:
    """The lock if it can be taken now, else None (also None when the file does not exist,
    unless `create`)."""
    fd = _open_locked(path, exclusive=exclusive, blocking=False, create=create)
    return None if fd is None else EnvLease(path, fd, exclusive=exclusive)


def acquire(
    path: Path,
    *,
    exclusive: bool,
    on_wait: Callable[[], None] | None = None,
    touch: bool = False,
    wait_seconds: float = WAIT_SECONDS,
) -> EnvLease | None:
    """Take the lock, waiting for the holders of a conflicting one; None on a read-only cache.

    `on_wait` is called once if the lock is not free at once; `touch` records the use.
    """
    deadline = time.monotonic() + wait_seconds
    waited = False
    while True:
        try:
            fd = _open_locked(path, exclusive=exclusive, blocking=False, create=True)
        except PermissionError:
            # A cache the user may read but not write (shared, read-only): runs still work,
            # unprotected, as they did before use locks existed.
            return None
        if fd is not None:
            if touch:
                _touch(fd)
            return EnvLease(path, fd, exclusive=exclusive)
        if not waited and on_wait is not None:
            on_wait()
        waited = True
        if time.monotonic() > deadline:
            raise EnvBuildError(
                "timed out waiting for other envrun processes to let go of an env",
                value=str(path),
                fix="stop the envrun processes (predict, serve, batch, cache prune) using this "
                "env, then retry",
            )
        time.sleep(_POLL)


def is_held(path: Path) -> bool:
    """Whether some process holds the lock now (in use, or being removed)."""
    lease = try_lock(path, exclusive=True)
    if lease is None:
        return path.exists()
    lease.release()
    return False


def last_touched(path: Path) -> float | None:
    """When the env guarded by this lock file was last used (epoch seconds), if ever."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def _touch(fd: int) -> None:
    try:
        if time.time() - os.fstat(fd).st_mtime >= TOUCH_INTERVAL:
            os.utime(fd)
    except OSError:  # last use is a hint for pruning; never worth failing a run
        pass


def _open_locked(path: Path, *, exclusive: bool, blocking: bool, create: bool) -> int | None:
    op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if blocking else fcntl.LOCK_NB)
    flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
    while True:
        try:
            fd = os.open(path, flags, 0o644)
        except FileNotFoundError:
            if not create:
                return None
            path.parent.mkdir(parents=True, exist_ok=True)
            continue
        except PermissionError:
            if create:
                raise
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)  # flock needs no write access
        try:
            fcntl.flock(fd, op)
            current = os.stat(path)
        except BlockingIOError:
            os.close(fd)
            return None
        except FileNotFoundError:
            current = None
        except BaseException:
            os.close(fd)
            raise
        mine = os.fstat(fd)
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            return fd
        # Locked a file a remover unlinked meanwhile: it guards nothing any more.
        os.close(fd)
        if not create:
            return None
