"""Parse an input the way MLflow's scoring server does: serving JSON, CSV, .npy, .npz, parquet.

From a file named by a one-shot request, or from bytes sent to the persistent worker.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

from .failure import Failure, need, optional
from .protocol import BYTES_FORMATS, FORMAT_KEYS, SPLIT_SHAPE
from .request import is_column_signature, signature_of


def read_input(request: dict[str, Any]) -> tuple[Any, dict[str, Any] | None]:
    """Parse the request's input file; return (data, params from the JSON or None)."""
    path, fmt = request["input"]["path"], request["input"]["format"]
    inputs = signature_of(request)[0] if request.get("enforce_signature", True) else None
    return _parse(path, fmt, inputs, f"the {fmt} input {path}")


def parse_bytes(
    data: bytes, fmt: str, inputs: list[dict[str, Any]] | None
) -> tuple[Any, dict[str, Any] | None]:
    """Parse an input sent as bytes (the persistent worker); return (data, params or None)."""
    if fmt not in BYTES_FORMATS:
        raise Failure(
            "request", f"unknown input format {fmt!r}; expected one of {', '.join(BYTES_FORMATS)}"
        )
    return _parse(io.BytesIO(data), fmt, inputs, f"the {fmt} input")


def _parse(
    source: Any, fmt: str, inputs: list[dict[str, Any]] | None, label: str
) -> tuple[Any, dict[str, Any] | None]:
    try:
        if fmt == "json":
            return _read_json(source, inputs)
        if fmt in ("csv", "parquet"):
            pd = need("pandas", f"{fmt.upper()} input")
            if fmt == "parquet":
                return pd.read_parquet(source), None
            # Only text columns are pinned while reading ("007" must stay a string);
            # numeric columns are cast, safely, by signature enforcement.
            text_columns = {
                spec["name"]: object
                for spec in inputs or []
                if spec.get("name") and spec.get("type") in ("string", "binary")
            }
            return pd.read_csv(source, dtype=text_columns or None), None
        if fmt == "arrow":
            need("pandas", "Arrow input")
            ipc = need("pyarrow.ipc", "Arrow input")
            return ipc.open_stream(source).read_all().to_pandas(), None
        np = need("numpy", f"{fmt} input")
        if fmt == "npy":
            return np.load(source, allow_pickle=False), None
        with np.load(source, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}, None
    except Failure:
        raise
    except Exception as exc:
        raise Failure.wrap("input", exc, f"cannot read {label}: {exc}") from exc


def _read_json(source: Any, inputs: list[dict[str, Any]] | None) -> tuple[Any, Any]:
    if isinstance(source, str):
        with Path(source).open(encoding="utf-8-sig") as handle:
            text = handle.read()
    else:
        text = source.read().decode("utf-8-sig")
    doc = json.loads(text)  # NaN and Infinity tokens are accepted, as MLflow does
    if not isinstance(doc, dict):
        raise Failure(
            "input",
            f"JSON input must be an object with exactly one of {', '.join(FORMAT_KEYS)}, "
            f"got a {type(doc).__name__}; for example {SPLIT_SHAPE}",
        )
    keys = [key for key in FORMAT_KEYS if key in doc]
    if len(keys) != 1:
        raise Failure(
            "input",
            f"JSON input must have exactly one of {', '.join(FORMAT_KEYS)}; found keys "
            f"{sorted(doc)}; for example {SPLIT_SHAPE}",
        )
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise Failure("input", "'params' in the JSON input must be an object")
    key, payload = keys[0], doc[keys[0]]
    if key.startswith("dataframe_"):
        pd = need("pandas", f"'{key}' input")
        return _frame_from_json(pd, key, payload, inputs), params
    np = optional("numpy")
    if np is None:
        return payload, params
    if key == "instances":
        return _instances(np, payload, inputs), params
    return _inputs(np, payload, inputs), params


def _frame_from_json(pd: Any, key: str, payload: Any, inputs: list[dict[str, Any]] | None) -> Any:
    if key == "dataframe_split":
        if (
            not isinstance(payload, dict)
            or "data" not in payload
            or set(payload) - {"columns", "data", "index"}
        ):
            raise Failure(
                "input",
                "dataframe_split must be an object with 'data' and optional 'columns' and "
                f"'index', for example {SPLIT_SHAPE}",
            )
        frame = pd.DataFrame(
            index=payload.get("index"), columns=payload.get("columns"), data=payload["data"]
        )
    else:
        if not isinstance(payload, list):
            raise Failure("input", "dataframe_records must be a list of records (objects)")
        frame = pd.DataFrame(data=payload)
    for spec in inputs or []:
        name = spec.get("name")
        if spec.get("type") == "binary" and name in frame.columns:
            # JSON carries binary columns base64-encoded, as MLflow's scoring server expects.
            frame[name] = frame[name].map(_unbase64)
    return frame


def _unbase64(value: Any) -> Any:
    return base64.decodebytes(value.encode("ascii")) if isinstance(value, str) else value


def array_of(np: Any, data: Any) -> Any:
    """np.array(data), or an input Failure for ragged or mixed nesting."""
    try:
        return np.array(data)
    except ValueError as exc:
        raise Failure.wrap(
            "input", exc, f"cannot make an array of the input (ragged or mixed nesting?): {exc}"
        ) from exc


def _instances(np: Any, payload: Any, inputs: list[dict[str, Any]] | None) -> Any:
    if not (isinstance(payload, list) and payload and isinstance(payload[0], dict)):
        return _inputs(np, payload, inputs)
    columns: dict[str, list[Any]] = {}
    for record in payload:
        if not isinstance(record, dict):
            raise Failure("input", "'instances' mixes objects and non-objects")
        for name, value in record.items():
            columns.setdefault(name, []).append(value)
    if len({len(values) for values in columns.values()}) > 1:
        raise Failure(
            "input",
            "the instances do not all have the same fields; each input name needs a value "
            "in every instance",
        )
    return {name: array_of(np, values) for name, values in columns.items()}


def _inputs(np: Any, payload: Any, inputs: list[dict[str, Any]] | None) -> Any:
    if isinstance(payload, dict):
        return {name: array_of(np, value) for name, value in payload.items()}
    if isinstance(payload, list):
        if payload and all(isinstance(item, dict) for item in payload):
            if is_column_signature(inputs):
                # Records for a column signature become a DataFrame of their plain values, as
                # MLflow's schema enforcement makes them (0-d arrays would make object columns).
                return payload
            return [{name: array_of(np, value) for name, value in item.items()} for item in payload]
        named = [spec["name"] for spec in inputs or [] if spec.get("name")]
        if is_column_signature(inputs) and len(named) == 1:
            # A bare list for a one-column signature is that column, as MLflow reads it.
            return {named[0]: array_of(np, payload)}
    return array_of(np, payload)


# ---------------------------------------------------------------- signature enforcement
