"""A small on-disk memo of facts about executables, keyed by path, size and mtime."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from envrun.errors import OutputError
from envrun.fsutil import write_atomic


class StatMemo:
    """Remembers what an executable reported until the file changes (size or mtime)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.dirty = False
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
            self.data: dict[str, Any] = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):
            self.data = {}

    @staticmethod
    def key(executable: str) -> str | None:
        """The memo key of an executable file, or None when it is missing or not executable."""
        try:
            st = os.stat(executable)
        except OSError:
            return None
        if not os.access(executable, os.X_OK):
            return None
        return f"{executable}|{st.st_size}|{st.st_mtime_ns}"

    def get(self, key: str) -> Any:
        """The remembered value, or None."""
        return self.data.get(key)

    def put(self, key: str, value: Any) -> None:
        """Remember a value (saved by save())."""
        self.data[key] = value
        self.dirty = True

    def save(self) -> None:
        """Write the memo atomically if anything changed; failure only costs a re-probe later."""
        if not self.dirty:
            return
        text = json.dumps(self.data, indent=1, sort_keys=True)
        try:
            write_atomic(self.path, text, what="memo file", make_parents=True)
            self.dirty = False
        except OutputError:
            pass
