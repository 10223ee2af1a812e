"""Pinned, hash-checked locks: resolve a model's env once, then rebuild exactly that env later.

A lock is a requirements.txt that `pip install --require-hashes` and `uv pip install` accept as
is, led by comment lines, one of which (`# envrun-lock: {...}`) is JSON for envrun to read back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)

from envrun import proc
from envrun.backends import UvBackend, _index_flags, env_python
from envrun.errors import CommandFailed, EnvBuildError, ResolutionError, SpecError
from envrun.interpreters import Interpreter
from envrun.reqlex import check_hash, logical_lines, split_options
from envrun.requirements import (
    IndexOptions,
    ReqLine,
    parse_requirement_lines,
    render_requirements_txt,
)
from envrun.settings import Settings
from envrun.spec import EnvSpec

LOCK_FORMAT = 1
HEADER_PREFIX = "# envrun-lock:"
PIP_TOOLS_VERSION = "7.6.2"
# pip-tools drives pip's internals, so the two are pinned together; pip 26.0.1 is the last for 3.9.
_PIP_FOR_MINOR = {"3.9": "26.0.1"}
_PIP_DEFAULT = "26.3"
_TOOL_WAIT_SECONDS = 600.0
_UV_ENV = {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}
# --quiet: uv would also print the whole lock to stdout, which -v would then stream line by line.
_UV_COMPILE = [
    *("requirements.in", "--output-file", "out.txt", "--generate-hashes", "--no-header"),
    "--quiet",
]
_PIP_COMPILE = [
    *("-m", "piptools", "compile", "requirements.in", "--output-file", "out.txt"),
    # --allow-unsafe keeps pip and setuptools: --require-hashes needs every package hashed.
    *("--generate-hashes", "--allow-unsafe", "--strip-extras", "--no-header"),
    *("--no-emit-options", "--no-config"),
]
_PIP_DRY_RUN = [
    *("-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps"),
    *("--disable-pip-version-check", "--no-input", "--report", "report.json"),
]
_REGENERATE = "regenerate it with `envrun lock MODEL_DIR -o FILE`"
_OPTIONS_START = re.compile(r"(?:^|\s)-")
_FILE_REQ = re.compile(r"^(\S+) @ (file://\S+)(.*)$")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
_PYTHON = re.compile(r"\d+\.\d+(\.\d+)?")
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
_TAG = re.compile(r"^(?:error|cause|warning|hint):\s*", re.IGNORECASE)
_NETWORK = ("failed to fetch", "connection", "network", "dns", "timed out", "name resolution")

Pins = list[tuple[str, str]]


@dataclass(frozen=True)
class Lock:
    """A lock file: its header, its whole text, and what it pins (canonical name -> version)."""

    header: dict[str, Any]
    text: str
    pins: dict[str, str]
    hashes: dict[str, tuple[str, ...]]
    direct: dict[str, str] = field(default_factory=dict)  # name -> local path or URL

    @property
    def index_pins(self) -> dict[str, str]:
        """The pins that come from an index or find-links, not from a file or URL reference."""
        return {n: v for n, v in self.pins.items() if n not in self.direct}


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
) -> Lock:
    """Resolve the spec's requirements into a fully pinned lock with hashes, for this interpreter."""
    _check_installer(installer)
    cutoff = normalize_exclude_newer(exclude_newer) if exclude_newer else None
    name = f"lock-{fingerprint[:20] or 'model'}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
    log = settings.cache_dir / "logs" / f"{name}.log"
    work = _workdir(settings, "lock")
    try:
        (work / "requirements.in").write_text(render_requirements_txt(spec.requirements), "utf-8")
        constraints = list(extra_constraints)
        if spec.constraints:
            (work / "constraints.txt").write_text(
                render_requirements_txt(spec.constraints), "utf-8"
            )
            constraints.insert(0, "constraints.txt")
        extra = [arg for path in constraints for arg in ("--constraint", path)]
        if installer == "uv":
            argv = [*_uv_resolve(interpreter, index), *_UV_COMPILE, *extra]
            argv += ["--exclude-newer", cutoff] if cutoff else []
            env = _UV_ENV
            version = UvBackend(dict(settings.environ), settings.cache_dir / "tools.json").version()
        else:
            tool = ensure_pip_tools(interpreter, settings)
            argv = [str(tool), *_PIP_COMPILE, *_pip_index(index), *extra]
            argv += ["--uploaded-prior-to", cutoff] if cutoff else []
            env = _pip_env(settings)
            version = f"pip-tools {PIP_TOOLS_VERSION} (pip {_pip_version(interpreter)})"
        count = len(spec.requirements)
        settings.reporter.step(
            f"locking {count} requirement{'s' if count != 1 else ''} with {installer} "
            f"for Python {interpreter.version}"
        )
        try:
            proc.run(argv, env=env, cwd=work, log=log, on_line=settings.reporter.line)
        except CommandFailed as exc:
            raise _resolution_error(exc, installer, log) from None
        body = (work / "out.txt").read_text(encoding="utf-8")
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
        "index": _redacted(index),
    }
    return build_lock(header, _relativize(body, Path(model_path) if model_path else None))


def build_lock(header: Mapping[str, Any], body: str) -> Lock:
    """A Lock from its header and the installer's pinned, hashed requirement lines."""
    cmd = f"envrun lock {header.get('model') or 'MODEL_DIR'} -o FILE --installer "
    cmd += str(header.get("installer"))
    if header.get("exclude_newer"):
        cmd += f" --exclude-newer {header['exclude_newer']}"
    lines = [
        "# generated by envrun lock; do not edit by hand",
        f"# regenerate with: {cmd}",
        "# use with: envrun predict MODEL_DIR INPUT --locked FILE (or, from the model directory,",
        "# pip install --require-hashes -r FILE); local paths are relative to the model directory",
        f"{HEADER_PREFIX} {json.dumps(dict(header), ensure_ascii=True)}",
    ]
    text = "\n".join(lines) + "\n" + body.strip("\n") + ("\n" if body.strip() else "")
    return parse_lock(text, where="lock")


def write_lock(lock: Lock, path: Path) -> None:
    """Write the lock file atomically (a reader never sees half a lock)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(lock.text, encoding="utf-8")
    os.replace(tmp, path)


def read_lock(path: Path) -> Lock:
    """Read a lock file written by envrun (SpecError if it is not one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError("lock file not found", value=str(path), fix=_REGENERATE) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError("lock file unreadable", value=f"{path}: {exc}", fix=_REGENERATE) from exc
    return parse_lock(text, where=str(path))


def parse_lock(text: str, *, where: str) -> Lock:
    """Parse a lock's text; `where` names it in errors."""
    header: dict[str, Any] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line and not line.startswith("#"):
            break
        if line.startswith(HEADER_PREFIX):
            header = _parse_header(line, f"{where}:{number}")
            break
    if header is None:
        raise SpecError(
            f"{where} is not an envrun lock file",
            value=f"no '{HEADER_PREFIX} {{...}}' line among its leading comments",
            fix=f"pass a file written by `envrun lock`, or {_REGENERATE}",
        )
    pins, hashes, direct = _parse_body(text, where)
    return Lock(header, text, pins, hashes, direct)


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
            fix=_REGENERATE,
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
    _check_installer(installer)
    items: Pins = sorted((str(canonicalize_name(n)), v) for n, v in pins.items())
    if not items:
        return []
    tool = ensure_pip_tools(interpreter, settings) if installer == "pip" else None
    extra = [arg for path in extra_constraints for arg in ("--constraint", path)]
    work = _workdir(settings, "check")
    found: list[tuple[str, str, str, str]] = []

    def probe(group: Pins) -> tuple[bool, str]:
        (work / "pins.txt").write_text("".join(f"{n}=={v}\n" for n, v in group), "utf-8")
        (work / "report.json").unlink(missing_ok=True)
        if tool is None:
            argv = [*_uv_resolve(interpreter, index), "pins.txt", "--no-deps", "--no-header"]
            result = proc.run([*argv, *extra], env=_UV_ENV, cwd=work, check=False)
        else:
            argv = [str(tool), *_PIP_DRY_RUN, *_pip_index(index), *extra, "-r", "pins.txt"]
            result = proc.run(argv, env=_pip_env(settings), cwd=work, check=False)
        output = result.stdout + "\n" + result.stderr
        if result.returncode == 0:
            found.extend(_yanked(output, work / "report.json", group))
        return result.returncode == 0, output

    def narrow(group: Pins, ok: bool, output: str) -> None:
        # Bisect: a failing group is split until each failing pin stands alone.
        if ok:
            return
        if len(group) == 1:
            found.append((*group[0], "missing", _telling_line(output)))
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
                value=_telling_line(output),
                fix="check the network and the index options, then retry",
                tail=proc.tail(output, 2500),
            )
        narrow(items, ok, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return sorted(found)


def ensure_pip_tools(interpreter: Interpreter, settings: Settings) -> Path:
    """The python of a cached venv with pip-tools for the interpreter's version (built once)."""
    if tuple(int(p) for p in re.findall(r"\d+", interpreter.version)[:2]) < (3, 9):
        raise SpecError(
            f"the pip installer cannot lock for Python {interpreter.version} (pip-tools needs 3.9+)",
            value=interpreter.path,
            fix="use --installer uv",
        )
    name = f"pip-tools-{PIP_TOOLS_VERSION}-{interpreter.implementation}{interpreter.version}"
    tool_dir = settings.cache_dir / "tools" / name
    want = {"pip-tools": PIP_TOOLS_VERSION, "pip": _pip_version(interpreter)}
    if _tool_ready(tool_dir, want):
        return env_python(tool_dir)
    from filelock import FileLock, Timeout

    lock_path = settings.cache_dir / "locks" / f"{name}.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with FileLock(str(lock_path), timeout=_TOOL_WAIT_SECONDS):
            if not _tool_ready(tool_dir, want):  # check again: another process may have built it
                _build_tool(tool_dir, interpreter, want, settings)
    except Timeout:
        raise EnvBuildError(
            "timed out waiting for another process installing pip-tools",
            value=str(lock_path),
            fix="check for a stuck envrun process, or remove the lock file if none is running",
        ) from None
    return env_python(tool_dir)


def _build_tool(
    tool_dir: Path, interpreter: Interpreter, want: dict[str, str], settings: Settings
) -> None:
    shutil.rmtree(tool_dir, ignore_errors=True)
    tool_dir.parent.mkdir(parents=True, exist_ok=True)
    log = settings.cache_dir / "logs" / f"{tool_dir.name}-{os.getpid()}.log"
    settings.reporter.step(
        f"installing pip-tools {PIP_TOOLS_VERSION} for Python {interpreter.version}"
    )
    create = [sys.executable, "-m", "virtualenv", "--python", interpreter.path, str(tool_dir)]
    create += ["--no-periodic-update", "--no-download", "--quiet"]
    install = [str(env_python(tool_dir)), "-m", "pip", "install", "--disable-pip-version-check"]
    install += ["--no-input", *(f"{name}=={version}" for name, version in want.items())]
    try:
        # The same virtualenv app-data dir as the pip backend, so the seed wheels are shared.
        data = str(settings.cache_dir / "virtualenv-data")
        proc.run(create, env={"VIRTUALENV_OVERRIDE_APP_DATA": data}, log=log)
        proc.run(install, env=_pip_env(settings), log=log, on_line=settings.reporter.line)
    except CommandFailed as exc:
        shutil.rmtree(tool_dir, ignore_errors=True)
        raise EnvBuildError(
            f"could not install pip-tools {PIP_TOOLS_VERSION}, which locking with pip needs",
            value=" ".join(exc.argv[:6]),
            fix=f"check the network or pip's index settings, or use --installer uv; log: {log}",
            log_path=str(log),
            tail=proc.tail(exc.stdout + exc.stderr, 2500),
        ) from None
    marker = tool_dir / ".envrun-tool.json"
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(want), encoding="utf-8")
    os.replace(tmp, marker)  # the completion marker, written last


def _tool_ready(tool_dir: Path, want: dict[str, str]) -> bool:
    try:
        state = json.loads((tool_dir / ".envrun-tool.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    # The venv points at its base interpreter, which may have been removed since.
    return bool(state == want and os.path.exists(env_python(tool_dir)))


def _pip_version(interpreter: Interpreter) -> str:
    return _PIP_FOR_MINOR.get(interpreter.minor, _PIP_DEFAULT)


def _check_installer(installer: str) -> None:
    if installer not in ("uv", "pip"):
        raise SpecError("unknown installer", value=installer, fix="use uv or pip")


def _uv_resolve(interpreter: Interpreter, index: IndexOptions) -> list[str]:
    # --python resolves with the interpreter's own markers and wheel tags (its glibc version
    # included), which a --python-platform triple would only approximate.
    return [
        *(UvBackend.binary(), "pip", "compile", "--python", interpreter.path),
        *("--python-version", interpreter.version),
        *("--index-strategy", "unsafe-best-match"),  # pip's meaning of several indexes
        *_index_flags(index, trusted="--allow-insecure-host", pre=["--prerelease", "allow"]),
    ]


def _pip_index(index: IndexOptions) -> list[str]:
    return _index_flags(index, trusted="--trusted-host", pre=["--pre"])


def _pip_env(settings: Settings) -> dict[str, str]:
    """pip reads PIP_* itself: give it settings.environ's, not this process's (blank = unset)."""
    env = {k: v for k, v in settings.environ.items() if k.startswith("PIP_")}
    env.update({k: "" for k in os.environ if k.startswith("PIP_") and k not in settings.environ})
    return env


def _workdir(settings: Settings, tag: str) -> Path:
    path = settings.cache_dir / "tmp" / f"{tag}-{os.getpid()}-{time.monotonic_ns()}"
    path.mkdir(parents=True)
    return path


def _resolution_error(exc: CommandFailed, installer: str, log: Path) -> ResolutionError:
    # No timeout is set (a big resolution may take long), so a failure is the resolver's answer.
    output = (exc.stdout + "\n" + exc.stderr).strip()
    return ResolutionError(
        f"{installer} could not resolve the model's requirements into a lock",
        value=_telling_line(output),
        fix=f"correct the requirement, the index options or --exclude-newer; full log: {log}",
        log_path=str(log),
        tail=proc.tail(output, 2500),
    )


def _telling_line(output: str) -> str:
    """The output line that best says what went wrong, without its "error:" or "cause:" tag."""
    lines = [_TAG.sub("", line.strip()) for line in output.splitlines() if line.strip()]
    for hint in _UNRESOLVABLE:
        for line in lines:
            if hint in line.lower():
                return line
    return lines[-1] if lines else ""


def _yanked(output: str, report: Path, group: Pins) -> list[tuple[str, str, str, str]]:
    """Yanked pins of a successful probe: uv warns about them, pip's --report marks them."""
    reasons = {(canonicalize_name(n), v): r for n, v, r in _UV_YANKED.findall(output)}
    reasons.update({(canonicalize_name(n), v): r for n, v, r in _PIP_YANKED.findall(output)})
    if report.exists():
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


def _relativize(body: str, root: Path | None) -> str:
    """Local files inside the model dir as ./relative paths, so the lock moves with the model."""
    if root is None:
        return body
    base = root.resolve()
    lines = []
    for raw in body.splitlines():
        line, match = raw, _FILE_REQ.match(raw)
        if match:
            path = Path(unquote(urlsplit(match.group(2)).path))
            rel = path.relative_to(base).as_posix() if path.is_relative_to(base) else None
            if rel is not None and not any(c.isspace() for c in rel):
                line = f"./{rel}{match.group(3)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def _redacted(index: IndexOptions) -> dict[str, object]:
    """Index options for the header, without passwords or tokens in URLs."""

    def clean(value: object) -> object:
        if isinstance(value, list):
            return [clean(v) for v in value]
        return re.sub(r"//[^/@\s]*@", "//****@", value) if isinstance(value, str) else value

    return {key: clean(value) for key, value in index.to_json().items()}


def _parse_header(line: str, origin: str) -> dict[str, Any]:
    def bad(detail: str) -> SpecError:
        what = f"{origin}: malformed envrun-lock header ({detail})"
        return SpecError(what, value=line[:300], fix=_REGENERATE)

    try:
        data = json.loads(line[len(HEADER_PREFIX) :])
    except ValueError as exc:
        raise bad(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad("not a JSON object")
    version = data.get("version")
    if isinstance(version, bool) or version != LOCK_FORMAT:
        raise bad(f"lock format {version!r}, this envrun reads {LOCK_FORMAT}")
    if not isinstance(data.get("python"), str) or not _PYTHON.fullmatch(data["python"]):
        raise bad(f"'python' must be a version such as 3.11.7, not {data.get('python')!r}")
    if data.get("installer") not in ("uv", "pip"):
        raise bad(f"'installer' must be uv or pip, not {data.get('installer')!r}")
    return data


def _parse_body(
    text: str, where: str
) -> tuple[dict[str, str], dict[str, tuple[str, ...]], dict[str, str]]:
    pins: dict[str, str] = {}
    hashes: dict[str, tuple[str, ...]] = {}
    direct: dict[str, str] = {}
    for number, line in logical_lines(text):
        origin = f"{where}:{number}"
        match = _OPTIONS_START.search(line)
        args = line[: match.start()].strip() if match else line
        options = split_options(line[match.start() :], origin) if match else []
        if not args or any(n != "--hash" for n, _ in options):
            what = f"{origin}: a lock holds only pinned requirements with --hash"
            raise SpecError(what, value=line, fix=_REGENERATE)
        name, version, ref = _pin(args, origin)
        found = tuple(dict.fromkeys(check_hash(v or "", origin) for _, v in options))
        if not found:
            raise SpecError(
                f"{origin}: {name} has no --hash, so it cannot be installed hash-checked",
                value=line,
                fix="reference a wheel or an index package (a local directory or a VCS URL "
                f"has no hash), then {_REGENERATE}",
            )
        pins[name], hashes[name] = version, found
        if ref is not None:
            direct[name] = ref
    return pins, hashes, direct


def _pin(args: str, origin: str) -> tuple[str, str, str | None]:
    """(canonical name, version, path or URL of a direct reference) of one lock line."""
    target = args.split(";", 1)[0].strip()
    if "@" not in target and (target.startswith((".", "/")) or "\\" in target):
        return (*_from_filename(PurePosixPath(target).name, origin, args), target)
    try:
        req = Requirement(args)
    except InvalidRequirement as exc:
        what = f"{origin}: invalid requirement ({exc})"
        raise SpecError(what, value=args, fix=_REGENERATE) from None
    if req.url:
        filename = unquote(urlsplit(req.url).path).rsplit("/", 1)[-1]
        return str(canonicalize_name(req.name)), _from_filename(filename, origin, args)[1], req.url
    specs = list(req.specifier)
    if len(specs) != 1 or specs[0].operator not in ("==", "===") or "*" in specs[0].version:
        what = f"{origin}: {req.name} is not pinned to one version"
        raise SpecError(what, value=args, fix=_REGENERATE)
    return str(canonicalize_name(req.name)), specs[0].version, None


def _from_filename(filename: str, origin: str, line: str) -> tuple[str, str]:
    try:
        if filename.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename):
        raise SpecError(
            f"{origin}: cannot tell the version of this file reference",
            value=line,
            fix="reference a wheel or source archive (a local directory or a VCS URL cannot be "
            "locked with hashes)",
        ) from None
    return str(name), str(version)
