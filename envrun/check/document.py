"""The check report, typed: built by `envrun check`, read by the renderers through attributes.

`CheckReport.to_json()` is the report document (schema envrun.check/1) and `from_json` reads one
back. Reading is lenient about what is absent, strict about what is present: a missing key
takes its empty value and a missing status the least assuring one (a report without a verdict
proves nothing), while a status the schema does not know is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from envrun.check.leaves import OutputDiff
from envrun.check.sigcheck import SignatureFinding
from envrun.check.variants import VariantChange
from envrun.errors import InputError

SCHEMA = "envrun.check/1"

VerdictStatus = Literal[
    "reproduced", "differs", "unverified", "failed", "baseline-saved", "loaded"
]
ComparisonStatus = Literal["equal", "close", "differs", "skipped"]
SideState = Literal["ok", "failed", "skipped"]
CacheState = Literal["hit", "miss"]
# "input", or the model's own stage (load, predict, encode), or the worker process ("bridge"),
# or the build of a variant env ("build").
ErrorStage = Literal["input", "load", "predict", "encode", "bridge", "build"]


def _present(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def require(value: object, allowed: Any, what: str) -> None:
    """Refuse a value outside a Literal type at run time, where mypy cannot see it."""
    choices = get_args(allowed)
    if value not in choices:
        raise ValueError(f"unknown {what} {value!r}; expected one of: {', '.join(choices)}")


@dataclass(frozen=True)
class PythonInfo:
    """The interpreter a side ran on; a field is None when the document does not say."""

    # A field that is None is absent from the JSON, so a recorded side keeps its exact shape.

    version: str | None = None
    implementation: str | None = None
    platform: str | None = None
    executable: str | None = None

    def to_json(self) -> dict[str, str]:
        """The known fields, in schema order."""
        return _present(self.__dict__)

    @classmethod
    def from_json(cls, doc: object) -> PythonInfo:
        """Read the fields this schema knows; others are dropped."""
        fields = doc if isinstance(doc, Mapping) else {}
        known = (fields.get(k) for k in ("version", "implementation", "platform", "executable"))
        return cls(*(None if v is None else str(v) for v in known))


@dataclass(frozen=True)
class InstallerInfo:
    """The installer that built an env, its version, and why it was chosen."""

    name: str
    version: str
    reason: str

    def to_json(self) -> dict[str, str]:
        """Plain-data form."""
        return {"name": self.name, "version": self.version, "reason": self.reason}


@dataclass(frozen=True)
class EnvInfo:
    """An env a side ran in; a field is None when the side does not record it (a baseline's
    env says nothing about the cache today)."""

    path: str | None = None
    fingerprint: str | None = None
    cache: CacheState | None = None
    reason: str | None = None
    installer: InstallerInfo | None = None
    spec_source: str | None = None
    requirements: tuple[str, ...] | None = None
    # The resolution day ("resolved as of 2023-01-02 10:11 UTC, when the model was saved").
    as_of: str | None = None

    def __post_init__(self) -> None:
        if self.cache is not None:
            require(self.cache, CacheState, "cache state")

    def to_json(self) -> dict[str, Any]:
        """The recorded fields, in schema order."""
        return _present(
            {
                "path": self.path,
                "fingerprint": self.fingerprint,
                "cache": self.cache,
                "reason": self.reason,
                "installer": self.installer.to_json() if self.installer else None,
                "spec_source": self.spec_source,
                "requirements": None if self.requirements is None else list(self.requirements),
                "as_of": self.as_of,
            }
        )

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> EnvInfo:
        """Read the fields this schema knows; an unknown cache state raises ValueError."""

        def text(key: str) -> str | None:
            return None if doc.get(key) is None else str(doc[key])

        inst, reqs = doc.get("installer"), doc.get("requirements")
        installer = None
        if isinstance(inst, Mapping):
            name, version, reason = (str(inst.get(k) or "") for k in ("name", "version", "reason"))
            installer = InstallerInfo(name, version, reason)
        return cls(
            path=text("path"),
            fingerprint=text("fingerprint"),
            cache=doc.get("cache"),
            reason=text("reason"),
            installer=installer,
            spec_source=text("spec_source"),
            requirements=tuple(map(str, reqs)) if isinstance(reqs, list | tuple) else None,
            as_of=text("as_of"),
        )


@dataclass(frozen=True)
class SideError:
    """Why a side stopped: the error's type, the stage, its message (and the model's traceback)."""

    type: str
    stage: ErrorStage | None
    message: str
    traceback: str | None = None  # only errors from the model's own code carry one
    diagnosis: str | None = None  # the likely cause and fix envrun read from the failure

    def __post_init__(self) -> None:
        if self.stage is not None:
            require(self.stage, ErrorStage, "error stage")

    def to_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return _present(self.__dict__)


@dataclass(frozen=True)
class SideReport:
    """One side of the check: where it ran, how it went, what it produced."""

    key: str
    label: str
    status: SideState
    reason: str | None = None
    error: SideError | None = None
    python: PythonInfo = field(default_factory=PythonInfo)
    env: EnvInfo | None = None
    packages: Mapping[str, str | None] = field(default_factory=dict)  # sorted by name
    timings: Mapping[str, float] = field(default_factory=dict)
    outputs: Mapping[str, str] = field(default_factory=dict)  # input name -> output summary
    changes: tuple[VariantChange, ...] | None = None  # variant sides only
    baseline_path: str | None = None  # baseline sides only
    baseline_created: str | None = None

    def __post_init__(self) -> None:
        require(self.status, SideState, "side status")

    def to_json(self) -> dict[str, Any]:
        """The side as the report schema has it (its key is the document's map key)."""
        doc: dict[str, Any] = {
            "label": self.label,
            "status": self.status,
            "reason": self.reason,
            "error": self.error.to_json() if self.error else None,
            "python": self.python.to_json(),
            "env": self.env.to_json() if self.env else None,
            "packages": dict(self.packages),
            "timings": dict(self.timings),
            "outputs": dict(self.outputs),
        }
        if self.changes is not None:
            doc["changes"] = [c.to_json() for c in self.changes]
        if self.baseline_path is not None:
            doc |= {"path": self.baseline_path, "created": self.baseline_created}
        return doc


@dataclass(frozen=True)
class PackageDifference:
    """A package whose version differs between sides (None: not installed on that side)."""

    name: str
    versions: Mapping[str, str | None]  # side key -> version, in side order
    critical: bool

    def to_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return {"name": self.name, "versions": dict(self.versions), "critical": self.critical}


@dataclass(frozen=True)
class ComparisonReport:
    """One input's outputs on two sides, compared leaf by leaf ("left" is the reference)."""

    input: str
    left: str
    right: str
    status: ComparisonStatus
    reason: str | None  # why it was skipped
    summary: str
    outputs: tuple[OutputDiff, ...] = ()

    def __post_init__(self) -> None:
        require(self.status, ComparisonStatus, "comparison status")

    def to_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "input": self.input,
            "left": self.left,
            "right": self.right,
            "status": self.status,
            "reason": self.reason,
            "summary": self.summary,
            "outputs": [o.to_json() for o in self.outputs],
        }


@dataclass(frozen=True)
class NotCompared:
    """A side that took part in no comparison, and why."""

    side: str
    reason: str

    def to_json(self) -> dict[str, str]:
        """Plain-data form."""
        return {"side": self.side, "reason": self.reason}


@dataclass(frozen=True)
class Verdict:
    """The outcome: a status, the exit code it implies, a headline naming what was compared."""

    status: VerdictStatus
    exit_code: int
    headline: str
    compared: tuple[str, ...] = ()  # "env vs host", ...
    not_compared: tuple[NotCompared, ...] = ()
    findings: tuple[str, ...] = ()  # facts that can explain a difference

    def __post_init__(self) -> None:
        require(self.status, VerdictStatus, "verdict status")

    def to_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "status": self.status,
            "exit_code": self.exit_code,
            "headline": self.headline,
            "compared": list(self.compared),
            "not_compared": [n.to_json() for n in self.not_compared],
            "findings": list(self.findings),
        }


@dataclass(frozen=True)
class ModelFacts:
    """What was checked: the model directory, its content digest and what its MLmodel says."""

    path: str
    digest: str = ""  # "sha256:<hex>"
    files: int | None = None
    bytes: int | None = None
    loader_module: str | None = None
    flavors: tuple[str, ...] = ()
    mlflow_version: str | None = None
    signature_inputs: list[dict[str, Any]] | None = None  # as the MLmodel has it
    signature_outputs: list[dict[str, Any]] | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "path": self.path,
            "digest": self.digest,
            "files": self.files,
            "bytes": self.bytes,
            "loader_module": self.loader_module,
            "flavors": list(self.flavors),
            "mlflow_version": self.mlflow_version,
            "signature": {"inputs": self.signature_inputs, "outputs": self.signature_outputs},
        }


@dataclass(frozen=True)
class ToleranceFacts:
    """The tolerance asked for (None: per-dtype default) and the float defaults it falls back on."""

    rtol: float | None = None
    atol: float | None = None
    defaults: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Plain-data form."""
        defaults = {k: list(v) for k, v in self.defaults.items()}
        return {"rtol": self.rtol, "atol": self.atol, "defaults": defaults}


@dataclass(frozen=True)
class InputReport:
    """One input file, and where MLflow's JSON path and an in-process call treat it differently."""

    name: str
    path: str = ""
    sha256: str = ""
    origin: str = ""
    signature_findings: tuple[SignatureFinding, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Plain-data form."""
        return {
            "name": self.name,
            "path": self.path,
            "sha256": self.sha256,
            "origin": self.origin,
            "signature_findings": [f.to_json() for f in self.signature_findings],
        }


@dataclass(frozen=True)
class CheckReport:
    """The whole report: the verdict, the model, the inputs, every side and every comparison."""

    envrun_version: str
    created: str
    verdict: Verdict
    model: ModelFacts
    tolerance: ToleranceFacts = field(default_factory=ToleranceFacts)
    inputs: tuple[InputReport, ...] = ()
    sides: tuple[SideReport, ...] = ()  # the reference side first
    package_differences: tuple[PackageDifference, ...] = ()
    comparisons: tuple[ComparisonReport, ...] = ()
    warnings: tuple[str, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)
    baseline_written: str | None = None

    def side(self, key: str) -> SideReport | None:
        """The side with this key, if the check had one."""
        return next((s for s in self.sides if s.key == key), None)

    def to_json(self) -> dict[str, Any]:
        """The report document, schema envrun.check/1."""
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "envrun_version": self.envrun_version,
            "created": self.created,
            "verdict": self.verdict.to_json(),
            "model": self.model.to_json(),
            "tolerance": self.tolerance.to_json(),
            "inputs": [i.to_json() for i in self.inputs],
            "sides": {s.key: s.to_json() for s in self.sides},
            "package_differences": [p.to_json() for p in self.package_differences],
            "comparisons": [c.to_json() for c in self.comparisons],
            "warnings": list(self.warnings),
            "timings": dict(self.timings),
        }
        if self.baseline_written is not None:
            doc["baseline_written"] = self.baseline_written
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CheckReport:
        """Read a report document; one that is not an envrun check report is an InputError."""
        from envrun.check.reading import read_document  # it builds these classes

        try:
            return read_document(doc)
        except (ValueError, TypeError) as exc:
            raise InputError(
                "the document is not an envrun check report",
                value=str(exc),
                fix=f"pass a report written by `envrun check --report FILE.json` ({SCHEMA})",
            ) from None
