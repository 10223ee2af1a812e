"""The request: which model to load, its signature, the input and params; checked on arrival."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .failure import Failure
from .protocol import FILE_FORMATS, PROTOCOL, REQUEST_FILE


def read_request(ctl: Path) -> dict[str, Any]:
    """Read and check CTL_DIR/request.json."""
    path = ctl / REQUEST_FILE
    try:
        with path.open(encoding="utf-8") as handle:
            request = json.load(handle)
    except (OSError, ValueError) as exc:
        raise Failure.wrap("request", exc, f"cannot read {path}: {exc}") from exc
    if not isinstance(request, dict):
        raise Failure("request", "request.json must hold a JSON object")
    check_model_request(request)
    if request.get("load_only"):  # a smoke test of the load: no input to check
        return request
    source = request.get("input")
    if not isinstance(source, dict) or not source.get("path"):
        raise Failure("request", "request.input needs 'path' and 'format'")
    if source.get("format") not in FILE_FORMATS:
        raise Failure("request", f"unknown input format {source.get('format')!r}")
    check_params(request.get("params"))
    return request


def check_model_request(request: dict[str, Any]) -> None:
    """Check what every request names: protocol, model and signature (one-shot and pool alike)."""
    if request.get("protocol") != PROTOCOL:
        raise Failure(
            "request", f"unsupported protocol {request.get('protocol')!r}, expected {PROTOCOL}"
        )
    model = request.get("model")
    if not isinstance(model, dict) or not model.get("dir") or not model.get("loader_module"):
        raise Failure("request", "request.model needs 'dir' and 'loader_module'")
    signature = request.get("signature")
    if signature is not None and not isinstance(signature, dict):
        raise Failure("request", "request.signature must be an object or null")


def check_params(params: Any) -> None:
    """Params given by the caller (not in the JSON input) must be an object or null."""
    if params is not None and not isinstance(params, dict):
        raise Failure("request", "request.params must be an object or null")


def signature_of(request: dict[str, Any]) -> tuple[list[dict[str, Any]] | None, Any]:
    """(input specs or None, param specs) of the request's signature."""
    signature = request.get("signature") or {}
    return signature.get("inputs") or None, signature.get("params")


def is_column_signature(inputs: list[dict[str, Any]] | None) -> bool:
    """True for a column (DataFrame) signature, False for tensors or none."""
    return bool(inputs) and all(spec.get("type") != "tensor" for spec in inputs or [])
