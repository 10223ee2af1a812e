"""The persistent entry: load the model once, then answer framed requests on two pipes.

Run inside the model's env as ``python -I -B _runner.py persistent REQ_FD RESP_FD PARENT_PID``.
Frames (see protocol.py) travel on the two inherited pipe fds, never on stdin or stdout, and
fd 1 is pointed at stderr, so whatever the model prints cannot corrupt the channel. The worker
ends at end of input on REQ_FD (the host closed it, or died) and, on Linux, when its parent dies
(PR_SET_PDEATHSIG), even in the middle of a predict.
"""

from __future__ import annotations

import faulthandler
import os
import signal
import sys
import time
from typing import Any

from .encoding import Encoder, encode_result
from .failure import Failure
from .inputs import parse_bytes
from .loading import installed_packages, load_model, predict, python_info
from .protocol import (
    KIND_ERROR,
    KIND_HELLO,
    KIND_LOAD,
    KIND_REQUEST,
    KIND_RESULT,
    PREDICTIONS_FILE,
    PROTOCOL,
    FrameError,
    read_frame,
    write_frame,
)
from .request import check_model_request, check_params, signature_of
from .signature import enforce

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
INPUT_BLOB = "input"


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies (Linux), then check the race."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except Exception as exc:  # end of input on the request pipe still ends the worker
            sys.stderr.write(f"envrun worker: PR_SET_PDEATHSIG not set: {exc}\n")
    # 0: the parent is a sandbox tool between the host and this process (bwrap dies with the
    # host), so there is no pid to compare.
    if parent_pid and os.getppid() != parent_pid:
        os._exit(0)  # the parent died before the signal was armed


def _error(stage: str, exc: BaseException) -> Failure:
    return exc if isinstance(exc, Failure) else Failure.wrap(stage, exc)


class Worker:
    """One loaded model and the loop that answers requests for it."""

    def __init__(self, resp_fd: int, load: dict[str, Any]) -> None:
        self.resp_fd = resp_fd
        self.load = load
        self.inputs = signature_of(load)[0] if load.get("enforce_signature", True) else None
        self.predict_fn: Any = None

    def hello(self) -> None:
        """Load the model and answer the handshake (or the load failure)."""
        warnings: list[str] = []
        start = time.perf_counter()
        self.predict_fn = load_model(self.load["model"], warnings)
        seconds = time.perf_counter() - start
        packages = None
        if self.load.get("want_packages"):
            try:
                packages = installed_packages()
            except Exception as exc:
                warnings.append(f"could not list installed packages: {exc}")
        header = {
            "protocol": PROTOCOL,
            "pid": os.getpid(),
            "python": python_info(),
            "packages": packages,
            "load_seconds": seconds,
            "warnings": warnings,
        }
        write_frame(self.resp_fd, KIND_HELLO, header)

    def answer(self, header: dict[str, Any], blobs: dict[str, bytes]) -> None:
        """Answer one request frame with a result or an error frame."""
        request_id = header.get("id")
        warnings: list[str] = []
        timings: dict[str, float] = {}
        stage = "request"
        try:
            fmt, params = header.get("format"), header.get("params")
            check_params(params)
            if INPUT_BLOB not in blobs or not isinstance(fmt, str):
                raise Failure("request", "a request needs an 'input' blob and a 'format'")
            stage = "input"
            start = time.perf_counter()
            data, json_params = parse_bytes(blobs[INPUT_BLOB], fmt, self.inputs)
            data, params = enforce(
                data, params if params is not None else json_params, self.load, warnings
            )
            timings["input"] = time.perf_counter() - start
            stage = "predict"
            start = time.perf_counter()
            result = predict(self.predict_fn, data, params)
            timings["predict"] = time.perf_counter() - start
            stage = "encode"
            start = time.perf_counter()
            encoder = Encoder()
            tree, text = encode_result(result, encoder, warnings)
            timings["encode"] = time.perf_counter() - start
        except Exception as exc:
            error = _error(stage, exc).as_dict()
            write_frame(self.resp_fd, KIND_ERROR, dict(error, id=request_id, warnings=warnings))
            return
        out = list(encoder.blobs)
        if text is not None:
            out.append((PREDICTIONS_FILE, text.encode("utf-8")))
        reply = {"id": request_id, "output": tree, "warnings": warnings, "timings": timings}
        write_frame(self.resp_fd, KIND_RESULT, reply, out)


def serve(req_fd: int, resp_fd: int) -> int:
    """The handshake, then one answer per request until end of input; return the exit code."""
    try:
        first = read_frame(req_fd)
    except FrameError as exc:
        write_frame(resp_fd, KIND_ERROR, Failure("request", str(exc)).as_dict())
        return 2
    if first is None:
        return 0
    kind, load, _ = first
    worker = Worker(resp_fd, load)
    try:
        if kind != KIND_LOAD:
            raise Failure("request", f"the first frame must load a model, got {kind!r}")
        check_model_request(load)
        worker.hello()
    except Exception as exc:
        write_frame(resp_fd, KIND_ERROR, _error("load", exc).as_dict())
        return 4
    while True:
        frame = read_frame(req_fd)
        if frame is None:
            return 0
        kind, header, blobs = frame
        if kind != KIND_REQUEST:
            failure = Failure("request", f"expected a request frame, got {kind!r}")
            write_frame(resp_fd, KIND_ERROR, dict(failure.as_dict(), id=header.get("id")))
            return 2
        worker.answer(header, blobs)


def main(argv: list[str]) -> int:
    """Entry point: ``_runner.py persistent REQ_FD RESP_FD PARENT_PID``."""
    if len(argv) != 3 or not all(arg.isdigit() for arg in argv):
        sys.stderr.write("usage: _runner.py persistent REQ_FD RESP_FD PARENT_PID\n")
        return 2
    req_fd, resp_fd, parent = (int(arg) for arg in argv)
    _die_with_parent(parent)
    # The host ends workers by closing their pipes. Ctrl-C in a terminal and a SIGTERM sent to
    # the whole process group (a service manager stopping `envrun serve`) are the host's to
    # handle: it drains the requests in flight on these workers, then closes them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.dup2(2, 1)  # a print, from Python or native code, lands in the log, never in a frame
    sys.stdout = sys.stderr
    faulthandler.enable()  # a native crash leaves its traceback in the log
    try:
        return serve(req_fd, resp_fd)
    except (BrokenPipeError, FrameError) as exc:
        sys.stderr.write(f"envrun worker: the host's channel broke: {exc}\n")
        return 2
