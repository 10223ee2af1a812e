"""`envrun check`: run the same inputs on several sides, compare the outputs, build the report.

Sides: the model's declared env (the reference), this host process (the same worker code,
imported), a stored baseline, and optionally a variant env (pins relaxed, or packages swapped).
The result is the typed report (its JSON is schema envrun.check/1) and the exit code it implies.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from envrun import __version__, api
from envrun.check.baseline import Baseline, StoredOutput, load_baseline, save_baseline
from envrun.check.compare import DEFAULT_TOLERANCES, Comparison, Tolerance, compare
from envrun.check.document import (
    CheckReport,
    ComparisonReport,
    EnvInfo,
    InputReport,
    InstallerInfo,
    ModelFacts,
    PythonInfo,
    SideError,
    ToleranceFacts,
)
from envrun.check.sigcheck import SignatureFinding, check_json_input
from envrun.check.variants import VariantChange, variant_spec
from envrun.check.verdict import Side, package_rows, verdict_of
from envrun.errors import (
    EnvBuildError,
    EnvrunError,
    InputError,
    PredictError,
)
from envrun.model.mlmodel import ModelInfo, model_digest, read_model
from envrun.settings import Settings

_FLOAT_DEFAULTS = ("float16", "bfloat16", "float32", "float64")
# Packages whose newest release can be a download of several GB (CUDA builds).
_HEAVY = frozenset({"torch", "tensorflow", "jax", "jaxlib", "torchvision", "torchaudio"})


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
    load_only: bool = False  # build and load in the env, predict nothing


@dataclass(frozen=True)
class CheckInput:
    """One input file, named as the report shows it."""

    name: str
    path: Path
    sha256: str
    origin: str


@dataclass(frozen=True)
class CheckResult:
    """The report and the exit code it implies."""

    report: CheckReport
    exit_code: int
    baseline_written: Path | None = None

    @property
    def doc(self) -> dict[str, Any]:
        """The report document (JSON-ready, schema envrun.check/1)."""
        return self.report.to_json()


SYNTHETIC = "synthetic, from the signature"
SYNTHETIC_FILE = "synthetic_input.json"


def model_inputs(
    model: ModelInfo, given: Sequence[str], synthetic_dir: Path | None = None
) -> list[CheckInput]:
    """The inputs to run: the given files, else the model's own serving / input example, else
    (with `synthetic_dir` to write it in) a synthetic input built from its signature."""
    paths: list[tuple[Path, str]] = []
    if given:
        paths = [(Path(p), "argument") for p in given]
    elif model.serving_input_example is not None:
        paths = [(model.serving_input_example, "the model's serving_input_example.json")]
    elif model.input_example is not None:
        paths = [(model.input_example, "the model's input_example.json")]
    elif model.signature_inputs and synthetic_dir is not None:
        from envrun.model.example import synthetic_input

        path = synthetic_dir / SYNTHETIC_FILE
        path.write_text(json.dumps(synthetic_input(model)), encoding="utf-8")
        paths = [(path, SYNTHETIC)]
    else:
        raise InputError(
            "the model has no input example, no signature to make one from, and no INPUT "
            "was given",
            value=str(model.path),
            fix="pass an input file (envrun check MODEL_DIR INPUT.json), or smoke-test the "
            "load alone (envrun check --load-only MODEL_DIR)",
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


def _checked_inputs(
    model: ModelInfo, given: Sequence[str], synthetic_dir: Path | None = None
) -> list[CheckInput]:
    """model_inputs, each read and checked against the signature as predict does: before any
    build, so a malformed input or a missing column fails in milliseconds."""
    inputs = model_inputs(model, given, synthetic_dir)
    for item in inputs:
        api.validate_input(model, str(item.path))
    return inputs


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _failure(exc: EnvrunError) -> tuple[SideError, str]:
    """The side's error record, and the error's own words without envrun's framing."""
    if isinstance(exc, PredictError):
        # The type is its own field: the message is the model's alone.
        diagnosis = exc.diagnosis.render() if exc.diagnosis is not None else None
        error = SideError(exc.error_type, exc.stage, exc.detail, exc.traceback, diagnosis)
        return error, exc.detail
    if isinstance(exc, InputError):
        return SideError(type(exc).__name__, "input", exc.what), exc.detail or exc.what
    return SideError(type(exc).__name__, "bridge", exc.what), exc.what


def _host_python() -> PythonInfo:
    import sysconfig

    # The same spelling the interpreter probe records for env sides, so equal values look equal.
    return PythonInfo(
        version=platform.python_version(),
        implementation=sys.implementation.name,
        platform=sysconfig.get_platform(),
        executable=sys.executable,
    )


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
    side: Side,
    model: ModelInfo,
    inputs: list[CheckInput],
    python: Path | None,
    settings: Settings,
    *,
    resolution: api.Resolution | None = None,
) -> None:
    """Predict every input on one side; failures are recorded on the side, not raised."""
    for item in inputs:
        try:
            pred = api.run_input(
                model,
                str(item.path),
                python=python,
                timeout=settings.timeout,
                environ=settings.child_env(),
                sandbox=settings.sandbox and python is not None,
            )
        except (InputError, PredictError, EnvrunError) as exc:
            if isinstance(exc, EnvBuildError):
                raise
            if resolution is not None:
                api.explain_load_failure(exc, resolution)
            side.status, (side.error, side.detail) = "failed", _failure(exc)
            side.reason, side.failed_input = exc.what, item.name
            side.failed_column = exc.column if isinstance(exc, InputError) else None
            return
        for key in ("load", "predict"):
            side.timings[key] = side.timings.get(key, 0.0) + float(pred.timings.get(key, 0.0))
        side.values[item.name] = pred.value
        side.outputs[item.name] = pred.summary
        side.stored[item.name] = StoredOutput(
            item.name, item.sha256, pred.output, pred.arrays, pred.summary
        )


def _env_info(resolution: api.Resolution, handle: Any) -> EnvInfo:
    installer = resolution.installer
    return EnvInfo(
        path=str(handle.path),
        fingerprint=resolution.fingerprint,
        cache="miss" if handle.built else "hit",
        reason=handle.reason,
        installer=InstallerInfo(installer.value, resolution.installer_version, installer.reason),
        spec_source=resolution.spec.source,
        requirements=tuple(r.text for r in resolution.spec.requirements),
        as_of=resolution.spec.as_of_reason or None,
    )


def _python_of(resolution: api.Resolution) -> PythonInfo:
    interp = resolution.interpreter
    return PythonInfo(interp.version, interp.implementation, interp.platform, interp.path)


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
    heavy = sorted(
        c.name
        for c in changes
        if c.name in _HEAVY and not any(op in c.requested for op in "=<>~!@")
    )
    if heavy:
        settings.reporter.warn(
            f"the pins of {', '.join(heavy)} are relaxed too: their newest releases can be "
            f"multi-GB downloads; keep one with --with '{heavy[0]}==<version>'"
        )
    settings.reporter.step(f"building the {label} ({len(changes)} requirement(s) changed)")
    try:
        side, handle = _env_side(key, label, variant, settings)
    except EnvBuildError as exc:
        side = Side(key, label, status="failed", python=_python_of(variant))
        side.reason = f"the {label} could not be built: {exc.what}"
        side.error = SideError(type(exc).__name__, "build", exc.render())
        handle = None
    side.changes = tuple(changes)
    return side, handle, changes


def _compare(left: Side, right: Side, item: CheckInput, tolerance: Tolerance) -> ComparisonReport:
    for side in (left, right):
        if item.name not in side.values:
            reason = (
                f"the {side.key} side {side.status}"
                if side.status != "ok"
                else f"{side.key} has no output for this input"
            )
            return ComparisonReport(
                item.name, left.key, right.key, "skipped", reason, f"skipped: {reason}"
            )
    result: Comparison = compare(
        left.values[item.name],
        right.values[item.name],
        tolerance=tolerance,
        left_name=left.key,
        right_name=right.key,
    )
    return ComparisonReport(
        item.name, left.key, right.key, result.status, None, result.summary(), result.outputs
    )


def _with_envrun(finding: SignatureFinding, input_name: str, env: Side) -> SignatureFinding:
    """A signature finding with what envrun's worker did with that column in the env's run."""
    stage = env.error.stage if env.error else None
    if input_name in env.values:
        outcome = "accepted"
    elif env.failed_input != input_name:
        outcome = "not run (the env stopped at an earlier input)"
    elif stage == "input" and env.failed_column == finding.column:
        outcome = f"refused: {env.detail}"
    else:
        outcome = f"not reached (the env stopped first: {env.detail})"
    return replace(finding, envrun=outcome, message=f"{finding.message}; envrun: {outcome}")


def _host_side(
    model: ModelInfo, inputs: list[CheckInput], names: Sequence[str], settings: Settings
) -> Side:
    host = Side("host", "this host (in-process)", python=_host_python())
    host.packages = _host_packages(names)
    settings.reporter.step("running the same inputs in this process")
    start = time.monotonic()
    _run_side(host, model, inputs, None, settings)
    host.timings["total"] = time.monotonic() - start
    error = host.error if host.status == "failed" else None
    if error is not None and error.stage == "load":
        host.reason = f"this host cannot load the model: {error.type}: {host.detail}"
    elif error is not None and error.stage == "input":
        # The worker's advice is written for the model's env; here the host is what lacks it.
        host.reason = f"this host cannot read the input: {host.detail.split('; ')[0]}"
    return host


def _baseline_side(baseline: Baseline, inputs: list[CheckInput]) -> Side:
    from envrun.run.values import decode

    recorded = baseline.side
    side = Side(
        "baseline",
        f"baseline ({baseline.path.name})",
        python=PythonInfo.from_json(recorded.get("python")),
    )
    recorded_env = recorded.get("env")
    if isinstance(recorded_env, dict):  # how that env was found then says nothing about now
        then = {k: v for k, v in recorded_env.items() if k not in ("cache", "reason")}
        side.env = EnvInfo.from_json(then)
    side.packages = dict(recorded.get("packages") or {})
    side.baseline_path, side.baseline_created = str(baseline.path), baseline.created
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


def _gate(model: ModelInfo, settings: Settings, options: CheckOptions) -> None:
    """Before any build: the env sides and the in-process host side all load the model."""
    if settings.sandbox and options.host:
        raise InputError(
            "the sandbox confines the model's own process, but check's host side loads the "
            "model into this one",
            value="the sandbox with the host side",
            fix="skip the host side (--no-host; host=False in CheckOptions) or run without the "
            "sandbox",
        )
    api.gate_load(model.path, settings)


def run_check(model_dir: str | Path, settings: Settings, options: CheckOptions) -> CheckResult:
    """Run the check and build its report document; raises only for errors that stop it early."""
    if options.load_only:
        return _load_check(read_model(model_dir), settings)
    with tempfile.TemporaryDirectory(prefix="envrun-check-") as tmp:
        return _run_check(model_dir, settings, options, Path(tmp))


def _load_check(model: ModelInfo, settings: Settings) -> CheckResult:
    """--load-only: build the env and load the model there; nothing is predicted or compared."""
    start = time.monotonic()
    digest = model_digest(model.path)
    resolution = api.resolve_model(model, settings)
    for warning in resolution.warnings:
        settings.reporter.warn(warning)
    env, handle = _env_side("env", "isolated env (declared)", resolution, settings)
    settings.reporter.step("loading the model in the env (no predict)")
    try:
        loaded = api.load_model(model, python=handle.python, timeout=settings.timeout)
    except (PredictError, EnvrunError) as exc:
        if isinstance(exc, EnvBuildError):
            raise
        api.explain_load_failure(exc, resolution)
        env.status, (env.error, env.detail) = "failed", _failure(exc)
        env.reason = exc.what
    else:
        env.timings["load"] = loaded.timings.get("load", 0.0)
    env.timings["total"] = time.monotonic() - start
    verdict = verdict_of(env, sides=[env], comparisons=[], rows=[], written=None, n_inputs=0)
    if env.status == "ok":
        seconds = env.timings.get("load", 0.0)
        verdict = replace(
            verdict,
            status="loaded",
            exit_code=0,
            headline=f"Loaded: the model loads in its own env ({seconds:.2f} s); "
            "nothing was predicted (--load-only)",
        )
    report = CheckReport(
        envrun_version=__version__,
        created=_now(),
        verdict=verdict,
        model=_model_facts(model, digest),
        sides=(env.report(),),
        warnings=resolution.warnings,
        timings={"total": round(time.monotonic() - start, 4)},
    )
    return CheckResult(report, verdict.exit_code)


def _model_facts(model: ModelInfo, digest: Any) -> ModelFacts:
    return ModelFacts(
        path=str(model.path),
        digest=f"sha256:{digest.sha256}",
        files=digest.files,
        bytes=digest.bytes,
        loader_module=model.pyfunc.loader_module,
        flavors=tuple(sorted(model.flavors)),
        mlflow_version=model.mlflow_version,
        signature_inputs=model.signature_inputs,
        signature_outputs=model.signature_outputs,
    )


def _run_check(
    model_dir: str | Path, settings: Settings, options: CheckOptions, workdir: Path
) -> CheckResult:
    start = time.monotonic()
    model = read_model(model_dir)
    inputs = _checked_inputs(model, options.inputs, workdir)
    _gate(model, settings, options)
    baseline = load_baseline(options.baseline) if options.baseline else None
    digest = model_digest(model.path)
    resolution = api.resolve_model(model, settings)
    warnings = list(resolution.warnings)
    for warning in warnings:
        settings.reporter.warn(warning)

    env, handle = _env_side("env", "isolated env (declared)", resolution, settings)
    settings.reporter.step(f"running {len(inputs)} input(s) in the env")
    _run_side(env, model, inputs, handle.python, settings, resolution=resolution)
    env.timings["total"] = time.monotonic() - start
    sides = [env]

    if options.host:
        names = [canonicalize_name(r.name) for r in resolution.spec.requirements if r.name]
        sides.append(_host_side(model, inputs, names, settings))
    if baseline is not None:
        sides.append(_baseline_side(baseline, inputs))
    variant = None
    if options.upgrade or options.overrides:
        t0 = time.monotonic()
        variant, vhandle, _ = _variant_side(resolution, options, settings)
        if vhandle is not None:
            _run_side(variant, model, inputs, vhandle.python, settings)
        variant.timings["total"] = time.monotonic() - t0
        sides.append(variant)

    written = None
    if options.save_baseline is not None and env.status == "ok":
        written = _save(options.save_baseline, env=env, inputs=inputs, model=model, digest=digest)
    elif options.save_baseline is not None:
        warnings.append(f"no baseline written to {options.save_baseline}: the env side failed")
        settings.reporter.warn(warnings[-1])

    rows = package_rows(sides)
    comparisons = []
    if env.status == "ok":
        for other in sides[1:]:
            for item in inputs:
                comparisons.append(_compare(env, other, item, options.tolerance))
    verdict = verdict_of(
        env, sides=sides, comparisons=comparisons, rows=rows, written=written, n_inputs=len(inputs)
    )
    recorded = baseline.model.get("digest") if baseline is not None else None
    if recorded and recorded != f"sha256:{digest.sha256}":
        # Allowed (it is how a retrained model is compared with the old one), but never silent.
        finding = (
            f"the baseline was recorded for another model directory content ({recorded[:19]}…), "
            f"this one is sha256:{digest.sha256[:12]}…"
        )
        verdict = replace(verdict, findings=(*verdict.findings, finding))
    report = CheckReport(
        envrun_version=__version__,
        created=_now(),
        verdict=verdict,
        model=_model_facts(model, digest),
        tolerance=ToleranceFacts(
            rtol=options.tolerance.rtol,
            atol=options.tolerance.atol,
            # Integers, booleans, strings and datetimes compare exactly; only floats have slack.
            defaults={k: v for k, v in DEFAULT_TOLERANCES.items() if k in _FLOAT_DEFAULTS},
        ),
        inputs=tuple(
            InputReport(
                name=item.name,
                path=str(item.path),
                sha256=item.sha256,
                origin=item.origin,
                signature_findings=tuple(
                    _with_envrun(f, item.name, env)
                    for f in check_json_input(item.path, model.signature_inputs)
                ),
            )
            for item in inputs
        ),
        sides=tuple(side.report() for side in sides),
        package_differences=tuple(rows),
        comparisons=tuple(comparisons),
        warnings=tuple(warnings),
        timings={"total": round(time.monotonic() - start, 4)},
        baseline_written=None if written is None else str(written),
    )
    return CheckResult(report, verdict.exit_code, written)


def _save(
    path: Path,
    *,
    env: Side,
    inputs: list[CheckInput],
    model: ModelInfo,
    digest: Any,
) -> Path:
    return save_baseline(
        path,
        created=_now(),
        model={"path": str(model.path), "digest": f"sha256:{digest.sha256}"},
        side={
            "python": env.python.to_json(),
            "packages": env.packages,
            "env": env.env.to_json() if env.env else None,
            "label": env.label,
        },
        outputs=[env.stored[item.name] for item in inputs],
    )
