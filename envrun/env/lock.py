"""Pinned, hash-checked locks: resolve a model's env once, then rebuild exactly that env later.

This module resolves (compile_lock), turns a lock back into an EnvSpec (spec_from_lock), diffs
pins and checks them against the index, through the installer backends (which own every command
line). The file format lives in lockfile.py; its public names are re-exported here.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from envrun import proc
from envrun.env.backends import get_backend
from envrun.env.interpreters import Interpreter
from envrun.env.layout import CacheLayout
from envrun.env.lockfile import (
    HEADER_PREFIX,
    LOCK_FORMAT,
    REGENERATE_HINT,
    Lock,
    build_lock,
    parse_lock,
    read_lock,
    redacted_index,
    relativize_paths,
    write_lock,
)
from envrun.env.reqlex import logical_lines
from envrun.env.requirements import (
    IndexOptions,
    ReqLine,
    parse_requirement_lines,
    render_requirements_txt,
)
from envrun.env.spec import EnvSpec
from envrun.env.store import telling_line
from envrun.errors import CommandFailed, EnvBuildError, ResolutionError, SpecError
from envrun.settings import Settings

__all__ = [
    "HEADER_PREFIX",
    "LOCK_FORMAT",
    "Lock",
    "Pins",
    "build_lock",
    "check_available",
    "compile_lock",
    "diff_pins",
    "normalize_exclude_newer",
    "parse_lock",
    "read_lock",
    "spec_from_lock",
    "write_lock",
]

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_UV_YANKED = re.compile(r'`([^`=]+)==([^`]+)` is yanked(?: \(reason: "(.*)"\))?')
_PIP_YANKED = re.compile(
    r"yanked version: '([^']+)' candidate \(version (\S+)[^\n]*\nReason for being yanked: ([^\n]*)"
)
# Most telling first: the line that names the missing version beats uv's "No solution found".
_UNRESOLVABLE = (
    *("because there is no version", "there are no versions", "could not find a version"),
    *("no matching distribution", "not found in the package registry"),
    *("conflicting dependencies", "resolutionimpossible", "no solution found"),
)
_NETWORK = ("failed to fetch", "connection", "network", "dns", "timed out", "name resolution")

Pins = list[tuple[str, str]]


def normalize_exclude_newer(value: str) -> str:
    """YYYY-MM-DD (that whole UTC day included) or RFC 3339, as an exclusive UTC cutoff."""
    text = value.strip()
    try:
        if _DATE.fullmatch(text):
            return f"{(dt.date.fromisoformat(text) + dt.timedelta(days=1)).isoformat()}T00:00:00Z"
        match = _STAMP.fullmatch(text)
        if match:
            day, clock, fraction, zone = match.groups()
            micro = (fraction or ".0")[1:7].ljust(6, "0")  # fromisoformat on 3.10 wants 6 digits
            offset = "+00:00" if zone.upper() == "Z" else zone
            stamp = dt.datetime.fromisoformat(f"{day}T{clock}.{micro}{offset}")
            utc = stamp.astimezone(dt.timezone.utc)
            fraction_text = f".{utc.microsecond:06d}".rstrip("0") if utc.microsecond else ""
            return utc.strftime("%Y-%m-%dT%H:%M:%S") + fraction_text + "Z"
    except (ValueError, OverflowError):
        pass
    raise SpecError(
        "--exclude-newer takes a date or an RFC 3339 timestamp",
        value=value,
        fix="write e.g. 2024-06-30 (that day included, UTC) or 2024-06-30T12:00:00Z",
    )


def compile_lock(
    spec: EnvSpec,
    *,
    interpreter: Interpreter,
    installer: str,
    index: IndexOptions,
    extra_constraints: Sequence[str],
    settings: Settings,
    exclude_newer: str | None = None,
    fingerprint: str = "",
    model_path: str = "",
    exempt: Sequence[str] | None = None,
    notes: list[str] | None = None,
) -> Lock:
    """Resolve the spec's requirements into a fully pinned lock with hashes, for this interpreter.

    `exempt` and `notes` apply the cutoff as a build does (see Backend.compile).
    """
    backend = get_backend(installer, settings)
    cutoff = normalize_exclude_newer(exclude_newer) if exclude_newer else None
    layout = CacheLayout(settings.cache_dir)
    log = layout.lock_log(fingerprint)
    work = layout.new_workdir("lock")
    try:
        (work / "requirements.in").write_text(render_requirements_txt(spec.requirements), "utf-8")
        constraints = list(extra_constraints)
        if spec.constraints:
            (work / "constraints.txt").write_text(
                render_requirements_txt(spec.constraints), "utf-8"
            )
            constraints.insert(0, "constraints.txt")
        version = backend.lock_version(interpreter)
        count = len(spec.requirements)
        settings.reporter.step(
            f"locking {count} requirement{'s' if count != 1 else ''} with {installer} "
            f"for Python {interpreter.version}"
        )
        try:
            body = backend.compile(
                work / "requirements.in",
                interpreter=interpreter,
                index=index,
                constraints=constraints,
                exclude_newer=cutoff,
                log=log,
                on_line=settings.reporter.line,
                exempt=exempt,
                notes=notes,
            )
        except CommandFailed as exc:
            raise _resolution_error(exc, installer, log) from None
    finally:
        shutil.rmtree(work, ignore_errors=True)
    header: dict[str, Any] = {
        "version": LOCK_FORMAT,
        "python": interpreter.version,
        "platform": interpreter.platform,
        "installer": installer,
        "installer_version": version,
        "exclude_newer": cutoff,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": model_path,
        "fingerprint": fingerprint,
        "build_dependencies": [r.text for r in spec.build_dependencies],
        "index": redacted_index(index),
    }
    return build_lock(header, relativize_paths(body, Path(model_path) if model_path else None))


def spec_from_lock(
    lock: Lock, lock_path: Path, base: EnvSpec, *, model_dir: Path | None = None
) -> EnvSpec:
    """The spec that installs exactly the lock, hash-checked, with the model's build deps and index.

    Local paths in the lock are relative to `model_dir` (default: the lock's directory).
    """
    python = str(lock.header["python"])
    minor = ".".join(python.split(".")[:2])
    declared = ".".join(base.python.split(".")[:2]) if base.python else minor
    if declared != minor:
        raise SpecError(
            f"the lock was made for Python {minor}, the model declares {declared}",
            value=str(lock_path),
            fix=REGENERATE_HINT,
        )
    missed = unsatisfied(lock, base)
    if missed:
        raise SpecError(
            "the lock does not satisfy what the model declares (is it another model's lock, "
            "or older than the model's requirements?)",
            value=f"{lock_path}: " + "; ".join(missed),
            fix=REGENERATE_HINT,
        )
    root = (model_dir or lock_path.parent).resolve()
    requirements: list[ReqLine] = []
    files: list[tuple[str, str]] = []
    warnings: list[str] = []
    # One call per line, so each requirement's origin names its line in the lock.
    for number, line in logical_lines(lock.text):
        origin = f"{lock_path.name}:{number}"
        parsed = parse_requirement_lines([line], origin=origin, base_dir=root, root=root)
        requirements.extend(parsed.requirements)
        files.extend(parsed.files)
        warnings.extend(parsed.warnings)
    digest = hashlib.sha256(lock.text.encode("utf-8")).hexdigest()
    return EnvSpec(
        python=python,
        python_source=f"lock {lock_path.name}",
        build_dependencies=base.build_dependencies,
        requirements=tuple(requirements),
        constraints=(),
        index=base.index,
        files=((f"lock:{lock_path.name}", digest), *files),
        source=f"lock {lock_path.name}",
        ignored=base.ignored,
        warnings=tuple(warnings),
    )


def unsatisfied(lock: Lock, spec: EnvSpec) -> list[str]:
    """Declared requirements (from an index) that the lock's pins do not meet, in words."""
    from packaging.requirements import InvalidRequirement, Requirement

    missed = []
    for line in (*spec.requirements, *spec.constraints):
        if line.local_path:
            continue  # a file reference: the lock carries it by path and hash
        try:
            req = Requirement(line.text)
        except InvalidRequirement:
            continue
        if req.url or (req.marker is not None and not req.marker.evaluate()):
            continue
        pinned = lock.pins.get(canonicalize_name(req.name))
        if pinned is None:
            if line in spec.requirements:
                missed.append(f"{req.name} is not in the lock")
        elif not req.specifier.contains(pinned, prereleases=True):
            missed.append(f"{line.text} but the lock pins {pinned}")
    return missed


def diff_pins(
    old: Mapping[str, str], new: Mapping[str, str]
) -> list[tuple[str, str | None, str | None]]:
    """Changed, added (old None) and removed (new None) packages, sorted by name."""
    before = {canonicalize_name(k): v for k, v in old.items()}
    after = {canonicalize_name(k): v for k, v in new.items()}
    names = sorted(before.keys() | after.keys())
    return [(n, before.get(n), after.get(n)) for n in names if before.get(n) != after.get(n)]


def check_available(
    pins: Mapping[str, str],
    *,
    interpreter: Interpreter,
    installer: str,
    index: IndexOptions,
    extra_constraints: Sequence[str],
    settings: Settings,
) -> list[tuple[str, str, str, str]]:
    """Pins the index no longer serves: (name, version, "yanked" or "missing", detail), by name."""
    backend = get_backend(installer, settings)
    items: Pins = sorted((str(canonicalize_name(n)), v) for n, v in pins.items())
    if not items:
        return []
    work = CacheLayout(settings.cache_dir).new_workdir("check")
    found: list[tuple[str, str, str, str]] = []

    def probe(group: Pins) -> tuple[bool, str]:
        pins = work / "pins.txt"
        pins.write_text("".join(f"{n}=={v}\n" for n, v in group), "utf-8")
        answer = backend.probe_pins(
            pins, interpreter=interpreter, index=index, constraints=extra_constraints
        )
        if answer.ok:
            found.extend(_yanked(answer.output, answer.report, group))
        return answer.ok, answer.output

    def narrow(group: Pins, ok: bool, output: str) -> None:
        # Bisect: a failing group is split until each failing pin stands alone.
        if ok:
            return
        if len(group) == 1:
            found.append((*group[0], "missing", telling_line(output, _UNRESOLVABLE)))
            return
        half = len(group) // 2
        for part in (group[:half], group[half:]):
            narrow(part, *probe(part))

    settings.reporter.step(f"checking {len(items)} pinned versions against the index ({installer})")
    try:
        ok, output = probe(items)
        low = output.lower()
        if not ok and any(h in low for h in _NETWORK) and not any(h in low for h in _UNRESOLVABLE):
            raise EnvBuildError(
                f"{installer} could not query the package index",
                value=telling_line(output, _UNRESOLVABLE),
                fix="check the network and the index options, then retry",
                tail=proc.tail(output, 2500),
            )
        narrow(items, ok, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return sorted(found)


def _resolution_error(exc: CommandFailed, installer: str, log: Path) -> ResolutionError:
    # No timeout is set (a big resolution may take long), so a failure is the resolver's answer.
    output = (exc.stdout + "\n" + exc.stderr).strip()
    return ResolutionError(
        f"{installer} could not resolve the model's requirements into a lock",
        value=telling_line(output, _UNRESOLVABLE),
        fix=f"correct the requirement, the index options or --exclude-newer; full log: {log}",
        log_path=str(log),
        tail=proc.tail(output, 2500),
    )


def _yanked(output: str, report: Path | None, group: Pins) -> list[tuple[str, str, str, str]]:
    """Yanked pins of a successful probe: uv warns about them, pip's --report marks them."""
    reasons = {(canonicalize_name(n), v): r for n, v, r in _UV_YANKED.findall(output)}
    reasons.update({(canonicalize_name(n), v): r for n, v, r in _PIP_YANKED.findall(output)})
    if report is not None:
        for item in json.loads(report.read_text(encoding="utf-8")).get("install", []):
            meta = item.get("metadata", {})
            if item.get("is_yanked"):
                key = (canonicalize_name(str(meta.get("name"))), str(meta.get("version")))
                reasons.setdefault(key, "")
    return [
        (n, v, "yanked", f"yanked from the index: {r}" if r and r != "<none given>" else "yanked")
        for n, v in group
        if (r := reasons.get((canonicalize_name(n), v))) is not None
    ]
