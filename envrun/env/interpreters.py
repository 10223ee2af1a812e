"""Find an installed Python that matches the model's declared version; never build one."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from envrun import proc
from envrun.env.memo import StatMemo
from envrun.errors import CommandFailed, InterpreterNotFound
from envrun.settings import scrubbed_env

_PROBE = (
    "import json, platform, sys, sysconfig;"
    "print(json.dumps({'version': platform.python_version(),"
    " 'implementation': sys.implementation.name,"
    " 'platform': sysconfig.get_platform(),"
    " 'executable': sys.executable}))"
)
_NAME = re.compile(r"^python(\d+(\.\d+)?)?$")


@dataclass(frozen=True)
class Interpreter:
    """A Python interpreter found on this machine."""

    path: str
    version: str
    implementation: str
    platform: str
    origin: str

    @property
    def minor(self) -> str:
        """The X.Y part of the version."""
        return ".".join(self.version.split(".")[:2])


@dataclass(frozen=True)
class Match:
    """The chosen interpreter and, when the match is not exact, a warning saying so."""

    interpreter: Interpreter
    warning: str | None


def find_interpreter(
    requested: str | None,
    *,
    explicit: Path | None,
    cache_file: Path,
    environ: Mapping[str, str],
) -> Match:
    """Exact version first, then the same minor; from --python, the current one, uv, pyenv, PATH."""
    probes = _ProbeCache(cache_file, scrubbed_env(environ))
    try:
        if explicit is not None:
            found = probes.probe(str(explicit), "--python")
            if found is None:
                raise InterpreterNotFound(
                    "the interpreter given with --python does not run",
                    value=str(explicit),
                    fix="pass the path of a working python executable",
                )
            warning = None
            if requested and not _matches(found.version, requested, exact=False):
                warning = f"using {found.version} from --python although the model declares Python {requested}"
            return Match(found, warning)
        seen: list[Interpreter] = []
        for path, origin in _candidates(environ):
            found = probes.probe(path, origin)
            if found is None or any(found.path == s.path for s in seen):
                continue
            if requested is None or _matches(found.version, requested, exact=True):
                return Match(found, None)
            seen.append(found)
    finally:
        probes.save()
    assert requested is not None
    same_minor = [s for s in seen if _matches(s.version, requested, exact=False)]
    if same_minor:
        best = max(same_minor, key=lambda s: _version_tuple(s.version))
        return Match(
            best,
            f"Python {requested} is not installed; using {best.version} ({best.origin}, {best.path}), "
            "the same minor version",
        )
    listing = ", ".join(sorted({f"{s.version} ({s.path})" for s in seen})) or "none"
    minor = ".".join(requested.split(".")[:2])
    raise InterpreterNotFound(
        f"no Python {minor} interpreter found for this model (it declares Python {requested})",
        value=f"found: {listing}",
        fix=(
            f"pass --python /path/to/python{minor}, or install it without compiling: "
            f"'uv python install {requested}' (or 'pyenv install {requested}')"
        ),
    )


def _matches(version: str, requested: str, *, exact: bool) -> bool:
    have = version.split(".")
    want = requested.split(".")
    if exact:
        return have[: len(want)] == want
    return have[:2] == want[:2]


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def _candidates(environ: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    base = getattr(sys, "_base_executable", None) or sys.executable
    yield base, "current interpreter"
    uv_dir = Path(environ.get("UV_PYTHON_INSTALL_DIR") or _xdg_data(environ) / "uv" / "python")
    yield from _versioned_dirs(uv_dir, "uv-managed", lambda d: sorted(d.glob("bin/python3.*")))
    pyenv_root = Path(environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    yield from _versioned_dirs(
        pyenv_root / "versions", "pyenv", lambda d: sorted(d.glob("bin/python3.*"))
    )
    for directory in environ.get("PATH", "").split(os.pathsep):
        if not directory or "shims" in Path(directory).parts:
            continue  # pyenv/asdf shims are shell scripts that dispatch, not interpreters
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            if _NAME.match(name):
                yield str(Path(directory) / name), "PATH"


def _versioned_dirs(root: Path, origin: str, pick: object) -> Iterator[tuple[str, str]]:
    try:
        entries = sorted(root.iterdir(), reverse=True)
    except OSError:
        return
    for entry in entries:
        if not entry.is_dir():
            continue
        for exe in pick(entry):  # type: ignore[operator]
            if re.fullmatch(r"python3\.\d+", exe.name):
                yield str(exe), origin
                break


def _xdg_data(environ: Mapping[str, str]) -> Path:
    value = environ.get("XDG_DATA_HOME")
    return Path(value) if value else Path.home() / ".local" / "share"


class _ProbeCache:
    """Runs the version probe, remembering answers in a StatMemo."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.memo = StatMemo(path)
        self.env = env

    def probe(self, path: str, origin: str) -> Interpreter | None:
        key = StatMemo.key(path)
        if key is None:
            return None
        cached = self.memo.get(key)
        if not isinstance(cached, dict):
            try:
                result = proc.run([path, "-I", "-c", _PROBE], env=self.env, timeout=20)
                info = json.loads(result.stdout)
            except (CommandFailed, ValueError):
                return None
            cached = {
                "version": str(info["version"]),
                "implementation": str(info["implementation"]),
                "platform": str(info["platform"]),
            }
            self.memo.put(key, cached)
        return Interpreter(path=path, origin=origin, **cached)

    def save(self) -> None:
        self.memo.save()


def describe(interpreter: Interpreter) -> dict[str, str]:
    """JSON-ready description."""
    return asdict(interpreter)
