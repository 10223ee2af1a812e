"""uv: the default installer. It ignores pip.conf, so index options come in as flags."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from pathlib import Path

from envrun import proc
from envrun.env.asof import run_uv_as_of
from envrun.env.backends.plan import (
    InstallPlan,
    PinProbe,
    constraint_flags,
    env_python,
    index_flags,
    install_argvs,
    parse_installed,
)
from envrun.env.interpreters import Interpreter
from envrun.env.layout import CacheLayout
from envrun.env.memo import StatMemo
from envrun.env.requirements import IndexOptions
from envrun.errors import EnvBuildError
from envrun.settings import Settings

# --quiet: uv would also print the whole lock to stdout, which -v would then stream line by line.
_COMPILE = ["--output-file", "out.txt", "--generate-hashes", "--no-header", "--quiet"]


class UvBackend:
    """Creates envs with `uv venv`, installs, resolves and locks with `uv pip`."""

    name = "uv"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.memo_file = CacheLayout(settings.cache_dir).tool_versions_memo
        self._version: str | None = None

    @staticmethod
    def binary() -> str:
        """The uv executable shipped with the uv package envrun depends on (else PATH)."""
        try:
            from uv import find_uv_bin

            return str(find_uv_bin())
        except (ImportError, FileNotFoundError):
            found = shutil.which("uv")
            if found is None:
                raise EnvBuildError(
                    "uv is not installed", value="uv", fix="pip install uv, or use --installer pip"
                ) from None
            return found

    def _env(self) -> dict[str, str]:
        # Never download an interpreter: envrun only uses Pythons already on the machine.
        return self.settings.child_env({"UV_PYTHON_DOWNLOADS": "never", "UV_NO_PROGRESS": "1"})

    def version(self) -> str:
        """uv's version, remembered by its binary's stat between runs."""
        if self._version is None:
            binary = self.binary()
            memo = StatMemo(self.memo_file)
            key = StatMemo.key(binary)
            cached = memo.get(key) if key else None
            if isinstance(cached, str):
                self._version = cached
            else:
                out = proc.run([binary, "--version"], env=self._env(), timeout=30).stdout
                self._version = out.strip().split()[1] if out.strip() else "unknown"
                if key:
                    memo.put(key, self._version)
                    memo.save()
        return self._version

    def create(
        self, env_dir: Path, python: str, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        """`uv venv` with the given base interpreter."""
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
        """`uv pip install` of the plan, bytecode compiled."""
        python = str(env_python(env_dir))
        common = [self.binary(), "pip", "install", "--python", python, "--compile-bytecode"]
        # pip takes the best version across every configured index; uv's default is to stop at
        # the first index that has the package. Keep pip's meaning.
        common += ["--index-strategy", "unsafe-best-match", *_index(plan.index)]
        # In hash-checking mode uv also demands == pins of constraints, which pip.conf's caps
        # (e.g. torch<=2.14.1) are not; with every version pinned they are moot there anyway.
        common += ["--no-deps"] if plan.no_deps else []

        def run(argv: list[str]) -> None:
            proc.run(argv, env=self._env(), cwd=plan.workdir, log=log, on_line=on_line)

        for argv in install_argvs(plan, common, unhashed_constraints=plan.extra_constraints):
            run_uv_as_of(run, argv, cutoff=plan.as_of, exempt=plan.exempt, notes=plan.notes)

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        """`uv pip list` of the env."""
        python = str(env_python(env_dir))
        argv = [self.binary(), "pip", "list", "--format", "json", "--python", python]
        return parse_installed(proc.run(argv, env=self._env(), timeout=120).stdout)

    def cache_dir(self, env_dir: Path | None = None) -> Path | None:
        """`uv cache dir`: where uv keeps the files it hardlinks into envs."""
        result = proc.run([self.binary(), "cache", "dir"], env=self._env(), timeout=30, check=False)
        text = result.stdout.strip()
        return Path(text) if result.returncode == 0 and text else None

    def lock_version(self, interpreter: Interpreter) -> str:
        """The resolver's version, as a lock's header records it."""
        return self.version()

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
        """`uv pip compile` into pinned, hashed lines (run in the file's directory)."""
        argv = [*self._resolve(interpreter, index), requirements_in.name, *_COMPILE]
        argv += constraint_flags(tuple(constraints))
        work = requirements_in.parent

        def run(args: list[str]) -> None:
            proc.run(args, env=self._env(), cwd=work, log=log, on_line=on_line)

        if exempt is None:
            run(argv + (["--exclude-newer", exclude_newer] if exclude_newer else []))
        else:
            kept = notes if notes is not None else []
            run_uv_as_of(run, argv, cutoff=exclude_newer, exempt=tuple(exempt), notes=kept)
        return (work / "out.txt").read_text(encoding="utf-8")

    def probe_pins(
        self,
        pins: Path,
        *,
        interpreter: Interpreter,
        index: IndexOptions,
        constraints: Sequence[str],
    ) -> PinProbe:
        """Resolve exact pins without their dependencies; uv warns of yanked ones."""
        argv = [*self._resolve(interpreter, index), pins.name, "--no-deps", "--no-header"]
        argv += constraint_flags(tuple(constraints))
        result = proc.run(argv, env=self._env(), cwd=pins.parent, check=False)
        return PinProbe(result.returncode == 0, result.stdout + "\n" + result.stderr, None)

    def _resolve(self, interpreter: Interpreter, index: IndexOptions) -> list[str]:
        # --python resolves with the interpreter's own markers and wheel tags (its glibc version
        # included), which a --python-platform triple would only approximate.
        return [
            *(self.binary(), "pip", "compile", "--python", interpreter.path),
            *("--python-version", interpreter.version),
            *("--index-strategy", "unsafe-best-match"),  # pip's meaning of several indexes
            *_index(index),
        ]


def _index(index: IndexOptions) -> list[str]:
    return index_flags(index, trusted="--allow-insecure-host", pre=["--prerelease", "allow"])
