"""Files written so that a reader (a CI step, a browser, another envrun) never sees half of one."""

from __future__ import annotations

import errno
import functools
import os
import tempfile
from pathlib import Path

from envrun.errors import OutputError


def write_atomic(
    path: Path,
    data: str | bytes,
    *,
    what: str,
    option: str | None = None,
    make_parents: bool = False,
) -> Path:
    """Write `data` to a temporary file beside `path`, fsync it, then rename it over `path`.

    Text is written as UTF-8 with "\\n" line ends. On failure nothing is left behind and an
    OutputError names the `what` ("report file"), the path, the OS's reason and a fix; `option`
    ("--report") tells the user which argument chose the path. `make_parents` creates missing
    directories first.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path = Path(path)
    tmp: str | None = None
    try:
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(
            f"cannot write the {what}",
            value=f"{path}: {exc.strerror or exc}",
            fix=_fix_for(exc, path, option),
        ) from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777  # keep the mode of the file being replaced
    except OSError:
        return 0o666 & ~_umask()


@functools.cache
def _umask() -> int:
    # The only way to read the umask is to set it; done once, and set straight back.
    current = os.umask(0o022)
    os.umask(current)
    return current


def _fix_for(exc: OSError, path: Path, option: str | None) -> str:
    """What the user can do about a failed write, by the OS's reason."""
    other = f"choose another path for {option}" if option else "choose another path"
    # The OS names what it failed on: the temporary file beside the target, or a directory that
    # make_parents tried to create; either way its parent is the directory to fix.
    where = Path(exc.filename).parent if exc.filename else path.parent
    reasons = {
        errno.ENOENT: f"create the directory {where} first, or {other}",
        errno.ENOTDIR: f"a part of {where} is a file, not a directory; {other}",
        errno.EEXIST: f"a part of {where} is a file, not a directory; {other}",
        errno.EACCES: f"the directory {where} is not writable for this user; {other}",
        errno.EPERM: f"the directory {where} is not writable for this user; {other}",
        errno.EROFS: f"{where} is on a read-only file system; {other}",
        errno.EISDIR: f"{path} is a directory; name a file inside it, or {other}",
        errno.ENOSPC: f"free some disk space on the device holding {where}, or {other}",
        errno.EDQUOT: f"the disk quota holding {where} is used up; free some space, or {other}",
        errno.ENAMETOOLONG: f"the file name is too long; {other}",
    }
    return reasons.get(exc.errno or 0, f"check that {where} exists and is writable, or {other}")
