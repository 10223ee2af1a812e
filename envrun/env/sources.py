"""Turn a model's declared environment files into one EnvSpec, with MLflow's precedence.

python_env.yaml > requirements.txt (+ python from conda.yaml) > conda.yaml > nothing; the
interpreter version falls back to MLmodel's python_version.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

from envrun.env.requirements import (
    IndexOptions,
    ParsedRequirements,
    ReqLine,
    parse_requirement_lines,
    parse_requirements_file,
)
from envrun.env.spec import EnvSpec
from envrun.errors import SpecError
from envrun.model.mlmodel import ModelInfo, load_yaml, safe_path

_CONDA_BUILD_TOOLS = ("pip", "setuptools", "wheel")
_CONDA_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$")
_VERSION = re.compile(r"^\d+(\.\d+){1,2}$")


def resolve_spec(model: ModelInfo, *, strict: bool = False) -> EnvSpec:
    """Read python_env.yaml / requirements.txt / conda.yaml of `model` into an EnvSpec."""
    root = model.path
    python_env = _declared_file(model, "virtualenv", "python_env.yaml")
    conda = _declared_file(model, "conda", "conda.yaml")
    requirements = _existing(root, "requirements.txt")
    warnings: list[str] = []
    ignored: tuple[str, ...] = ()
    extra_files: list[tuple[str, str]] = []

    if python_env is not None:
        source = python_env.name
        python, build, parsed = _from_python_env(root, python_env)
        python_source = python_env.name if python else ""
        extra_files.append(_file_hash(root, python_env))
    elif requirements is not None:
        source = "requirements.txt"
        parsed = parse_requirements_file(requirements, root=root)
        build = ()
        python, python_source = None, ""
        if conda is not None:
            python, _, _, _ = _read_conda(root, conda, strict=False)
            python_source = conda.name if python else ""
    elif conda is not None:
        source = conda.name
        python, build, parsed, ignored = _read_conda(root, conda, strict=strict)
        python_source = conda.name if python else ""
        extra_files.append(_file_hash(root, conda))
        if ignored:
            warnings.append(
                f"{conda.name} lists conda-only packages that a virtualenv cannot install; "
                f"ignored: {', '.join(ignored)}"
            )
    else:
        source = "none"
        python, python_source, build = None, "", ()
        parsed = ParsedRequirements((), (), IndexOptions(), (), ())
        warnings.append(
            "the model declares no environment (no python_env.yaml, requirements.txt or "
            "conda.yaml): the env will hold only the Python interpreter"
        )

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
        build_dependencies=tuple(build),
        requirements=parsed.requirements,
        constraints=parsed.constraints,
        index=parsed.index,
        files=tuple(extra_files) + parsed.files,
        source=source,
        ignored=ignored,
        warnings=tuple(warnings) + parsed.warnings,
    )


def _declared_file(model: ModelInfo, kind: str, default: str) -> Path | None:
    name = model.pyfunc.env_files.get(kind)
    if name is not None:
        path = safe_path(model.path, name, what=f"env.{kind}")
        if path.is_file():
            return path
        return None
    return _existing(model.path, default)


def _existing(root: Path, name: str) -> Path | None:
    path = safe_path(root, name, what=name)
    return path if path.is_file() else None


def _file_hash(root: Path, path: Path) -> tuple[str, str]:
    return (path.relative_to(root).as_posix(), hashlib.sha256(path.read_bytes()).hexdigest())


def _from_python_env(
    root: Path, path: Path
) -> tuple[str | None, tuple[ReqLine, ...], ParsedRequirements]:
    data = load_yaml(path, error=SpecError)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(
            f"{path.name} is not a mapping",
            value=f"{path}: {type(data).__name__}",
            fix="write keys python:, build_dependencies: and dependencies:",
        )
    unknown = sorted(set(data) - {"python", "build_dependencies", "dependencies"})
    if unknown:
        raise SpecError(
            f"{path.name} has unknown keys",
            value=", ".join(map(str, unknown)),
            fix="python_env.yaml takes only python, build_dependencies and dependencies",
        )
    python = data.get("python")
    build_lines = _string_list(path, data, "build_dependencies")
    dep_lines = _string_list(path, data, "dependencies")
    base = path.parent
    build = parse_requirement_lines(
        build_lines, origin=f"{path.name} build_dependencies", base_dir=base, root=root
    )
    deps = parse_requirement_lines(
        dep_lines, origin=f"{path.name} dependencies", base_dir=base, root=root
    )
    return (str(python) if python is not None else None), build.requirements, deps


def _string_list(path: Path, data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, (str, int, float)) for v in value):
        raise SpecError(
            f"{path.name}: '{key}' must be a list of requirement strings",
            value=repr(value)[:200],
            fix=f"write {key}: as a YAML list, one requirement per item",
        )
    return [str(v) for v in value]


def _read_conda(
    root: Path, path: Path, *, strict: bool
) -> tuple[str | None, tuple[ReqLine, ...], ParsedRequirements, tuple[str, ...]]:
    data = load_yaml(path, error=SpecError)
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if deps is None:
        deps = []
    if not isinstance(deps, list):
        raise SpecError(
            f"{path.name}: 'dependencies' must be a list",
            value=repr(deps)[:200],
            fix="write dependencies: as a YAML list",
        )
    python: str | None = None
    build_lines: list[str] = []
    pip_lines: list[str] = []
    ignored: list[str] = []
    for item in deps:
        if isinstance(item, dict):
            pip_section = item.get("pip")
            if pip_section is None:
                raise SpecError(
                    f"{path.name}: unexpected mapping in dependencies",
                    value=repr(item)[:200],
                    fix="only a 'pip:' list may appear as a mapping in conda dependencies",
                )
            if not isinstance(pip_section, list):
                raise SpecError(
                    f"{path.name}: 'pip' must be a list",
                    value=repr(pip_section)[:200],
                    fix="write pip: as a YAML list",
                )
            pip_lines.extend(str(x) for x in pip_section)
            continue
        text = str(item).strip()
        match = _CONDA_SPEC.match(text)
        name = match.group(1).lower() if match else text
        constraint = match.group(2).strip() if match else ""
        if "::" in text:  # channel-qualified package (conda-forge::foo): conda only
            ignored.append(text)
        elif name == "python":
            python = _conda_python(constraint, path)
        elif name in _CONDA_BUILD_TOOLS:
            build_lines.append(name + _conda_constraint_to_pep440(constraint))
        else:
            ignored.append(text)
    if ignored and strict:
        raise SpecError(
            f"{path.name} lists conda-only packages, which a virtualenv cannot install (--strict)",
            value=", ".join(ignored),
            fix="move them to the pip: section if they exist on PyPI, or drop --strict to ignore them",
        )
    base = path.parent
    build = parse_requirement_lines(
        build_lines, origin=f"{path.name} dependencies", base_dir=base, root=root
    )
    parsed = parse_requirement_lines(pip_lines, origin=f"{path.name} pip", base_dir=base, root=root)
    return python, build.requirements, parsed, tuple(ignored)


def _conda_python(constraint: str, path: Path) -> str | None:
    text = constraint.lstrip("=").strip()
    if not text:
        return None
    if _VERSION.match(text):
        return text
    wildcard = re.match(r"^(\d+\.\d+)(\.\*)?$", text)
    if wildcard:
        return wildcard.group(1)
    raise SpecError(
        f"{path.name}: cannot pick one Python version from the constraint",
        value=f"python{constraint}",
        fix="pin python to a version such as python=3.11.7 (or 3.11)",
    )


def _conda_constraint_to_pep440(constraint: str) -> str:
    # conda's "pip=23.0" means a version match; a bare "23.0" after a space likewise.
    if not constraint:
        return ""
    if constraint[0] == "=" and not constraint.startswith("=="):
        return "==" + constraint[1:]
    if constraint[0].isdigit():
        return "==" + constraint
    return constraint


def _normalize_python(version: str, source: str) -> str:
    text = version.strip()
    if not _VERSION.match(text):
        raise SpecError(
            f"{source} declares a Python version envrun cannot use",
            value=version,
            fix="write a version such as 3.11 or 3.11.7",
        )
    return text
