"""A pool of persistent workers: each loads the model once and answers framed requests.

One process per slot, started inside the model's env through the runner, talking over two
dedicated pipes. Callers queue for a free worker; each worker runs one request at a time. A
request that overruns its timeout kills and replaces its worker (WorkerTimeout), a worker that
dies is replaced (WorkerCrashed); only that request's caller sees the error. Every spawn happens
on one long-lived supervisor thread, because Linux's parent-death signal fires when the thread
that forked the child ends, not the process.
"""

from __future__ import annotations

import json
import queue
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envrun.errors import BridgeError, EnvrunError, InputError, WorkerCrashed, WorkerTimeout
from envrun.model.mlmodel import ModelInfo
from envrun.run.bridge import _describe_exit, _error_from, _where, model_request
from envrun.run.channel import WorkerProcess, spawn_worker
from envrun.run.values import DecodedOutput
from envrun.run.worker import protocol as wire

FORMATS = wire.BYTES_FORMATS


@dataclass(frozen=True)
class WorkerInfo:
    """A worker's handshake: who answered, on which Python, and how long loading took."""

    slot: int
    pid: int
    protocol: int
    python: dict[str, str]
    packages: dict[str, str] | None
    load_seconds: float
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class PoolStats:
    """Counters for metrics; a snapshot."""

    workers: int
    ready: int
    in_flight: int
    queued: int
    served: int
    failed: int
    restarts: int
    load_seconds: tuple[float | None, ...]  # per slot, the current worker's


@dataclass(frozen=True)
class PoolPrediction(DecodedOutput):
    """One answer: MLflow's JSON text, the lossless tree and its arrays, and the worker's notes."""

    predictions_text: str
    output: dict[str, Any]
    arrays: dict[str, bytes]
    warnings: tuple[str, ...]
    timings: dict[str, float]
    pid: int


class _Slot:
    def __init__(self, index: int) -> None:
        self.index = index
        self.state = "starting"  # starting | idle | busy | broken | closed
        self.process: WorkerProcess | None = None
        self.info: WorkerInfo | None = None
        self.error: EnvrunError | None = None


class Pool:
    """N persistent workers for one model in one env; `predict` is safe to call from threads."""

    def __init__(
        self,
        python: Path,
        model: ModelInfo,
        *,
        workers: int = 1,
        timeout: float | None = None,
        load_timeout: float | None = None,
        device: str = "auto",
        enforce_signature: bool = True,
        want_packages: bool = False,
        environ: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        sandbox: bool = False,
    ) -> None:
        if workers < 1:
            raise BridgeError(
                "a pool needs at least one worker", value=str(workers), fix="pass workers=1 or more"
            )
        self.python = python
        self.timeout = timeout
        self.load_timeout = load_timeout
        self._environ = environ
        # Confine each worker (no network, model and env read-only): run.sandbox.
        self._confine = model.path if sandbox else None
        self._tmp = None if log_dir else tempfile.TemporaryDirectory(prefix="envrun-pool-")
        self.log_dir = log_dir or Path(self._tmp.name if self._tmp else ".")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._load = {
            "protocol": wire.PROTOCOL,
            "model": model_request(model, device=device),
            "signature": {"inputs": model.signature_inputs, "params": model.signature_params},
            "enforce_signature": enforce_signature,
            "want_packages": want_packages,
        }
        self.where = _where(self._load)
        self._cond = threading.Condition()
        self._slots = [_Slot(i) for i in range(workers)]
        self._closed = False
        self._queued = self._served = self._failed = self._restarts = self._next_id = 0
        self._spawns: queue.Queue[_Slot | None] = queue.Queue()
        self._supervisor = threading.Thread(target=self._supervise, name="envrun-pool", daemon=True)
        self._supervisor.start()
        for slot in self._slots:
            self._spawns.put(slot)
        with self._cond:
            self._cond.wait_for(lambda: all(s.state != "starting" for s in self._slots))
            broken = [s.error for s in self._slots if s.state == "broken"]
        if broken:
            self.close()
            raise broken[0] or BridgeError("a worker failed to start", value=self.where)

    # ------------------------------------------------------------ public face

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def predict(
        self,
        data: bytes,
        fmt: str = "json",
        *,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> PoolPrediction:
        """Predict one input given as bytes in `fmt` (json, csv, npy, npz, parquet)."""
        if fmt not in FORMATS:
            raise InputError(
                "unknown input format for the worker pool",
                value=fmt,
                fix=f"use one of: {', '.join(FORMATS)}",
            )
        limit = self.timeout if timeout is None else timeout
        slot = self._acquire()
        process = slot.process
        assert process is not None
        header = {"id": self._take_id(), "format": fmt, "params": params}
        try:
            frame = self._exchange(process, header, bytes(data), limit)
        except BridgeError:
            self._release(slot, ok=False, replace=True)
            raise
        kind, reply, blobs = frame
        self._release(slot, ok=kind == wire.KIND_RESULT, replace=False)
        if kind == wire.KIND_ERROR:
            raise self._remote_error(reply, process)
        text = blobs.pop(wire.PREDICTIONS_FILE, None)
        tree = reply.get("output") or {"kind": "none"}
        if text is None:
            from envrun.run.values import to_jsonable

            rendered = json.dumps({"predictions": to_jsonable(tree, blobs)})
        else:
            rendered = text.decode("utf-8")
        return PoolPrediction(
            predictions_text=rendered,
            output=tree,
            arrays=blobs,
            warnings=tuple(str(w) for w in reply.get("warnings") or ()),
            timings={k: float(v) for k, v in (reply.get("timings") or {}).items()},
            pid=process.child.pid,
        )

    def workers(self) -> tuple[WorkerInfo, ...]:
        """The handshakes of the workers that are up now."""
        with self._cond:
            return tuple(s.info for s in self._slots if s.info is not None)

    def stats(self) -> PoolStats:
        """Restarts, requests in flight and queued, requests served, load time per worker."""
        with self._cond:
            return PoolStats(
                workers=len(self._slots),
                ready=sum(s.state == "idle" for s in self._slots),
                in_flight=sum(s.state == "busy" for s in self._slots),
                queued=self._queued,
                served=self._served,
                failed=self._failed,
                restarts=self._restarts,
                load_seconds=tuple(s.info.load_seconds if s.info else None for s in self._slots),
            )

    def close(self, grace: float = 5.0) -> None:
        """End every worker (end of input, then SIGTERM, then SIGKILL); idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        self._spawns.put(None)
        self._supervisor.join()
        with self._cond:
            # Requests in flight may finish; their callers retire their workers.
            self._cond.wait_for(lambda: all(s.state != "busy" for s in self._slots), grace)
            idle = [s for s in self._slots if s.state == "idle"]
            for slot in idle:
                slot.state = "closed"
            busy = [s.process for s in self._slots if s.state in ("busy", "starting")]
        for slot in idle:  # all of them read end of input at once, then each is waited for
            if slot.process is not None:
                slot.process.end_input()
        for slot in idle:
            if slot.process is not None:
                slot.process.retire(grace)
        for process in busy:
            if process is not None:
                process.child.kill()
                process.child.wait()
        if self._tmp is not None:
            self._tmp.cleanup()

    # ------------------------------------------------------------ slots

    def _take_id(self) -> int:
        with self._cond:
            self._next_id += 1
            return self._next_id

    def _acquire(self) -> _Slot:
        with self._cond:
            self._queued += 1
            try:
                while True:
                    if self._closed:
                        raise BridgeError(
                            "the worker pool is closed", value=self.where, fix="open a new pool"
                        )
                    for slot in self._slots:
                        if slot.state == "idle":
                            slot.state = "busy"
                            return slot
                    if all(s.state == "broken" for s in self._slots):
                        error = next(s.error for s in self._slots if s.error is not None)
                        raise error.with_traceback(None)
                    self._cond.wait()
            finally:
                self._queued -= 1

    def _release(self, slot: _Slot, *, ok: bool, replace: bool) -> None:
        process = slot.process
        with self._cond:
            self._served += ok
            self._failed += not ok
            closing = self._closed
            if replace or closing:
                slot.state = "closed" if closing else "starting"
                slot.info = None
                if not closing:
                    self._restarts += 1
            else:
                slot.state = "idle"
            self._cond.notify_all()
        if (replace or closing) and process is not None:
            process.retire(grace=0.0 if replace else 5.0)
            if not closing:
                self._spawns.put(slot)

    # ------------------------------------------------------------ processes

    def _supervise(self) -> None:
        while True:
            slot = self._spawns.get()
            if slot is None:
                return
            with self._cond:
                if self._closed:
                    slot.state = "closed"
                    continue
            try:
                slot.process = spawn_worker(
                    self.python,
                    self.log_dir / f"worker-{slot.index}.log",
                    self._environ,
                    confine=self._confine,
                )
            except BridgeError as exc:
                self._mark_broken(slot, exc)
                continue
            threading.Thread(target=self._handshake, args=(slot, slot.process), daemon=True).start()

    def _handshake(self, slot: _Slot, process: WorkerProcess) -> None:
        try:
            frame = self._exchange(process, None, b"", self.load_timeout)
        except BridgeError as exc:
            process.retire()
            self._mark_broken(slot, exc)
            return
        kind, header, _ = frame
        if kind != wire.KIND_HELLO or header.get("protocol") != wire.PROTOCOL:
            process.retire()
            error = self._remote_error(header, process) if kind == wire.KIND_ERROR else None
            self._mark_broken(slot, error or self._crash(process, "answered in another protocol"))
            return
        info = WorkerInfo(
            slot=slot.index,
            pid=int(header.get("pid") or process.child.pid),
            protocol=int(header["protocol"]),
            python=dict(header.get("python") or {}),
            packages=header.get("packages"),
            load_seconds=float(header.get("load_seconds") or 0.0),
            warnings=tuple(str(w) for w in header.get("warnings") or ()),
        )
        with self._cond:
            if self._closed:
                slot.state = "closed"
            else:
                slot.info, slot.error, slot.state = info, None, "idle"
            self._cond.notify_all()
        if slot.state == "closed":
            process.retire(5.0)

    def _mark_broken(self, slot: _Slot, error: EnvrunError) -> None:
        with self._cond:
            slot.state = "closed" if self._closed else "broken"
            slot.error = error
            self._cond.notify_all()

    # ------------------------------------------------------------ the wire

    def _exchange(
        self, process: WorkerProcess, header: dict[str, Any] | None, data: bytes, limit: float | None
    ) -> tuple[bytes, dict[str, Any], dict[str, bytes]]:
        """Send a request (or, with header None, the load frame) and read the answer."""
        deadline = None if limit is None else time.monotonic() + limit
        if header is None:
            frame = wire.encode_frame(wire.KIND_LOAD, self._load)
        else:
            frame = wire.encode_frame(wire.KIND_REQUEST, header, [("input", data)])
        try:
            process.send(frame, deadline)
            prefix = process.receive(wire.PREFIX_SIZE, deadline)
            remaining, kind = wire.frame_length(prefix)
            return wire.decode_body(kind, process.receive(remaining, deadline))
        except TimeoutError:
            process.child.kill()
            raise WorkerTimeout(
                f"the model did not answer within {limit:g} s; its worker was stopped and is "
                "being replaced",
                value=self.where,
                fix="raise the pool's timeout, or check the model for an endless loop",
                stderr=process.output_tail(),
            ) from None
        except (OSError, EOFError, wire.FrameError) as exc:
            process.child.kill()
            raise self._crash(process, str(exc) or type(exc).__name__) from None

    def _crash(self, process: WorkerProcess, detail: str) -> WorkerCrashed:
        code = process.child.wait(5.0)
        how = "still running" if code is None else _describe_exit(code)
        return WorkerCrashed(
            f"the model's worker ended without an answer ({how}): {detail}",
            value=self.where,
            fix="the model crashed its interpreter (out of memory, a native crash, os._exit); "
            f"the worker is replaced; its output is in {process.log}",
            returncode=code,
            stderr=process.output_tail(),
        )

    def _remote_error(self, header: dict[str, Any], process: WorkerProcess) -> EnvrunError:
        error = _error_from({"error": header}, 0, process.output_tail(), self.where)
        if not isinstance(error, EnvrunError):  # pragma: no cover - _error_from returns ours
            return BridgeError(str(error), value=self.where)
        if isinstance(error, InputError):
            error.error_code = str(header.get("code") or wire.BAD_REQUEST)
        return error

