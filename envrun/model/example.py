"""A synthetic input for a model without an example, built from its signature.

The result is MLflow serving JSON (`dataframe_split` for column signatures, `inputs` for tensor
signatures, `params` with their defaults) that MLflow's scoring server, and envrun's worker,
accept for that signature. Values are fixed, so the same model always gets the same input.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from envrun.errors import ModelError
from envrun.model.mlmodel import ModelInfo

# One value per row index for each MLflow column type; JSON-ready (binary is base64, as
# MLflow's scoring server expects it in JSON).
_COLUMN_VALUES: dict[str, Callable[[int], Any]] = {
    "boolean": lambda i: i % 2 == 0,
    "integer": lambda i: i + 1,
    "long": lambda i: i + 1,
    "float": lambda i: 0.5 + i,
    "double": lambda i: 0.5 + i,
    "string": lambda i: f"text{i}",
    "binary": lambda i: base64.b64encode(f"bytes{i}".encode()).decode("ascii"),
    "datetime": lambda i: f"2024-01-{i + 1:02d}T00:00:00",
    "any": lambda i: f"text{i}",
}


def synthetic_input(model: ModelInfo, *, rows: int = 2) -> dict[str, Any]:
    """MLflow serving JSON that fits `model`'s input signature; ModelError if it has none."""
    inputs = model.signature_inputs
    if not inputs:
        raise ModelError(
            "the model has no input signature, so envrun cannot make an input for it",
            value=str(model.path / "MLmodel"),
            fix="pass an input file, or save the model with a signature "
            "(mlflow.models.infer_signature)",
        )
    rows = max(1, rows)
    if all(spec.get("type") == "tensor" for spec in inputs):
        doc = {"inputs": _tensors(inputs, rows)}
    elif any(spec.get("type") == "tensor" for spec in inputs):
        raise ModelError(
            "the model's input signature mixes columns and tensors",
            value=repr(inputs)[:200],
            fix="pass an input file; MLflow signatures are either columns or tensors",
        )
    else:
        doc = {"dataframe_split": _columns(inputs, rows)}
    params = {
        str(spec["name"]): spec["default"]
        for spec in model.signature_params or []
        if spec.get("name") and spec.get("default") is not None
    }
    if params:
        doc["params"] = params
    return doc


def _columns(inputs: list[dict[str, Any]], rows: int) -> dict[str, Any]:
    data = [[_value(spec, i) for spec in inputs] for i in range(rows)]
    names = [spec.get("name") for spec in inputs]
    if all(names):
        return {"columns": names, "data": data}
    return {"data": data}


def _value(spec: dict[str, Any], i: int) -> Any:
    kind = spec.get("type")
    if isinstance(kind, str) and kind in _COLUMN_VALUES:
        return _COLUMN_VALUES[kind](i)
    if kind == "array":
        item = _sub_spec(spec.get("items"))
        return [_value(item, i), _value(item, i + 1)]
    if kind == "object":
        props = spec.get("properties")
        props = props if isinstance(props, dict) else {}
        return {str(k): _value(v, i) for k, v in props.items() if isinstance(v, dict)}
    if kind == "map":
        return {"key": _value(_sub_spec(spec.get("values")), i)}
    raise ModelError(
        "the model's signature has a column type envrun cannot make a value for",
        value=repr(spec)[:200],
        fix="pass an input file for this model",
    )


def _sub_spec(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"type": "any"}


def _tensors(inputs: list[dict[str, Any]], rows: int) -> Any:
    if len(inputs) == 1 and not inputs[0].get("name"):
        return _tensor(inputs[0], rows)
    return {str(spec.get("name")): _tensor(spec, rows) for spec in inputs}


def _tensor(spec: dict[str, Any], rows: int) -> Any:
    tensor = spec.get("tensor-spec")
    tensor = tensor if isinstance(tensor, dict) else {}
    dtype = str(tensor.get("dtype", "float64"))
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape):
        raise ModelError(
            "the model's tensor signature has no usable shape",
            value=repr(spec)[:200],
            fix="pass an input file for this model",
        )
    if dtype == "object" and shape == [-1]:
        shape = [rows]  # MLflow's spelling for any ragged input: a flat list will do
    # The first -1 is the batch; further -1 dimensions get the smallest size, 1.
    sizes = [(rows if n == 0 else 1) if d == -1 else d for n, d in enumerate(shape)]
    count = 1
    for size in sizes:
        count *= size
    if count > 1_000_000:
        raise ModelError(
            "the model's tensor signature asks for a very large input",
            value=f"shape {shape}",
            fix="pass an input file for this model",
        )
    scalar = _tensor_scalar(dtype)
    flat = [scalar(i) for i in range(count)]
    return _nest(flat, sizes)


def _tensor_scalar(dtype: str) -> Any:
    if dtype.startswith(("float", "double")):
        return lambda i: 0.5 + i
    if dtype.startswith(("int", "uint", "long")):
        return lambda i: i % 100
    if dtype == "bool":
        return lambda i: i % 2 == 0
    if dtype.startswith("datetime64"):
        return lambda i: f"2024-01-{i % 28 + 1:02d}T00:00:00"
    if dtype in ("str", "object"):
        return lambda i: f"text{i}"
    raise ModelError(
        "the model's tensor signature has a dtype envrun cannot make a value for",
        value=dtype,
        fix="pass an input file for this model",
    )


def _nest(flat: list[Any], sizes: list[int]) -> Any:
    if not sizes:
        return flat[0]
    if len(sizes) == 1:
        return flat
    step = len(flat) // sizes[0] if sizes[0] else 0
    return [_nest(flat[k * step : (k + 1) * step], sizes[1:]) for k in range(sizes[0])]
