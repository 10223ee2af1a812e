"""Turn a model's declared environment files into one EnvSpec, with MLflow's precedence.

python_env.yaml > requirements.txt (+ python from conda.yaml) > conda.yaml > nothing; the
interpreter version falls back to MLmodel's python_version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from envrun.env.conda import CondaEnv, PipFromConda, read_conda_yaml
from envrun.env.requirements import (
    IndexOptions,
    MissingRequirementsFile,
    ParsedRequirements,
    ReqLine,
    parse_requirement_lines,
    parse_requirements_file,
)
from envrun.env.spec import EnvSpec
from envrun.errors import SpecError
from envrun.model.mlmodel import ModelInfo, load_yaml, safe_path

_VERSION = re.compile(r"^\d+(\.\d+){1,2}$")


@dataclass
class _Chosen:
    """The declaration envrun installs from, as the precedence picked it."""

    source: str
    python: str | None
    python_source: str
    build: tuple[ReqLine, ...]
    parsed: ParsedRequirements
    files: list[tuple[str, str]]


def resolve_spec(model: ModelInfo, *, strict: bool = False) -> EnvSpec:
    """Read python_env.yaml / requirements.txt / conda.yaml of `model` into an EnvSpec.

    Fallbacks (a declared file that is missing, conda-only packages added as pip packages) are
    warnings in the result; with `strict` they raise SpecError instead.
    """
    root = model.path
    warnings: list[str] = list(model.warnings)
    notes = _Notes(warnings, strict)
    python_env = _declared_file(model, "virtualenv", "python_env.yaml", notes)
    conda_path = _declared_file(model, "conda", "conda.yaml", notes)
    requirements = _existing(root, "requirements.txt")
    conda, conda_error = _read_conda(conda_path)

    chosen = _choose(
        model,
        python_env=python_env,
        requirements=requirements,
        conda_path=conda_path,
        conda=conda,
        conda_error=conda_error,
        notes=notes,
    )
    if chosen.source == "none":
        warnings.append(
            "the model declares no environment (no python_env.yaml, requirements.txt or "
            "conda.yaml): the env will hold only the Python interpreter"
        )
    if conda_error is not None:
        # conda.yaml is not the declaration envrun installs from: a broken one costs only
        # its Python version and its conda-only packages.
        notes.fallback(f"{conda_error.what}; its conda packages are not considered", conda_error)

    requirements_out = chosen.parsed.requirements
    python, python_source = chosen.python, chosen.python_source if chosen.python else ""
    ignored: tuple[str, ...] = ()
    if conda is not None:
        if python is None and conda.python:
            python, python_source = conda.python, conda.name
        requirements_out += _conda_additions(conda, chosen, notes)
        ignored = tuple(i.conda for i in conda.ignored)
        if conda.ignored:
            listed = ", ".join(f"{i.conda} ({i.reason})" for i in conda.ignored)
            warnings.append(f"{conda.name}: conda packages a virtualenv does without: {listed}")

    if python is None and model.pyfunc.python_version:
        python, python_source = model.pyfunc.python_version, "MLmodel python_version"
    if python is not None:
        python = _normalize_python(python, python_source)
    else:
        warnings.append("the model does not declare a Python version; any interpreter will do")
        python_source = "undeclared"

    return EnvSpec(
        python=python,
        python_source=python_source,
        build_dependencies=tuple(chosen.build),
        requirements=requirements_out,
        constraints=chosen.parsed.constraints,
        index=chosen.parsed.index,
        files=tuple(chosen.files) + chosen.parsed.files,
        source=chosen.source,
        ignored=ignored,
        warnings=tuple(warnings) + chosen.parsed.warnings,
    )


def _choose(
    model: ModelInfo,
    *,
    python_env: Path | None,
    requirements: Path | None,
    conda_path: Path | None,
    conda: CondaEnv | None,
    conda_error: SpecError | None,
    notes: _Notes,
) -> _Chosen:
    """The first readable declaration in MLflow's precedence."""
    root = model.path
    env_python: str | None = None
    if python_env is not None:
        env_python, build_lines, dep_lines = _python_env_lines(python_env)
        try:
            build, parsed = _parse_python_env(root, python_env, build_lines, dep_lines)
            files = [_file_hash(root, python_env)]
            return _Chosen(python_env.name, env_python, python_env.name, build, parsed, files)
        except MissingRequirementsFile as exc:
            notes.fallback(f"{python_env.name} includes a file that is missing", exc)
    if requirements is not None:
        try:
            parsed = parse_requirements_file(requirements, root=root)
            python_source = python_env.name if env_python and python_env else ""
            return _Chosen("requirements.txt", env_python, python_source, (), parsed, [])
        except MissingRequirementsFile as exc:
            notes.fallback("requirements.txt includes a file that is missing", exc)
    if conda_path is not None:
        if conda is None:
            raise conda_error or SpecError(f"cannot read {conda_path.name}")
        return _from_conda(root, conda_path, conda)
    empty = ParsedRequirements((), (), IndexOptions(), (), ())
    return _Chosen("none", env_python, python_env.name if python_env else "", (), empty, [])


def _read_conda(path: Path | None) -> tuple[CondaEnv | None, SpecError | None]:
    if path is None:
        return None, None
    try:
        return read_conda_yaml(path), None
    except SpecError as exc:
        return None, exc


def _from_conda(root: Path, path: Path, conda: CondaEnv) -> _Chosen:
    base = path.parent
    parsed = parse_requirement_lines(
        conda.pip, origin=f"{conda.name} pip", base_dir=base, root=root
    )
    build = parse_requirement_lines(
        conda.build, origin=f"{conda.name} dependencies", base_dir=base, root=root
    )
    parsed = replace(parsed, warnings=build.warnings + parsed.warnings)
    return _Chosen(conda.name, None, "", build.requirements, parsed, [_file_hash(root, path)])


class _Notes:
    """Collects fallback warnings, or refuses them under --strict."""

    def __init__(self, warnings: list[str], strict: bool) -> None:
        self.warnings = warnings
        self.strict = strict

    def fallback(self, what: str, exc: SpecError | None = None, *, value: str = "") -> None:
        value = value or (exc.value if exc is not None and exc.value else "")
        if self.strict:
            raise SpecError(
                f"{what} (--strict refuses to fall back to the next declaration)",
                value=value,
                fix="restore the file, or drop --strict to use the next declaration "
                "in MLflow's precedence",
            )
        self.warnings.append(
            f"{what} ({value}); using the next declaration in MLflow's precedence"
            if value
            else f"{what}; using the next declaration in MLflow's precedence"
        )


def _conda_additions(conda: CondaEnv, chosen: _Chosen, notes: _Notes) -> tuple[ReqLine, ...]:
    """Conda-only packages the chosen pip declaration lacks, as pip requirements."""
    have = {r.name for r in (*chosen.parsed.requirements, *chosen.build) if r.name}
    added: dict[str, PipFromConda] = {}
    for package in conda.packages:
        if package.name not in have and package.name not in added:
            added[package.name] = package
    if not added:
        return ()
    shown = ", ".join(
        package.conda
        + (f" -> {package.requirement}" if package.conda != package.requirement else "")
        for package in added.values()
    )
    if notes.strict:
        raise SpecError(
            f"{conda.name} lists conda-only packages, which a virtualenv cannot install (--strict)",
            value=shown,
            fix="move them to the pip: section (or to the pip declaration) under their PyPI "
            "names, or drop --strict to add them as pip packages",
        )
    lines = []
    for package in added.values():
        origin = f"{conda.name} dependencies[{package.index}]"
        lines.append(ReqLine(package.requirement, package.name, (), origin, None))
        if package.note:
            notes.warnings.append(f"{origin}: {package.conda}: {package.note}")
    where = "its pip section" if chosen.source == conda.name else chosen.source
    notes.warnings.append(
        f"{conda.name} lists conda packages that {where} lacks; added as pip packages: {shown}"
    )
    return tuple(lines)


def _declared_file(model: ModelInfo, kind: str, default: str, notes: _Notes) -> Path | None:
    name = model.pyfunc.env_files.get(kind)
    if name is not None:
        path = safe_path(model.path, name, what=f"env.{kind}")
        if path.is_file():
            return path
        notes.fallback(f"MLmodel names env.{kind} {name}, which is missing", value=name)
        return None
    return _existing(model.path, default)


def _existing(root: Path, name: str) -> Path | None:
    path = safe_path(root, name, what=name)
    return path if path.is_file() else None


def _file_hash(root: Path, path: Path) -> tuple[str, str]:
    return (path.relative_to(root).as_posix(), hashlib.sha256(path.read_bytes()).hexdigest())


def _python_env_lines(path: Path) -> tuple[str | None, list[str], list[str]]:
    data = load_yaml(path, error=SpecError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(
            f"{path.name} is not a mapping",
            value=f"{path}: {type(data).__name__}",
            fix="write keys python:, build_dependencies: and dependencies:",
        )
    unknown = sorted(set(map(str, data)) - {"python", "build_dependencies", "dependencies"})
    if unknown:
        raise SpecError(
            f"{path.name} has unknown keys",
            value=", ".join(unknown),
            fix="python_env.yaml takes only python, build_dependencies and dependencies",
        )
    python = data.get("python")
    build_lines = _string_list(path, data, "build_dependencies")
    dep_lines = _string_list(path, data, "dependencies")
    return (str(python) if python is not None else None), build_lines, dep_lines


def _parse_python_env(
    root: Path, path: Path, build_lines: list[str], dep_lines: list[str]
) -> tuple[tuple[ReqLine, ...], ParsedRequirements]:
    base = path.parent
    build = parse_requirement_lines(
        build_lines, origin=f"{path.name} build_dependencies", base_dir=base, root=root
    )
    deps = parse_requirement_lines(
        dep_lines, origin=f"{path.name} dependencies", base_dir=base, root=root
    )
    return build.requirements, replace(deps, warnings=build.warnings + deps.warnings)


def _string_list(path: Path, data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise SpecError(
            f"{path.name}: '{key}' must be a list of requirement strings",
            value=repr(value)[:200],
            fix=f"write {key}: as a YAML list, one requirement per item",
        )
    return [str(v) for v in value]


def _normalize_python(version: str, source: str) -> str:
    text = version.strip()
    if not _VERSION.match(text):
        raise SpecError(
            f"{source} declares a Python version envrun cannot use",
            value=version,
            fix="write a version such as 3.11 or 3.11.7",
        )
    return text
