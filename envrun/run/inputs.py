"""Read and check the prediction input on the host, before any environment is built.

Fast and dependency-free (no numpy, no pandas): the file is copied into the control dir for the
worker, and only what can be checked cheaply is checked here (JSON shape, CSV header, .npy
header), so that a malformed input fails in milliseconds instead of after an env build.
"""

from __future__ import annotations

import ast
import csv
import json
import shutil
import struct
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from envrun.errors import InputError
from envrun.run.worker.protocol import FILE_FORMATS, FORMAT_KEYS

FORMATS = FILE_FORMATS
JSON_KEYS = FORMAT_KEYS
SPLIT_EXAMPLE = '{"dataframe_split": {"columns": ["a", "b"], "data": [[1, 2], [3, 4]]}}'
_EXTENSIONS = {".json": "json", ".csv": "csv", ".npy": "npy", ".npz": "npz"}
_NPY_MAGIC = b"\x93NUMPY"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_SPLIT_KEYS = frozenset({"columns", "data", "index"})
SPLIT_NOTE = (
    "the JSON is a DataFrame in split orient without the serving key (the form of MLflow's "
    "input_example.json); read as dataframe_split"
)


@dataclass(frozen=True)
class InputSpec:
    """The input as handed to the worker, and what was learned about it on the way."""

    path: Path  # the file to hand the worker (a copy for stdin)
    format: str  # json | csv | npy | npz
    json_key: str | None  # dataframe_split | dataframe_records | instances | inputs
    params: dict[str, object] | None
    columns: tuple[str, ...] | None  # column (or input) names seen
    rows: int | None
    note: str | None = None  # how the input was reinterpreted, if it was


@dataclass(frozen=True)
class _Shape:
    json_key: str | None = None
    params: dict[str, object] | None = None
    columns: tuple[str, ...] | None = None
    rows: int | None = None
    note: str | None = None


def read_input(
    source: str, *, dest_dir: Path, stdin: BinaryIO | None = None, fmt: str | None = None
) -> InputSpec:
    """Copy the input (a path, or "-" for stdin) into ``dest_dir`` and check its shape."""
    if fmt is not None and fmt not in FORMATS:
        raise InputError("unknown input format", value=fmt, fix=f"use one of: {', '.join(FORMATS)}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        data = stream.read()
        if not data:
            raise InputError(
                "standard input is empty",
                value="-",
                fix="pipe the input into envrun, or pass the path of an input file",
            )
        kind = fmt or _sniff(data[:16])
        target = dest_dir / f"input.{kind}"
        target.write_bytes(data)
        origin = "standard input"
    else:
        path = Path(source)
        head = _head(path)
        kind = fmt or _EXTENSIONS.get(path.suffix.lower()) or _sniff(head)
        target = dest_dir / f"input.{kind}"
        _copy(path, target)
        origin = str(path)
    shape = _inspect(target, kind, origin)
    return InputSpec(
        target, kind, shape.json_key, shape.params, shape.columns, shape.rows, shape.note
    )


def _head(path: Path) -> bytes:
    if not path.exists():
        raise InputError(
            "input file not found",
            value=str(path),
            fix="check the path, or pass - to read the input from standard input",
        )
    if path.is_dir():
        raise InputError(
            "the input path is a directory, not a file",
            value=str(path),
            fix="pass a file, e.g. the model's serving_input_example.json",
        )
    try:
        with path.open("rb") as handle:
            return handle.read(16)
    except OSError as exc:
        raise InputError(
            f"cannot read the input file: {exc.strerror or exc}",
            value=str(path),
            fix="check that the file is readable by the current user",
        ) from exc


def _copy(path: Path, target: Path) -> None:
    try:
        shutil.copyfile(path, target)
    except shutil.SameFileError:
        return
    except OSError as exc:
        raise InputError(
            f"cannot copy the input file: {exc.strerror or exc}",
            value=str(path),
            fix="check that the file is readable and the cache directory writable",
        ) from exc


def _sniff(head: bytes) -> str:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text.startswith((b"{", b"[")):
        return "json"
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if head.startswith(_ZIP_MAGICS):
        return "npz"
    return "csv"


def _inspect(target: Path, kind: str, origin: str) -> _Shape:
    if kind == "json":
        return _inspect_json(target, origin)
    if kind == "csv":
        return _inspect_csv(target, origin)
    if kind == "npy":
        return _Shape(rows=_npy_rows(target, origin))
    if not zipfile.is_zipfile(target):
        raise InputError(
            "the input is not a valid .npz file", value=origin, fix="write it with numpy.savez"
        )
    with zipfile.ZipFile(target) as archive:
        names = [name[: -len(".npy")] for name in archive.namelist() if name.endswith(".npy")]
    return _Shape(columns=tuple(names))


# ---------------------------------------------------------------- JSON


def _excerpt(value: object, limit: int = 60) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _load_json(target: Path, origin: str) -> object:
    try:
        text = target.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            "the JSON input is not valid UTF-8",
            value=f"{origin}: byte {exc.start}",
            fix="save the file as UTF-8",
        ) from exc
    try:
        return json.loads(text)  # NaN and Infinity tokens are accepted, as MLflow does
    except json.JSONDecodeError as exc:
        lines = text.splitlines() or [""]
        line = lines[min(exc.lineno, len(lines)) - 1]
        start = max(0, exc.colno - 31)
        near = line[start : exc.colno + 29]
        raise InputError(
            f"the input is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            value=f"{origin}:{exc.lineno}:{exc.colno}: {near!r}",
            fix="fix the JSON syntax at that position",
        ) from exc


def _is_split(value: object) -> bool:
    # pandas' split orient always names the columns; {"data": ...} alone is no DataFrame.
    return isinstance(value, dict) and {"columns", "data"} <= set(value) <= _SPLIT_KEYS


def _unwrap_input_example(doc: dict[str, object]) -> tuple[dict[str, object], str | None]:
    """Read MLflow's input_example.json DataFrame forms as the serving form they stand for."""
    if _is_split(doc):
        return {"dataframe_split": doc}, SPLIT_NOTE
    inner = doc.get("inputs")
    # With params, MLflow writes {"inputs": <split dict>, "params": ...}. Only that full form
    # (params, "columns" and "data", rows as lists) is taken as a DataFrame: tensor inputs
    # that merely happen to be named "data" or "columns" must stay what they are.
    if (
        set(doc) == {"inputs", "params"}
        and _is_split(inner)
        and isinstance(inner, dict)
        and "columns" in inner
        and isinstance(inner["data"], list)
        and all(isinstance(row, list) for row in inner["data"])
    ):
        return {"dataframe_split": inner, "params": doc["params"]}, SPLIT_NOTE
    return doc, None


def _key_error(what: str, value: str) -> InputError:
    return InputError(
        what,
        value=value,
        fix=(
            f"use exactly one of the keys {', '.join(JSON_KEYS)} (plus optional params), "
            f'e.g. {SPLIT_EXAMPLE} or {{"inputs": [[1, 2], [3, 4]]}}'
        ),
    )


def _inspect_json(target: Path, origin: str) -> _Shape:
    doc = _load_json(target, origin)
    if not isinstance(doc, dict):
        raise _key_error(
            "the JSON input must be an object with one of the serving keys",
            f"a JSON {type(doc).__name__} in {origin}",
        )
    doc, note = _unwrap_input_example(doc)
    if note:
        target.write_text(json.dumps(doc), encoding="utf-8")  # the worker reads serving form only
    found = [key for key in JSON_KEYS if key in doc]
    if len(found) != 1:
        raise _key_error(
            f"the JSON input must have exactly one of the keys {', '.join(JSON_KEYS)}",
            f"keys found: {', '.join(map(str, doc)) or '(none)'}",
        )
    params = doc.get("params")
    if params is not None and not isinstance(params, dict):
        raise InputError(
            "'params' in the JSON input must be an object",
            value=_excerpt(params),
            fix='write params as {"name": value, ...}',
        )
    key = found[0]
    shape = _PAYLOAD_CHECKS[key](doc[key])
    return _Shape(key, params, shape.columns, shape.rows, note)


def _names(records: list[object]) -> tuple[str, ...] | None:
    if not records or not all(isinstance(record, dict) for record in records):
        return None
    seen: dict[str, None] = {}
    for record in records:
        assert isinstance(record, dict)
        seen.update(dict.fromkeys(str(name) for name in record))
    return tuple(seen)


def _check_split(payload: object) -> _Shape:
    if not isinstance(payload, dict) or "data" not in payload:
        raise InputError(
            "dataframe_split must be an object with 'data' (and usually 'columns')",
            value=_excerpt(payload),
            fix=f"write it as {SPLIT_EXAMPLE}",
        )
    extra = sorted(set(map(str, payload)) - _SPLIT_KEYS)
    if extra:
        raise InputError(
            "dataframe_split has keys other than 'columns', 'data' and 'index'",
            value=", ".join(extra),
            fix=f"remove them; the shape is {SPLIT_EXAMPLE}",
        )
    data, columns, index = payload["data"], payload.get("columns"), payload.get("index")
    if not isinstance(data, list):
        raise InputError(
            "dataframe_split 'data' must be a list of rows",
            value=_excerpt(data),
            fix=f"write it as {SPLIT_EXAMPLE}",
        )
    if columns is not None and not isinstance(columns, list):
        raise InputError(
            "dataframe_split 'columns' must be a list of names",
            value=_excerpt(columns),
            fix=f"write it as {SPLIT_EXAMPLE}",
        )
    if index is not None and (not isinstance(index, list) or len(index) != len(data)):
        raise InputError(
            "dataframe_split 'index' must be a list with one label per row",
            value=f"{len(data)} rows, index {_excerpt(index)}",
            fix="give one index label per row, or leave 'index' out",
        )
    if columns is not None:
        for number, row in enumerate(data, start=1):
            width = len(row) if isinstance(row, list) else 1
            if width != len(columns):
                raise InputError(
                    f"row {number} of dataframe_split has {width} value(s) but there are "
                    f"{len(columns)} columns",
                    value=f"row {number} (counting from 1): {_excerpt(row)}",
                    fix="give every row one value per column, in the order of 'columns'",
                )
    names = tuple(str(name) for name in columns) if columns is not None else None
    return _Shape(columns=names, rows=len(data))


def _check_records(payload: object) -> _Shape:
    if not isinstance(payload, list):
        raise InputError(
            "dataframe_records must be a list of records",
            value=_excerpt(payload),
            fix='write it as {"dataframe_records": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}',
        )
    return _Shape(columns=_names(payload), rows=len(payload))


def _check_tensors(payload: object) -> _Shape:
    if isinstance(payload, dict):
        return _Shape(columns=tuple(str(name) for name in payload))
    if isinstance(payload, list):
        return _Shape(columns=_names(payload), rows=len(payload))
    return _Shape()


_PAYLOAD_CHECKS = {
    "dataframe_split": _check_split,
    "dataframe_records": _check_records,
    "instances": _check_tensors,
    "inputs": _check_tensors,
}


# ---------------------------------------------------------------- CSV and .npy


def _inspect_csv(target: Path, origin: str) -> _Shape:
    try:
        with target.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                raise InputError(
                    "the CSV input has no header row",
                    value=origin,
                    fix="write the column names on the first line, as DataFrame.to_csv does",
                )
            try:
                rows: int | None = sum(1 for record in reader if any(c.strip() for c in record))
            except csv.Error:
                rows = None  # pandas, in the model env, will be the judge
    except UnicodeDecodeError as exc:
        raise InputError(
            "the CSV input is not valid UTF-8",
            value=f"{origin}: byte {exc.start}",
            fix="save the file as UTF-8",
        ) from exc
    except csv.Error as exc:
        raise InputError(
            f"cannot read the CSV header: {exc}", value=origin, fix="check the first line"
        ) from exc
    return _Shape(columns=tuple(name.strip() for name in header), rows=rows)


def _npy_rows(target: Path, origin: str) -> int | None:
    bad = InputError(
        "the input is not a valid .npy file",
        value=origin,
        fix="write it with numpy.save, or pass --format if the extension is misleading",
    )
    with target.open("rb") as handle:
        head = handle.read(12)
        if not head.startswith(_NPY_MAGIC) or len(head) < 10:
            raise bad
        major = head[6]
        if major == 1:
            (length,) = struct.unpack("<H", head[8:10])
            handle.seek(10)
        else:
            (length,) = struct.unpack("<I", head[8:12])
        header = handle.read(length).decode("latin-1")
    try:
        meta = ast.literal_eval(header)
        shape = tuple(meta["shape"])
    except (ValueError, SyntaxError, KeyError, TypeError) as exc:
        raise bad from exc
    return int(shape[0]) if shape else None


# ---------------------------------------------------------------- signature


def _describe(spec: dict[str, object]) -> str:
    kind = spec.get("type")
    if kind == "tensor" and isinstance(spec.get("tensor-spec"), dict):
        tensor = spec["tensor-spec"]
        assert isinstance(tensor, dict)
        kind = f"tensor {tensor.get('dtype')} {tensor.get('shape')}"
    optional = ", optional" if spec.get("required", True) is False else ""
    return f"{spec.get('name')} ({kind}{optional})"


def check_against_signature(
    spec: InputSpec, signature_inputs: list[dict[str, object]] | None
) -> list[str]:
    """Fail on required columns the input lacks; return warnings about columns to be dropped."""
    if not signature_inputs or spec.columns is None:
        return []
    if not all(isinstance(entry.get("name"), str) for entry in signature_inputs):
        return []  # an unnamed signature matches by position: the worker checks it
    names = [str(entry["name"]) for entry in signature_inputs]
    required = [
        str(entry["name"]) for entry in signature_inputs if entry.get("required", True) is not False
    ]
    missing = [name for name in required if name not in spec.columns]
    if missing:
        received = ", ".join(spec.columns) or "(none)"
        expected = ", ".join(_describe(entry) for entry in signature_inputs)
        raise InputError(
            f"the input lacks {len(missing)} column(s) that the model signature requires: "
            f"{', '.join(missing)}",
            value=f"columns received: {received}",
            fix=f"add the missing column(s); the signature expects {expected}",
        )
    extra = [name for name in spec.columns if name not in names]
    if not extra:
        return []
    return [f"input columns not in the model signature will be dropped: {', '.join(extra)}"]
