"""How one JSON input meets a column signature on MLflow's two paths, and on envrun's own.

MLflow's scoring server casts JSON columns to the declared types with ``astype`` (1.5 sent to a
``long`` column becomes 1; 2.0 sent to a ``boolean`` column becomes True), while a Python
caller's ``model.predict(df)`` goes through strict schema enforcement, which refuses every cast
that is not lossless (even int64 to double). The same value can therefore be served, silently
changed, or refused, depending on the path. This module finds such values without pandas.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

_SCALAR_TYPES = ("long", "integer", "double", "float", "boolean", "string")
_DTYPE = {
    "long": "int64",
    "integer": "int32",
    "double": "float64",
    "float": "float32",
    "boolean": "bool",
    "string": "str",
}
_INT_RANGE = {"long": (-(2**63), 2**63 - 1), "integer": (-(2**31), 2**31 - 1)}


Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class SignatureFinding:
    """One column whose values MLflow's JSON path and an in-process call treat differently."""

    column: str
    declared: str
    json_value: str  # the first value that shows the difference, as JSON text
    natural_dtype: str  # the dtype pandas gives the column built from the JSON values
    json_path: str  # what MLflow's scoring server does with it
    in_process: str  # what MLflow's schema enforcement does when a caller passes a DataFrame
    severity: Severity  # "error" when the JSON path changes values, else "warning"
    message: str
    # What envrun's worker did with the input, read off the env's own run (see check.py): the
    # worker's rules are not restated here, so this can never disagree with what happened.
    envrun: str = ""

    def __post_init__(self) -> None:
        if self.severity not in get_args(Severity):  # a report read back from JSON, say
            raise ValueError(f"unknown signature finding severity {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        """Plain-data form for the report."""
        return dict(self.__dict__)


def _columns(doc: Any) -> dict[str, list[Any]] | None:  # noqa: PLR0911 (one per input form)
    """The input's columns as lists of raw JSON values, for the DataFrame-shaped inputs."""
    if not isinstance(doc, dict):
        return None
    if "dataframe_split" in doc or ("columns" in doc and "data" in doc):
        split = doc.get("dataframe_split", doc)
        if not isinstance(split, dict) or not isinstance(split.get("data"), list):
            return None
        names = split.get("columns")
        rows = [row for row in split["data"] if isinstance(row, list)]
        if not isinstance(names, list):
            return None
        return {str(name): [row[i] for row in rows if i < len(row)] for i, name in enumerate(names)}
    records = doc.get("dataframe_records")
    if isinstance(records, list) and all(isinstance(r, dict) for r in records):
        found: dict[str, list[Any]] = {}
        for record in records:
            for name, value in record.items():
                found.setdefault(str(name), []).append(value)
        return found
    for key in ("inputs", "instances"):
        payload = doc.get(key)
        if isinstance(payload, dict):
            return {str(n): v for n, v in payload.items() if isinstance(v, list)}
    return None


def natural_dtype(values: list[Any]) -> str:
    """The dtype pandas infers for a column built from these JSON values."""
    present = [v for v in values if v is not None]
    if not present:
        return "object"
    if all(isinstance(v, bool) for v in present):
        return "bool" if len(present) == len(values) else "object"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        if len(present) == len(values) and all(isinstance(v, int) for v in present):
            low, high = _INT_RANGE["long"]
            return "int64" if all(low <= v <= high for v in present) else "object"
        return "float64"  # a float or a missing value among numbers: pandas goes to float64
    if all(isinstance(v, str) for v in present):
        return "str"
    return "object"


def _text(value: Any) -> str:
    return (
        json.dumps(value)
        if not (isinstance(value, float) and not math.isfinite(value))
        else str(value)
    )


def _float32(value: float) -> float:
    return float(struct.unpack("f", struct.pack("f", value))[0])


def _json_cast(declared: str, value: Any) -> tuple[bool, Any]:  # noqa: PLR0911 (one rule per type)
    """MLflow's scoring-server cast of one value: (accepted, result)."""
    if declared in _INT_RANGE:
        if value is None or isinstance(value, str):
            return False, None
        if isinstance(value, float) and not math.isfinite(value):
            return False, None
        number = int(value)
        low, high = _INT_RANGE[declared]
        span = high - low + 1
        return True, (number - low) % span + low  # astype wraps out-of-range integers
    if declared in ("double", "float"):
        if isinstance(value, str):
            return False, None
        real = math.nan if value is None else float(value)
        return True, _float32(real) if declared == "float" else real
    if declared == "boolean":
        return True, bool(value)
    return True, value  # string: astype(object) keeps numbers as numbers


def _changed(declared: str, raw: Any, cast: Any) -> bool:
    if declared == "string":
        return not isinstance(raw, str)
    if isinstance(raw, float) and isinstance(cast, float) and math.isnan(raw) and math.isnan(cast):
        return False
    if type(raw) is not type(cast) and isinstance(raw, bool) != isinstance(cast, bool):
        return True
    return bool(raw != cast)


def _in_process(declared: str, natural: str) -> tuple[bool, str]:
    if _DTYPE[declared] == natural:
        return True, "accepted"
    return False, f"refused: {natural} to {_DTYPE[declared]} is not a safe cast"


def check_column(name: str, declared: str, values: list[Any]) -> SignatureFinding | None:  # noqa: PLR0912
    """The finding for one declared column, or None when every path agrees and keeps the values."""
    if declared not in _SCALAR_TYPES or not values:
        return None
    natural = (
        "object"
        if declared == "string" and natural_dtype(values) != "str"
        else natural_dtype(values)
    )
    inproc_ok, inproc = _in_process(declared, natural)
    json_ok, changed_value, json_result = True, None, None
    for value in values:
        accepted, cast = _json_cast(declared, value)
        if not accepted:
            json_ok, changed_value = False, value
            break
        if changed_value is None and _changed(declared, value, cast):
            changed_value, json_result = value, cast
    if json_ok and changed_value is None and inproc_ok:
        return None
    if not json_ok and not inproc_ok:
        return None  # refused on both paths: consistent, and the run itself reports it
    shown = changed_value if changed_value is not None else values[0]
    if not json_ok:
        json_path = f"refused: {_text(shown)} cannot be cast to {_DTYPE[declared]}"
    elif changed_value is not None:
        json_path = f"cast to {_text(json_result)} (value changed)"
        if declared == "string":
            json_path = (
                f"kept as {type(changed_value).__name__} {_text(changed_value)}, not a string"
            )
    else:
        json_path = f"cast to {_DTYPE[declared]} (values kept)"
    severity: Severity = "error" if changed_value is not None and json_ok else "warning"
    if not json_ok:
        served = f"refuses {_text(shown)}"
    elif changed_value is not None and declared != "string":
        served = f"turns {_text(shown)} into {_text(json_result)}"
    elif changed_value is not None:
        served = f"passes {_text(shown)} on unchanged ({type(shown).__name__}), not as a string"
    else:
        served = f"accepts {_text(shown)} (cast to {_DTYPE[declared]})"
    verdict = "accepts it" if inproc_ok else f"refuses it ({inproc.removeprefix('refused: ')})"
    message = (
        f"column {name!r} ({declared}): MLflow's scoring server {served}, while "
        f"model.predict() on a DataFrame of the same values ({natural}) {verdict}"
    )
    return SignatureFinding(
        column=name,
        declared=declared,
        json_value=_text(shown),
        natural_dtype=natural,
        json_path=json_path,
        in_process=inproc,
        severity=severity,
        message=message,
    )


def check_json_input(
    path: Path, signature_inputs: list[dict[str, Any]] | None
) -> list[SignatureFinding]:
    """Findings for a JSON input file against a column-based signature (empty otherwise)."""
    if not signature_inputs or any(spec.get("type") == "tensor" for spec in signature_inputs):
        return []
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return []  # not JSON: the run itself reports unreadable input
    columns = _columns(doc)
    if not columns:
        return []
    findings = []
    for spec in signature_inputs:
        name = spec.get("name")
        if isinstance(name, str) and name in columns:
            finding = check_column(name, str(spec.get("type")), columns[name])
            if finding is not None:
                findings.append(finding)
    return findings
