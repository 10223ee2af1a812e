"""Files written so that a reader (a CI step, a browser, another envrun) never sees half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from envrun.errors import InputError


def write_text_atomic(path: Path, text: str, *, what: str, fix: str) -> Path:
    """Write `text` aside in the same directory, then rename it over `path`.

    An OSError becomes an InputError saying "cannot write the {what}" with the path and `fix`.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise InputError(
            f"cannot write the {what}", value=f"{path}: {exc.strerror or exc}", fix=fix
        ) from None
    return path
