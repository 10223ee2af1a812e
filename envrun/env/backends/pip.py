"""virtualenv + pip: slower than uv, but pip's own resolver and its own reading of pip.conf."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from envrun import proc
from envrun.env.asof import (
    pip_flags,
    pip_missing_pins,
    pip_supports_cutoff,
    without_pip_cutoff,
)
from envrun.env.backends.piptools import PIP_TOOLS_VERSION, ensure_pip_tools, pip_version_for
from envrun.env.backends.plan import (
    InstallPlan,
    PinProbe,
    constraint_flags,
    env_python,
    index_flags,
    install_argvs,
    parse_installed,
    virtualenv_argv,
)
from envrun.env.interpreters import Interpreter
from envrun.env.layout import CacheLayout
from envrun.env.requirements import IndexOptions
from envrun.errors import CommandFailed
from envrun.settings import Settings

_QUIET = ["--disable-pip-version-check", "--no-input"]
_COMPILE = [
    *("-m", "piptools", "compile", "--output-file", "out.txt"),
    # --allow-unsafe keeps pip and setuptools: --require-hashes needs every package hashed.
    *("--generate-hashes", "--allow-unsafe", "--strip-extras", "--no-header"),
    *("--no-emit-options", "--no-config"),
]
_DRY_RUN = [
    *("-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps", *_QUIET),
    *("--report", "report.json"),
]
_LIST_PROBE = (
    "import json, importlib.metadata as m;"
    "print(json.dumps([{'name': d.metadata['Name'], 'version': d.version}"
    " for d in m.distributions()]))"
)


class PipBackend:
    """Creates envs with virtualenv, installs with the env's pip, locks with pip-tools."""

    name = "pip"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.layout = CacheLayout(settings.cache_dir)

    def version(self) -> str:
        """virtualenv's version (pip comes from its seed wheels)."""
        from importlib.metadata import version

        return f"virtualenv-{version('virtualenv')}"

    def create(
        self, env_dir: Path, python: str, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        """`virtualenv` with the given base interpreter, seeded offline."""
        proc.run(
            virtualenv_argv(python, env_dir),
            env=self.settings.child_env(
                {"VIRTUALENV_OVERRIDE_APP_DATA": str(self.layout.virtualenv_data)}
            ),
            cwd=env_dir.parent,
            log=log,
            on_line=on_line,
        )

    def install(
        self, env_dir: Path, plan: InstallPlan, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        """The env's own `pip install` of the plan, bytecode compiled."""
        common = [str(env_python(env_dir)), "-m", "pip", "install", *_QUIET]
        common += ["--progress-bar", "off", "--compile"]
        # pip reads the user's pip.conf and PIP_* itself; pass only what the model adds.
        common += _index(plan.index)
        common += ["--no-deps"] if plan.no_deps else []
        env = self.settings.child_env()
        argvs = install_argvs(plan, common)
        if plan.as_of is not None:
            argvs = _as_of_argvs(env_dir, plan.as_of, plan, argvs, env=env, log=log, on_line=on_line)
        for argv in argvs:
            try:
                proc.run(argv, env=env, cwd=plan.workdir, log=log, on_line=on_line)
            except CommandFailed as exc:
                late = pip_missing_pins(exc.stdout + "\n" + exc.stderr, plan.exempt)
                if plan.as_of is None or not late:
                    raise
                note = (
                    f"{', '.join(sorted(late))}: pinned exactly, uploaded after the cutoff; pip "
                    "cannot spare single packages from --uploaded-prior-to, so this install "
                    "resolved as of now"
                )
                plan.notes.append(note)
                on_line(note)
                proc.run(
                    without_pip_cutoff(argv), env=env, cwd=plan.workdir, log=log, on_line=on_line
                )

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        """The distributions the env's interpreter sees."""
        argv = [str(env_python(env_dir)), "-I", "-c", _LIST_PROBE]
        return parse_installed(proc.run(argv, env=self.settings.child_env(), timeout=120).stdout)

    def cache_dir(self, env_dir: Path | None = None) -> Path | None:
        """`pip cache dir`, asked of the env's own pip (or this interpreter's); None when off."""
        python = str(env_python(env_dir)) if env_dir is not None else sys.executable
        argv = [python, "-m", "pip", "cache", "dir", *_QUIET]
        result = proc.run(argv, env=self.settings.child_env(), timeout=60, check=False)
        text = result.stdout.strip()
        return Path(text) if result.returncode == 0 and text else None

    def lock_version(self, interpreter: Interpreter) -> str:
        """pip-tools' and its pip's versions, as a lock's header records them."""
        return f"pip-tools {PIP_TOOLS_VERSION} (pip {pip_version_for(interpreter)})"

    def compile(
        self,
        requirements_in: Path,
        *,
        interpreter: Interpreter,
        index: IndexOptions,
        constraints: Sequence[str],
        exclude_newer: str | None,
        log: Path,
        on_line: Callable[[str], None],
        exempt: Sequence[str] | None = None,
        notes: list[str] | None = None,
    ) -> str:
        """pip-compile (from the cached pip-tools venv) into pinned, hashed lines.

        pip's cutoff cannot spare single packages, so `exempt` changes nothing here, as in a
        pip build; pip never filters file:// links, which is what exempting pins protects.
        """
        tool = ensure_pip_tools(interpreter, self.settings)
        argv = [str(tool), *_COMPILE, requirements_in.name, *_index(index)]
        argv += constraint_flags(tuple(constraints))
        argv += ["--uploaded-prior-to", exclude_newer] if exclude_newer else []
        work = requirements_in.parent
        proc.run(argv, env=self.settings.child_env(), cwd=work, log=log, on_line=on_line)
        return (work / "out.txt").read_text(encoding="utf-8")

    def probe_pins(
        self,
        pins: Path,
        *,
        interpreter: Interpreter,
        index: IndexOptions,
        constraints: Sequence[str],
    ) -> PinProbe:
        """A dry-run install of exact pins without dependencies; its report marks yanked files."""
        tool = ensure_pip_tools(interpreter, self.settings)
        report = pins.parent / "report.json"
        report.unlink(missing_ok=True)
        argv = [str(tool), *_DRY_RUN, *_index(index), *constraint_flags(tuple(constraints))]
        argv += ["-r", pins.name]
        result = proc.run(argv, env=self.settings.child_env(), cwd=pins.parent, check=False)
        output = result.stdout + "\n" + result.stderr
        return PinProbe(result.returncode == 0, output, report if report.exists() else None)


def _index(index: IndexOptions) -> list[str]:
    return index_flags(index, trusted="--trusted-host", pre=["--pre"])


def _as_of_argvs(
    env_dir: Path,
    cutoff: str,
    plan: InstallPlan,
    argvs: list[list[str]],
    *,
    env: dict[str, str],
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
    probe = proc.run([python, "-m", "pip", "--version"], env=env, timeout=120).stdout.split()
    if not pip_supports_cutoff(probe[1] if len(probe) > 1 else ""):
        on_line("upgrading pip in the env: --uploaded-prior-to needs pip 26.0 or newer")
        upgrade = [python, "-m", "pip", "install", *_QUIET, "pip>=26.0"]
        proc.run(upgrade, env=env, cwd=plan.workdir, log=log, on_line=on_line)
    hashed = [argv for argv in argvs if "--require-hashes" in argv]
    plain = [argv for argv in argvs if "--require-hashes" not in argv]
    if len(plain) > 1:
        # Same common prefix: join the -r files of the later commands onto the first.
        first, *rest = plain
        joined = list(first)
        for argv in rest:
            joined += argv[len(first) - 2 :]
        plain = [joined]
    return [[*argv, *pip_flags(cutoff)] for argv in plain] + hashed
