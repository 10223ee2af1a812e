"""`envrun drift` for one or many models: every drift class that can run, with why others could not."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from envrun import api
from envrun.drift.collectors import (
    CATEGORIES,
    DriftReport,
    Finding,
    ModelDrift,
    availability_findings,
    consistency_findings,
    declared_of,
    host_findings,
    installed_findings,
    lock_findings,
    pickle_findings,
)
from envrun.drift.finding import Skip
from envrun.drift.moved import exact_version_of, moved_drift
from envrun.env.layout import CacheLayout
from envrun.env.lock import Lock, check_available, diff_pins, read_lock, unsatisfied
from envrun.env.sources import resolve_spec
from envrun.env.store import read_state
from envrun.errors import EnvBuildError, EnvrunError, InterpreterNotFound, SpecError
from envrun.model.mlmodel import read_model
from envrun.pickles.preflight import preflight_model
from envrun.settings import Settings

DEFAULT_LOCK_NAME = "envrun.env.lock"


def _lock_for(model_dir: Path, given: Path | None) -> Path | None:
    if given is not None:
        return given
    candidate = model_dir / DEFAULT_LOCK_NAME
    return candidate if candidate.is_file() else None


def drift_model(  # noqa: PLR0915 (one block per drift class, in the order reports show them)
    model_dir: str | Path,
    settings: Settings,
    *,
    lock_path: Path | None = None,
    skip: frozenset[str] = frozenset(),
) -> ModelDrift:
    """Every drift class for one model; a class that cannot run is listed as skipped, with why."""
    label = str(model_dir)
    model = read_model(model_dir)
    findings: list[Finding] = []
    checked: list[str] = []
    skipped: list[tuple[str, str]] = [(c, "skipped with --skip") for c in CATEGORIES if c in skip]

    def run(category: str, collect: Callable[[], list[Finding]]) -> None:
        if category in skip:
            return
        try:
            findings.extend(collect())
            checked.append(category)
        except Skip as why:
            skipped.append((category, str(why)))

    run("consistency", lambda: consistency_findings(model.path, label))
    try:
        spec = resolve_spec(model, strict=settings.strict)
    except EnvrunError as exc:
        reason = f"the model's env spec cannot be resolved: {exc.what}"
        skipped += [(c, reason) for c in CATEGORIES if c not in skip and c != "consistency"]
        return ModelDrift(label, str(model.path), tuple(findings), tuple(checked), tuple(skipped))
    pins, sources = declared_of(spec)
    run("pickle", lambda: pickle_findings(label, preflight_model(model, spec).to_json()))
    run("host", lambda: host_findings(label, pins, spec.python, sources=sources))

    resolution: api.Resolution | None = None
    resolve_error = ""
    try:
        resolution = api.resolve_model(model, settings)
    except (InterpreterNotFound, SpecError) as exc:
        resolve_error = f"no interpreter or spec for the model: {exc.what}"

    def installed() -> list[Finding]:
        if resolution is None:
            raise Skip(resolve_error)
        env_dir = CacheLayout(settings.cache_dir).env_dir(resolution.fingerprint)
        state, _ = read_state(env_dir, resolution.fingerprint)
        if state is not None:
            # What the env holds now, not what the build recorded: someone may have
            # pip-installed into it since.
            state = {**state, "installed": api.installed_in(env_dir, settings)}
        return installed_findings(
            label, pins, spec.python, state, str(env_dir) if state else None, sources=sources
        )

    run("installed", installed)
    lock_file = _lock_for(model.path, lock_path)
    lock: Lock | None = (
        read_lock(lock_file) if lock_file is not None and "lock" not in skip else None
    )

    def against_lock() -> list[Finding]:
        if lock is None or lock_file is None:
            raise Skip(
                f"no lock file (write one with `envrun lock MODEL_DIR -o {DEFAULT_LOCK_NAME}` "
                "in the model dir, or pass --lock FILE)"
            )
        if resolution is None:
            raise Skip(resolve_error)
        stale = [
            Finding(
                model=label,
                category="lock",
                subject="lock",
                expected="the lock meets the declared requirements",
                actual=missed,
                severity="high",
                message=f"{lock_file.name} no longer meets what the model declares: {missed}",
                fix=f"write a new lock: envrun lock {label} -o {lock_file}",
                source=str(lock_file),
            )
            for missed in unsatisfied(lock, spec)
        ]
        fresh = today()
        if isinstance(fresh, Finding):
            return [*stale, fresh]
        return [*stale, *lock_findings(label, str(lock_file), diff_pins(lock.pins, fresh.pins))]

    today_memo: list[Lock | Finding] = []

    def today() -> Lock | Finding:
        # One resolution today serves both the lock and the moved class.
        if resolution is None:
            raise Skip(resolve_error)
        if not today_memo:
            today_memo.append(_fresh_lock(resolution, settings))
        return today_memo[0]

    def moved() -> list[Finding]:
        if resolution is None:
            raise Skip(resolve_error)
        return moved_drift(label, resolution, settings, declared=pins, sources=sources, today=today)

    run("lock", against_lock)
    run("moved", moved)

    def availability() -> list[Finding]:
        if resolution is None:
            raise Skip(resolve_error)
        wanted = {
            name: version
            for name, text in pins.items()
            if (version := exact_version_of(text, arbitrary=False))
        }
        if lock is not None:
            wanted.update(lock.index_pins)
        if not wanted:
            return []
        missing = check_available(
            wanted,
            interpreter=resolution.interpreter,
            installer=resolution.installer.value,
            index=resolution.index,
            extra_constraints=[p for p, _ in resolution.config_constraints],
            settings=settings,
        )
        return availability_findings(label, missing)

    run("availability", availability)
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return ModelDrift(
        label,
        str(model.path),
        tuple(findings),
        tuple(sorted(checked, key=order.__getitem__)),
        tuple(sorted(skipped, key=lambda s: order[s[0]])),
    )


def _fresh_lock(resolution: api.Resolution, settings: Settings) -> Lock | Finding:
    try:
        return api.lock_resolution(resolution, settings)
    except SpecError as exc:  # e.g. a VCS or directory requirement, which cannot carry a hash
        raise Skip(f"the declared env cannot be locked: {exc.what}") from exc
    except EnvBuildError as exc:
        # A declared env that no longer resolves is the worst drift there is, not a skip.
        last = exc.tail.strip().splitlines()[-1] if exc.tail.strip() else ""
        return Finding(
            model=str(resolution.model.path),
            category="lock",
            subject="resolution",
            expected="the declared env resolves",
            actual="no resolution",
            severity="high",
            message=f"a fresh resolution of the declared env fails today: {exc.what}"
            + (f" ({last})" if last else ""),
            fix="relax or update the pins that no longer resolve, then write a new lock",
            source=resolution.spec.source,
        )


def run_drift(
    model_dirs: Sequence[str | Path],
    settings: Settings,
    *,
    threshold: str,
    lock_path: Path | None = None,
    skip: frozenset[str] = frozenset(),
) -> DriftReport:
    """Drift for several models, in the order given."""
    models = [drift_model(d, settings, lock_path=lock_path, skip=skip) for d in model_dirs]
    return DriftReport(tuple(models), threshold)
