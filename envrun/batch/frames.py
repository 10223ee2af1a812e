"""Batches as bytes for the worker, and the worker's answers as columns (host side, pyarrow).

The richest format the env can read wins: an Arrow IPC stream when it has pyarrow and pandas
(the model gets a DataFrame, dtypes and nulls intact), the columns as a .npz of numpy arrays
when it has pandas and numpy, one 2-D .npy array when it has only numpy (what a pandas-less
model can take), MLflow serving JSON otherwise.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from typing import Any

from envrun.errors import InputError, PredictError

PREDICTION = "prediction"


def need_pyarrow() -> Any:
    """pyarrow, or an error naming the extra that brings it."""
    try:
        import pyarrow
    except ImportError as exc:
        raise InputError(
            "batch scoring needs pyarrow on the host",
            value=str(exc),
            fix="pip install 'envrun[batch]'",
        ) from None
    return pyarrow


def wire_format(packages: Mapping[str, str] | None) -> str:
    """The input format for an env with these installed distributions (a worker's handshake)."""
    names = {name.lower().replace("_", "-") for name in packages or {}}
    if {"pyarrow", "pandas"} <= names:
        return "arrow"
    if {"pandas", "numpy"} <= names:
        return "npz"
    if "numpy" in names:
        return "npy"
    return "json"


def encode_batch(batch: Any, fmt: str) -> tuple[bytes, str]:
    """(bytes, format) of a pyarrow RecordBatch or Table; falls back to JSON where the
    numpy formats cannot carry a column (text, nulls in integers, nested values): MLflow's
    dataframe_split when the env has pandas, else named columns under "inputs"."""
    pa = need_pyarrow()
    if fmt == "arrow":
        sink = io.BytesIO()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write(batch)
        return sink.getvalue(), "arrow"
    if fmt in ("npz", "npy"):
        arrays = _numeric_arrays(pa, batch)
        if arrays is not None:
            import numpy as np

            buffer = io.BytesIO()
            if fmt == "npz":
                np.savez(buffer, **dict(zip(batch.schema.names, arrays, strict=True)))
            else:
                np.save(buffer, np.column_stack(arrays), allow_pickle=False)
            return buffer.getvalue(), fmt
    columns = batch.schema.names
    values = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
    if fmt == "npz":  # the env has pandas: a DataFrame, as MLflow's scoring server builds it
        rows = [list(row) for row in zip(*values, strict=True)]
        doc: dict[str, Any] = {"dataframe_split": {"columns": columns, "data": rows}}
    else:  # no pandas in the env: named columns, as lists (or arrays with numpy)
        doc = {"inputs": dict(zip(columns, values, strict=True))}
    return json.dumps(doc, default=str).encode("utf-8"), "json"


def _numeric_arrays(pa: Any, batch: Any) -> list[Any] | None:
    arrays = []
    for column in batch.columns:
        kind = column.type
        numeric = pa.types.is_floating(kind) or (
            (pa.types.is_integer(kind) or pa.types.is_boolean(kind)) and column.null_count == 0
        )
        if not numeric:
            return None
        arrays.append(column.to_numpy(zero_copy_only=False))
    return arrays


def prediction_columns(value: Any, rows: int, name: str = PREDICTION) -> list[tuple[str, Any]]:
    """The model's answer for `rows` input rows as (name, pyarrow Array) columns.

    A 1-D array, Series or list is one column named `name`; a 2-D array one column per output
    (`name_0`, `name_1`, ...); a DataFrame or a dict of arrays keeps its own column names.
    """
    pa = need_pyarrow()
    columns = _columns(value, name)
    out = []
    for label, column in columns:
        array = column if isinstance(column, (pa.Array, pa.ChunkedArray)) else _to_arrow(pa, column)
        if len(array) != rows:
            raise PredictError(
                f"the model returned {len(array)} values in '{label}' for a batch of {rows} rows",
                value=type(value).__name__,
                fix="batch scoring needs one prediction per input row",
                stage="predict",
            )
        out.append((label, array))
    return out


def _to_arrow(pa: Any, values: Any) -> Any:
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
        return pa.array([None if v is None else str(v) for v in list(values)], pa.string())


def _columns(value: Any, name: str) -> list[tuple[str, Any]]:  # noqa: PLR0911 (type dispatch)
    import numpy as np

    kind = type(value).__name__
    if kind == "DataFrame" and hasattr(value, "columns"):
        return [(str(c), value.iloc[:, i].to_numpy()) for i, c in enumerate(value.columns)]
    if kind == "Frame" and hasattr(value, "data"):  # envrun's pandas-less DataFrame
        return [(str(c), v) for c, v in value.data.items()]
    if kind in ("Series", "SeriesValue") and hasattr(value, "values"):
        return [(name, np.asarray(value.values))]
    if isinstance(value, Mapping):
        return [(str(k), np.asarray(v)) for k, v in value.items()]
    array = np.asarray(value) if isinstance(value, (list, tuple, np.ndarray)) else None
    if array is None or array.ndim == 0:
        raise PredictError(
            "the model's answer cannot be split into one prediction per row",
            value=kind,
            fix="return an array, a list, a Series or a DataFrame with one entry per row",
            stage="predict",
        )
    if array.ndim == 1:
        return [(name, array)]
    if array.ndim == 2:
        return [(f"{name}_{i}", array[:, i]) for i in range(array.shape[1])]
    return [(name, list(array))]

