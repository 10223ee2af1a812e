"""Drift: where a model's env files, MLmodel, the host and the model's cached env disagree.

This module holds the collectors that compare declared pins with something outside the model
directory (the host, the cached env, a lock, the index, the pickle preflight), the report
types, and static_drift. The consistency checks live in drift_files, the Finding record and
severity rules in drift_core; their public names are re-exported here.

The collectors here read files and the host's package metadata only. The ones that need a
resolver, an index or the pickle preflight take those results as plain data, so this module
runs no subprocess and reaches no network.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

from envrun.drift.consistency import (
    FLAVOR_VERSION_KEYS,
    _origin_file,
    _spec_of,
    consistency_findings,
)
from envrun.drift.finding import (
    _RANK,
    CATEGORIES,
    CRITICAL,
    SEVERITIES,
    Finding,
    _assess,
    _canon,
    _critical,
    _parse,
    _verb,
    at_or_above,
    classify,
)
from envrun.env.sources import resolve_spec
from envrun.env.spec import EnvSpec
from envrun.errors import EnvrunError
from envrun.model.mlmodel import read_model

__all__ = [
    "CATEGORIES",
    "CRITICAL",
    "FLAVOR_VERSION_KEYS",
    "SCHEMA",
    "SEVERITIES",
    "DriftReport",
    "Finding",
    "ModelDrift",
    "at_or_above",
    "availability_findings",
    "classify",
    "consistency_findings",
    "declared_of",
    "host_findings",
    "installed_findings",
    "lock_findings",
    "pickle_findings",
    "static_drift",
]

SCHEMA = "envrun.drift/1"
_IN_PROCESS = "loading this model in-process on this host may fail or give different predictions"
_HOST_FIX = (
    "run the model in its own environment (envrun predict) instead of in-process, "
    "or make the host match ({req})"
)
_ENV_FIX = (
    "rebuild the env (envrun predict --rebuild); if it was built from a lock, update the lock"
)


def _lookup(name: str, versions: Mapping[str, str | None] | None) -> str | None:
    for candidate in (name, "mlflow-skinny") if name == "mlflow" else (name,):
        try:
            found = metadata.version(candidate) if versions is None else versions.get(candidate)
        except metadata.PackageNotFoundError:
            found = None
        if found is not None:
            return found
    return None


def _major_jump(spec: str, have: str) -> bool:
    """A satisfied range that resolved a major version above its lower bound (>=1.2 -> 3.0)."""
    parsed, version = _parse(spec), _parse(have)
    if not isinstance(parsed, SpecifierSet) or not isinstance(version, Version):
        return False
    lows = [Version(s.version) for s in parsed if s.operator in (">=", ">", "~=")]
    return bool(lows) and version.major > max(lows).major


@dataclass(frozen=True)
class _Target:
    """What declared pins are checked against: the host, or one cached env."""

    category: str
    where: str
    inside: str
    versions: Mapping[str, str | None] | None
    python: str | None
    consequence: str
    fix: str


def _against(
    label: str,
    declared: Mapping[str, str],
    python_declared: str | None,
    target: _Target,
    sources: Mapping[str, str] | None,
) -> list[Finding]:
    out: list[Finding] = []
    srcs, make = sources or {}, partial(Finding, label, target.category)
    for raw, spec in sorted(declared.items()):
        name = _canon(raw)
        found = _lookup(name, target.versions)
        local = spec.strip().startswith("@")  # a file or URL: only its presence can be checked
        sev, why = ("info", "") if local and found else _assess(name, spec, found)
        if sev == "info" and found is not None and _major_jump(spec, found):
            sev, why = ("medium" if _critical(name) else "low"), "a major above the lower bound"
        if found is None and target.category == "host":
            # A host without the package (a CI runner with only envrun) cannot load the model
            # in-process, but a host that has another version silently predicts differently:
            # only the latter is high.
            sev = "medium" if _critical(name) else "low"
            why = "only in-process loading on this host needs it"
        got = (
            f"it is not installed {target.inside}"
            if found is None
            else f"{target.where} has {found}"
        )
        msg = f"{name}: {srcs.get(name, 'the model')} {_verb(spec)} but {got} ({why}); "
        fix = target.fix.format(req=f"{name} {spec}" if spec.startswith("@") else name + spec)
        if sev != "info":
            out.append(
                make(name, spec or None, found, sev, msg + target.consequence, fix, srcs.get(name))
            )
    have = target.python
    sev, why = (
        _assess("python", python_declared, have) if python_declared and have else ("info", "")
    )
    if sev != "info":
        said = f"{srcs.get('python', 'the model')} declares {python_declared}"
        msg = f"python: {said} but {target.where} runs {have} ({why}); {target.consequence}"
        fix = target.fix.format(req=f"python {python_declared}")
        out.append(make("python", python_declared, have, sev, msg, fix, srcs.get("python")))
    return out


def host_findings(
    label: str,
    declared: Mapping[str, str],
    python_declared: str | None,
    *,
    host_versions: Mapping[str, str | None] | None = None,
    host_python: str | None = None,
    sources: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Declared pins vs the host envrun runs on: MLflow's mismatch warning, made useful."""
    python = host_python or platform.python_version()
    target = _Target(
        "host", "this host", "on this host", host_versions, python, _IN_PROCESS, _HOST_FIX
    )
    return _against(label, declared, python_declared, target, sources)


def installed_findings(
    label: str,
    declared: Mapping[str, str],
    python_declared: str | None,
    state: Mapping[str, Any] | None,
    env_path: str | None,
    *,
    sources: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Declared pins vs what the model's cached env (its .envrun-state.json) has installed."""
    if state is None:
        msg = "no cached env for this model yet; run envrun predict or envrun env path first"
        fix = "run envrun predict or envrun env path to build the env, then check again"
        return [Finding(label, "installed", "env", None, None, "info", msg, fix)]
    raw, interp = state.get("installed"), state.get("interpreter")
    installed: dict[str, str | None] = {}
    if isinstance(raw, dict):
        installed = {canonicalize_name(str(k)): str(v) for k, v in raw.items()}
    python = str(interp["version"]) if isinstance(interp, dict) and interp.get("version") else None
    where = f"the cached env at {env_path}" if env_path else "the cached env"
    consequence = "the env does not hold what the model declares"
    target = _Target("installed", where, "in " + where, installed, python, consequence, _ENV_FIX)
    return _against(label, declared, python_declared, target, sources)


def lock_findings(
    label: str, lock_path: str, changes: Sequence[tuple[str, str | None, str | None]]
) -> list[Finding]:
    """Packages whose version a fresh resolution today changes compared with the lock."""
    out: list[Finding] = []
    fix = (
        "keep installing from the lock for reproducible builds; to take the change, "
        "re-lock and re-check the model's predictions"
    )
    for raw, locked, fresh in changes:
        name = _canon(raw)
        if locked == fresh:
            continue
        sev, why = _assess(name, locked, fresh)
        if locked is None:
            said = f"a fresh resolution today adds {name} {fresh}, which the lock does not have"
        elif fresh is None:
            said = f"a fresh resolution today no longer includes {name} (locked {locked})"
        else:
            said = f"a fresh resolution today gives {name} {fresh} instead of the locked {locked}"
        msg = f"{said} ({why})"
        out.append(Finding(label, "lock", name, locked, fresh, sev, msg, fix, lock_path))
    return out


def availability_findings(
    label: str, unavailable: Sequence[tuple[str, str, str, str]]
) -> list[Finding]:
    """Pinned versions the configured index does not serve (yanked or missing): always high."""
    out: list[Finding] = []
    for raw, version, reason, detail in unavailable:
        name, pin = _canon(raw), f"=={version}"
        if reason == "yanked":
            said = (
                f"{name}{pin} is yanked on the configured index (reason: {detail or 'none given'})"
            )
            fix = f"read the yank reason, then move {name} to a version that is not yanked"
        else:
            said = f"{name}{pin} is not on the configured index ({detail or 'no such version'})"
            fix = f"fix the pin, or add the index or find-links that serves {name}{pin}"
        msg = said + "; a build would fail or silently take another version"
        actual = "yanked" if reason == "yanked" else None
        out.append(Finding(label, "availability", name, pin, actual, "high", msg, fix))
    return out


def pickle_findings(label: str, preflight_json: Mapping[str, Any]) -> list[Finding]:
    """The pickle preflight's findings (its to_json()) as drift findings about each file."""
    out: list[Finding] = []
    for item in preflight_json.get("findings") or []:
        if isinstance(item, Mapping):
            sev, file, module = str(item.get("severity")), item.get("file"), item.get("module")
            file = str(file) if file else "(unknown file)"
            sev = sev if sev in _RANK else "medium"
            msg, fix = str(item.get("message", "")), str(item.get("fix", ""))
            actual = None if module is None else str(module)
            out.append(Finding(label, "pickle", file, None, actual, sev, msg, fix, file))
    return out


def declared_of(spec: EnvSpec) -> tuple[dict[str, str], dict[str, str]]:
    """From a resolved EnvSpec: name -> specifier text, and name (and "python") -> its file."""
    pins: dict[str, str] = {}
    sources: dict[str, str] = {}
    for line in spec.requirements:
        if line.name and line.name not in pins:
            pins[line.name], sources[line.name] = _spec_of(line), _origin_file(line.origin)
    if spec.python and spec.python_source:
        sources["python"] = spec.python_source.split(" ", 1)[0]
    return pins, sources


@dataclass(frozen=True)
class ModelDrift:
    """The findings for one model, which categories ran, and which were skipped and why."""

    label: str
    path: str
    findings: tuple[Finding, ...]
    checked: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...] = ()

    def failing(self, threshold: str) -> list[Finding]:
        """Findings at or above `threshold`."""
        return [f for f in self.findings if at_or_above(f.severity, threshold)]


@dataclass(frozen=True)
class DriftReport:
    """Drift for one or more models, judged against one severity threshold."""

    models: tuple[ModelDrift, ...]
    threshold: str

    def __post_init__(self) -> None:
        at_or_above("info", self.threshold)  # rejects an unknown threshold early

    def failing(self) -> list[Finding]:
        """Every finding at or above the threshold."""
        return [f for m in self.models for f in m.failing(self.threshold)]

    @property
    def exit_code(self) -> int:
        """1 when any finding reaches the threshold, else 0."""
        return 1 if self.failing() else 0

    def to_json(self) -> dict[str, Any]:
        """The versioned JSON document (schema envrun.drift/1)."""
        counts = dict.fromkeys(("high", "medium", "low", "info"), 0)
        models = []
        for m in self.models:
            for f in m.findings:
                counts[f.severity] += 1
            models.append(
                {
                    "label": m.label,
                    "path": m.path,
                    "checked": list(m.checked),
                    "skipped": [{"category": c, "reason": r} for c, r in m.skipped],
                    "failing": len(m.failing(self.threshold)),
                    "findings": [
                        f.to_json() | {"failing": at_or_above(f.severity, self.threshold)}
                        for f in m.findings
                    ],
                }
            )
        summary = {
            "models": len(self.models),
            "failing": len(self.failing()),
            "failing_models": sum(1 for m in self.models if m.failing(self.threshold)),
            "by_severity": counts,
        }
        return {"schema": SCHEMA, "threshold": self.threshold, "models": models, "summary": summary}


def static_drift(
    model_dir: str | Path,
    label: str | None = None,
    *,
    host: bool = True,
    host_versions: Mapping[str, str | None] | None = None,
    host_python: str | None = None,
) -> ModelDrift:
    """The checks that need no build: consistency of the model's files and, optionally, host."""
    shown = str(model_dir) if label is None else label
    model = read_model(model_dir)
    findings = consistency_findings(model.path, shown)
    checked, skipped = ["consistency"], []
    if host:
        try:
            spec = resolve_spec(model)
        except EnvrunError as exc:
            skipped.append(("host", f"the model's env spec cannot be resolved: {exc.what}"))
        else:
            pins, srcs = declared_of(spec)
            findings += host_findings(
                shown,
                pins,
                spec.python,
                host_versions=host_versions,
                host_python=host_python,
                sources=srcs,
            )
            checked.append("host")
    return ModelDrift(shown, str(model.path), tuple(findings), tuple(checked), tuple(skipped))
