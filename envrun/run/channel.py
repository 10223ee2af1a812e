"""One persistent worker process and the host's ends of its two pipes."""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from envrun import proc
from envrun.errors import BridgeError
from envrun.run.bridge import RUNNER
from envrun.run.sandbox import wrap_argv


def spawn_worker(
    python: Path, log: Path, environ: Mapping[str, str] | None, *, confine: Path | None = None
) -> WorkerProcess:
    """Start `python -I -B _runner.py persistent` with its request and answer pipes.

    With `confine` (the model dir), the worker runs in the sandbox: no network, the model and
    env dirs read-only.
    """
    req_r, req_w = os.pipe()
    resp_r, resp_w = os.pipe()
    offset = log.stat().st_size if log.exists() else 0
    argv = [
        str(python), "-I", "-B", str(RUNNER), "persistent",
        str(req_r), str(resp_w), str(os.getpid() if confine is None else 0),
    ]  # fmt: skip
    if confine is not None:
        argv = wrap_argv(argv, model_dir=confine, env_dir=python.parent.parent)
    try:
        child = proc.spawn(argv, env=environ, pass_fds=(req_r, resp_w), output=log)
    except Exception as exc:
        for fd in (req_r, req_w, resp_r, resp_w):
            os.close(fd)
        raise BridgeError(
            "the env's interpreter could not be started",
            value=str(python),
            fix="rebuild the env (envrun env path MODEL_DIR --rebuild)",
        ) from exc
    os.close(req_r)
    os.close(resp_w)
    os.set_blocking(req_w, False)
    return WorkerProcess(child, req_w, resp_r, log, offset)


class WorkerProcess:
    """One worker process and the host's ends of its pipes."""

    def __init__(self, child: proc.Child, req_fd: int, resp_fd: int, log: Path, offset: int):
        self.child = child
        self.req_fd = req_fd
        self.resp_fd = resp_fd
        self.log = log
        self.log_offset = offset
        self._lock = threading.Lock()
        self._input_open = True

    def end_input(self) -> None:
        """Close the request pipe: the worker reads end of input and leaves."""
        with self._lock:
            if self._input_open:
                self._input_open = False
                os.close(self.req_fd)

    def retire(self, grace: float = 0.0) -> int:
        """End the process (EOF, then SIGTERM, then SIGKILL) and close the pipes; its exit code."""
        self.end_input()
        code = self.child.end(grace) if grace else self._kill()
        os.close(self.resp_fd)
        return code

    def _kill(self) -> int:
        self.child.kill()
        code = self.child.wait()
        return 0 if code is None else code

    def output_tail(self) -> str:
        """What this process wrote to its log (the model's prints, tracebacks), the last part."""
        try:
            with self.log.open("rb") as handle:
                handle.seek(self.log_offset)
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""
        return proc.tail(text, 3000)

    def send(self, frame: bytes, deadline: float | None) -> None:
        """Write a whole frame; TimeoutError at the deadline, OSError if the worker is gone."""
        view = memoryview(frame)
        while view:
            _wait_for(self.req_fd, deadline, write=True)
            try:
                view = view[os.write(self.req_fd, view) :]
            except BlockingIOError:
                continue

    def receive(self, size: int, deadline: float | None) -> bytes:
        """Read exactly `size` bytes; TimeoutError at the deadline, EOFError if the worker ended."""
        chunks = []
        while size:
            _wait_for(self.resp_fd, deadline, write=False)
            chunk = os.read(self.resp_fd, min(size, 1 << 20))
            if not chunk:
                raise EOFError("the worker closed its answer pipe")
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)


def _wait_for(fd: int, deadline: float | None, *, write: bool) -> None:
    """Block until fd is ready, or raise TimeoutError at the deadline."""
    remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
    ready = select.select([], [fd], [], remaining) if write else select.select([fd], [], [], remaining)
    if not any(ready):
        raise TimeoutError
