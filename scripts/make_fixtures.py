#!/usr/bin/env python3
"""Generate the committed test fixtures under fixtures/.

    python scripts/make_fixtures.py [--only NAME ...] [--mlflow-python PATH] [--torch-python PATH]
    python scripts/make_fixtures.py --verify [--only NAME ...]

The legacy fixtures (fixtures/legacy/, made with real old MLflow) come from
scripts/make_legacy_fixtures.py, which a plain run and `--only NAME` call.

Writes, for every fixture NAME:
  fixtures/models/NAME/      an MLflow Models directory (MLmodel, env files, code, data)
  fixtures/inputs/NAME.json  an MLflow serving JSON input
  fixtures/expected/NAME.json  {"predictions": ...} as real MLflow computes it (when it can)
plus the tiny local wheels in fixtures/wheels/ and an index in fixtures/manifest.json.
Needs uv on PATH; torch comes from --find-links (default /opt/wheels when it exists).

This file runs in two roles. On the host it uses the standard library only: it writes the
hand-made model directories and wheels, creates throwaway virtualenvs with uv, and runs itself
as a child (`--child JOB`) with those venvs' Python, where MLflow, numpy and torch are imported to
write weights, save the MLflow-written models and compute the expected outputs.

Two generation venvs are used on purpose: skops (MLflow's default scikit-learn format) imports
torch whenever it is installed, so saving the scikit-learn model in a venv that has torch makes
MLflow infer a `torch` requirement the model does not need.

Every run deletes and rewrites the selected fixtures. Weights come from fixed seeds and the
hand-written MLmodel files carry fixed timestamps and uuids; only the files MLflow writes itself
(utc_time_created, model_uuid, some serialized blobs) change between runs.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"

MLFLOW_VERSION = "3.17.2"
GEN_PYTHON = "3.11.7"
# Everything whose version MLflow records (inferred requirements, build dependencies) is pinned,
# so a later PyPI release cannot change what the MLflow-written fixtures declare.
CORE_PINS = [
    f"mlflow=={MLFLOW_VERSION}",
    "scikit-learn==1.9.1",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "scipy==1.17.1",
    "skops==0.16.0",
    "cloudpickle==3.1.2",
    "pip==26.3",
    "setuptools==84.2.1",
    "wheel==0.48.0",
]
TORCH_PINS = [
    f"mlflow=={MLFLOW_VERSION}",
    "torch==2.13.0",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "cloudpickle==3.1.2",
    "pip==26.3",
    "setuptools==84.2.1",
    "wheel==0.48.0",
]
DEFAULT_FIND_LINKS = Path("/opt/wheels")

# Fixed values for the MLmodel files written by hand; MLflow itself would use the clock.
FIXED_CREATED = "2025-01-01 00:00:00.000000"
LEGACY_CREATED = "2021-06-01 12:00:00.000000"
UUID_NAMESPACE = uuid.UUID("6f1d2c4e-8a7b-4c3d-9e2f-0a1b2c3d4e5f")

SERVING_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")
WHEEL_PREFIX = "./wheels/"


# --------------------------------------------------------------------------------------------
# Source of the small packages and model modules written into the fixtures
# --------------------------------------------------------------------------------------------

FIXTURE_PKG_INIT = '''\
"""Tiny dependency-free package installed from a local wheel by envrun's fixtures."""

__version__ = "1.0.0"


def double(x):
    """Return twice the value."""
    return x * 2
'''

PROBE_PKG_INIT = '''\
"""Marker package: its version shows which local wheel an environment installed."""

__version__ = "{version}"
'''

NUMPY_LINEAR = '''\
"""Linear map y = x W + b, loaded through the python_function loader_module protocol."""

import os

import numpy as np


class NumpyLinear:
    def __init__(self, weights, bias):
        self.weights = weights
        self.bias = bias

    def predict(self, model_input, params=None):
        x = np.asarray(model_input, dtype=np.float64)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        # Multiply and sum instead of matmul: BLAS builds differ between numpy wheels, and the
        # expected output must not depend on which numpy version computes it.
        return (x[:, :, None] * self.weights[None, :, :]).sum(axis=1) + self.bias


def _load_pyfunc(data_path):
    weights = np.load(os.path.join(data_path, "weights.npy"))
    bias = np.load(os.path.join(data_path, "bias.npy"))
    return NumpyLinear(weights, bias)
'''

NESTED_STATS = '''\
"""Nearest-centroid model with a nested output: a dict of arrays plus a list of dicts."""

import json
import os

import numpy as np


class NestedStats:
    def __init__(self, centroids, names, radius):
        self.centroids = centroids
        self.names = names
        self.radius = radius

    def predict(self, model_input, params=None):
        x = np.asarray(model_input, dtype=np.float64)
        diff = x[:, None, :] - self.centroids[None, :, :]
        distances = np.sqrt((diff * diff).sum(axis=2))
        nearest = distances.argmin(axis=1).astype(np.int64)
        rows = [
            {
                "index": i,
                "cluster": self.names[int(k)],
                "inside": bool(distances[i, k] <= self.radius),
            }
            for i, k in enumerate(nearest)
        ]
        return {"distances": distances, "nearest": nearest, "rows": rows}


def _load_pyfunc(data_path):
    centroids = np.load(os.path.join(data_path, "centroids.npy"))
    with open(os.path.join(data_path, "config.json")) as f:
        config = json.load(f)
    return NestedStats(centroids, config["names"], config["radius"])
'''

TORCH_MLP = '''\
"""A 4-8-3 multilayer perceptron restored from a state_dict; predict returns float32 logits."""

import os

import numpy as np
import torch
from torch import nn


class TinyMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(4, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        return self.out(torch.relu(self.hidden(x)))


class TorchWrapper:
    def __init__(self, module):
        self.module = module

    def predict(self, model_input, params=None):
        x = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        with torch.no_grad():
            return self.module(x).numpy()


def _load_pyfunc(data_path):
    module = TinyMLP()
    state = torch.load(os.path.join(data_path, "state_dict.pt"), weights_only=True)
    module.load_state_dict(state)
    module.eval()
    return TorchWrapper(module)
'''

PROBE_MODEL = '''\
"""Reports what the environment it runs in looks like, to prove isolation from the host."""

import sys

import numpy


def _probe_pkg_version():
    try:
        import envrun_probe_pkg
    except ImportError:
        return None
    return envrun_probe_pkg.__version__


def _yaml_importable():
    try:
        import yaml  # noqa: F401
    except ImportError:
        return False
    return True


class Probe:
    def predict(self, model_input, params=None):
        return {
            "numpy_version": numpy.__version__,
            "yaml_importable": _yaml_importable(),
            "sys_path": list(sys.path),
            "executable": sys.executable,
            "envrun_probe_pkg": _probe_pkg_version(),
        }


def _load_pyfunc(data_path):
    return Probe()
'''

DOUBLE_MODEL = '''\
"""Standard-library-only model: doubles every number, using the local wheel's package."""

from envrun_fixture_pkg import double


class Doubler:
    def predict(self, model_input, params=None):
        return [double(x) for x in model_input]


def _load_pyfunc(data_path):
    return Doubler()
'''

RAISING_MODEL = '''\
"""A model whose predict always fails, for error-path tests."""


class Raiser:
    def predict(self, model_input, params=None):
        raise ValueError("bad input for raises model")


def _load_pyfunc(data_path):
    return Raiser()
'''

NOT_THE_LOADER = '''\
"""Present so the code directory exists; the MLmodel names a loader module that does not."""

VALUE = 1
'''

LEGACY_LINEAR = '''\
"""MLflow 1.x style custom model: predict takes the input only, no params argument."""

import os

import numpy as np


class LegacyLinear:
    def __init__(self, coef, intercept):
        self.coef = coef
        self.intercept = intercept

    def predict(self, model_input):
        x = np.asarray(model_input, dtype=np.float64)
        return (x * self.coef[None, :]).sum(axis=1) + self.intercept


def _load_pyfunc(path):
    coef = np.load(os.path.join(path, "coef.npy"))
    intercept = float(np.load(os.path.join(path, "intercept.npy")))
    return LegacyLinear(coef, intercept)
'''

# Passed to mlflow.pyfunc.save_model through code_paths, so it lands in the model's code/ dir.
CHURN_MODEL = '''\
"""Preprocess (standardize), score (linear softmax), postprocess (string labels)."""

import json

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel


class ChurnClassifier(PythonModel):
    def load_context(self, context):
        with open(context.artifacts["scaler"]) as f:
            scaler = json.load(f)
        self.features = scaler["features"]
        self.means = np.asarray(scaler["means"], dtype=np.float64)
        self.stds = np.asarray(scaler["stds"], dtype=np.float64)
        self.weights = np.load(context.artifacts["weights"])
        with open(context.artifacts["labels"]) as f:
            self.labels = [line.strip() for line in f if line.strip()]

    def predict(self, context, model_input, params=None):
        temperature = float((params or {}).get("temperature", 1.0))
        x = model_input[self.features].to_numpy(dtype=np.float64)
        z = (x - self.means) / self.stds
        logits = (z[:, :, None] * self.weights[None, :, :]).sum(axis=1) / temperature
        logits = logits - logits.max(axis=1, keepdims=True)
        expd = np.exp(logits)
        proba = expd / expd.sum(axis=1, keepdims=True)
        best = proba.argmax(axis=1)
        return pd.DataFrame(
            {
                "customer_id": model_input["customer_id"].astype(str).to_list(),
                "label": [self.labels[int(k)] for k in best],
                "probability": proba[np.arange(len(best)), best],
            }
        )
'''


# --------------------------------------------------------------------------------------------
# Small writers
# --------------------------------------------------------------------------------------------


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def write_json(path: Path, obj: Any, *, indent: int | None = 2) -> None:
    write_text(path, json.dumps(obj, indent=indent) + "\n")


def seeded(seed: int, *shape: int) -> list[Any]:
    """Nested list of uniform(-1, 1) values rounded to 4 places, reproducible from the seed."""
    rng = random.Random(seed)

    def fill(dims: tuple[int, ...]) -> list[Any]:
        if len(dims) == 1:
            return [round(rng.uniform(-1.0, 1.0), 4) for _ in range(dims[0])]
        return [fill(dims[1:]) for _ in range(dims[0])]

    return fill(shape)


def fixture_uuid(name: str) -> str:
    return uuid.uuid5(UUID_NAMESPACE, name).hex


def build_wheel(dest: Path, dist: str, version: str, modules: dict[str, str], summary: str) -> Path:
    """Write a pure-Python py3-none-any wheel whose bytes depend only on its contents."""
    stem = dist.replace("-", "_")
    dist_info = f"{stem}-{version}.dist-info"
    entries = dict(modules)
    entries[f"{dist_info}/METADATA"] = (
        "Metadata-Version: 2.1\n"
        f"Name: {dist}\n"
        f"Version: {version}\n"
        f"Summary: {summary}\n"
        "Requires-Python: >=3.8\n"
    )
    entries[f"{dist_info}/WHEEL"] = (
        "Wheel-Version: 1.0\n"
        "Generator: envrun-make-fixtures\n"
        "Root-Is-Purelib: true\n"
        "Tag: py3-none-any\n"
    )
    record = []
    for name, text in entries.items():
        data = text.encode("utf-8")
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{name},sha256={digest},{len(data)}")
    record.append(f"{dist_info}/RECORD,,")
    entries[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"

    dest.mkdir(parents=True, exist_ok=True)
    path = dest / f"{stem}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in entries.items():
            # Fixed timestamp and mode, stored not deflated: identical bytes on every machine.
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_STORED
            zf.writestr(info, text.encode("utf-8"))
    return path


def build_wheels() -> dict[str, Path]:
    dest = FIXTURES / "wheels"  # files are overwritten in place; others there are left alone
    wheels = {
        "fixture-1.0.0": build_wheel(
            dest,
            "envrun-fixture-pkg",
            "1.0.0",
            {"envrun_fixture_pkg/__init__.py": FIXTURE_PKG_INIT},
            "Tiny dependency-free package for envrun test fixtures",
        )
    }
    for version in ("1.0.0", "2.0.0"):
        wheels[f"probe-{version}"] = build_wheel(
            dest,
            "envrun-probe-pkg",
            version,
            {"envrun_probe_pkg/__init__.py": PROBE_PKG_INIT.format(version=version)},
            "Marker package for envrun isolation tests",
        )
    return wheels


# --------------------------------------------------------------------------------------------
# Env files and MLmodel for the hand-made (custom flavor) models
# --------------------------------------------------------------------------------------------


def python_env_yaml(python: str) -> str:
    return f"python: {python}\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"


def conda_yaml(python: str, pip_lines: list[str], conda_only: tuple[str, ...] = ()) -> str:
    lines = ["channels:", "- conda-forge", "dependencies:", f"- python={python}"]
    lines += [f"- {pkg}" for pkg in conda_only]
    lines += ["- pip", "- pip:"]
    # Comments stay in requirements.txt only: in YAML "- # ..." would be a null list item.
    lines += [f"  - {line}" for line in pip_lines if not line.startswith("#")]
    lines.append("name: mlflow-env")
    return "\n".join(lines) + "\n"


def custom_mlmodel(
    name: str,
    loader: str,
    python: str,
    *,
    code: bool = True,
    data: bool = True,
    example: bool = False,
) -> str:
    """MLmodel in the shape MLflow 3.x writes for mlflow.pyfunc.add_to_model (keys sorted)."""
    lines = ["flavors:", "  python_function:"]
    if code:
        lines.append("    code: code")
    if data:
        lines.append("    data: data")
    lines += [
        "    env:",
        "      conda: conda.yaml",
        "      virtualenv: python_env.yaml",
        f"    loader_module: {loader}",
        f"    python_version: {python}",
        f"mlflow_version: {MLFLOW_VERSION}",
        "model_id: null",
        f"model_uuid: {fixture_uuid(name)}",
        "prompts: null",
    ]
    if example:
        lines += [
            "saved_input_example_info:",
            "  artifact_path: input_example.json",
            "  serving_input_path: serving_input_example.json",
            "  type: ndarray",
        ]
    lines.append(f"utc_time_created: '{FIXED_CREATED}'")
    return "\n".join(lines) + "\n"


@dataclass
class Fixture:
    name: str
    group: str  # which generation venv the child tasks run in: "core" or "torch"
    description: str
    payload: dict[str, Any]
    output: str  # what predict returns, for the manifest
    expected: bool = True  # whether real MLflow computes fixtures/expected/NAME.json
    expected_error: tuple[str, str] | None = None  # (exception type, message) when it must fail
    skip_reason: str = ""
    written_by: str = "hand"  # "hand" or the MLflow save function used
    python: str = GEN_PYTHON
    tasks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model_dir(self) -> Path:
        return FIXTURES / "models" / self.name

    @property
    def input_format(self) -> str:
        return next(k for k in SERVING_FORMATS if k in self.payload)


def write_custom(
    fx: Fixture,
    *,
    loader: str,
    modules: dict[str, str],
    requirements: list[str],
    data: bool = True,
    example: Any = None,
    extra_files: dict[str, str] | None = None,
    wheels: tuple[Path, ...] = (),
) -> None:
    """Write a hand-made python_function model whose three env files agree.

    `modules` maps module names to sources for code/; `wheels` are copied into wheels/.
    """
    model = fx.model_dir
    model.mkdir(parents=True)
    for module, source in modules.items():
        write_text(model / "code" / f"{module}.py", source)
    write_text(
        model / "MLmodel",
        custom_mlmodel(
            fx.name,
            loader,
            fx.python,
            code=bool(modules),
            data=data,
            example=example is not None,
        ),
    )
    write_text(model / "python_env.yaml", python_env_yaml(fx.python))
    write_text(model / "requirements.txt", "\n".join(requirements) + "\n")
    write_text(model / "conda.yaml", conda_yaml(fx.python, requirements))
    if example is not None:
        write_text(model / "input_example.json", json.dumps(example))
        write_text(model / "serving_input_example.json", json.dumps({"inputs": example}, indent=2))
    for rel, text in (extra_files or {}).items():
        write_text(model / rel, text)
    for wheel in wheels:
        (model / "wheels").mkdir(exist_ok=True)
        shutil.copyfile(wheel, model / "wheels" / wheel.name)


def wheel_line(wheel: Path) -> str:
    """Requirement line for a wheel copied into the model: a path relative to the model dir."""
    return f"{WHEEL_PREFIX}{wheel.name}"


def npy_task(path: Path, values: Any, dtype: str = "float64") -> dict[str, Any]:
    return {"op": "npy", "path": str(path), "values": values, "dtype": dtype}


# --------------------------------------------------------------------------------------------
# The fixtures
# --------------------------------------------------------------------------------------------


def make_numpy_custom(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    example = fx.payload["inputs"][:2]
    write_custom(
        fx,
        loader="numpy_linear",
        modules={"numpy_linear": NUMPY_LINEAR},
        requirements=["numpy==2.2.6"],
        example=example,
    )
    data = fx.model_dir / "data"
    fx.tasks += [
        npy_task(data / "weights.npy", seeded(101, 3, 2)),
        npy_task(data / "bias.npy", seeded(102, 2)),
    ]


def make_py310(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    write_custom(
        fx,
        loader="nested_stats",
        modules={"nested_stats": NESTED_STATS},
        requirements=["numpy==2.2.6"],
        example=fx.payload["inputs"][:1],
        extra_files={
            "data/config.json": json.dumps(
                {"names": ["origin", "north_east", "north_west"], "radius": 1.5}, indent=2
            )
            + "\n"
        },
    )
    fx.tasks.append(
        npy_task(fx.model_dir / "data" / "centroids.npy", [[0.0, 0.0], [3.0, 3.0], [-2.0, 4.0]])
    )


def make_torch_custom(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    write_custom(
        fx,
        loader="torch_mlp",
        modules={"torch_mlp": TORCH_MLP},
        requirements=["torch==2.13.0", "numpy==2.4.6"],
        example=fx.payload["inputs"][:1],
    )
    fx.tasks.append(
        {
            "op": "torch_state_dict",
            "code_dir": str(fx.model_dir / "code"),
            "module": "torch_mlp",
            "cls": "TinyMLP",
            "seed": 0,
            "path": str(fx.model_dir / "data" / "state_dict.pt"),
        }
    )


def make_mlflow_sklearn(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    fx.tasks.append({"op": "save_sklearn", "path": str(fx.model_dir), "seed": 7})


def make_mlflow_pyfunc(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    stage = staging / fx.name
    write_text(stage / "churn_model.py", CHURN_MODEL)
    write_json(
        stage / "scaler.json",
        {
            "features": ["tenure", "spend", "calls", "discount"],
            "means": [24.0, 55.0, 2.0, 0.1],
            "stds": [12.0, 20.0, 1.5, 0.08],
        },
    )
    write_text(stage / "labels.txt", "stay\nat_risk\nchurn\n")
    fx.tasks += [
        npy_task(stage / "weights.npy", seeded(217, 4, 3)),
        {
            "op": "save_pyfunc",
            "path": str(fx.model_dir),
            "stage": str(stage),
            "example": fx.payload["dataframe_records"][:2],
        },
    ]


def make_mlflow_pytorch(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    fx.tasks.append(
        {
            "op": "save_pytorch",
            "path": str(fx.model_dir),
            "seed": 1,
            "example": fx.payload["inputs"][:2],
        }
    )


def make_probe(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    wheel = wheels["probe-2.0.0"]
    write_custom(
        fx,
        loader="probe_model",
        modules={"probe_model": PROBE_MODEL},
        requirements=["numpy==2.2.6", wheel_line(wheel)],
        data=False,
        wheels=(wheel,),
    )


def local_wheel_model(
    fx: Fixture, wheels: dict[str, Path], *, loader: str, modules: dict[str, str]
) -> None:
    wheel = wheels["fixture-1.0.0"]
    requirements = [
        "# envrun fixture: the cheapest environment to build (one local wheel, no index)",
        "-r base.txt",
        "-c constraints.txt",
        wheel_line(wheel),
    ]
    write_custom(
        fx,
        loader=loader,
        modules=modules,
        requirements=requirements,
        wheels=(wheel,),
        data=False,
        example=fx.payload["inputs"][:2] if fx.name == "localwheel" else None,
        extra_files={
            "base.txt": "# Shared base requirements: none yet. Tests edit this included file.\n",
            "constraints.txt": "envrun-fixture-pkg==1.0.0\n",
        },
    )


def make_localwheel(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    local_wheel_model(fx, wheels, loader="double_model", modules={"double_model": DOUBLE_MODEL})


def make_raises(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    local_wheel_model(fx, wheels, loader="raising_model", modules={"raising_model": RAISING_MODEL})


def make_unknown_loader(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    local_wheel_model(
        fx, wheels, loader="no_such_module_xyz", modules={"not_the_loader": NOT_THE_LOADER}
    )


LEGACY_PIP = ["numpy==2.2.6"]


def make_mlflow1_legacy(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    model = fx.model_dir
    model.mkdir(parents=True)
    write_text(model / "code" / "legacy_linear.py", LEGACY_LINEAR)
    # MLflow 1.x: env is a plain string naming conda.yaml; no python_env.yaml, no
    # requirements.txt, no mlflow_version or model_uuid; run_id and artifact_path present.
    write_text(
        model / "MLmodel",
        "artifact_path: model\n"
        "flavors:\n"
        "  python_function:\n"
        "    code: code\n"
        "    data: data\n"
        "    env: conda.yaml\n"
        "    loader_module: legacy_linear\n"
        f"    python_version: {fx.python}\n"
        f"run_id: {fixture_uuid(fx.name + ':run')}\n"
        f"utc_time_created: '{LEGACY_CREATED}'\n",
    )
    write_text(model / "conda.yaml", conda_yaml(fx.python, LEGACY_PIP, conda_only=("libgomp",)))
    fx.tasks += [
        npy_task(model / "data" / "coef.npy", seeded(303, 3)),
        npy_task(model / "data" / "intercept.npy", 0.25),
    ]


def all_fixtures() -> list[Fixture]:
    return [
        Fixture(
            "numpy_custom",
            "core",
            "custom loader_module, numpy linear map, python_env.yaml with numpy==2.2.6",
            {
                "inputs": [
                    [0.5, -1.25, 2.0],
                    [1.0, 0.0, -0.5],
                    [-2.0, 3.5, 0.25],
                    [0.0, 0.0, 0.0],
                ]
            },
            "float64 ndarray, shape (4, 2)",
        ),
        Fixture(
            "py310",
            "core",
            "custom loader_module pinned to Python 3.10.13; nested dict output",
            {"inputs": [[0.1, -0.2], [2.5, 3.4], [-1.0, 4.5], [10.0, 10.0]]},
            "dict: distances float64 (4, 3), nearest int64 (4,), rows list of dicts",
            python="3.10.13",
        ),
        Fixture(
            "torch_custom",
            "torch",
            "custom loader_module restoring a torch state_dict (4-8-3 MLP)",
            {"inputs": [[0.1, 0.2, 0.3, 0.4], [-1.0, 0.5, 2.0, -0.5], [0.0, 0.0, 0.0, 0.0]]},
            "float32 ndarray of logits, shape (3, 3)",
        ),
        Fixture(
            "mlflow_sklearn",
            "core",
            "mlflow.sklearn.save_model: LogisticRegression, string classes, signature",
            {
                "dataframe_split": {
                    "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
                    "data": [
                        [5.1, 3.5, 1.4, 0.2],
                        [6.2, 2.9, 4.3, 1.3],
                        [7.7, 3.0, 6.1, 2.3],
                        [5.8, 2.7, 5.1, 1.9],
                        [4.9, 3.1, 1.5, 0.1],
                    ],
                }
            },
            "object ndarray of str class labels, shape (5,)",
            written_by="mlflow.sklearn.save_model",
        ),
        Fixture(
            "mlflow_pyfunc",
            "core",
            "mlflow.pyfunc.save_model: PythonModel in code_paths, artifacts, params schema",
            {
                "dataframe_records": [
                    {
                        "customer_id": "c-001",
                        "tenure": 3,
                        "spend": 89.5,
                        "calls": 5,
                        "discount": 0.0,
                    },
                    {
                        "customer_id": "c-002",
                        "tenure": 48,
                        "spend": 42.25,
                        "calls": 0,
                        "discount": 0.15,
                    },
                    {
                        "customer_id": "c-003",
                        "tenure": 20,
                        "spend": 61.0,
                        "calls": 2,
                        "discount": 0.05,
                    },
                    {
                        "customer_id": "c-004",
                        "tenure": 12,
                        "spend": 70.75,
                        "calls": 3,
                        "discount": 0.1,
                    },
                ],
                "params": {"temperature": 0.5},
            },
            "pandas DataFrame: customer_id str, label str, probability float64",
            written_by="mlflow.pyfunc.save_model",
        ),
        Fixture(
            "mlflow_pytorch",
            "torch",
            "mlflow.pytorch.save_model: nn.Sequential, float32 tensor signature",
            {"inputs": [[0.5, -0.5, 1.0, 2.0], [0.0, 0.1, 0.2, 0.3], [-1.5, 1.5, -2.5, 2.5]]},
            "float32 ndarray, shape (3, 2)",
            written_by="mlflow.pytorch.save_model",
        ),
        Fixture(
            "probe",
            "core",
            "reports numpy version, yaml importability, sys.path, executable, probe wheel version",
            {"inputs": [1.0]},
            "dict of str / bool / list[str] / None",
            expected=False,
            skip_reason="output describes the environment it runs in (paths, versions)",
        ),
        Fixture(
            "localwheel",
            "core",
            "stdlib-only model; requirements: one local wheel, -r base.txt, -c constraints.txt",
            {"inputs": [1.5, 2.0, -3.25, 0.0, 10.0]},
            "list of float",
        ),
        Fixture(
            "raises",
            "core",
            "predict raises ValueError",
            {"inputs": [1.0, 2.0]},
            "raises ValueError('bad input for raises model')",
            expected=False,
            expected_error=("ValueError", "bad input for raises model"),
            skip_reason="predict raises",
        ),
        Fixture(
            "unknown_loader",
            "core",
            "loader_module no_such_module_xyz does not exist",
            {"inputs": [1.0, 2.0]},
            "load fails with ModuleNotFoundError",
            expected=False,
            expected_error=("ModuleNotFoundError", "no_such_module_xyz"),
            skip_reason="the model cannot be loaded",
        ),
        Fixture(
            "mlflow1_legacy",
            "core",
            "MLflow 1.x layout: env: conda.yaml string, no python_env.yaml, conda-only package",
            {"instances": [[1.0, 2.0, 3.0], [0.5, -0.5, 0.0], [-1.0, 4.0, 2.5]]},
            "float64 ndarray, shape (3,)",
        ),
    ]


BUILDERS = {
    "numpy_custom": make_numpy_custom,
    "py310": make_py310,
    "torch_custom": make_torch_custom,
    "mlflow_sklearn": make_mlflow_sklearn,
    "mlflow_pyfunc": make_mlflow_pyfunc,
    "mlflow_pytorch": make_mlflow_pytorch,
    "probe": make_probe,
    "localwheel": make_localwheel,
    "raises": make_raises,
    "unknown_loader": make_unknown_loader,
    "mlflow1_legacy": make_mlflow1_legacy,
}


# --------------------------------------------------------------------------------------------
# Host side: venvs, child runs, manifest
# --------------------------------------------------------------------------------------------


def run(argv: list[str], **kwargs: Any) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, **kwargs)


def child_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        {
            # Keep MLflow away from the repository, the network and the user's tracking store.
            "MLFLOW_TRACKING_URI": (tmp / "mlruns").as_uri(),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            # Off, so a uv project in a parent of cwd never replaces requirement inference.
            "MLFLOW_UV_AUTO_DETECT": "false",
            "MLFLOW_DEFAULT_PREDICTION_DEVICE": "cpu",
            "PYTHONHASHSEED": "0",
            # Importing a model's code/ must not leave __pycache__ in the committed fixtures.
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def find_links_args(find_links: list[Path]) -> list[str]:
    args: list[str] = []
    for link in find_links:
        args += ["--find-links", str(link)]
    return args


def make_venv(where: Path, pins: list[str], find_links: list[Path], python: str) -> Path:
    run(["uv", "venv", "--quiet", "--python", python, str(where)])
    py = where / "bin" / "python"
    run(
        [
            "uv",
            "pip",
            "install",
            "--quiet",
            "--python",
            str(py),
            *find_links_args(find_links),
            *pins,
        ]
    )
    return py


def run_child(python: Path, tasks: list[dict[str, Any]], tmp: Path, label: str) -> None:
    job = tmp / f"job-{label}.json"
    write_json(job, {"tasks": tasks})
    run(
        [str(python), str(Path(__file__).resolve()), "--child", str(job)],
        cwd=tmp,
        env=child_env(tmp),
    )


def has_module(python: Path, module: str) -> bool:
    probe = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([str(python), "-c", probe], check=False).returncode == 0


def read_mlmodel_pyfunc(model: Path) -> dict[str, str]:
    """The few python_function keys the manifest needs, read without a YAML parser."""
    conf: dict[str, str] = {}
    inside = False
    for line in (model / "MLmodel").read_text(encoding="utf-8").splitlines():
        if line == "  python_function:":
            inside = True
            continue
        if inside:
            if not line.startswith("    "):
                break
            key, _, value = line.strip().partition(":")
            if line.startswith("    ") and not line.startswith("     ") and value.strip():
                conf[key] = value.strip()
    return conf


def write_manifest(fixtures: list[Fixture], wheels: dict[str, Path]) -> None:
    entries = {}
    for fx in fixtures:
        model = fx.model_dir
        if not model.exists():
            continue
        conf = read_mlmodel_pyfunc(model)
        req_file = model / "requirements.txt"
        if req_file.exists():
            lines = req_file.read_text(encoding="utf-8").splitlines()
            reqs = [line for line in lines if line.strip() and not line.startswith("#")]
        else:  # MLflow 1.x layout: the pip section of conda.yaml is all there is
            reqs = list(LEGACY_PIP)
        entries[fx.name] = {
            "description": fx.description,
            "written_by": fx.written_by,
            "loader_module": conf.get("loader_module"),
            "python": fx.python,
            "env_files": sorted(
                p.name
                for p in model.iterdir()
                if p.name in ("python_env.yaml", "requirements.txt", "conda.yaml")
            ),
            "requirements": reqs,
            "input": f"inputs/{fx.name}.json",
            "input_format": fx.input_format,
            "params": fx.payload.get("params"),
            "output": fx.output,
            "expected": f"expected/{fx.name}.json" if fx.expected else None,
            "expected_error": (
                {"type": fx.expected_error[0], "message": fx.expected_error[1]}
                if fx.expected_error
                else None
            ),
            "no_expected_reason": None if fx.expected else fx.skip_reason,
        }
    write_json(
        FIXTURES / "manifest.json",
        {
            "generator": "scripts/make_fixtures.py",
            "mlflow_version": MLFLOW_VERSION,
            "wheels": sorted(f"wheels/{p.name}" for p in wheels.values()),
            "fixtures": entries,
        },
    )


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def prepare(fx: Fixture, wheels: dict[str, Path], staging: Path) -> None:
    """Delete the fixture's old files, write its host-side files and queue its child tasks."""
    inp = FIXTURES / "inputs" / f"{fx.name}.json"
    out = FIXTURES / "expected" / f"{fx.name}.json"
    out.unlink(missing_ok=True)
    if fx.model_dir.exists():
        shutil.rmtree(fx.model_dir)
    fx.model_dir.parent.mkdir(parents=True, exist_ok=True)
    BUILDERS[fx.name](fx, wheels, staging)
    write_json(inp, fx.payload)
    check = {"model": str(fx.model_dir), "input": str(inp)}
    if fx.expected:
        # Local wheels are zip files: pure-Python ones import straight from sys.path.
        sys_path = [str(p) for p in sorted(fx.model_dir.glob("wheels/*.whl"))]
        fx.tasks.append({"op": "predict", **check, "output": str(out), "sys_path": sys_path})
    elif fx.expected_error:
        fx.tasks.append({"op": "expect_error", **check, "error": list(fx.expected_error)})


def generation_python(args: argparse.Namespace, group: str, tmp: Path) -> Path:
    given = (args.torch_python if group == "torch" else None) or args.mlflow_python
    if given:
        python = Path(given)
    else:
        pins = TORCH_PINS if group == "torch" else CORE_PINS
        python = make_venv(tmp / f"venv-{group}", pins, args.find_links, args.python)
    if group == "core" and has_module(python, "torch"):
        print(
            f"warning: {python} can import torch; the scikit-learn model will then declare a "
            "torch requirement (skops imports torch when present).",
            file=sys.stderr,
        )
    return python


def generate(args: argparse.Namespace, fixtures: list[Fixture]) -> None:
    started = time.monotonic()
    wheels = build_wheels()
    # MLflow records each artifact's absolute source path (`uri`) in MLmodel: a fixed staging
    # path keeps that line identical between runs while staying as realistic as MLflow's own.
    staging = Path(tempfile.gettempdir()) / "envrun-fixture-staging"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        with tempfile.TemporaryDirectory(prefix="envrun-fixtures-") as tmp_name:
            tmp = Path(tmp_name)
            for fx in fixtures:
                prepare(fx, wheels, staging)
            for group in ("core", "torch"):
                tasks = [t for fx in fixtures if fx.group == group for t in fx.tasks]
                if tasks:
                    run_child(generation_python(args, group, tmp), tasks, tmp, group)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for fx in fixtures:
        for cache in fx.model_dir.rglob("__pycache__"):
            shutil.rmtree(cache)

    write_manifest(all_fixtures(), wheels)
    elapsed = time.monotonic() - started
    print(
        f"\nwrote {len(fixtures)} fixture(s) in {elapsed:.1f}s; files under fixtures/ total "
        f"{dir_size(FIXTURES)} bytes"
    )
    for fx in fixtures:
        status = "expected" if fx.expected else f"no expected ({fx.skip_reason})"
        print(f"  {fx.name:16s} {dir_size(fx.model_dir):8d} bytes  {status}")


# --------------------------------------------------------------------------------------------
# Verification: rebuild each model's own env and load it the generic way
# --------------------------------------------------------------------------------------------

GENERIC_RUNNER = """\
import importlib, json, os, sys, traceback
spec = json.load(open(sys.argv[1]))
model, conf = spec["model"], spec["conf"]
if conf.get("code"):
    sys.path.insert(0, os.path.join(model, conf["code"]))
with open(spec["input"]) as f:
    payload = json.load(f)
fmt = [k for k in ("dataframe_split", "dataframe_records", "instances", "inputs") if k in payload]
value = payload[fmt[0]]


def plain(obj):
    if hasattr(obj, "to_dict") and hasattr(obj, "columns"):
        return obj.to_dict(orient="records")
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [plain(v) for v in obj]
    return obj


try:
    loader = importlib.import_module(conf["loader_module"])
    data = os.path.join(model, conf["data"]) if conf.get("data") else model
    impl = loader._load_pyfunc(data)
    kwargs = {"params": payload["params"]} if "params" in payload else {}
    result = {"predictions": plain(impl.predict(value, **kwargs))}
except Exception as exc:
    result = {"error": type(exc).__name__, "message": str(exc),
              "traceback": traceback.format_exc()}
with open(spec["output"], "w") as f:
    json.dump(result, f)
"""


def find_python(version: str) -> str:
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidate = root / "versions" / version / "bin" / "python"
    if candidate.exists():
        return str(candidate)
    found = subprocess.run(
        ["uv", "python", "find", version], capture_output=True, text=True, check=False
    )
    if found.returncode == 0 and found.stdout.strip():
        return found.stdout.strip()
    raise SystemExit(f"no Python {version} found (pyenv or uv); install one to verify")


def max_abs_diff(a: Any, b: Any) -> float | None:
    """Largest numeric difference between two JSON trees; None when their shapes differ."""
    if isinstance(a, bool) or isinstance(b, bool):
        return 0.0 if a == b else None
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b)
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        diffs = [max_abs_diff(x, y) for x, y in zip(a, b, strict=True)]
        return None if None in diffs else max(diffs, default=0.0)
    if isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys():
        diffs = [max_abs_diff(a[k], b[k]) for k in a]
        return None if None in diffs else max(diffs, default=0.0)
    return 0.0 if a == b else None


def verify(args: argparse.Namespace, fixtures: list[Fixture]) -> int:
    failures = 0
    with tempfile.TemporaryDirectory(prefix="envrun-fixtures-verify-") as tmp_name:
        tmp = Path(tmp_name)
        runner = tmp / "generic_runner.py"
        write_text(runner, GENERIC_RUNNER)
        for fx in fixtures:
            model = fx.model_dir
            venv = tmp / f"venv-{fx.name}"
            run(["uv", "venv", "--quiet", "--python", find_python(fx.python), str(venv)])
            py = venv / "bin" / "python"
            if fx.name == "mlflow1_legacy":
                reqs = tmp / f"{fx.name}-requirements.txt"
                write_text(reqs, "\n".join(LEGACY_PIP) + "\n")
            else:
                reqs = model / "requirements.txt"
            run(
                [
                    "uv",
                    "pip",
                    "install",
                    "--quiet",
                    "--python",
                    str(py),
                    *find_links_args(args.find_links),
                    "-r",
                    str(reqs),
                ],
                cwd=model,
            )
            inp = FIXTURES / "inputs" / f"{fx.name}.json"
            out = tmp / f"{fx.name}-out.json"
            if fx.written_by == "hand":
                spec = tmp / f"{fx.name}-spec.json"
                write_json(
                    spec,
                    {
                        "model": str(model),
                        "conf": read_mlmodel_pyfunc(model),
                        "input": str(inp),
                        "output": str(out),
                    },
                )
                run([str(py), "-I", "-B", str(runner), str(spec)], cwd=tmp, env=child_env(tmp))
            else:
                # MLflow-written: the model's own env has mlflow, so run MLflow's serving path.
                run_child(
                    py,
                    [
                        {
                            "op": "predict",
                            "model": str(model),
                            "input": str(inp),
                            "output": str(out),
                            "sys_path": [],
                        }
                    ],
                    tmp,
                    fx.name,
                )
            result = json.loads(out.read_text(encoding="utf-8"))
            ok, detail = check_result(fx, result)
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {fx.name}: {detail}", flush=True)
    return 1 if failures else 0


def check_result(fx: Fixture, result: dict[str, Any]) -> tuple[bool, str]:
    if fx.expected_error:
        kind, message = fx.expected_error
        got = (result.get("error"), result.get("message", ""))
        return got[0] == kind and message in got[1], f"raised {got[0]}: {got[1]}"
    if "error" in result:
        return False, f"{result['error']}: {result['message']}\n{result.get('traceback', '')}"
    if fx.name == "probe":
        got = result["predictions"]
        ok = (
            got["numpy_version"] == "2.2.6"
            and got["yaml_importable"] is False
            and got["envrun_probe_pkg"] == "2.0.0"
        )
        return ok, json.dumps({k: v for k, v in got.items() if k != "sys_path"})
    expected = json.loads((FIXTURES / "expected" / f"{fx.name}.json").read_text(encoding="utf-8"))
    if result == expected:
        return True, "identical to expected"
    diff = max_abs_diff(result, expected)
    if diff is not None and diff <= 1e-6:
        return True, f"matches expected within {diff:.3g}"
    return False, f"differs from expected (max abs diff {diff}): {json.dumps(result)[:300]}"


# --------------------------------------------------------------------------------------------
# Child side: runs inside a generation venv (or a model's own env) where MLflow is installed
# --------------------------------------------------------------------------------------------


def child_npy(task: dict[str, Any]) -> None:
    import numpy as np

    path = Path(task["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(task["values"], dtype=task["dtype"]), allow_pickle=False)


def child_torch_state_dict(task: dict[str, Any]) -> None:
    import importlib

    import torch

    sys.path.insert(0, task["code_dir"])
    try:
        cls = getattr(importlib.import_module(task["module"]), task["cls"])
    finally:
        sys.path.remove(task["code_dir"])
    torch.manual_seed(task["seed"])
    path = Path(task["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(cls().state_dict(), path)


def child_save_sklearn(task: dict[str, Any]) -> None:
    import mlflow.sklearn
    import numpy as np
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(task["seed"])
    columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    classes = np.array(["setosa", "versicolor", "virginica"])
    per_class = 20
    x = np.round(np.repeat(centers, per_class, axis=0) + rng.normal(0, 0.3, (60, 4)), 1)
    y = np.repeat(classes, per_class)
    order = rng.permutation(len(y))
    frame = pd.DataFrame(x[order], columns=columns)
    model = LogisticRegression(max_iter=500, random_state=0).fit(frame, y[order])
    mlflow.sklearn.save_model(
        model,
        task["path"],
        signature=infer_signature(frame, model.predict(frame)),
        input_example=frame.head(3),
    )


def child_save_pyfunc(task: dict[str, Any]) -> None:
    import importlib

    import mlflow.pyfunc
    import pandas as pd
    from mlflow.models import infer_signature

    stage = Path(task["stage"])
    sys.path.insert(0, str(stage))
    try:
        churn_model = importlib.import_module("churn_model")
    finally:
        sys.path.remove(str(stage))
    artifacts = {
        "scaler": str(stage / "scaler.json"),
        "weights": str(stage / "weights.npy"),
        "labels": str(stage / "labels.txt"),
    }
    example = pd.DataFrame.from_records(task["example"])
    # Score the example once through the class itself to get the output schema.
    context = mlflow.pyfunc.PythonModelContext(artifacts=artifacts, model_config={})
    python_model = churn_model.ChurnClassifier()
    python_model.load_context(context)
    params = {"temperature": 1.0}
    output = python_model.predict(context, example, params=params)
    mlflow.pyfunc.save_model(
        task["path"],
        python_model=churn_model.ChurnClassifier(),
        artifacts=artifacts,
        code_paths=[str(stage / "churn_model.py")],
        signature=infer_signature(example, output, params=params),
        input_example=example,
    )


def child_save_pytorch(task: dict[str, Any]) -> None:
    import mlflow.pytorch
    import numpy as np
    import torch
    from mlflow.models import infer_signature

    torch.manual_seed(task["seed"])
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    model.eval()
    example = np.asarray(task["example"], dtype=np.float32)
    with torch.no_grad():
        output = model(torch.from_numpy(example)).numpy()
    mlflow.pytorch.save_model(
        model, task["path"], signature=infer_signature(example, output), input_example=example
    )
    requirements = (Path(task["path"]) / "requirements.txt").read_text().split()
    torch_lines = [r for r in requirements if r.startswith("torch")]
    if torch_lines != ["torch==2.13.0"]:
        # MLflow strips local labels (+cpu) itself; anything else means the pin needs fixing.
        raise SystemExit(f"unexpected torch requirement written by MLflow: {torch_lines}")


def parse_and_predict(model_dir: str, input_path: str) -> Any:
    """MLflow's serving path: load, split data and params, parse with the schema, predict."""
    import inspect

    import mlflow.pyfunc
    from mlflow.pyfunc.scoring_server import infer_and_parse_data

    model = mlflow.pyfunc.load_model(model_dir)
    with Path(input_path).open(encoding="utf-8") as f:
        payload = json.load(f)
    data = {k: v for k, v in payload.items() if k in SERVING_FORMATS}
    params = payload.get("params")
    parsed = infer_and_parse_data(data, model.metadata.get_input_schema())
    if "params" in inspect.signature(model.predict).parameters:
        return model.predict(parsed, params=params)
    return model.predict(parsed)


def child_predict(task: dict[str, Any]) -> None:
    from mlflow.pyfunc.scoring_server import predictions_to_json

    sys.path[:0] = task["sys_path"]
    predictions = parse_and_predict(task["model"], task["input"])
    out = Path(task["output"])
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as f:
        predictions_to_json(predictions, f)


def child_expect_error(task: dict[str, Any]) -> None:
    kind, message = task["error"]
    try:
        parse_and_predict(task["model"], task["input"])
    except Exception as exc:
        if type(exc).__name__ == kind and message in str(exc):
            print(f"as expected, MLflow raised {kind}: {exc}")
            return
        raise SystemExit(f"{task['model']}: expected {kind}({message!r}), got {exc!r}") from exc
    raise SystemExit(f"{task['model']}: expected {kind}, but predict succeeded")


CHILD_OPS = {
    "npy": child_npy,
    "torch_state_dict": child_torch_state_dict,
    "save_sklearn": child_save_sklearn,
    "save_pyfunc": child_save_pyfunc,
    "save_pytorch": child_save_pytorch,
    "predict": child_predict,
    "expect_error": child_expect_error,
}


def child_main(job: Path) -> None:
    tasks = json.loads(job.read_text(encoding="utf-8"))["tasks"]
    for task in tasks:
        print(f"[child] {task['op']} {task.get('path') or task.get('model')}", flush=True)
        CHILD_OPS[task["op"]](task)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    # fixtures/legacy/ is made by its own script (old MLflow in per-fixture venvs); --only and a
    # plain run reach it from here too.
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import make_legacy_fixtures

    names = list(BUILDERS) + make_legacy_fixtures.NAMES
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        nargs="+",
        choices=names,
        metavar="NAME",
        help=f"fixtures to (re)generate or verify: {', '.join(names)}",
    )
    parser.add_argument(
        "--mlflow-python",
        metavar="PATH",
        help="reuse this venv's python (with mlflow) instead of building one",
    )
    parser.add_argument(
        "--torch-python",
        metavar="PATH",
        help="python for the torch fixtures (default: --mlflow-python, or a fresh venv)",
    )
    parser.add_argument(
        "--python",
        default=GEN_PYTHON,
        help="interpreter for fresh generation venvs (default: %(default)s)",
    )
    parser.add_argument(
        "--find-links",
        action="append",
        type=Path,
        metavar="DIR",
        help="extra wheel directory for uv (default: /opt/wheels if present)",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="do not generate: rebuild each model's own env and check it loads "
        "with a generic loader and reproduces the expected output",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        child_main(args.child)
        return 0
    if args.find_links is None:
        args.find_links = [DEFAULT_FIND_LINKS] if DEFAULT_FIND_LINKS.is_dir() else []
    selected = [fx for fx in all_fixtures() if not args.only or fx.name in args.only]
    legacy = [n for n in make_legacy_fixtures.NAMES if not args.only or n in args.only]
    if args.verify:
        if legacy and args.only:
            parser.error(f"--verify does not cover the legacy fixtures: {', '.join(legacy)}")
        return verify(args, selected)
    if selected:
        generate(args, selected)
    if legacy:
        links = [a for link in args.find_links for a in ("--find-links", str(link))]
        return make_legacy_fixtures.main(["--only", *legacy, *links])
    return 0


if __name__ == "__main__":
    sys.exit(main())
