"""The one-shot entry: answer CTL_DIR/request.json with CTL_DIR/response.json, written last.

Run inside the model's env as ``python -I -B _runner.py oneshot CTL_DIR``, and imported by the
host for in-process runs. The host reads response.json and never parses stdout.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from .encoding import Encoder, encode_result
from .failure import Failure
from .inputs import read_input
from .loading import installed_packages, load_model, predict, python_info
from .protocol import (
    EXIT_BAD_REQUEST,
    EXIT_MODEL,
    EXIT_OK,
    PREDICTIONS_FILE,
    PROTOCOL,
    RESPONSE_FILE,
)
from .request import read_request
from .signature import enforce


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            handle.write(text)
        tmp.replace(path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _run(ctl: Path, response: dict[str, Any], stage: list[str]) -> None:
    timings, warnings = response["timings"], response["warnings"]
    request = read_request(ctl)
    if request.get("want_packages"):
        try:
            response["packages"] = installed_packages()
        except Exception as exc:
            warnings.append(f"could not list installed packages: {exc}")
    if request.get("load_only"):
        stage[0] = "load"
        start = time.perf_counter()
        load_model(request["model"], warnings)
        timings["load"] = time.perf_counter() - start
        return
    stage[0] = "input"
    start = time.perf_counter()
    data, json_params = read_input(request)
    params = request["params"] if request.get("params") is not None else json_params
    data, params = enforce(data, params, request, warnings)
    timings["input"] = time.perf_counter() - start

    stage[0] = "load"
    start = time.perf_counter()
    predict_fn = load_model(request["model"], warnings)
    timings["load"] = time.perf_counter() - start

    stage[0] = "predict"
    start = time.perf_counter()
    result = predict(predict_fn, data, params)
    timings["predict"] = time.perf_counter() - start

    stage[0] = "encode"
    start = time.perf_counter()
    response["output"], text = encode_result(result, Encoder(ctl), warnings)
    if text is not None:
        _write_text(ctl / PREDICTIONS_FILE, text)
        response["predictions_file"] = PREDICTIONS_FILE
    timings["encode"] = time.perf_counter() - start


def serve(ctl_dir: str) -> int:
    """Handle CTL_DIR/request.json, write CTL_DIR/response.json last; return the exit code."""
    ctl = Path(ctl_dir).absolute()
    response: dict[str, Any] = {
        "protocol": PROTOCOL,
        "status": "ok",
        "error": None,
        "timings": {},
        "python": python_info(),
        "packages": None,
        "warnings": [],
        "output": None,
        "predictions_file": None,
    }
    saved_path = list(sys.path)
    stage = ["request"]
    failure = None
    try:
        _run(ctl, response, stage)
    except Failure as exc:
        failure = exc
    except Exception as exc:  # anything unforeseen still ends in a response, in its stage
        failure = Failure.wrap(stage[0], exc)
    finally:
        sys.path[:] = saved_path
    code = EXIT_OK
    if failure is not None:
        response.update(status="error", error=failure.as_dict(), output=None)
        response["predictions_file"] = None
        code = EXIT_BAD_REQUEST if failure.stage in ("request", "input") else EXIT_MODEL
    try:
        _write_text(ctl / RESPONSE_FILE, json.dumps(response, default=repr))
    except Exception as exc:
        sys.stderr.write(f"envrun worker: cannot write response.json: {exc}\n")
        return EXIT_MODEL
    return code


def main(argv: list[str]) -> int:
    """Entry point: ``_runner.py oneshot CTL_DIR``."""
    if len(argv) != 1:
        sys.stderr.write("usage: _runner.py oneshot CTL_DIR\n")
        return 2
    return serve(argv[0])

