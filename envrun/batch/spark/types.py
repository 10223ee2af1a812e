"""Spark result types: inferred from the model's output signature as MLflow's spark_udf does, and
the model's answers shaped to them (scalars, arrays, structs)."""

from __future__ import annotations

from typing import Any

from envrun.errors import PredictError

# MLflow column types and tensor dtypes, by the Spark SQL type they become.
_SPARK_NAMES = {
    "double": "double",
    "float": "float",
    "long": "bigint",
    "integer": "int",
    "boolean": "boolean",
    "string": "string",
    "binary": "binary",
    "datetime": "timestamp",
    "float64": "double",
    "float32": "float",
    "int64": "bigint",
    "int32": "int",
    "int16": "smallint",
    "int8": "tinyint",
    "bool": "boolean",
    "str": "string",
    "object": "string",
    "bytes": "binary",
}


def infer_ddl(outputs: list[dict[str, Any]] | None) -> str:
    """A DDL type string for the model's output signature; "double" without one, as MLflow.

    One column is that column's type; several are a struct of them; a tensor is its dtype,
    or an array of it when each row holds more than one value.
    """
    if not outputs:
        return "double"
    if len(outputs) == 1:
        return _one(outputs[0])
    fields = []
    for i, spec in enumerate(outputs):
        name = str(spec.get("name") or i)
        fields.append(f"`{name.replace('`', '``')}` {_one(spec)}")
    return f"struct<{', '.join(fields)}>"


def _one(spec: dict[str, Any]) -> str:
    if spec.get("type") == "tensor":
        tensor = spec.get("tensor-spec") or {}
        element = _SPARK_NAMES.get(str(tensor.get("dtype")), "double")
        shape = tensor.get("shape") or [-1]
        return f"array<{element}>" if len(shape) > 1 else element
    kind = spec.get("type")
    if isinstance(kind, str) and kind in _SPARK_NAMES:
        return _SPARK_NAMES[kind]
    if kind == "array" or isinstance(kind, dict):
        return "array<double>" if not isinstance(kind, dict) else "string"
    return "string"


def shape_result(value: Any, rows: int, result_type: Any) -> Any:
    """The model's answer as the pandas object Spark expects for `result_type`."""
    import numpy as np
    import pandas as pd
    from pyspark.sql import types as T

    if isinstance(result_type, T.StructType):
        frame = _as_frame(pd, np, value)
        names = [f.name for f in result_type.fields]
        if all(n in frame.columns for n in names):
            frame = frame[names]
        elif frame.shape[1] >= len(names):
            frame = frame.iloc[:, : len(names)].set_axis(names, axis=1)
        else:
            raise _mismatch(f"{frame.shape[1]} output columns for a struct of {len(names)}", value)
        out = pd.DataFrame(
            {f.name: _cast(np, pd, frame[f.name], f.dataType) for f in result_type.fields}
        )
        return _rows(out, rows, value)
    if isinstance(result_type, T.ArrayType):
        if isinstance(value, pd.DataFrame):
            items = [list(row) for row in value.itertuples(index=False)]
        else:
            array = np.asarray(value)
            items = [list(row) if np.ndim(row) else [row] for row in array]
        return _rows(pd.Series(items), rows, value)
    if isinstance(value, pd.DataFrame):
        value = value.iloc[:, 0]  # the leftmost column, as MLflow's scalar result types take
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise _mismatch(f"an output of shape {array.shape} for a scalar {result_type.simpleString()}", value)
    return _rows(_cast(np, pd, pd.Series(array), result_type), rows, value)


def _as_frame(pd: Any, np: Any, value: Any) -> Any:
    if isinstance(value, pd.DataFrame):
        return value.reset_index(drop=True)
    if isinstance(value, dict):
        return pd.DataFrame({k: np.asarray(v) for k, v in value.items()})
    array = np.asarray(value)
    return pd.DataFrame(array if array.ndim == 2 else array.reshape(len(array), -1))


def _cast(np: Any, pd: Any, column: Any, spark_type: Any) -> Any:
    from pyspark.sql import types as T

    series = pd.Series(column).reset_index(drop=True)
    dtypes = {
        T.DoubleType: "float64",
        T.FloatType: "float32",
        T.LongType: "int64",
        T.IntegerType: "int32",
        T.ShortType: "int16",
        T.ByteType: "int8",
        T.BooleanType: "bool",
    }
    for kind, dtype in dtypes.items():
        if isinstance(spark_type, kind):
            return series.astype(dtype)
    if isinstance(spark_type, T.StringType):
        return series.map(lambda v: None if v is None else str(v)).astype(object)
    return series


def _rows(out: Any, rows: int, value: Any) -> Any:
    if len(out) != rows:
        raise _mismatch(f"{len(out)} predictions for {rows} rows", value)
    return out


def _mismatch(what: str, value: Any) -> PredictError:
    return PredictError(
        f"the model's answer does not fit the UDF's result type: {what}",
        value=type(value).__name__,
        fix="pass result_type= to envrun.spark.udf to match what the model returns",
        stage="predict",
    )
