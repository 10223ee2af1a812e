"""Read a model directory in the MLflow Models format and refuse unsafe paths."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from envrun.errors import ModelError
from envrun.settings import parse_as_of_time

MLMODEL = "MLmodel"
# Where MLflow writes examples when saved_input_example_info does not say (or names a lost file).
_INPUT_EXAMPLES = ("input_example.json",)
_SERVING_EXAMPLES = ("serving_input_example.json",)
PYFUNC = "python_function"


@dataclass(frozen=True)
class PyfuncConf:
    """The generic python_function flavor: how any pyfunc model is loaded."""

    loader_module: str
    code: str | None
    data: str | None
    model_config: dict[str, Any] | None
    predict_fn: str
    python_version: str | None
    env_files: dict[str, str]


@dataclass(frozen=True)
class ModelInfo:
    """What envrun needs to know about a model directory."""

    path: Path
    pyfunc: PyfuncConf
    flavors: dict[str, Any]
    mlflow_version: str | None
    signature_inputs: list[dict[str, Any]] | None
    signature_outputs: list[dict[str, Any]] | None
    signature_params: list[dict[str, Any]] | None
    input_example: Path | None
    serving_input_example: Path | None
    raw: dict[str, Any] = field(repr=False)
    # When MLflow saved the model (MLmodel utc_time_created), in UTC; None when absent or unreadable.
    utc_time_created: datetime | None = None
    warnings: tuple[str, ...] = ()

    def file(self, name: str) -> Path | None:
        """An optional file in the model dir, checked for safety; None when absent."""
        path = safe_path(self.path, name, what=name)
        return path if path.is_file() else None


def safe_path(root: Path, relative: str, *, what: str) -> Path:
    """Join `relative` under `root`, refusing absolute paths, '..' and links that leave root."""
    if not isinstance(relative, str) or not relative.strip():
        raise ModelError(
            f"{what} in MLmodel is not a relative path",
            value=repr(relative),
            fix="write a path relative to the model directory",
        )
    if "\x00" in relative:
        raise ModelError(
            f"{what} holds a NUL character, which no file name can",
            value=repr(relative),
            fix="write a plain path relative to the model directory",
        )
    candidate = Path(relative)
    first = candidate.parts[0] if candidate.parts else ""  # "." has no parts: the root itself
    if candidate.is_absolute() or relative.startswith(("/", "\\")) or ":" in first:
        raise ModelError(
            f"{what} is an absolute path; a model directory must be self-contained",
            value=relative,
            fix="write the path relative to the model directory",
        )
    if ".." in candidate.parts:
        raise ModelError(
            f"{what} climbs out of the model directory with '..'",
            value=relative,
            fix="keep every referenced file inside the model directory",
        )
    joined = root / candidate
    resolved = joined.resolve()
    if not _inside(resolved, root.resolve()):
        raise ModelError(
            f"{what} is a symbolic link that leaves the model directory",
            value=f"{relative} -> {resolved}",
            fix="copy the file into the model directory instead of linking to it",
        )
    return joined


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def check_no_escaping_links(root: Path) -> None:
    """Refuse a model directory that contains a symbolic link pointing outside it."""
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            entry = Path(dirpath) / name
            if entry.is_symlink() and not _inside(entry.resolve(), real_root):
                raise ModelError(
                    "the model directory contains a symbolic link that leaves it",
                    value=f"{entry.relative_to(root)} -> {os.readlink(entry)}",
                    fix="replace the link with a copy of the file it points to",
                )


@dataclass(frozen=True)
class ModelDigest:
    """A content digest of a model directory: what exactly was checked."""

    sha256: str
    files: int
    bytes: int


def model_digest(root: Path) -> ModelDigest:
    """sha256 over every file's relative path and content, in sorted order (links followed)."""
    import hashlib

    total = hashlib.sha256()
    count = size = 0
    paths = sorted(
        (Path(d) / name for d, _, names in os.walk(root, followlinks=False) for name in names),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    for path in paths:
        rel = path.relative_to(root).as_posix()
        if "/__pycache__/" in f"/{rel}" or rel.endswith((".pyc", ".pyo")):
            continue  # bytecode is a by-product of running the model, not part of it
        file_hash = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                file_hash.update(block)
                size += len(block)
        total.update(f"{rel}\0{file_hash.hexdigest()}\n".encode())
        count += 1
    return ModelDigest(total.hexdigest(), count, size)


def load_yaml(path: Path, *, error: type[Exception] = ModelError) -> Any:
    """Parse a YAML file with the safe loader (C version when available)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"cannot read {path.name}", value=str(path), fix=str(exc)) from None  # type: ignore[call-arg]
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - the safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(  # type: ignore[call-arg]
            f"{path.name} is not valid YAML{where}: {problem}",
            value=str(path),
            fix="fix the YAML syntax (indentation, quoting) in that file",
        ) from None


def read_model(model_dir: str | os.PathLike[str]) -> ModelInfo:
    """Read and validate MODEL_DIR/MLmodel; raise ModelError with a fix when it is unusable."""
    root = Path(model_dir).expanduser().absolute()
    if not root.exists():
        raise ModelError(
            "model directory not found",
            value=str(root),
            fix="pass the directory that holds the MLmodel file",
        )
    if not root.is_dir():
        raise ModelError(
            "the model path is not a directory",
            value=str(root),
            fix="pass the model directory (the one holding MLmodel), not a file inside it",
        )
    mlmodel_path = root / MLMODEL
    if not mlmodel_path.is_file():
        raise ModelError(
            "no MLmodel file in the model directory",
            value=str(mlmodel_path),
            fix="point envrun at a directory written by mlflow's save_model/log_model (it holds MLmodel)",
        )
    data = load_yaml(mlmodel_path)
    if not isinstance(data, dict):
        raise ModelError(
            "MLmodel does not hold a mapping of keys",
            value=f"{mlmodel_path}: {type(data).__name__}",
            fix="MLmodel must be a YAML mapping with at least a 'flavors' key",
        )
    check_no_escaping_links(root)
    flavors = data.get("flavors")
    if not isinstance(flavors, dict) or not flavors:
        raise ModelError(
            "MLmodel has no 'flavors' section",
            value=str(mlmodel_path),
            fix="add a 'flavors: python_function: {loader_module: ...}' section",
        )
    pyfunc = _read_pyfunc(root, flavors)
    signature = data.get("signature") or {}
    if not isinstance(signature, dict):
        raise ModelError(
            "MLmodel 'signature' is not a mapping", value=repr(signature), fix="remove or fix it"
        )
    example_info = data.get("saved_input_example_info") or {}
    warnings: list[str] = []
    input_example, serving_example = _examples(
        root, example_info if isinstance(example_info, dict) else {}, warnings
    )
    return ModelInfo(
        path=root,
        pyfunc=pyfunc,
        flavors=flavors,
        mlflow_version=_opt_str(data.get("mlflow_version")),
        signature_inputs=_signature_part(signature, "inputs"),
        signature_outputs=_signature_part(signature, "outputs"),
        signature_params=_signature_part(signature, "params"),
        input_example=input_example,
        serving_input_example=serving_example,
        raw=data,
        utc_time_created=created_time(data.get("utc_time_created")),
        warnings=tuple(warnings),
    )


def created_time(value: Any) -> datetime | None:
    """MLmodel's utc_time_created ("2023-01-02 10:11:12.123456", UTC) as a datetime, else None."""
    if isinstance(value, datetime):  # YAML may already have parsed an unquoted timestamp
        return parse_as_of_time(value.isoformat())
    if not isinstance(value, str) or not value.strip():
        return None
    return parse_as_of_time(value)


def _read_pyfunc(root: Path, flavors: Mapping[str, Any]) -> PyfuncConf:
    conf = flavors.get(PYFUNC)
    if not isinstance(conf, dict):
        raise ModelError(
            "the model has no python_function flavor, so it cannot be loaded generically",
            value=f"flavors: {', '.join(sorted(map(str, flavors)))}",
            fix="save the model with an MLflow flavor that adds python_function, or add one with a loader_module",
        )
    loader = conf.get("loader_module")
    if not isinstance(loader, str) or not loader.strip():
        raise ModelError(
            "python_function flavor has no loader_module",
            value=repr(loader),
            fix="set loader_module to the module that defines _load_pyfunc(data_path)",
        )
    if not all(part.isidentifier() for part in loader.split(".")):
        raise ModelError(
            "python_function loader_module is not a valid module name",
            value=loader,
            fix="use a dotted module name such as mlflow.sklearn or my_loader",
        )
    code = _opt_str(conf.get("code"))
    if code is not None:
        safe_path(root, code, what="python_function 'code'")
    data = _opt_str(conf.get("data"))
    if data is not None:
        data_path = safe_path(root, data, what="python_function 'data'")
        if not data_path.exists():
            raise ModelError(
                "python_function 'data' points to a path that does not exist",
                value=str(data_path),
                fix="restore the file or directory, or correct 'data' in MLmodel",
            )
    for key in ("model_path", "python_model"):
        if isinstance(conf.get(key), str):
            safe_path(root, conf[key], what=f"python_function {key!r}")
    artifacts = conf.get("artifacts")
    if isinstance(artifacts, dict):
        for name, entry in artifacts.items():
            rel = entry.get("path") if isinstance(entry, dict) else entry
            if isinstance(rel, str):
                safe_path(root, rel, what=f"artifact {name!r}")
    model_config = conf.get("model_config")
    predict_fn = conf.get("predict_fn") or "predict"
    return PyfuncConf(
        loader_module=loader.strip(),
        code=code,
        data=data,
        model_config=model_config if isinstance(model_config, dict) and model_config else None,
        predict_fn=str(predict_fn),
        python_version=_opt_str(conf.get("python_version")),
        env_files=_env_files(root, conf.get("env")),
    )


def _env_files(root: Path, env: Any) -> dict[str, str]:
    """MLflow 1.x wrote `env: conda.yaml`; 2.x and later write `env: {conda:, virtualenv:}`."""
    if env is None:
        files: dict[str, str] = {}
    elif isinstance(env, str):
        files = {"conda": env}
    elif isinstance(env, dict):
        files = {str(k): str(v) for k, v in env.items() if isinstance(v, str)}
    else:
        raise ModelError(
            "python_function 'env' is neither a file name nor a mapping",
            value=repr(env),
            fix="write env: {conda: conda.yaml, virtualenv: python_env.yaml}",
        )
    for kind, rel in files.items():
        safe_path(root, rel, what=f"python_function env.{kind}")
    return files


def _signature_part(signature: Mapping[str, Any], key: str) -> list[dict[str, Any]] | None:
    value = signature.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"MLmodel signature.{key} is not valid JSON: {exc.msg}",
                value=value[:200],
                fix="re-save the model with a valid signature, or remove the signature",
            ) from None
    if value is None:
        return None
    if not isinstance(value, list):
        raise ModelError(
            f"MLmodel signature.{key} is not a list of column or tensor specs",
            value=repr(value)[:200],
            fix="re-save the model with mlflow.models.infer_signature",
        )
    return [item for item in value if isinstance(item, dict)]


def _examples(
    root: Path, info: Mapping[str, Any], warnings: list[str]
) -> tuple[Path | None, Path | None]:
    def pick(key: str, defaults: tuple[str, ...]) -> Path | None:
        named = info.get(key)
        if isinstance(named, str) and named.strip():
            path = safe_path(root, named, what="input example")
            if path.is_file():
                return path
        for name in defaults:
            path = root / name
            if path.is_file():
                if isinstance(named, str) and named.strip():
                    warnings.append(
                        f"MLmodel names saved_input_example_info.{key} {named}, which is "
                        f"missing; using {name}"
                    )
                return path
        return None

    return pick("artifact_path", _INPUT_EXAMPLES), pick("serving_input_path", _SERVING_EXAMPLES)


def _opt_str(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None
