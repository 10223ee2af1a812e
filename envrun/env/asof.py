"""Resolution as of the model's day: the cutoff, what it exempts, and the installers' flags for it.

Everything a declaration does not pin exactly (unpinned names, ranges, transitive and build
dependencies) resolves to what the index offered when the model was saved. Exact pins are exempt:
they already say which release, and the file that serves one may carry no upload time at all (a
find-links directory, a file:// index, a local wheel), which a cutoff would make unreachable.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from envrun.env.requirements import ReqLine
from envrun.env.spec import EnvSpec
from envrun.errors import CommandFailed
from envrun.model.mlmodel import ModelInfo
from envrun.settings import Choice, parse_as_of_time

SAVED = "when the model was saved"
REQUESTED = "requested"
NO_CREATION_TIME = "the model has no creation time"

# MLflow 2.16.0 is the first release whose mlflow.utils.requirements_utils (imported by
# mlflow.pyfunc) no longer imports pkg_resources; setuptools 82.0.0 removed pkg_resources.
MLFLOW_WITHOUT_PKG_RESOURCES = Version("2.16.0")
SETUPTOOLS_WITH_PKG_RESOURCES = "setuptools<82"
# pip 26.0 is the first pip with --uploaded-prior-to.
PIP_WITH_UPLOADED_PRIOR_TO = Version("26.0")
# Rounds of "take this package from today" after uv names packages its cutoff filtered away.
MAX_EXEMPTION_ROUNDS = 8

_UV_FILTERED = re.compile(r"`([A-Za-z0-9][A-Za-z0-9._-]*)` was filtered by `exclude-newer`")


@dataclass(frozen=True)
class Cutoff:
    """The effective resolution day: a UTC time, or None for now, and why."""

    when: dt.datetime | None
    reason: str
    label: str

    @property
    def stamp(self) -> str | None:
        """The cutoff as an RFC 3339 UTC timestamp (what uv and pip take), or None for now."""
        return rfc3339(self.when) if self.when is not None else None

    def describe(self) -> str:
        """'resolved as of 2023-01-02, when the model was saved' and the like."""
        return describe(self.stamp, self.reason, self.label)


def rfc3339(when: dt.datetime) -> str:
    """A UTC time as 2023-01-02T10:11:12.123456Z (fraction only when there is one)."""
    utc = when.astimezone(dt.timezone.utc)
    fraction = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
    return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def describe(stamp: str | None, reason: str, label: str = "") -> str:
    """The one line every report shows about the cutoff."""
    if stamp is None:
        return f"resolved as of now ({reason})" if reason else "resolved as of now"
    return f"resolved as of {label or stamp}, {reason}"


def effective_cutoff(choice: Choice, model: ModelInfo) -> Cutoff:
    """The cutoff the setting means for this model ("created" reads MLmodel's utc_time_created)."""
    value = choice.value
    if value == "now":
        return Cutoff(None, f"{REQUESTED} by {choice.reason}", "now")
    if value == "created":
        created = model.utc_time_created
        if created is None:
            return Cutoff(None, NO_CREATION_TIME, "now")
        return Cutoff(created, SAVED, created.strftime("%Y-%m-%d %H:%M UTC"))
    when = parse_as_of_time(value)  # Settings validated it already
    return Cutoff(when, f"{REQUESTED} by {choice.reason}", value)


def apply_as_of(spec: EnvSpec, model: ModelInfo, choice: Choice, *, exact_pins: bool) -> EnvSpec:
    """The spec with its cutoff, the exact-pins mode and the build dependencies MLflow needs."""
    cutoff = effective_cutoff(choice, model)
    build = spec.build_dependencies
    added: list[str] = []
    reason = pkg_resources_reason(model, spec)
    if reason is not None:
        build = (
            *build,
            ReqLine(SETUPTOOLS_WITH_PKG_RESOURCES, "setuptools", (), f"envrun: {reason}", None),
        )
        added.append(f"added {SETUPTOOLS_WITH_PKG_RESOURCES}: {reason}")
    return dataclasses.replace(
        spec,
        build_dependencies=build,
        as_of=cutoff.stamp,
        as_of_reason=cutoff.describe(),
        exact_pins=exact_pins,
        added=(*spec.added, *added),
        warnings=(*spec.warnings, *_cutoff_warning(cutoff)),
    )


def _cutoff_warning(cutoff: Cutoff) -> tuple[str, ...]:
    if cutoff.reason != NO_CREATION_TIME:
        return ()
    return (
        "the model has no creation time (MLmodel utc_time_created): what it does not pin "
        "exactly resolves as of now; pass a date as --as-of (ENVRUN_AS_OF) for a stable env",
    )


def _parsed(line: ReqLine) -> Requirement | None:
    if line.local_path:
        return None
    try:
        return Requirement(line.text.split(" #", 1)[0].strip())
    except InvalidRequirement:
        return None


def exact_version(line: ReqLine) -> str | None:
    """The version an `==X` (no wildcard) or `===X` requirement pins, else None."""
    req = _parsed(line)
    if req is None or req.url:
        return None
    specs = list(req.specifier)
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        return None
    return specs[0].version


def exempt_names(spec: EnvSpec) -> tuple[str, ...]:
    """Canonical names the cutoff must not touch: every exact pin of the spec."""
    names = {
        canonicalize_name(req.name)
        for line in (*spec.build_dependencies, *spec.requirements, *spec.constraints)
        if exact_version(line) is not None and (req := _parsed(line)) is not None
    }
    return tuple(sorted(names))


def all_exact(lines: Iterable[ReqLine]) -> bool:
    """True when every requirement is an exact pin or a local file (and there is at least one)."""
    items = list(lines)
    return bool(items) and all(
        line.local_path is not None or exact_version(line) is not None for line in items
    )


def pkg_resources_reason(model: ModelInfo, spec: EnvSpec) -> str | None:
    """Why the env needs setuptools with pkg_resources ('MLflow 2.3.1 imports pkg_resources').

    Decided from the mlflow the declaration pins, else from an upper bound below the release
    that dropped pkg_resources, else from the MLflow that saved the model. None when the env
    will hold no mlflow, or the declaration already names setuptools.
    """
    lines = (*spec.build_dependencies, *spec.requirements)
    reqs = [r for r in (_parsed(line) for line in lines) if r is not None]
    names = {canonicalize_name(r.name) for r in reqs}
    if "setuptools" in names:
        return None
    mlflow = [r for r in reqs if canonicalize_name(r.name) in ("mlflow", "mlflow-skinny")]
    if not mlflow:
        return None
    version: Version | None = None
    for req in mlflow:
        pinned = [s.version for s in req.specifier if s.operator in ("==", "===")]
        if pinned and "*" not in pinned[0]:
            version = _version(pinned[0])
        elif _below_cut(req):
            return f"the declared {req} allows only MLflow releases that import pkg_resources"
    if version is None and model.mlflow_version:
        version = _version(model.mlflow_version)
    if version is not None and version < MLFLOW_WITHOUT_PKG_RESOURCES:
        return f"MLflow {version} imports pkg_resources"
    return None


def _below_cut(req: Requirement) -> bool:
    """An upper bound that excludes every MLflow without pkg_resources (e.g. mlflow<2.4)."""
    spec = req.specifier
    if not spec or spec.contains(MLFLOW_WITHOUT_PKG_RESOURCES, prereleases=True):
        return False
    return not any(s.operator in (">", ">=", "~=") and _newer(s.version) for s in spec)


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _newer(text: str) -> bool:
    version = _version(text)
    return version is not None and version >= MLFLOW_WITHOUT_PKG_RESOURCES


def uv_flags(cutoff: str | None, exempt: Iterable[str]) -> list[str]:
    """uv's flags for a cutoff; `false` lifts it for one package (an exact pin, say)."""
    if cutoff is None:
        return []
    flags = ["--exclude-newer", cutoff]
    for name in sorted(set(exempt)):
        flags += ["--exclude-newer-package", f"{name}=false"]
    return flags


def pip_flags(cutoff: str | None) -> list[str]:
    """pip's flag for a cutoff; pip never filters file:// links (find-links, local indexes)."""
    return ["--uploaded-prior-to", cutoff] if cutoff is not None else []


def pip_supports_cutoff(version: str) -> bool:
    """Whether a pip of this version knows --uploaded-prior-to."""
    parsed = _version(version)
    return parsed is not None and parsed >= PIP_WITH_UPLOADED_PRIOR_TO


_PIP_MISSING = re.compile(r"No matching distribution found for ([A-Za-z0-9][A-Za-z0-9._-]*)\s*==")


def pip_missing_pins(output: str, exempt: tuple[str, ...]) -> set[str]:
    """Exact pins pip could not find under --uploaded-prior-to (uploaded after the cutoff).

    pip has no per-package exemption like uv's --exclude-newer-package, so the caller retries
    that install without the cutoff and says so.
    """
    found = {str(canonicalize_name(m.group(1))) for m in _PIP_MISSING.finditer(output)}
    return found & set(exempt)


def without_pip_cutoff(argv: list[str]) -> list[str]:
    """The same pip command without --uploaded-prior-to and its value."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--uploaded-prior-to":
            skip = True
        else:
            out.append(arg)
    return out


def filtered_by_cutoff(output: str) -> set[str]:
    """Packages uv says its cutoff filtered away while the resolution failed."""
    return {canonicalize_name(m.group(1)) for m in _UV_FILTERED.finditer(output)}


def run_uv_as_of(
    run: Callable[[list[str]], None],
    argv: list[str],
    *,
    cutoff: str | None,
    exempt: tuple[str, ...],
    notes: list[str],
) -> None:
    """Run a uv install with the cutoff; a package only today's releases satisfy is lifted.

    An exact pin newer than the model's day (a wheel built later, a pin edited since) needs
    dependencies of its own day; uv names those it filtered, and they are taken from today,
    each noted in `notes`, rather than failing a build that can succeed.
    """
    lifted = set(exempt)
    for _ in range(MAX_EXEMPTION_ROUNDS):
        try:
            run([*argv, *uv_flags(cutoff, lifted)])
            return
        except CommandFailed as exc:
            names = filtered_by_cutoff(exc.stdout + "\n" + exc.stderr) - lifted
            if cutoff is None or not names:
                raise
            notes.append(
                f"nothing uploaded before {cutoff} satisfies {', '.join(sorted(names))} "
                "(an exact pin needs newer releases); taken as of now"
            )
            lifted |= names
    run([*argv, *uv_flags(cutoff, lifted)])
