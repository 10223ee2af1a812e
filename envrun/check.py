"""`envrun check`: run the same inputs on several sides, compare the outputs, build the report.

Sides: the model's declared env (the reference), this host process (the same worker code,
imported), a stored baseline, and optionally a variant env (pins relaxed, or packages swapped).
The result is the report document (schema envrun.check/1) and the exit code it implies.
"""

from __future__ import annotations

import datetime
import hashlib
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from envrun import __version__, api
from envrun.baseline import Baseline, StoredOutput, load_baseline, save_baseline
from envrun.compare import DEFAULT_TOLERANCES, Comparison, Tolerance, compare
from envrun.errors import (
    EXIT_CHECK_FAILED,
    EXIT_MODEL,
    EXIT_OK,
    EXIT_USAGE,
    EnvBuildError,
    EnvrunError,
    InputError,
    PredictError,
)
from envrun.model import ModelInfo, model_digest, read_model
from envrun.settings import Settings
from envrun.sigcheck import check_json_input
from envrun.variants import VariantChange, variant_spec

SCHEMA = "envrun.check/1"
# Packages whose version change most often changes how a model loads or what it predicts.
CRITICAL = frozenset(
    {
        "cloudpickle",
        "scikit-learn",
        "numpy",
        "pandas",
        "torch",
        "mlflow",
        "mlflow-skinny",
        "skops",
        "scipy",
    }
)


@dataclass(frozen=True)
class CheckOptions:
    """What to compare: the flags of `envrun check`."""

    inputs: tuple[str, ...] = ()
    baseline: Path | None = None
    save_baseline: Path | None = None
    upgrade: bool = False
    overrides: tuple[str, ...] = ()
    host: bool = True
    tolerance: Tolerance = field(default_factory=Tolerance)


@dataclass(frozen=True)
class CheckInput:
    """One input file, named as the report shows it."""

    name: str
    path: Path
    sha256: str
    origin: str


@dataclass
class Side:
    """One side's runs; mutable while the check runs, then rendered into the document."""

    key: str
    label: str
    status: str = "ok"
    reason: str | None = None
    error: dict[str, Any] | None = None
    python: dict[str, Any] = field(default_factory=dict)
    env: dict[str, Any] | None = None
    packages: dict[str, str | None] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)  # input name -> decoded output
    stored: dict[str, StoredOutput] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The side as the report schema has it."""
        doc = {
            "label": self.label,
            "status": self.status,
            "reason": self.reason,
            "error": self.error,
            "python": self.python,
            "env": self.env,
            "packages": dict(sorted(self.packages.items())),
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "outputs": self.outputs,
        }
        doc.update(self.extra)
        return doc


@dataclass(frozen=True)
class CheckResult:
    """The report document and the exit code it implies."""

    doc: dict[str, Any]
    exit_code: int
    baseline_written: Path | None = None


def model_inputs(model: ModelInfo, given: Sequence[str]) -> list[CheckInput]:
    """The inputs to run: the given files, else the model's own serving / input example."""
    paths: list[tuple[Path, str]] = []
    if given:
        paths = [(Path(p), "argument") for p in given]
    elif model.serving_input_example is not None:
        paths = [(model.serving_input_example, "the model's serving_input_example.json")]
    elif model.input_example is not None:
        paths = [(model.input_example, "the model's input_example.json")]
    else:
        raise InputError(
            "the model has no input example and no INPUT was given",
            value=str(model.path),
            fix="pass an input file: envrun check MODEL_DIR INPUT.json "
            "(or save the model with an input_example)",
        )
    found: list[CheckInput] = []
    for path, origin in paths:
        if str(path) == "-":
            raise InputError(
                "envrun check reads its inputs from files, not standard input",
                value="-",
                fix="save the input to a file and pass its path",
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(
                "cannot read the input file",
                value=f"{path}: {exc.strerror or exc}",
                fix="check the path",
            ) from None
        name = path.name
        if any(item.name == name for item in found):
            name = str(path)
        found.append(CheckInput(name, path, hashlib.sha256(data).hexdigest(), origin))
    return found


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error_json(exc: EnvrunError) -> dict[str, Any]:
    if isinstance(exc, PredictError):
        return {"type": exc.error_type, "stage": exc.stage, "message": exc.what}
    stage = "input" if isinstance(exc, InputError) else "bridge"
    return {"type": type(exc).__name__, "stage": stage, "message": exc.what}


def _host_python() -> dict[str, Any]:
    import sysconfig

    # The same spelling the interpreter probe records for env sides, so equal values look equal.
    return {
        "version": platform.python_version(),
        "implementation": sys.implementation.name,
        "platform": sysconfig.get_platform(),
        "executable": sys.executable,
    }


def _host_packages(names: Sequence[str]) -> dict[str, str | None]:
    from importlib import metadata

    found: dict[str, str | None] = {}
    for name in names:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def _run_side(
    side: Side, model: ModelInfo, inputs: list[CheckInput], python: Path | None, settings: Settings
) -> None:
    """Predict every input on one side; failures are recorded on the side, not raised."""
    for item in inputs:
        try:
            pred = api.run_input(model, str(item.path), python=python, timeout=settings.timeout)
        except (InputError, PredictError, EnvrunError) as exc:
            if isinstance(exc, EnvBuildError):
                raise
            side.status, side.error = "failed", _error_json(exc)
            side.reason = exc.what
            return
        for key in ("load", "predict"):
            side.timings[key] = side.timings.get(key, 0.0) + float(pred.timings.get(key, 0.0))
        side.values[item.name] = pred.value
        side.outputs[item.name] = pred.summary
        side.stored[item.name] = StoredOutput(
            item.name, item.sha256, pred.output, pred.arrays, pred.summary
        )
        if pred.python and not side.python:
            side.python = {**pred.python}


def _env_info(resolution: api.Resolution, handle: Any) -> dict[str, Any]:
    return {
        "path": str(handle.path),
        "fingerprint": resolution.fingerprint,
        "cache": "miss" if handle.built else "hit",
        "reason": handle.reason,
        "installer": {
            "name": resolution.installer.value,
            "version": resolution.installer_version,
            "reason": resolution.installer.reason,
        },
        "spec_source": resolution.spec.source,
        "requirements": [r.text for r in resolution.spec.requirements],
    }


def _python_of(resolution: api.Resolution) -> dict[str, Any]:
    interp = resolution.interpreter
    return {
        "version": interp.version,
        "implementation": interp.implementation,
        "platform": interp.platform,
        "executable": interp.path,
    }


def _env_side(
    key: str, label: str, resolution: api.Resolution, settings: Settings
) -> tuple[Side, Any]:
    side = Side(key, label, python=_python_of(resolution))
    start = time.monotonic()
    handle = api.ensure_environment(resolution, settings)
    side.timings["resolve"] = resolution.seconds
    side.timings["build"] = time.monotonic() - start
    side.env = _env_info(resolution, handle)
    side.packages = dict(handle.state.get("installed") or {})
    return side, handle


def _variant_side(
    resolution: api.Resolution, options: CheckOptions, settings: Settings
) -> tuple[Side, Any, list[VariantChange]]:
    spec, changes = variant_spec(
        resolution.spec, upgrade=options.upgrade, overrides=options.overrides
    )
    key = "upgraded" if options.upgrade else "with"
    label = "upgraded env" if options.upgrade else "env with " + ", ".join(options.overrides)
    variant = api.variant_resolution(resolution, spec)
    settings.reporter.step(f"building the {label} ({len(changes)} requirement(s) changed)")
    try:
        side, handle = _env_side(key, label, variant, settings)
    except EnvBuildError as exc:
        side = Side(key, label, status="failed", python=_python_of(variant))
        side.reason = f"the {label} could not be built: {exc.what}"
        side.error = {"type": type(exc).__name__, "stage": "build", "message": exc.render()}
        handle = None
    side.extra["changes"] = [c.to_json() for c in changes]
    return side, handle, changes


def _compare(left: Side, right: Side, item: CheckInput, tolerance: Tolerance) -> dict[str, Any]:
    base = {"input": item.name, "left": left.key, "right": right.key}
    for side in (left, right):
        if item.name not in side.values:
            reason = (
                f"the {side.key} side {side.status}"
                if side.status != "ok"
                else f"{side.key} has no output for this input"
            )
            return {
                **base,
                "status": "skipped",
                "reason": reason,
                "summary": f"skipped: {reason}",
                "outputs": [],
            }
    result: Comparison = compare(
        left.values[item.name],
        right.values[item.name],
        tolerance=tolerance,
        left_name=left.key,
        right_name=right.key,
    )
    doc = result.to_json()
    return {
        **base,
        "status": result.status,
        "reason": None,
        "summary": result.summary(),
        "outputs": doc.get("outputs", []),
    }


def _baseline_side(baseline: Baseline, inputs: list[CheckInput]) -> Side:
    from envrun.values import decode

    recorded = baseline.side
    side = Side(
        "baseline", f"baseline ({baseline.path.name})", python=dict(recorded.get("python") or {})
    )
    side.env = recorded.get("env")
    side.packages = dict(recorded.get("packages") or {})
    side.extra = {"path": str(baseline.path), "created": baseline.created}
    for item in inputs:
        stored = baseline.find(item.sha256)
        if stored is not None:
            side.values[item.name] = decode(stored.output, stored.arrays)
            side.outputs[item.name] = stored.summary
    if not side.values:
        known = ", ".join(sorted(o.input_name for o in baseline.outputs.values())) or "none"
        side.status = "skipped"
        side.reason = f"the baseline holds no output for these inputs (it has: {known})"
    return side


def _package_rows(sides: list[Side]) -> list[dict[str, Any]]:
    names: set[str] = set()
    for side in sides:
        names.update(canonicalize_name(n) for n in side.packages)
    rows = []
    for name in sorted(names):
        versions: dict[str, str | None] = {}
        for side in sides:
            canon: dict[str, str | None] = {
                canonicalize_name(k): v for k, v in side.packages.items()
            }
            if name in canon:
                versions[side.key] = canon[name]
        if len(set(versions.values())) > 1:
            rows.append({"name": name, "versions": versions, "critical": name in CRITICAL})
    return rows


def _explain(left: Side, right: Side, rows: list[dict[str, Any]]) -> list[str]:
    """Facts that can explain a difference between two sides: packages and Python."""
    facts = []
    for row in rows:
        versions = row["versions"]
        if left.key in versions and right.key in versions:
            lv, rv = versions[left.key] or "not installed", versions[right.key] or "not installed"
            facts.append(f"{row['name']} differs: {left.key} {lv}, {right.key} {rv}")
    lpy, rpy = left.python.get("version"), right.python.get("version")
    if lpy and rpy and lpy != rpy:
        facts.append(f"python differs: {left.key} {lpy}, {right.key} {rpy}")
    return facts


def run_check(model_dir: str | Path, settings: Settings, options: CheckOptions) -> CheckResult:  # noqa: PLR0912
    """Run the check and build its report document; raises only for errors that stop it early."""
    start = time.monotonic()
    model = read_model(model_dir)
    inputs = model_inputs(model, options.inputs)
    baseline = load_baseline(options.baseline) if options.baseline else None
    digest = model_digest(model.path)
    resolution = api.resolve_model(model, settings)
    warnings = list(resolution.warnings)
    for warning in warnings:
        settings.reporter.warn(warning)

    env, handle = _env_side("env", "isolated env (declared)", resolution, settings)
    settings.reporter.step(f"running {len(inputs)} input(s) in the env")
    _run_side(env, model, inputs, handle.python, settings)
    sides = [env]

    names = [canonicalize_name(r.name) for r in resolution.spec.requirements if r.name]
    if options.host:
        host = Side("host", "this host (in-process)", python=_host_python())
        host.packages = _host_packages(names)
        settings.reporter.step("running the same inputs in this process")
        t0 = time.monotonic()
        _run_side(host, model, inputs, None, settings)
        host.timings["total"] = time.monotonic() - t0
        if host.status == "failed" and host.error and host.error.get("stage") == "load":
            detail = str(host.reason or "").removeprefix("loading the model failed: ")
            host.reason = f"this host cannot load the model: {detail}"
        sides.append(host)
    if baseline is not None:
        sides.append(_baseline_side(baseline, inputs))
    variant = None
    if options.upgrade or options.overrides:
        variant, vhandle, _ = _variant_side(resolution, options, settings)
        if vhandle is not None:
            _run_side(variant, model, inputs, vhandle.python, settings)
        sides.append(variant)
    env.timings["total"] = time.monotonic() - start

    written = None
    if options.save_baseline is not None:
        written = _save(options.save_baseline, env=env, inputs=inputs, model=model, digest=digest)

    rows = _package_rows(sides)
    comparisons = []
    if env.status == "ok":
        for other in sides[1:]:
            for item in inputs:
                comparisons.append(_compare(env, other, item, options.tolerance))
    findings_by_input = {
        item.name: [f.to_json() for f in check_json_input(item.path, model.signature_inputs)]
        for item in inputs
    }
    for item_findings in findings_by_input.values():
        for finding in item_findings:
            warnings.append(f"signature: {finding['message']}")
    verdict = _verdict(
        env, sides=sides, comparisons=comparisons, rows=rows, written=written, n_inputs=len(inputs)
    )
    doc = {
        "schema": SCHEMA,
        "envrun_version": __version__,
        "created": _now(),
        "verdict": verdict,
        "model": {
            "path": str(model.path),
            "digest": f"sha256:{digest.sha256}",
            "files": digest.files,
            "bytes": digest.bytes,
            "loader_module": model.pyfunc.loader_module,
            "flavors": sorted(model.flavors),
            "mlflow_version": model.mlflow_version,
            "signature": {"inputs": model.signature_inputs, "outputs": model.signature_outputs},
        },
        "tolerance": {
            "rtol": options.tolerance.rtol,
            "atol": options.tolerance.atol,
            "defaults": {k: list(v) for k, v in DEFAULT_TOLERANCES.items()},
        },
        "inputs": [
            {
                "name": item.name,
                "path": str(item.path),
                "sha256": item.sha256,
                "origin": item.origin,
                "signature_findings": findings_by_input[item.name],
            }
            for item in inputs
        ],
        "sides": {side.key: side.to_json() for side in sides},
        "package_differences": rows,
        "comparisons": comparisons,
        "warnings": warnings,
    }
    if written is not None:
        doc["baseline_written"] = str(written)
    return CheckResult(doc, int(verdict["exit_code"]), written)


def _save(
    path: Path,
    *,
    env: Side,
    inputs: list[CheckInput],
    model: ModelInfo,
    digest: Any,
) -> Path:
    if env.status != "ok":
        raise InputError(
            "no baseline was written: the env side did not produce outputs",
            value=env.reason or "",
            fix="fix the failure above, then save the baseline again",
        )
    return save_baseline(
        path,
        created=_now(),
        model={"path": str(model.path), "digest": f"sha256:{digest.sha256}"},
        side={"python": env.python, "packages": env.packages, "env": env.env, "label": env.label},
        outputs=[env.stored[item.name] for item in inputs],
    )


def _verdict(
    env: Side,
    *,
    sides: list[Side],
    comparisons: list[dict[str, Any]],
    rows: list[dict[str, Any]],
    written: Path | None,
    n_inputs: int,
) -> dict[str, Any]:
    by_key = {side.key: side for side in sides}
    not_compared = [
        {"side": side.key, "reason": side.reason or side.status}
        for side in sides[1:]
        if side.status != "ok" or not side.values
    ]
    ran = [c for c in comparisons if c["status"] != "skipped"]
    pairs = sorted(
        {f"{c['left']} vs {c['right']}" for c in ran},
        key=lambda p: [s.key for s in sides].index(p.split()[-1]),
    )
    differing = [c for c in ran if c["status"] == "differs"]
    findings: list[str] = []
    for pair in sorted({(c["left"], c["right"]) for c in differing}):
        findings += _explain(by_key[pair[0]], by_key[pair[1]], rows)
    for pair in sorted(
        {(c["left"], c["right"]) for c in ran} - {(c["left"], c["right"]) for c in differing}
    ):
        # Reproduced across different Pythons is worth saying: it is part of what was proved.
        findings += [
            f for f in _explain(by_key[pair[0]], by_key[pair[1]], []) if f.startswith("python")
        ]
    inputs_text = f"{n_inputs} input{'s' if n_inputs != 1 else ''}"
    if env.status != "ok":
        error = env.error or {}
        code = EXIT_USAGE if error.get("stage") in ("input", "request") else EXIT_MODEL
        status, headline = "failed", f"Failed: the model did not run in its own env ({env.reason})"
    elif differing:
        bad_pairs = sorted({f"{c['left']} ≠ {c['right']}" for c in differing})
        status, code = "differs", EXIT_CHECK_FAILED
        headline = f"Differs: {', '.join(bad_pairs)} on {len({c['input'] for c in differing})} of {inputs_text}"
    elif ran:
        status, code = "reproduced", EXIT_OK
        headline = (
            f"Reproduced: {', '.join(p.replace(' vs ', ' = ') for p in pairs)} ({inputs_text})"
        )
    elif written is not None:
        status, code = "baseline-saved", EXIT_OK
        headline = f"Baseline saved to {written}; nothing else to compare against ({inputs_text})"
    else:
        status, code = "unverified", EXIT_CHECK_FAILED
        headline = (
            "Unverified: the env ran, but there was nothing to compare it with; "
            "pass --baseline FILE or fix the host side"
        )
    variant = next((s for s in sides if s.key in ("upgraded", "with")), None)
    if variant is not None and variant.status == "failed" and status == "reproduced":
        status, code = "differs", EXIT_CHECK_FAILED
        headline = f"Differs: {variant.reason}"
    return {
        "status": status,
        "exit_code": code,
        "headline": headline,
        "compared": pairs,
        "not_compared": not_compared,
        "findings": findings,
    }
