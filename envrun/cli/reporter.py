"""The terminal reporter: progress and warnings on stderr, results on stdout, errors with hints.

Library errors are complete on their own; hints that only make sense on a terminal ("shown
above", "-v") are added here, by error type, because only the CLI knows what it printed.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path, PurePath
from typing import IO

import envrun
from envrun.errors import (
    BridgeError,
    CommandFailed,
    EnvBuildError,
    EnvrunError,
    PredictError,
    UnsafeModelError,
)

_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line \d+')
_ENVRUN_DIR = Path(envrun.__file__).resolve().parent


class TerminalReporter:
    """Progress on stderr: a live line on a terminal, plain step lines elsewhere, nothing with -q."""

    def __init__(
        self,
        stream: IO[str],
        *,
        quiet: bool,
        verbose: bool,
        out: IO[str] | None = None,
    ) -> None:
        self.stream = stream
        self.out = sys.stdout if out is None else out
        self.quiet = quiet
        self.verbose = verbose
        self.live = stream.isatty() and not quiet
        self.start = time.monotonic()
        self.current = ""
        self.dirty = False

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.start:6.1f}s"

    def step(self, message: str) -> None:
        """A new step began: one line, prefixed with the time since start."""
        if self.quiet:
            return
        self.current = message
        self._clear()
        self.stream.write(f"envrun: [{self._elapsed()}] {message}\n")
        self.stream.flush()

    def line(self, text: str) -> None:
        """A tool's output line: shown with -v, as the live line on a terminal, else dropped."""
        if self.quiet or not text.strip():
            return
        if self.verbose:
            self._clear()
            self.stream.write(f"  | {text}\n")
        elif self.live:
            width = max(20, columns() - 30)
            self.stream.write(f"\r\x1b[K  [{self._elapsed()}] {text.strip()[:width]}")
            self.dirty = True
        self.stream.flush()

    def warn(self, message: str) -> None:
        """Something to know that does not stop the run."""
        if self.quiet:
            return
        self._clear()
        self.stream.write(f"envrun: warning: {message}\n")
        self.stream.flush()

    def result(self, text: str) -> None:
        """The command's result on stdout, newline-terminated."""
        self.out.write(text if text.endswith("\n") else text + "\n")
        self.out.flush()

    def error(self, exc: EnvrunError) -> None:
        """A library error: what the library attached (installer lines, a traceback), the
        three-part message, then the hints that fit what was (or was not) shown here."""
        self._clear()
        hints: list[str] = []
        if isinstance(exc, EnvBuildError) and exc.tail:
            self._block("the installer's last lines:", exc.tail, 25)
            hints.append("the installer's last lines are shown above")
        elif isinstance(exc, CommandFailed) and (exc.stderr.strip() or exc.stdout.strip()):
            self._block("the command's last output lines:", exc.stderr.strip() or exc.stdout, 25)
            hints.append("the command's last output lines are shown above")
        elif isinstance(exc, PredictError) and exc.traceback:
            if self.verbose or shows_model_code(exc.traceback):
                self._block("traceback from the model's process:", exc.traceback, None)
                hints.append("the traceback from the model's process is shown above")
            else:
                # Only envrun's worker and the import machinery: the message says it all.
                hints.append(
                    "the model's traceback holds only envrun's and the import system's frames; "
                    "-v shows it"
                )
        elif isinstance(exc, UnsafeModelError):
            hints.append("`envrun scan MODEL_DIR` lists every finding")
        elif isinstance(exc, BridgeError) and exc.stderr.strip():
            if self.verbose:
                self._block("the worker's stderr:", exc.stderr, 40)
                hints.append("the worker's stderr is shown above")
            else:
                hints.append("rerun with -v to see what the worker wrote to stderr")
        lines = exc.render().splitlines()
        self.stream.write(f"envrun: error: {lines[0]}\n")
        for line in lines[1:]:
            self.stream.write(f"  {line.strip()}\n")
        if exc.diagnosis is not None:
            self.stream.write(f"  {exc.diagnosis.render()}\n")
        for hint in hints:
            self.stream.write(f"  hint: {hint}\n")
        self.stream.flush()

    def _block(self, title: str, text: str, last: int | None) -> None:
        lines = text.rstrip().splitlines()
        if last is not None:
            lines = lines[-last:]
        self.stream.write(f"envrun: {title}\n")
        self.stream.write("".join(f"  | {line}\n" for line in lines))

    def _clear(self) -> None:
        if self.dirty:
            self.stream.write("\r\x1b[K")
            self.dirty = False


def shows_model_code(traceback: str) -> bool:
    """Whether a traceback has a frame of the model's own code or libraries.

    Frames of envrun itself (the worker) and of the import machinery (importlib, frozen
    modules) do not count: a traceback made only of those adds nothing to the error line.
    A traceback with no frame this can read counts as the model's, so nothing is hidden.
    """
    files = [m.group("file") for m in map(_FRAME.match, traceback.splitlines()) if m]
    return not files or not all(map(_machinery, files))


def _machinery(filename: str) -> bool:
    if filename.startswith("<frozen "):
        return True
    path = PurePath(filename)
    if path.parent.name == "importlib" and not {"site-packages", "dist-packages"} & set(path.parts):
        return True  # the stdlib's importlib/__init__.py, of whichever interpreter ran the model
    try:
        return Path(filename).resolve().is_relative_to(_ENVRUN_DIR)
    except (OSError, RuntimeError, ValueError):
        return False


def columns() -> int:
    """The terminal's width on stderr, or 100 when there is none."""
    try:
        return os.get_terminal_size(2).columns or 100  # 0 when the terminal reports no size
    except OSError:
        return 100
