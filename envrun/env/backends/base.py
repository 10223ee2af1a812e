"""Installer backends: uv (default) and virtualenv + pip, driven through their command lines."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from envrun import proc
from envrun.env.asof import pip_flags, pip_supports_cutoff, run_uv_as_of
from envrun.env.memo import StatMemo
from envrun.env.requirements import IndexOptions, ReqLine, render_requirements_txt


@dataclass(frozen=True)
class InstallPlan:
    """What to put into a fresh env, as files the installer reads."""

    build_dependencies: tuple[ReqLine, ...]
    requirements: tuple[ReqLine, ...]
    constraints: tuple[ReqLine, ...]
    index: IndexOptions
    workdir: Path
    extra_constraints: tuple[str, ...] = ()
    # Resolution as of a day (env.asof): the cutoff, the names it spares, --no-deps for
    # --exact-pins, and what the installer had to take from today anyway (filled in by install).
    as_of: str | None = None
    exempt: tuple[str, ...] = ()
    no_deps: bool = False
    notes: list[str] = field(default_factory=list)


class Backend(Protocol):
    """Creates a virtualenv and installs into it."""

    name: str

    def version(self) -> str:
        """A string identifying the installer's version (part of the fingerprint)."""

    def create(
        self, env_dir: Path, python: str, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        """Create a virtualenv at env_dir with the given base interpreter."""

    def install(
        self, env_dir: Path, plan: InstallPlan, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        """Install the plan's packages into env_dir, compiling bytecode."""

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        """Installed distributions in env_dir: canonical name -> version."""


def env_python(env_dir: Path) -> Path:
    """The interpreter of a virtualenv."""
    if sys.platform == "win32":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def _write_inputs(plan: InstallPlan) -> tuple[Path | None, Path | None, Path | None]:
    plan.workdir.mkdir(parents=True, exist_ok=True)
    paths: list[Path | None] = []
    for name, reqs in (
        ("build-requirements.txt", plan.build_dependencies),
        ("requirements.txt", plan.requirements),
        ("constraints.txt", plan.constraints),
    ):
        if reqs:
            path = plan.workdir / name
            path.write_text(render_requirements_txt(reqs), encoding="utf-8")
            paths.append(path)
        else:
            paths.append(None)
    return paths[0], paths[1], paths[2]


def _hash_mode(reqs: tuple[ReqLine, ...]) -> bool:
    return any(r.hashes for r in reqs)


class UvBackend:
    """uv: fast resolver and installer. It ignores pip.conf, so index options come in as flags."""

    name = "uv"

    def __init__(self, environ: dict[str, str], memo_file: Path | None = None) -> None:
        self.environ = environ
        self.memo_file = memo_file
        self._version: str | None = None

    @staticmethod
    def binary() -> str:
        """The uv executable shipped with the uv package envrun depends on (else PATH)."""
        try:
            from uv import find_uv_bin

            return str(find_uv_bin())
        except (ImportError, FileNotFoundError):
            import shutil

            found = shutil.which("uv")
            if found is None:
                from envrun.errors import EnvBuildError

                raise EnvBuildError(
                    "uv is not installed",
                    value="uv",
                    fix="pip install uv, or use --installer pip",
                ) from None
            return found

    def _env(self) -> dict[str, str]:
        # Never download an interpreter: envrun only uses Pythons already on the machine.
        return {"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"}

    def version(self) -> str:
        if self._version is None:
            binary = self.binary()
            memo = StatMemo(self.memo_file) if self.memo_file else None
            key = StatMemo.key(binary)
            cached = memo.get(key) if memo and key else None
            if isinstance(cached, str):
                self._version = cached
            else:
                out = proc.run([binary, "--version"], env=self._env(), timeout=30).stdout
                self._version = out.strip().split()[1] if out.strip() else "unknown"
                if memo and key:
                    memo.put(key, self._version)
                    memo.save()
        return self._version

    def create(
        self, env_dir: Path, python: str, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        proc.run(
            [self.binary(), "venv", "--no-project", "--python", python, str(env_dir)],
            env=self._env(),
            cwd=env_dir.parent,
            log=log,
            on_line=on_line,
        )

    def install(
        self, env_dir: Path, plan: InstallPlan, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        python = str(env_python(env_dir))
        common = [self.binary(), "pip", "install", "--python", python, "--compile-bytecode"]
        # pip takes the best version across every configured index; uv's default is to stop at
        # the first index that has the package. Keep pip's meaning.
        common += ["--index-strategy", "unsafe-best-match"]
        common += _index_flags(
            plan.index, trusted="--allow-insecure-host", pre=["--prerelease", "allow"]
        )
        common += ["--no-deps"] if plan.no_deps else []

        def run(argv: list[str]) -> None:
            proc.run(argv, env=self._env(), cwd=plan.workdir, log=log, on_line=on_line)

        # In hash-checking mode uv also demands == pins of constraints, which pip.conf's caps
        # (e.g. torch<=2.14.1) are not; with every version pinned they are moot there anyway.
        for argv in _install_argvs(plan, common, unhashed_constraints=plan.extra_constraints):
            run_uv_as_of(run, argv, cutoff=plan.as_of, exempt=plan.exempt, notes=plan.notes)

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        out = proc.run(
            [
                self.binary(),
                "pip",
                "list",
                "--format",
                "json",
                "--python",
                str(env_python(env_dir)),
            ],
            env=self._env(),
            timeout=120,
        ).stdout
        return _parse_list(out)


class PipBackend:
    """virtualenv + pip: slower, but pip's own resolver and its own reading of pip.conf."""

    name = "pip"

    def __init__(self, environ: dict[str, str]) -> None:
        self.environ = environ

    def version(self) -> str:
        from importlib.metadata import version

        return f"virtualenv-{version('virtualenv')}"

    def create(
        self, env_dir: Path, python: str, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        proc.run(
            [
                sys.executable,
                "-m",
                "virtualenv",
                "--python",
                python,
                "--no-periodic-update",
                "--no-download",
                "--quiet",
                str(env_dir),
            ],
            env={"VIRTUALENV_OVERRIDE_APP_DATA": str(env_dir.parent.parent / "virtualenv-data")},
            cwd=env_dir.parent,
            log=log,
            on_line=on_line,
        )

    def install(
        self, env_dir: Path, plan: InstallPlan, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        common = [
            str(env_python(env_dir)),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "--no-input",
            "--progress-bar",
            "off",
            "--compile",
        ]
        # pip reads the user's pip.conf and PIP_* itself; pass only what the model adds.
        common += _index_flags(plan.index, trusted="--trusted-host", pre=["--pre"])
        common += ["--no-deps"] if plan.no_deps else []
        argvs = _install_argvs(plan, common)
        if plan.as_of is not None:
            argvs = pip_as_of_argvs(env_dir, plan, argvs, log=log, on_line=on_line)
        for argv in argvs:
            proc.run(argv, cwd=plan.workdir, log=log, on_line=on_line)

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        python = env_python(env_dir)
        probe = (
            "import json, importlib.metadata as m;"
            "print(json.dumps([{'name': d.metadata['Name'], 'version': d.version}"
            " for d in m.distributions()]))"
        )
        return _parse_list(proc.run([str(python), "-I", "-c", probe], timeout=120).stdout)


def pip_as_of_argvs(
    env_dir: Path,
    plan: InstallPlan,
    argvs: list[list[str]],
    *,
    log: Path,
    on_line: Callable[[str], None],
) -> list[list[str]]:
    """pip's install commands with the plan's cutoff (pip 26.0 added --uploaded-prior-to).

    An older pip in the fresh env is first upgraded to one that has the flag: the installer is
    a tool, not the model's dependency, so it comes from today. The build dependencies and the
    requirements then go in one command, run by that pip, since a build dependency that pins an
    older pip would otherwise run the second command without the flag. Hash-checked files (a
    lock) pin every version, so they need no cutoff and keep their own commands.
    """
    python = str(env_python(env_dir))
    probe = proc.run([python, "-m", "pip", "--version"], timeout=120).stdout.split()
    if not pip_supports_cutoff(probe[1] if len(probe) > 1 else ""):
        on_line("upgrading pip in the env: --uploaded-prior-to needs pip 26.0 or newer")
        upgrade = [python, "-m", "pip", "install", "--disable-pip-version-check", "pip>=26.0"]
        proc.run(upgrade, cwd=plan.workdir, log=log, on_line=on_line)
    hashed = [argv for argv in argvs if "--require-hashes" in argv]
    plain = [argv for argv in argvs if "--require-hashes" not in argv]
    if len(plain) > 1:
        # Same common prefix: join the -r files of the later commands onto the first.
        first, *rest = plain
        joined = list(first)
        for argv in rest:
            joined += argv[len(first) - 2 :]
        plain = [joined]
    return [[*argv, *pip_flags(plan.as_of)] for argv in plain] + hashed


def _index_flags(index: IndexOptions, *, trusted: str, pre: list[str]) -> list[str]:
    """Index options as installer flags; the two installers differ only in two spellings."""
    flags: list[str] = []
    if index.no_index:
        flags.append("--no-index")
    if index.index_url:
        flags += ["--index-url", index.index_url]
    for url in index.extra_index_urls:
        flags += ["--extra-index-url", url]
    for link in index.find_links:
        flags += ["--find-links", link]
    for host in index.trusted_hosts:
        flags += [trusted, host]
    if index.pre:
        flags += pre
    return flags


def _install_argvs(
    plan: InstallPlan, common: list[str], *, unhashed_constraints: tuple[str, ...] = ()
) -> list[list[str]]:
    """One install command for the build dependencies, then one for the requirements.

    A file with any --hash runs in pip's hash-checking mode (--require-hashes): every package,
    dependencies included, must match a hash. `unhashed_constraints` go only to the others.
    """
    build, reqs, constraints = _write_inputs(plan)
    base = [*common, "--constraint", str(constraints)] if constraints is not None else common
    argvs: list[list[str]] = []
    for path, lines in ((build, plan.build_dependencies), (reqs, plan.requirements)):
        if path is None:
            continue
        argv = [*base, "-r", str(path)]
        if _hash_mode(lines):
            argv.append("--require-hashes")
        else:
            for extra in unhashed_constraints:
                argv += ["--constraint", extra]
        argvs.append(argv)
    return argvs


def _parse_list(text: str) -> dict[str, str]:
    import json

    from packaging.utils import canonicalize_name

    try:
        rows = json.loads(text)
    except ValueError:
        return {}
    return {
        canonicalize_name(str(r["name"])): str(r["version"])
        for r in rows
        if isinstance(r, dict) and r.get("name")
    }


def get_backend(name: str, environ: dict[str, str], memo_file: Path | None = None) -> Backend:
    """The backend called `name` (uv or pip); memo_file remembers tool versions between runs."""
    if name == "pip":
        return PipBackend(environ)
    return UvBackend(environ, memo_file)
