"""virtualenv + pip: slower than uv, but pip's own resolver and its own reading of pip.conf."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from envrun import proc
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
        env = self.settings.child_env()
        for argv in install_argvs(plan, common):
            proc.run(argv, env=env, cwd=plan.workdir, log=log, on_line=on_line)

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        """The distributions the env's interpreter sees."""
        argv = [str(env_python(env_dir)), "-I", "-c", _LIST_PROBE]
        return parse_installed(proc.run(argv, env=self.settings.child_env(), timeout=120).stdout)

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
    ) -> str:
        """pip-compile (from the cached pip-tools venv) into pinned, hashed lines."""
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
