"""Run an entry of envrun's worker package inside a model's env, exposing that package alone.

Run by path with the env's interpreter: ``python -I -B _runner.py ENTRY ARGS...`` where ENTRY is
``oneshot`` or ``persistent``. With -I, neither this file's directory nor the user's site is on
sys.path; a meta-path finder then serves the worker package (``run/worker/`` next to this file)
under the private name ``_envrun_worker``, and nothing else. So none of envrun's modules can
shadow the model's own (a model may ship ``inputs.py`` or ``protocol.py``), and -B keeps
``__pycache__`` out of the env and the model dir. Standard library only, Python 3.8+.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Sequence

PACKAGE = "_envrun_worker"
ENTRIES = ("oneshot", "persistent")
HERE = Path(__file__).resolve().parent
WORKER_DIR = HERE / "worker"


class WorkerFinder(importlib.abc.MetaPathFinder):
    """Finds the top-level worker package; its submodules come from its own __path__ only."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        """The spec of the worker package, for its private name only."""
        if fullname != PACKAGE:
            return None
        return importlib.util.spec_from_file_location(
            PACKAGE,
            str(WORKER_DIR / "__init__.py"),
            submodule_search_locations=[str(WORKER_DIR)],
        )


def main(argv: list[str]) -> int:
    """Import and run one entry of the worker package; return its exit code."""
    if not argv or argv[0] not in ENTRIES:
        sys.stderr.write("usage: _runner.py {} ARGS...\n".format("|".join(ENTRIES)))
        return 2
    # Without -I the script's directory would lead sys.path; it must never serve imports.
    sys.path[:] = [p for p in sys.path if Path(p or os.curdir).resolve() != HERE]
    sys.meta_path.insert(0, WorkerFinder())
    entry = importlib.import_module(PACKAGE + "." + argv[0])
    code: int = entry.main(argv[1:])
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
