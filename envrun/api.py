"""The library's entry points: resolve a model's env, ensure it exists, predict inside it."""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from envrun.env.asof import apply_as_of
from envrun.env.backends import Backend, get_backend
from envrun.env.interpreters import Interpreter, find_interpreter
from envrun.env.layout import CacheLayout
from envrun.env.pipconf import PipConfig
from envrun.env.requirements import IndexOptions
from envrun.env.sources import resolve_spec
from envrun.env.spec import EnvSpec, fingerprint
from envrun.env.store import EnvHandle, ensure_env
from envrun.errors import Diagnosis, EnvrunError, PredictError
from envrun.model.mlmodel import ModelInfo, read_model
from envrun.run.bridge import (
    WorkerResult,
    build_load_request,
    build_request,
    run_in_env,
    run_in_process,
)
from envrun.run.values import DecodedOutput
from envrun.settings import Choice, Settings

if TYPE_CHECKING:
    from envrun.env.lock import Lock
    from envrun.pickles.safety import SafetyReport
    from envrun.run.pool import Pool, PoolPrediction


@dataclass(frozen=True)
class Resolution:
    """A model's declared env, resolved to an interpreter, an installer and a fingerprint."""

    model: ModelInfo
    spec: EnvSpec
    interpreter: Interpreter
    installer: Choice
    installer_version: str
    index: IndexOptions
    index_sources: tuple[str, ...]
    config_constraints: tuple[tuple[str, str], ...]
    fingerprint: str
    warnings: tuple[str, ...]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view, as `envrun resolve --json` prints it."""
        model = self.model
        return {
            "model": str(model.path),
            "loader_module": model.pyfunc.loader_module,
            "flavors": sorted(model.flavors),
            "mlflow_version": model.mlflow_version,
            "fingerprint": self.fingerprint,
            "as_of": {
                "cutoff": self.spec.as_of,
                "text": self.spec.as_of_reason,
                "exact_pins": self.spec.exact_pins,
                "added": list(self.spec.added),
            },
            "spec": self.spec.to_json(),
            "interpreter": {
                "path": self.interpreter.path,
                "version": self.interpreter.version,
                "implementation": self.interpreter.implementation,
                "platform": self.interpreter.platform,
                "origin": self.interpreter.origin,
            },
            "installer": {
                "name": self.installer.value,
                "version": self.installer_version,
                "reason": self.installer.reason,
            },
            "index": self.index.to_json(),
            "index_sources": list(self.index_sources),
            "pip_config_constraints": [p for p, _ in self.config_constraints],
            "signature": {"inputs": model.signature_inputs, "outputs": model.signature_outputs},
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class Prediction(DecodedOutput):
    """One side's output: MLflow-compatible JSON text, the lossless tree and the decoded value.

    The decoded value is built on first access, so a caller that only wants the JSON text never
    pays for importing numpy or pandas.
    """

    side: str
    predictions_text: str
    output: dict[str, Any]
    arrays: dict[str, bytes]
    python: dict[str, Any]
    packages: dict[str, str] | None
    timings: dict[str, float]
    warnings: tuple[str, ...]
    stdout: str
    stderr: str

    @cached_property
    def jsonable(self) -> Any:
        """The lossless output as plain JSON-safe data (dtypes, shapes, non-finite floats kept)."""
        from envrun.run.values import to_jsonable

        return to_jsonable(self.output, self.arrays)


@dataclass(frozen=True)
class PredictRun:
    """A prediction made in the model's env, with everything needed to explain it."""

    resolution: Resolution
    env: EnvHandle
    prediction: Prediction
    warnings: tuple[str, ...]
    timings: dict[str, float] = field(default_factory=dict)


def _read_pip_config(settings: Settings) -> PipConfig:
    from envrun.env.pipconf import read_pip_config

    return read_pip_config(settings.environ, home=Path.home())


def _backend(settings: Settings) -> Backend:
    return get_backend(settings.installer.value, settings)


def _hash_files(paths: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    hashed = []
    for path in paths:
        try:
            hashed.append((path, hashlib.sha256(Path(path).read_bytes()).hexdigest()))
        except OSError:
            hashed.append((path, "missing"))
    return tuple(hashed)


def resolve(model_dir: str | Path, settings: Settings) -> Resolution:
    """Read the model, resolve its declared env and compute the fingerprint; builds nothing."""
    start = time.monotonic()
    model = read_model(model_dir)
    return resolve_model(model, settings, start)


def resolve_model(model: ModelInfo, settings: Settings, start: float | None = None) -> Resolution:
    """Resolve an already-read model (see `resolve`)."""
    start = time.monotonic() if start is None else start
    spec = apply_as_of(
        resolve_spec(model, strict=settings.strict),
        model,
        settings.as_of,
        exact_pins=settings.exact_pins,
    )
    match = find_interpreter(
        spec.python,
        explicit=settings.python,
        cache_file=CacheLayout(settings.cache_dir).interpreters_memo,
        environ=settings.environ,
    )
    backend = _backend(settings)
    config = _read_pip_config(settings)
    index = config.index.merged(spec.index)
    config_constraints = _hash_files(config.constraint_files)
    version = backend.version()
    fp = fingerprint(
        spec,
        interpreter=match.interpreter,
        installer=backend.name,
        installer_version=version,
        index=index,
        config_constraints=config_constraints,
    )
    warnings = list(spec.warnings)
    if match.warning:
        warnings.append(match.warning)
    return Resolution(
        model=model,
        spec=spec,
        interpreter=match.interpreter,
        installer=settings.installer,
        installer_version=version,
        index=index,
        index_sources=config.sources,
        config_constraints=config_constraints,
        fingerprint=fp,
        warnings=tuple(warnings),
        seconds=time.monotonic() - start,
    )


def variant_resolution(resolution: Resolution, spec: EnvSpec) -> Resolution:
    """The same model, interpreter and installer with another spec (and so another fingerprint)."""
    fp = fingerprint(
        spec,
        interpreter=resolution.interpreter,
        installer=resolution.installer.value,
        installer_version=resolution.installer_version,
        index=resolution.index.merged(spec.index),
        config_constraints=resolution.config_constraints,
    )
    return replace(resolution, spec=spec, fingerprint=fp)


def installed_in(env_path: Path, settings: Settings) -> dict[str, str]:
    """What an env holds right now (canonical name -> version), asked of its installer."""
    return _backend(settings).list_installed(env_path)


def lock_model(
    model_dir: str | Path, settings: Settings, *, exclude_newer: str | None = None
) -> tuple[Lock, Resolution]:
    """A fully pinned, hash-carrying lock of the model's declared env, for its interpreter."""
    resolution = resolve(model_dir, settings)
    return lock_resolution(resolution, settings, exclude_newer=exclude_newer), resolution


def lock_resolution(
    resolution: Resolution, settings: Settings, *, exclude_newer: str | None = None
) -> Lock:
    """Resolve a resolution's spec, transitive dependencies included, into a lock."""
    from envrun.env.lock import compile_lock

    return compile_lock(
        resolution.spec,
        interpreter=resolution.interpreter,
        installer=resolution.installer.value,
        index=resolution.index,
        extra_constraints=[p for p, _ in resolution.config_constraints],
        settings=settings,
        exclude_newer=exclude_newer,
        fingerprint=resolution.fingerprint,
        model_path=str(resolution.model.path),
    )


def locked_resolution(resolution: Resolution, lock_path: Path) -> Resolution:
    """The resolution that builds exactly the lock file's pins (hash-checked)."""
    from envrun.env.lock import read_lock, spec_from_lock

    lock = read_lock(lock_path)
    spec = spec_from_lock(lock, lock_path, resolution.spec, model_dir=resolution.model.path)
    return variant_resolution(resolution, spec)


def ensure_environment(
    resolution: Resolution,
    settings: Settings,
    *,
    before_build: Callable[[], None] | None = None,
) -> EnvHandle:
    """The env for a resolution: reused when complete, else built (under a lock).

    The handle holds the env in use (prune and rm skip it, --rebuild waits) until
    `handle.release()` or until it is dropped. `before_build` runs only when a build is coming
    (see store.ensure_env).
    """
    backend = _backend(settings)
    # pip reads pip.conf and PIP_* itself; uv gets the merged options (and pip.conf's
    # constraint files) as flags, so both installers see the same configuration.
    uv = backend.name == "uv"
    return ensure_env(
        resolution.spec,
        fp=resolution.fingerprint,
        interpreter=resolution.interpreter,
        backend=backend,
        plan_index=resolution.index if uv else resolution.spec.index,
        extra_constraints=tuple(p for p, _ in resolution.config_constraints) if uv else (),
        installer_reason=resolution.installer.reason,
        settings=settings,
        before_build=before_build,
        model=(str(resolution.model.path), model_name(resolution.model)),
    )


def model_name(model: ModelInfo) -> str:
    """What to call a model in listings: MLmodel's name or artifact path, else its directory."""
    for key in ("name", "artifact_path"):
        value = model.raw.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return model.path.name


def predict(
    model_dir: str | Path,
    input_source: str,
    settings: Settings,
    *,
    fmt: str | None = None,
    stdin: BinaryIO | None = None,
    params: dict[str, Any] | None = None,
    want_packages: bool = False,
    locked: Path | None = None,
) -> PredictRun:
    """Predict with the model inside its own cached env (or the env of a lock file)."""
    start = time.monotonic()
    # The input is read and checked before any env is built: bad input fails in milliseconds.
    with _call(
        model_dir, input_source, fmt=fmt, stdin=stdin, params=params, want_packages=want_packages
    ) as call:
        model, ctl_dir, request, input_warnings = call
        gate_load(model.path, settings)
        request["model"]["device"] = settings.device
        resolution = resolve_model(model, settings, start)
        if locked is not None:
            resolution = locked_resolution(resolution, locked)
        # Said before the (possibly long) build, not after it.
        for warning in (*resolution.warnings, *input_warnings):
            settings.reporter.warn(warning)

        def preflight() -> None:
            for warning in _preflight(resolution):
                settings.reporter.warn(warning)

        env_start = time.monotonic()
        env = ensure_environment(resolution, settings, before_build=preflight)
        env_seconds = time.monotonic() - env_start
        if env.built:
            settings.reporter.step(f"env ready in {env.seconds:.1f}s: {env.path}")
        try:
            result = run_in_env(
                env.python,
                ctl_dir,
                request,
                timeout=settings.timeout,
                environ=settings.child_env(),
                sandbox=settings.sandbox,
            )
        except PredictError as exc:
            explain_load_failure(exc, resolution)
            raise
        finally:
            env.release()
        prediction = _prediction("env", result)
    return PredictRun(
        resolution=resolution,
        env=env,
        prediction=prediction,
        warnings=(*resolution.warnings, *input_warnings, *prediction.warnings),
        timings={
            "resolve": round(resolution.seconds, 4),
            "env": round(env_seconds, 4),
            "worker": round(result.seconds, 4),
            "total": round(time.monotonic() - start, 4),
        },
    )


def scan_cache_root(settings: Settings) -> Path:
    """The root under which the safety scan keeps its results (in `scans/`)."""
    return settings.cache_dir


def scan(model_dir: str | Path, settings: Settings | None) -> SafetyReport:
    """What the model's pickles would import and call when loaded, read without unpickling.

    Cached by the model's content digest under the cache root (not cached without settings);
    raises ModelError for a missing directory or one without an MLmodel file.
    """
    from envrun.errors import ModelError
    from envrun.pickles.safety import scan_model

    root = Path(model_dir)
    if root.is_dir() and not (root / "MLmodel").is_file():
        raise ModelError(
            "no MLmodel file in the model directory",
            value=str(root / "MLmodel"),
            fix="point envrun at a directory written by mlflow's save_model/log_model "
            "(it holds MLmodel)",
        )
    cache_root = scan_cache_root(settings) if settings is not None else None
    return scan_model(root, cache_root=cache_root)


def gate_load(model_dir: str | Path, settings: Settings | None) -> SafetyReport | None:
    """What must hold before a model is first loaded, anywhere: call it before building its env.

    Unless `settings.trust_model`, the pickles are scanned (a cached scan when the content is
    unchanged) and a dangerous finding raises UnsafeModelError; code by value does not block.
    With `settings.sandbox`, a sandbox tool must work here (else SandboxUnavailable). Returns
    the scan, or None when the model is trusted. No settings: untrusted, scanned uncached.
    """
    if settings is not None and settings.sandbox:
        from envrun.run.sandbox import find_sandbox

        find_sandbox(path=settings.environ.get("PATH"))
    if settings is not None and settings.trust_model:
        return None
    from envrun.pickles.safety import refuse_if_dangerous

    report = scan(model_dir, settings)
    refuse_if_dangerous(report)
    return report


def _preflight(resolution: Resolution) -> list[str]:
    """Pickled modules that the env about to be built will not provide (run before builds only).

    A cold run learns in milliseconds what would otherwise surface as a load failure after the
    build; a warm run never pays for it.
    """
    from envrun.pickles.preflight import preflight_model

    try:
        findings = preflight_model(resolution.model, resolution.spec).findings
    except Exception as exc:  # an advisory scan must never stop a model that would run
        return [f"the pickle preflight could not read this model ({type(exc).__name__}: {exc})"]
    return [f"{f.message}; {f.fix}" for f in findings if f.severity == "high"]


def explain_load_failure(exc: EnvrunError, resolution: Resolution) -> None:
    """Give a load failure on a missing module the pickle preflight's finding as its diagnosis.

    The worker's own traceback says only "No module named 'x'"; the preflight knows which
    pickle needs it and which distribution the declaration lacks.
    """
    from envrun.run.diagnose import missing_module

    if not isinstance(exc, PredictError) or exc.stage != "load" or exc.diagnosis is not None:
        return
    module = missing_module(f"{exc.traceback}\n{exc.detail}")
    if module is None:
        return
    top = module.split(".")[0]
    try:
        from envrun.pickles.preflight import preflight_model

        findings = preflight_model(resolution.model, resolution.spec).findings
    except Exception:  # advisory: the load error stands on its own without it
        findings = ()
    for finding in findings:
        if finding.module and finding.module.split(".")[0] == top:
            exc.diagnosis = Diagnosis(finding.message, finding.fix)
            return
    exc.diagnosis = Diagnosis(
        f"the model imports `{top}`, which no requirement of the model's declaration provides",
        f"add the distribution that provides `{top}` to the model's requirements, or ship "
        "the module in the model's code paths",
    )


@dataclass(frozen=True)
class LoadRun:
    """A model loaded (and not called) with an env's interpreter or in this process."""

    python: dict[str, Any]
    timings: dict[str, float]
    warnings: tuple[str, ...]
    seconds: float


def load_model(model: ModelInfo, *, python: Path | None, timeout: float | None = None) -> LoadRun:
    """Load the model as its flavor does without predicting (python None: in this process).

    A model with neither an input example nor a signature can still be smoke-tested this way;
    a failure is the PredictError (stage "load") a predict would raise.
    """
    request = build_load_request(model)
    with tempfile.TemporaryDirectory(prefix="envrun-") as tmp:
        ctl_dir = Path(tmp)
        if python is None:
            result = run_in_process(ctl_dir, request)
        else:
            result = run_in_env(python, ctl_dir, request, timeout=timeout)
    response = result.response
    return LoadRun(
        python=dict(response.get("python") or {}),
        timings={k: float(v) for k, v in (response.get("timings") or {}).items()},
        warnings=tuple(str(w) for w in response.get("warnings") or ()),
        seconds=result.seconds,
    )


def predict_in_process(
    model_dir: str | Path,
    input_source: str,
    *,
    fmt: str | None = None,
    stdin: BinaryIO | None = None,
    params: dict[str, Any] | None = None,
    want_packages: bool = False,
    settings: Settings | None = None,
) -> Prediction:
    """Predict with the model loaded into this process, through the same worker code.

    The model passes `gate_load` first (untrusted, with an uncached scan, when no settings).
    """
    gate_load(model_dir, settings)
    return run_input(
        model_dir,
        input_source,
        python=None,
        fmt=fmt,
        stdin=stdin,
        params=params,
        want_packages=want_packages,
    )


def validate_input(model: ModelInfo, input_source: str, *, fmt: str | None = None) -> list[str]:
    """Read an input and check it against the signature, as predict does before any build.

    Raises InputError for input no env could use; returns the warnings (dropped columns...).
    """
    with _call(model, input_source, fmt=fmt, stdin=None, params=None, want_packages=False) as call:
        return call[3]


def run_input(
    model: str | Path | ModelInfo,
    input_source: str,
    *,
    python: Path | None,
    timeout: float | None = None,
    fmt: str | None = None,
    stdin: BinaryIO | None = None,
    params: dict[str, Any] | None = None,
    want_packages: bool = False,
    environ: Mapping[str, str] | None = None,
    sandbox: bool = False,
) -> Prediction:
    """Predict one input with an env's interpreter, or in this process when `python` is None.

    A step inside the entry points: the caller has passed the model through `gate_load`.
    """
    with _call(
        model, input_source, fmt=fmt, stdin=stdin, params=params, want_packages=want_packages
    ) as call:
        _, ctl_dir, request, _ = call
        if python is None:
            return _prediction("in-process", run_in_process(ctl_dir, request))
        result = run_in_env(
            python, ctl_dir, request, timeout=timeout, environ=environ, sandbox=sandbox
        )
        return _prediction("env", result)


@contextmanager
def _call(
    model_dir: str | Path | ModelInfo,
    input_source: str,
    *,
    fmt: str | None,
    stdin: BinaryIO | None,
    params: dict[str, Any] | None,
    want_packages: bool,
) -> Iterator[tuple[ModelInfo, Path, dict[str, Any], list[str]]]:
    """One call's control dir, holding the checked input; yields the worker request and warnings."""
    from envrun.run.inputs import check_against_signature, read_input

    model = model_dir if isinstance(model_dir, ModelInfo) else read_model(model_dir)
    with tempfile.TemporaryDirectory(prefix="envrun-") as tmp:
        ctl_dir = Path(tmp)
        spec_in = read_input(input_source, dest_dir=ctl_dir, stdin=stdin, fmt=fmt)
        warnings = check_against_signature(spec_in, model.signature_inputs)
        request = build_request(
            model,
            input_path=spec_in.path,
            input_format=spec_in.format,
            params=params if params is not None else spec_in.params,
            want_packages=want_packages,
        )
        yield model, ctl_dir, request, warnings


def _prediction(side: str, result: WorkerResult) -> Prediction:
    from envrun.run.values import read_side_files, to_jsonable

    response = result.response
    tree = response.get("output") or {"kind": "none"}
    arrays = read_side_files(tree, result.ctl_dir)
    name = response.get("predictions_file")
    if name:
        text = (result.ctl_dir / Path(str(name)).name).read_text(encoding="utf-8")
    else:  # the worker could not render MLflow's form; fall back to the lossless JSON view
        text = json.dumps({"predictions": to_jsonable(tree, arrays)})
    return Prediction(
        side=side,
        predictions_text=text,
        output=tree,
        arrays=arrays,
        python=dict(response.get("python") or {}),
        packages=response.get("packages"),
        timings={k: float(v) for k, v in (response.get("timings") or {}).items()},
        warnings=tuple(str(w) for w in response.get("warnings") or ()),
        stdout=result.stdout,
        stderr=result.stderr,
    )


@contextmanager
def open_pool(
    model_dir: str | Path,
    settings: Settings,
    *,
    workers: int = 1,
    timeout: float | None = None,
    load_timeout: float | None = None,
    want_packages: bool = False,
    locked: Path | None = None,
    log_dir: Path | None = None,
) -> Iterator[Pool]:
    """A pool of persistent workers in the model's env (resolved and built as `predict` does).

    Each worker loads the model once; `pool.predict(data_bytes, fmt)` is thread-safe. The pool
    and its workers are closed on leaving the block. `timeout` defaults to settings.timeout.
    """
    from envrun.run.pool import Pool

    gate_load(model_dir, settings)
    resolution = resolve_model(read_model(model_dir), settings)
    if locked is not None:
        resolution = locked_resolution(resolution, locked)
    for warning in resolution.warnings:
        settings.reporter.warn(warning)

    def preflight() -> None:
        for warning in _preflight(resolution):
            settings.reporter.warn(warning)

    env = ensure_environment(resolution, settings, before_build=preflight)
    if env.built:
        settings.reporter.step(f"env ready in {env.seconds:.1f}s: {env.path}")
    # The env stays in use for the pool's whole life: its workers run from it.
    try:
        try:
            pool = Pool(
                env.python,
                resolution.model,
                workers=workers,
                timeout=settings.timeout if timeout is None else timeout,
                load_timeout=load_timeout,
                want_packages=want_packages,
                environ=settings.child_env(),
                log_dir=log_dir,
                device=settings.device,
                sandbox=settings.sandbox,
            )
        except PredictError as exc:
            explain_load_failure(exc, resolution)
            raise
        try:
            yield pool
        finally:
            pool.close()
    finally:
        env.release()


@dataclass(frozen=True)
class InputPrediction:
    """One input of `predict_many` and its answer from the pool."""

    source: str
    prediction: PoolPrediction
    warnings: tuple[str, ...]


def predict_many(
    model_dir: str | Path,
    sources: list[str],
    settings: Settings,
    *,
    fmt: str | None = None,
    locked: Path | None = None,
) -> Iterator[InputPrediction]:
    """Predict several inputs on one persistent worker: one env check, one model load.

    Every input is read and checked against the signature before any env is built; the
    answers come in the order of `sources`.
    """
    from envrun.run.inputs import check_against_signature, read_input

    model = read_model(model_dir)
    with tempfile.TemporaryDirectory(prefix="envrun-") as tmp:
        checked = []
        for i, source in enumerate(sources):
            dest = Path(tmp) / str(i)
            dest.mkdir()
            spec_in = read_input(source, dest_dir=dest, fmt=fmt)
            checked.append(
                (source, spec_in, check_against_signature(spec_in, model.signature_inputs))
            )
        with open_pool(model_dir, settings, workers=1, locked=locked) as pool:
            for source, spec_in, warnings in checked:
                answer = pool.predict(spec_in.path.read_bytes(), spec_in.format)
                yield InputPrediction(source, answer, (*warnings, *answer.warnings))
