"""Consistency drift: where a model's own files disagree with each other.

Compares python_env.yaml, requirements.txt and conda.yaml (in MLflow's precedence order) with
each other and with the library versions MLmodel records. It reads only the model directory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePath
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from envrun.drift.finding import Finding, _assess, _parse, _verb, classify
from envrun.env.requirements import (
    ParsedRequirements,
    ReqLine,
    parse_requirement_lines,
    parse_requirements_file,
)
from envrun.errors import EnvrunError, SpecError
from envrun.model.mlmodel import ModelInfo, load_yaml, read_model

# MLmodel flavor keys that record the version of the library the model was saved with.
FLAVOR_VERSION_KEYS = {
    "sklearn_version": "scikit-learn",
    "pytorch_version": "torch",
    "cloudpickle_version": "cloudpickle",
    "keras_version": "keras",
    "xgb_version": "xgboost",
    "lgb_version": "lightgbm",
    "catboost_version": "catboost",
    "tensorflow_version": "tensorflow",
    "transformers_version": "transformers",
}


def _spec_of(line: ReqLine) -> str:
    """What a requirement line declares: "==1.2", ">=1,<2", "" or "@ file-or-url-name"."""
    if line.local_path:
        return "@ " + PurePath(line.local_path).name
    try:
        req = Requirement(line.text)
    except InvalidRequirement:
        return line.text
    return f"@ {PurePath(req.url).name}" if req.url else str(req.specifier)


def _origin_file(origin: str) -> str:
    head = origin.split(" ", 1)[0]  # "python_env.yaml dependencies[0]" or "requirements.txt:3"
    return re.sub(r":\d+$", "", head)


def _packages(parsed: ParsedRequirements) -> dict[str, tuple[str, str]]:
    """canonical name -> (specifier text, file it came from); a constraint pins an unpinned one."""
    out: dict[str, tuple[str, str]] = {}
    for line in parsed.requirements:
        if line.name and not out.get(line.name, ("",))[0]:
            out[line.name] = (_spec_of(line), _origin_file(line.origin))
    for line in parsed.constraints:
        if line.name in out and not out[line.name][0]:
            out[line.name] = (_spec_of(line), _origin_file(line.origin))
    return out


@dataclass(frozen=True)
class _EnvFile:
    name: str
    python: str | None
    packages: dict[str, tuple[str, str]]

    def where(self, package: str) -> str:
        origin = self.packages[package][1] if package in self.packages else self.name
        return origin if origin == self.name else f"{origin} (via {self.name})"


def _yaml(path: Path, name: str) -> tuple[dict[str, Any], list[Any]]:
    data = load_yaml(path, error=SpecError)
    data = {} if data is None else data
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance([] if deps is None else deps, list):
        raise SpecError(f"{name} is not a mapping with a 'dependencies' list", value=str(path))
    return data, deps or []


def _read_env_file(model: ModelInfo, kind: str, path: Path) -> _EnvFile:
    name, root = path.relative_to(model.path).as_posix(), model.path
    if kind == "requirements":
        return _EnvFile(name, None, _packages(parse_requirements_file(Path(name), root=root)))
    data, deps = _yaml(path, name)
    if kind == "virtualenv":
        lines = [str(d) for d in deps]
        python = None if data.get("python") is None else str(data["python"])
    else:  # conda: "python=3.11.7" is a version (prefix), "python>=3.9" a range
        lines, python = [], None
        for item in deps:
            if isinstance(item, dict) and isinstance(item.get("pip"), list):
                lines += [str(x) for x in item["pip"]]
            elif isinstance(item, str) and (m := re.match(r"^python\s*([<>=!~\d].*)?$", item)):
                text = (m.group(1) or "").strip()
                version = text.lstrip("=") if re.match(r"^(==?)?[^=<>!~]", text) else ""
                python = ("==" + version if "*" in version else version) or text or None
    origin = f"{name} {'pip' if kind == 'conda' else 'dependencies'}"
    parsed = parse_requirement_lines(lines, origin=origin, base_dir=path.parent, root=root)
    return _EnvFile(name, python, _packages(parsed))


def _env_files(model: ModelInfo, label: str) -> tuple[list[_EnvFile], list[Finding]]:
    """The model's env files in MLflow's precedence order, and findings for unreadable ones."""
    found: list[_EnvFile] = []
    problems: list[Finding] = []
    envs = model.pyfunc.env_files
    for kind, name in (
        ("virtualenv", envs.get("virtualenv", "python_env.yaml")),
        ("requirements", "requirements.txt"),
        ("conda", envs.get("conda", "conda.yaml")),
    ):
        try:
            path = model.file(name)
            if path is not None:
                found.append(_read_env_file(model, kind, path))
        except EnvrunError as exc:  # a broken env file is a finding, never a crash
            value = f" ({exc.value})" if exc.value and name not in exc.value else ""
            msg = f"{name} cannot be read: {exc.what}{value}"
            fix = exc.fix or f"fix {name} or remove it"
            problems.append(Finding(label, "consistency", name, None, None, "high", msg, fix, name))
    return found, problems


def _flavor_versions(model: ModelInfo) -> Iterator[tuple[str, str, str]]:
    """(package, version, MLmodel key) for every library version MLmodel records."""
    if model.mlflow_version:
        yield "mlflow", model.mlflow_version, "mlflow_version"
    for flavor, conf in sorted(model.flavors.items()):
        for key, package in FLAVOR_VERSION_KEYS.items():
            if isinstance(conf, dict) and conf.get(key) is not None:
                yield package, str(conf[key]), f"{flavor}.{key}"


def consistency_findings(model_dir: Path, label: str) -> list[Finding]:
    """Disagreements between python_env.yaml, requirements.txt, conda.yaml and MLmodel."""
    model = read_model(model_dir)
    files, out = _env_files(model, label)
    make = partial(Finding, label, "consistency")
    # MLmodel records the interpreter the model was saved with: the reference for Python.
    ref_py, ref_src = model.pyfunc.python_version, "MLmodel"
    if ref_py is None:
        ref_py, ref_src = next(((f.python, f.name) for f in files if f.python), (None, ""))
    for env in files:
        if ref_py and env.python and env.name != ref_src:
            sev, why = _assess("python", ref_py, env.python)
            msg = (
                f"python: {ref_src} declares {ref_py} but {env.name} declares {env.python} ({why})"
            )
            fix = f"make {env.name} declare python {ref_py}, as {ref_src} does"
            if sev != "info":
                out.append(make("python", ref_py, env.python, sev, msg, fix, env.name))
    # Packages: every other file against the one envrun installs from (first in precedence).
    for env in files[1:]:
        for name in sorted(set(files[0].packages) | set(env.packages)):
            out.extend(_compare_pins(label, name, files[0], env))
    for package, version, key in _flavor_versions(model):
        out.extend(_compare_flavor(label, model, files, (package, version, key)))
    return out


def _compare_pins(label: str, name: str, ref: _EnvFile, env: _EnvFile) -> list[Finding]:
    old = ref.packages[name][0] if name in ref.packages else None
    new = env.packages[name][0] if name in env.packages else None
    if old == new:
        return []
    sev, why = _assess(name, old, new)
    if old is not None and new is not None:
        said = f"{ref.where(name)} {_verb(old)} but {env.where(name)} {_verb(new)}"
    elif old is not None:
        said = f"{ref.where(name)} {_verb(old)} but {env.name} does not list it"
    else:
        said = f"{env.where(name)} {_verb(new or '')} but {ref.name} does not list it"
    fix = (
        f"declare {name} the same way in {ref.name} and {env.name} "
        "(MLflow's virtualenv and conda env managers read different files)"
    )
    src = env.packages[name][1] if name in env.packages else env.name
    return [Finding(label, "consistency", name, old, new, sev, f"{name}: {said} ({why})", fix, src)]


def _compare_flavor(
    label: str, model: ModelInfo, files: Sequence[_EnvFile], recorded: tuple[str, str, str]
) -> list[Finding]:
    package, version, key = recorded
    make = partial(Finding, label, "consistency")
    names = (package, "mlflow-skinny") if package == "mlflow" else (package,)
    hit = next(((f, n) for n in names for f in files if n in f.packages), None)
    saved = f"MLmodel records {key} {version} (the version the model was saved with)"
    if hit is None:
        # A custom loader needs no mlflow at load time; any other recorded library is needed.
        needed = package != "mlflow" or model.pyfunc.loader_module.startswith("mlflow")
        if not files or not needed:
            return []
        msg = f"{package}: {saved} but no environment file lists {package}"
        fix = f"add {package}=={version} to {files[0].name}"
        sev = classify(package, version, None)
        return [make(package, version, None, sev, msg, fix, files[0].name)]
    env, name = hit
    spec, origin = env.packages[name]
    pinned, saved_v = _parse(spec), _parse(version)
    if isinstance(pinned, Version) and isinstance(saved_v, Version) and pinned == saved_v:
        return []
    if (
        isinstance(pinned, Version)
        and isinstance(saved_v, Version)
        and pinned.public == saved_v.public
    ):
        # torch "2.13.0+cpu" in MLmodel vs torch==2.13.0: equal versions, but the build differs.
        label_ = saved_v.local or pinned.local
        sev, why = "info", f"same version; the pin does not select the +{label_} build variant"
    else:
        sev, why = _assess(package, version, spec)
        if sev == "info":
            why += "; a fresh build may install another version than the model was saved with"
    msg = f"{name}: {saved} but {env.where(name)} {_verb(spec)} ({why})"
    fix = f"pin {name}=={saved_v.public if isinstance(saved_v, Version) else version} in {origin}"
    if sev == "info" and "variant" in why:
        fix = (
            f"if the build variant matters, pin {name}=={version} and add the index that serves it"
        )
    return [make(name, version, spec, sev, msg, fix, origin)]
