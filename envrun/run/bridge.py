"""Host side of the bridge: a control directory per call, the stdlib-only worker, typed results."""

from __future__ import annotations

import io
import json
import signal
import sys
import time
from collections.abc import Mapping
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from envrun import proc
from envrun.errors import BridgeError, CommandFailed, InputError, PredictError
from envrun.model.mlmodel import ModelInfo
from envrun.run.diagnose import diagnose_load
from envrun.run.sandbox import wrap_argv
from envrun.run.worker.protocol import PROTOCOL, REQUEST_FILE, RESPONSE_FILE

# Run by path with the env's interpreter; it exposes the worker package and nothing else.
RUNNER = Path(__file__).parent / "_runner.py"


@dataclass(frozen=True)
class WorkerResult:
    """The worker's response and what it printed."""

    response: dict[str, Any]
    ctl_dir: Path
    stdout: str
    stderr: str
    seconds: float


def build_request(
    model: ModelInfo,
    *,
    input_path: Path,
    input_format: str,
    params: dict[str, Any] | None,
    want_packages: bool = False,
    enforce_signature: bool = True,
) -> dict[str, Any]:
    """The request.json the worker reads: everything it needs, so it never parses YAML."""
    return {
        "protocol": PROTOCOL,
        "model": model_request(model),
        "signature": {"inputs": model.signature_inputs, "params": model.signature_params},
        "input": {"path": str(input_path), "format": input_format},
        "params": params,
        "enforce_signature": enforce_signature,
        "want_packages": want_packages,
    }


def model_request(model: ModelInfo, *, device: str | None = None) -> dict[str, Any]:
    """What the worker needs to load the model: the python_function conf, resolved paths."""
    conf = model.pyfunc
    section: dict[str, Any] = {
        "dir": str(model.path),
        "loader_module": conf.loader_module,
        "code": conf.code,
        "data": conf.data,
        "model_config": conf.model_config,
        "predict_fn": conf.predict_fn,
    }
    if device is not None:
        section["device"] = device
    return section


def build_load_request(model: ModelInfo, *, want_packages: bool = False) -> dict[str, Any]:
    """A request that loads the model and stops there: a smoke test without any input."""
    request = build_request(
        model, input_path=Path(), input_format="json", params=None, want_packages=want_packages
    )
    request.update(input=None, load_only=True)
    return request


def _write_request(ctl_dir: Path, request: dict[str, Any]) -> None:
    (ctl_dir / REQUEST_FILE).write_text(json.dumps(request, indent=1), encoding="utf-8")


def run_in_env(
    python: Path,
    ctl_dir: Path,
    request: dict[str, Any],
    *,
    timeout: float | None = None,
    environ: Mapping[str, str] | None = None,
    sandbox: bool = False,
) -> WorkerResult:
    """Run the worker with the env's interpreter in isolated mode (confined, with `sandbox`).

    `environ` is the worker's whole environment (Settings.child_env()).

    -I drops the user site, PYTHON* variables and the script's directory from sys.path; -B keeps
    the model directory free of __pycache__ (it may be read-only, and it is the user's).
    """
    _write_request(ctl_dir, request)
    argv = [str(python), "-I", "-B", str(RUNNER), "oneshot", str(ctl_dir)]
    if sandbox:
        model_dir = Path(str(request["model"]["dir"]))
        argv = wrap_argv(argv, model_dir=model_dir, env_dir=python.parent.parent)
    start = time.monotonic()
    try:
        result = proc.run(argv, env=environ, timeout=timeout, check=False)
    except CommandFailed as exc:
        if exc.timed_out:
            raise BridgeError(
                f"the model did not answer within {timeout:g} s and was stopped",
                value=str(request["model"]["dir"]),
                fix="raise --timeout, or check the model for an endless loop",
                stderr=exc.stderr,
                stage="timeout",
            ) from None
        raise BridgeError(
            "the env's interpreter could not be started",
            value=str(python),
            fix="rebuild the env with --rebuild",
            stderr=exc.stderr,
            stage="start",
        ) from None
    seconds = time.monotonic() - start
    response = _read_response(ctl_dir, result.returncode, result.stderr, _where(request))
    return WorkerResult(response, ctl_dir, result.stdout, result.stderr, seconds)


def run_in_process(ctl_dir: Path, request: dict[str, Any]) -> WorkerResult:
    """Run the same worker code inside this process (the host's packages, the host's Python)."""
    from envrun.run.worker import oneshot

    _write_request(ctl_dir, request)
    out, err = io.StringIO(), io.StringIO()
    start = time.monotonic()
    saved = sys.dont_write_bytecode
    sys.dont_write_bytecode = True  # as -B in the env: no __pycache__ in the user's model dir
    try:
        with redirect_stdout(out), redirect_stderr(err):
            code = oneshot.serve(str(ctl_dir))
    finally:
        sys.dont_write_bytecode = saved
        _forget_modules_under(Path(str(request["model"]["dir"])))
    seconds = time.monotonic() - start
    response = _read_response(ctl_dir, code, err.getvalue(), _where(request))
    return WorkerResult(response, ctl_dir, out.getvalue(), err.getvalue(), seconds)


def _forget_modules_under(model_dir: Path) -> None:
    """Drop the model's own code modules from sys.modules after an in-process run.

    Two models may both ship a `code/model.py`; without this the second would get the first's.
    """
    root = str(model_dir.resolve())
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and str(Path(path).resolve()).startswith(root + "/"):
            del sys.modules[name]


def _read_response(ctl_dir: Path, returncode: int, stderr: str, where: str) -> dict[str, Any]:
    """Load response.json; raise the typed error it reports. `where` names the model for messages."""
    path = ctl_dir / RESPONSE_FILE
    try:
        response = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BridgeError(
            f"the worker ended without an answer ({_describe_exit(returncode)})",
            value=proc.tail(stderr, 1500).strip() or "(no output on stderr)",
            fix="the model crashed the interpreter (out of memory, a native crash, os._exit); "
            "the offending value is the end of its stderr",
            returncode=returncode,
            stderr=stderr,
            stage="crash",
        ) from None
    except (OSError, ValueError) as exc:
        raise BridgeError(
            "the worker wrote an unreadable response",
            value=f"{path}: {exc}",
            fix="report this as an envrun bug, with the model if possible",
            returncode=returncode,
            stderr=stderr,
        ) from None
    if not isinstance(response, dict) or response.get("protocol") != PROTOCOL:
        raise BridgeError(
            "the worker answered in an unknown protocol version",
            value=repr(response.get("protocol") if isinstance(response, dict) else response),
            fix="rebuild the env with --rebuild",
            returncode=returncode,
            stderr=stderr,
        )
    if response.get("status") != "ok":
        raise _error_from(response, returncode, stderr, where)
    return response


def _error_from(response: dict[str, Any], returncode: int, stderr: str, where: str) -> Exception:
    error = response.get("error") or {}
    stage = str(error.get("stage") or "predict")
    etype = str(error.get("type") or "Error")
    message = str(error.get("message") or "")
    tb = str(error.get("traceback") or "")
    if stage in ("request", "input"):
        return InputError(
            f"the model's env could not use the input: {message}",
            value=where,
            fix="make the input match the model's signature (see `envrun resolve` for it)",
            stage="request" if stage == "request" else "input",
            detail=message,
            column=str(error["column"]) if error.get("column") is not None else None,
        )
    if stage == "load":
        what = f"loading the model failed: {etype}: {message}"
        fix = "check the loader module and that the model's requirements provide every module it imports"
    else:
        what = f"the model raised while predicting: {etype}: {message}"
        fix = "the error comes from the model's own code; fix it there or change the input"
    error = PredictError(
        what,
        value=where,
        fix=fix,
        traceback=tb,
        returncode=returncode,
        stderr=stderr,
        error_type=etype,
        stage="load" if stage == "load" else "encode" if stage == "encode" else "predict",
        detail=message,
    )
    if stage in ("load", "predict"):  # an old model may meet today's numpy in either
        error.diagnosis = diagnose_load(f"{tb}\n{etype}: {message}")
    return error


def _where(request: dict[str, Any]) -> str:
    model = request.get("model") or {}
    return f"model {model.get('dir')} (loader_module {model.get('loader_module')})"


def _describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"
