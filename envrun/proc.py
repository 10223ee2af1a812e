"""The one subprocess seam: argv lists only, a scrubbed environment, typed failures."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from envrun.errors import CommandFailed
from envrun.settings import scrubbed_env

TAIL_CHARS = 4000


@dataclass(frozen=True)
class Result:
    """What a finished command produced."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    seconds: float


def tail(text: str, limit: int = TAIL_CHARS) -> str:
    """The last `limit` characters of text, cut at a line start."""
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    return cut[newline + 1 :] if newline != -1 else cut


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    check: bool = True,
    log: Path | None = None,
    on_line: Callable[[str], None] | None = None,
) -> Result:
    """Run argv and wait; raise CommandFailed on a non-zero exit (when check) or a timeout.

    `env` is the child's whole environment, as `Settings.child_env()` makes it; without one the
    child gets this process's environment, scrubbed the same way. With `log`, stdout and stderr
    go to that file (appended, interleaved) instead of memory, and `on_line` sees each line as
    it arrives, for progress display.
    """
    args = [os.fspath(a) for a in argv]
    full_env = dict(env) if env is not None else scrubbed_env(os.environ)
    start = time.monotonic()
    if log is not None:
        return _run_logged(args, full_env, cwd, timeout, check, log, on_line, start)
    try:
        completed = subprocess.run(
            args,
            env=full_env,
            cwd=cwd,
            timeout=timeout,
            capture_output=True,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandFailed(
            args, None, _text(exc.stdout), _text(exc.stderr), timed_out=True
        ) from None
    except OSError as exc:
        raise CommandFailed(args, None, "", str(exc)) from None
    result = Result(
        args,
        completed.returncode,
        _text(completed.stdout),
        _text(completed.stderr),
        time.monotonic() - start,
    )
    if check and result.returncode != 0:
        raise CommandFailed(args, result.returncode, tail(result.stdout), tail(result.stderr))
    return result


def _run_logged(  # noqa: PLR0917 - private twin of run(), called once
    args: list[str],
    env: dict[str, str],
    cwd: Path | None,
    timeout: float | None,
    check: bool,
    log: Path,
    on_line: Callable[[str], None] | None,
    start: float,
) -> Result:
    log.parent.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    fired = threading.Event()
    with log.open("a", encoding="utf-8", errors="replace") as sink:
        sink.write(f"$ {' '.join(args)}\n")
        sink.flush()
        try:
            proc = subprocess.Popen(
                args,
                env=env,
                cwd=cwd,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                text=True,
                errors="replace",
            )
        except OSError as exc:
            raise CommandFailed(args, None, "", str(exc)) from None

        def expire() -> None:
            fired.set()
            proc.kill()

        # A watchdog, because a silent, hung installer would block the line loop forever.
        timer = threading.Timer(timeout, expire) if timeout is not None else None
        with proc:
            if timer is not None:
                timer.start()
            try:
                assert proc.stdout is not None
                for line in proc.stdout:
                    sink.write(line)
                    lines.append(line)
                    if len(lines) > 400:
                        del lines[:200]
                    if on_line is not None:
                        on_line(line.rstrip("\n"))
                returncode = proc.wait()
            except BaseException:
                proc.kill()
                raise
            finally:
                if timer is not None:
                    timer.cancel()
    output = "".join(lines)
    if fired.is_set():
        raise CommandFailed(args, None, "", tail(output), timed_out=True)
    result = Result(args, returncode, output, "", time.monotonic() - start)
    if check and returncode != 0:
        raise CommandFailed(args, returncode, "", tail(output))
    return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    if isinstance(data, bytes):
        return data.decode("utf-8", errors="replace")
    return data


class Child:
    """A long-lived child started by `spawn`; ended by its owner, never left behind."""

    def __init__(self, argv: list[str], popen: subprocess.Popen[bytes]) -> None:
        self.argv = argv
        self._popen = popen

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self._popen.pid

    def poll(self) -> int | None:
        """The exit code if the child has ended (negative: killed by that signal), else None."""
        return self._popen.poll()

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the child to end; its exit code, or None if it still runs after `timeout`."""
        try:
            return self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """SIGKILL the child (a no-op once it has ended and been reaped)."""
        self._popen.kill()

    def end(self, grace: float = 5.0) -> int:
        """Wait `grace` seconds for the child to leave on its own, then SIGTERM, then SIGKILL."""
        code = self.wait(grace)
        if code is None:
            self._popen.terminate()
            code = self.wait(min(grace, 2.0))
        if code is None:
            self.kill()
            code = self._popen.wait()
        return code


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
    output: Path | None = None,
) -> Child:
    """Start a long-lived child (a persistent worker) and return without waiting.

    Its stdin is /dev/null, and its stdout goes where its stderr goes (appended to `output`, or
    this process's stderr): a child that talks over `pass_fds` pipes cannot have its channel
    corrupted by what the code it runs prints. `env` is the child's whole environment, as for
    `run`; without it the child gets this process's environment, scrubbed.
    """
    args = [os.fspath(a) for a in argv]
    sink = output.open("ab") if output is not None else None
    try:
        popen = subprocess.Popen(
            args,
            env=dict(env) if env is not None else scrubbed_env(os.environ),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink if sink is not None else 2,
            stderr=sink if sink is not None else 2,
            pass_fds=tuple(pass_fds),
            close_fds=True,
        )
    except OSError as exc:
        raise CommandFailed(args, None, "", str(exc)) from None
    finally:
        if sink is not None:
            sink.close()
    return Child(args, popen)
