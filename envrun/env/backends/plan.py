"""What both installers are given: the install plan, its files, and index options as flags."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from packaging.utils import canonicalize_name

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


@dataclass(frozen=True)
class PinProbe:
    """The answer of an installer asked whether it can still get some exact pins."""

    ok: bool
    output: str
    report: Path | None  # pip's --report JSON, which marks yanked files; uv says so in `output`


def env_python(env_dir: Path) -> Path:
    """The interpreter of a virtualenv."""
    if sys.platform == "win32":
        return env_dir / "Scripts" / "python.exe"
    return env_dir / "bin" / "python"


def virtualenv_argv(python: str, env_dir: Path) -> list[str]:
    """Create a virtualenv offline (seed wheels from virtualenv's app data), without chatter."""
    return [
        *(sys.executable, "-m", "virtualenv", "--python", python, str(env_dir)),
        *("--no-periodic-update", "--no-download", "--quiet"),
    ]


def index_flags(index: IndexOptions, *, trusted: str, pre: list[str]) -> list[str]:
    """Index options as installer flags; uv and pip differ only in how two of them are spelled."""
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


def constraint_flags(paths: list[str] | tuple[str, ...]) -> list[str]:
    """`--constraint PATH` for each path."""
    return [arg for path in paths for arg in ("--constraint", path)]


def install_argvs(
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
        if any(r.hashes for r in lines):
            argv.append("--require-hashes")
        else:
            argv += constraint_flags(unhashed_constraints)
        argvs.append(argv)
    return argvs


def parse_installed(text: str) -> dict[str, str]:
    """`pip list --format json` (or the same shape) as canonical name -> version."""
    try:
        rows = json.loads(text)
    except ValueError:
        return {}
    if not isinstance(rows, list):
        return {}
    return {
        canonicalize_name(str(r["name"])): str(r["version"])
        for r in rows
        if isinstance(r, dict) and r.get("name")
    }


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
