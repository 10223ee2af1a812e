"""A check report document (JSON, schema envrun.check/1) read back into the typed report.

Lenient about what is absent, strict about what is present: a missing key takes its empty
value, a missing status the least assuring one (no verdict: unverified; a side: skipped; an
output: differs), and a value the schema does not know raises ValueError (the dataclasses check
their statuses).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from envrun.check.document import (
    SCHEMA,
    CheckReport,
    ComparisonReport,
    EnvInfo,
    InputReport,
    ModelFacts,
    NotCompared,
    PackageDifference,
    PythonInfo,
    SideError,
    SideReport,
    ToleranceFacts,
    Verdict,
)
from envrun.check.leaves import Difference, OutputDiff
from envrun.check.sigcheck import SignatureFinding
from envrun.check.variants import VariantChange
from envrun.errors import EXIT_CHECK_FAILED


def read_document(doc: Mapping[str, Any]) -> CheckReport:
    """The typed report of a document; ValueError or TypeError when it is not one."""
    if not isinstance(doc, Mapping):
        raise TypeError(f"a JSON object was expected, not {type(doc).__name__}")
    if doc.get("schema") not in (None, SCHEMA):
        raise ValueError(f"schema {doc.get('schema')!r}, expected {SCHEMA!r}")
    tol = _map(doc.get("tolerance"))
    defaults = {
        str(k): (float(v[0]), float(v[1]))
        for k, v in _map(tol.get("defaults")).items()
        if len(_list(v)) == 2
    }
    return CheckReport(
        envrun_version=_str(doc.get("envrun_version")),
        created=_str(doc.get("created")),
        verdict=_verdict(_map(doc.get("verdict"))),
        model=_model(_map(doc.get("model"))),
        tolerance=ToleranceFacts(_number(tol.get("rtol")), _number(tol.get("atol")), defaults),
        inputs=tuple(_input(_map(i)) for i in _list(doc.get("inputs"))),
        sides=tuple(_side(str(k), _map(v)) for k, v in _map(doc.get("sides")).items()),
        package_differences=tuple(
            PackageDifference(_str(p.get("name")), _versions(p), bool(p.get("critical")))
            for p in map(_map, _list(doc.get("package_differences")))
        ),
        comparisons=tuple(_comparison(_map(c)) for c in _list(doc.get("comparisons"))),
        warnings=_strs(doc.get("warnings")),
        timings=_timings(doc.get("timings")),
        baseline_written=_opt(doc.get("baseline_written")),
    )


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _str(value: Any, default: str = "") -> str:
    return default if value is None else str(value)


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _strs(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in _list(value))


def _number(value: Any) -> float | None:
    """A JSON number, or "inf"/"-inf" as compare writes infinities; anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if value in ("inf", "-inf"):
        return math.inf if value == "inf" else -math.inf
    return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _timings(value: Any) -> dict[str, float]:
    numbers = {str(k): _number(v) for k, v in _map(value).items()}
    return {k: v for k, v in numbers.items() if v is not None}


def _versions(row: Mapping[str, Any]) -> dict[str, str | None]:
    return {str(k): _opt(v) for k, v in _map(row.get("versions")).items()}


def _or(value: Any, default: str) -> Any:
    # Statuses are checked by the dataclass they go into; absent means the least assuring one.
    return default if value is None else value


def _verdict(v: Mapping[str, Any]) -> Verdict:
    code = _count(v.get("exit_code"))
    return Verdict(
        status=_or(v.get("status"), "unverified"),
        exit_code=EXIT_CHECK_FAILED if code is None else code,
        headline=_str(v.get("headline")),
        compared=_strs(v.get("compared")),
        not_compared=tuple(
            NotCompared(_str(n.get("side")), _str(n.get("reason")))
            for n in map(_map, _list(v.get("not_compared")))
        ),
        findings=_strs(v.get("findings")),
    )


def _model(m: Mapping[str, Any]) -> ModelFacts:
    signature = _map(m.get("signature"))
    return ModelFacts(
        path=_str(m.get("path")),
        digest=_str(m.get("digest")),
        files=_count(m.get("files")),
        bytes=_count(m.get("bytes")),
        loader_module=_opt(m.get("loader_module")),
        flavors=_strs(m.get("flavors")),
        mlflow_version=_opt(m.get("mlflow_version")),
        signature_inputs=signature.get("inputs"),
        signature_outputs=signature.get("outputs"),
    )


def _input(i: Mapping[str, Any]) -> InputReport:
    findings = tuple(
        SignatureFinding(
            column=_str(f.get("column")),
            declared=_str(f.get("declared")),
            json_value=_str(f.get("json_value")),
            natural_dtype=_str(f.get("natural_dtype")),
            json_path=_str(f.get("json_path")),
            in_process=_str(f.get("in_process")),
            severity=_or(f.get("severity"), "warning"),
            message=_str(f.get("message")),
            envrun=_str(f.get("envrun")),
        )
        for f in map(_map, _list(i.get("signature_findings")))
    )
    return InputReport(
        name=_str(i.get("name")),
        path=_str(i.get("path")),
        sha256=_str(i.get("sha256")),
        origin=_str(i.get("origin")),
        signature_findings=findings,
    )


def _side(key: str, s: Mapping[str, Any]) -> SideReport:
    error, env, changes = _map(s.get("error")), s.get("env"), s.get("changes")
    baseline = s.get("path") is not None or s.get("created") is not None
    return SideReport(
        key=key,
        label=_str(s.get("label")),
        status=_or(s.get("status"), "skipped"),
        reason=_opt(s.get("reason")),
        error=_error(error) if error else None,
        python=PythonInfo.from_json(s.get("python")),
        env=EnvInfo.from_json(env) if isinstance(env, Mapping) else None,
        packages={str(k): _opt(v) for k, v in _map(s.get("packages")).items()},
        timings=_timings(s.get("timings")),
        outputs={str(k): _str(v) for k, v in _map(s.get("outputs")).items()},
        changes=None if changes is None else tuple(map(_change, map(_map, _list(changes)))),
        baseline_path=_opt(s.get("path")) if baseline else None,
        baseline_created=_opt(s.get("created")) if baseline else None,
    )


def _change(c: Mapping[str, Any]) -> VariantChange:
    return VariantChange(_str(c.get("name")), _opt(c.get("from")), _str(c.get("to")))


def _error(e: Mapping[str, Any]) -> SideError:
    return SideError(
        type=_str(e.get("type"), "error"),
        stage=e.get("stage"),
        message=_str(e.get("message")),
        traceback=_opt(e.get("traceback")),
        diagnosis=_opt(e.get("diagnosis")),
    )


def _comparison(c: Mapping[str, Any]) -> ComparisonReport:
    return ComparisonReport(
        input=_str(c.get("input")),
        left=_str(c.get("left")),
        right=_str(c.get("right")),
        status=_or(c.get("status"), "skipped"),
        reason=_opt(c.get("reason")),
        summary=_str(c.get("summary")),
        outputs=tuple(_output(_map(o)) for o in _list(c.get("outputs"))),
    )


def _difference(d: Mapping[str, Any]) -> Difference:
    return Difference(
        position=_str(d.get("position")),
        left=_str(d.get("left")),
        right=_str(d.get("right")),
        abs_err=_number(d.get("abs_err")),
        rel_err=_number(d.get("rel_err")),
    )


def _output(o: Mapping[str, Any]) -> OutputDiff:
    hist = o.get("histogram")  # compare writes {bucket: count}; pairs are read too
    pairs = [_list(p) for p in (hist.items() if isinstance(hist, Mapping) else _list(hist))]
    worst = o.get("worst")
    return OutputDiff(
        path=_str(o.get("path")),
        kind=_str(o.get("kind")),
        status=_or(o.get("status"), "differs"),
        left_type=_str(o.get("left_type")),
        right_type=_str(o.get("right_type")),
        total=_count(o.get("total")) or 0,
        differing=_count(o.get("differing")) or 0,
        not_equal=_count(o.get("not_equal")) or 0,
        max_abs=_number(o.get("max_abs")),
        max_rel=_number(o.get("max_rel")),
        rtol=_number(o.get("rtol")),
        atol=_number(o.get("atol")),
        first=tuple(_difference(_map(d)) for d in _list(o.get("first"))),
        notes=_strs(o.get("notes")),
        histogram=tuple((str(p[0]), _count(p[1]) or 0) for p in pairs if len(p) == 2),
        worst=_difference(worst) if isinstance(worst, Mapping) else None,
    )
