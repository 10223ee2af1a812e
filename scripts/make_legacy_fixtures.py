#!/usr/bin/env python3
"""Generate fixtures/legacy/: models written by real old MLflow, the way real legacy models were.

    python scripts/make_legacy_fixtures.py [--only NAME ...] [--find-links DIR]
    python scripts/make_legacy_fixtures.py --measure [--only NAME ...]

(`scripts/make_fixtures.py --only NAME` and a plain `scripts/make_fixtures.py` call this too.)

Writes, for every fixture NAME:
  fixtures/legacy/NAME/              the model directory, as that MLflow wrote it (see each maker
                                     for the few edits made afterwards, and why)
  fixtures/legacy/inputs/NAME.json   an MLflow serving JSON input
  fixtures/legacy/expected/NAME.json {"predictions": ...} from that MLflow's own pyfunc load,
                                     input parsing and predict, in the env that saved the model
`--measure` instead runs today's `envrun predict` on each fixture with a fresh cache and writes
fixtures/legacy/STATUS-before.md (exit code and the telling lines of each failure).

Each fixture gets a throwaway venv with the Python of its day (pyenv) and an exactly pinned
MLflow whose other packages uv resolves as of that release (`--exclude-newer`), so they are what
a user installing that MLflow then got. This file then runs itself in that venv (`--child JOB`)
to train a small deterministic model (iris-like data generated here, no downloads) and save it
with that MLflow's own API. The child side must run on Python 3.9, so it avoids newer syntax.

The MLmodel's `utc_time_created` is set to the resolution cutoff: the machine's clock says today,
but a real model of this kind was saved while its MLflow was current, and resolving "as of the
model's creation" must find the same releases the generation venv got.
"""

from __future__ import annotations

import argparse
import json
import os
import pickletools
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LEGACY = ROOT / "fixtures" / "legacy"
PYENV = Path(os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))) / "versions"
DEFAULT_FIND_LINKS = Path("/opt/wheels")
SERVING_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")

IRIS_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
IRIS_INPUT = {
    "dataframe_split": {
        "columns": IRIS_COLUMNS,
        "data": [
            [5.1, 3.5, 1.4, 0.2],
            [6.2, 2.9, 4.3, 1.3],
            [7.7, 3.0, 6.1, 2.3],
            [5.8, 2.7, 5.1, 1.9],
            [4.9, 3.1, 1.5, 0.1],
        ],
    }
}


@dataclass(frozen=True)
class GenEnv:
    """A throwaway generation venv: Python, exact pins, and the day its resolution stops at."""

    python: str
    pins: tuple[str, ...]
    exclude_newer: str | None  # YYYY-MM-DD (UTC midnight); None when pins are all exact/local
    # Run after the install with the venv's own pip, the way a user broke their env by hand.
    pip_after: tuple[str, ...] = ()


# MLflow 1.30.0 was uploaded 2022-10-20; Python 3.9 was the common choice then. numpy is left to
# the resolver (1.23.4 that day), as MLflow's dependencies pulled it.
MLFLOW1 = GenEnv(
    "3.9.18", ("mlflow==1.30.0", "scikit-learn", "pip", "wheel"), exclude_newer="2022-10-22"
)
# MLflow 2.3.2 was uploaded 2023-05-12, on Python 3.10.
MLFLOW2 = GenEnv(
    "3.10.13", ("mlflow==2.3.2", "scikit-learn", "pip", "wheel"), exclude_newer="2023-05-13"
)
# The same env after the user ran `pip install --no-deps sqlparse==0.3.1` (say, for another
# tool that wanted the old API): mlflow 2.3.2 requires sqlparse>=0.4.0,<1, so a later
# `pip freeze` holds two exact pins no strict resolver can satisfy together.
MLFLOW2_BROKEN = GenEnv(
    MLFLOW2.python,
    MLFLOW2.pins,
    MLFLOW2.exclude_newer,
    pip_after=("install", "--no-deps", "sqlparse==0.3.1"),
)
# torch 2.13.0 is the local CPU wheel (no upload time, so no cutoff: everything is pinned, with
# the same versions scripts/make_fixtures.py uses for its torch fixtures).
TORCH = GenEnv(
    "3.11.7",
    (
        "mlflow==3.17.2",
        "torch==2.13.0",
        "numpy==2.4.6",
        "pandas==3.1.1",
        "cloudpickle==3.1.2",
        "pip==26.3",
        "setuptools==84.2.1",
        "wheel==0.48.0",
    ),
    exclude_newer=None,
)


@dataclass
class LegacyFixture:
    name: str
    env: GenEnv
    made: str  # how it was made
    failure: str  # the real-world failure class it reproduces
    payload: dict[str, Any]
    op: str  # child operation that saves the model
    created: str | None  # utc_time_created written into MLmodel; None keeps MLflow's
    tasks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def model_dir(self) -> Path:
        return LEGACY / self.name

    @property
    def input_path(self) -> Path:
        return LEGACY / "inputs" / f"{self.name}.json"

    @property
    def expected_path(self) -> Path:
        return LEGACY / "expected" / f"{self.name}.json"


def all_fixtures() -> list[LegacyFixture]:
    return [
        LegacyFixture(
            "mlflow1_sklearn",
            MLFLOW1,
            "mlflow.sklearn.save_model (MLflow 1.30.0, Python 3.9): LogisticRegression, "
            "signature, input example; MLflow wrote `env: conda.yaml` and an unpinned `mlflow`",
            "unpinned requirements resolved today: numpy 2.x under a scikit-learn compiled for "
            "numpy 1.x ('numpy.dtype size changed')",
            IRIS_INPUT,
            "save_sklearn",
            "2022-10-22 00:00:00.000000",
        ),
        LegacyFixture(
            "mlflow2_conda_only",
            MLFLOW2,
            "mlflow.sklearn.save_model (MLflow 2.3.2, Python 3.10) with a user-written conda_env "
            "whose scikit-learn, numpy and pandas are conda packages and whose pip section is "
            "mlflow-skinny and cloudpickle",
            "packages declared only in conda.yaml's conda section: requirements.txt and "
            "python_env.yaml lack scikit-learn, numpy and pandas",
            IRIS_INPUT,
            "save_sklearn_conda_only",
            "2023-05-13 00:00:00.000000",
        ),
        LegacyFixture(
            "code_dot",
            MLFLOW1,
            "a custom flavor's save function (MLflow 1.30.0, Python 3.9): "
            "mlflow.pyfunc.add_to_model(code='.', env='conda.yaml'), loader module next to "
            "MLmodel, weights in JSON",
            "`code: .` in MLmodel: the model directory itself is the code path",
            {"instances": [[1.0, 2.0, 3.0, 4.0], [0.5, -0.5, 1.5, 0.0], [5.1, 3.5, 1.4, 0.2]]},
            "save_code_dot",
            "2022-10-22 00:00:00.000000",
        ),
        LegacyFixture(
            "frozen_conflict",
            MLFLOW2_BROKEN,
            "mlflow.sklearn.save_model (MLflow 2.3.2, Python 3.10) with pip_requirements = the "
            "`pip freeze` of an env where sqlparse 0.3.1 was installed with --no-deps",
            "a full `pip freeze` whose exact pins conflict under a strict resolver "
            "(mlflow==2.3.2 needs sqlparse>=0.4.0, the freeze says sqlparse==0.3.1)",
            IRIS_INPUT,
            "save_sklearn_frozen",
            "2023-05-13 00:00:00.000000",
        ),
        LegacyFixture(
            "torch_cuda",
            TORCH,
            "mlflow.pyfunc.save_model (MLflow 3.17.2, Python 3.11, torch 2.13.0 CPU) with a "
            "custom loader that calls torch.load on a state_dict; the pickle's storage location "
            "rewritten from 'cpu' to 'cuda:0' after saving",
            "a torch model saved with CUDA tensors, loaded on a CPU-only host",
            {"inputs": [[0.1, 0.2, 0.3, 0.4], [-1.0, 0.5, 2.0, -0.5], [0.0, 0.0, 0.0, 0.0]]},
            "save_torch_cuda",
            None,
        ),
        LegacyFixture(
            "missing_requirements",
            MLFLOW2,
            "mlflow.sklearn.save_model (MLflow 2.3.2, Python 3.10), then requirements.txt "
            "deleted, as when only MLmodel and the YAML files were copied",
            "python_env.yaml says `-r requirements.txt`, the file is missing, and conda.yaml "
            "holds the pip dependencies",
            IRIS_INPUT,
            "save_sklearn",
            "2023-05-13 00:00:00.000000",
        ),
    ]


NAMES = [fx.name for fx in all_fixtures()]


# --------------------------------------------------------------------------------------------
# Host side
# --------------------------------------------------------------------------------------------


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # open() rather than Path.write_text: its newline argument is Python 3.10+.
    with path.open("w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def write_json(path: Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def run(argv: list[str], **kwargs: Any) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True, **kwargs)


def uv() -> str:
    # uv comes with envrun; prefer the one next to this interpreter, then PATH.
    here = Path(sys.executable).parent / "uv"
    return str(here) if here.exists() else "uv"


def pyenv_python(version: str) -> str:
    candidate = PYENV / version / "bin" / "python"
    if not candidate.exists():
        raise SystemExit(f"Python {version} not found at {candidate}; install it with pyenv")
    return str(candidate)


def child_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(
        {
            "MLFLOW_TRACKING_URI": (tmp / "mlruns").as_uri(),
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "MLFLOW_UV_AUTO_DETECT": "false",
            "PYTHONHASHSEED": "0",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def make_venv(where: Path, gen: GenEnv, find_links: list[Path], tmp: Path) -> Path:
    run([uv(), "venv", "--quiet", "--python", pyenv_python(gen.python), str(where)])
    py = where / "bin" / "python"
    argv = [uv(), "pip", "install", "--quiet", "--python", str(py)]
    if gen.exclude_newer:
        argv += ["--exclude-newer", f"{gen.exclude_newer}T00:00:00Z"]
    for link in find_links:
        argv += ["--find-links", str(link)]
    run([*argv, *gen.pins])
    if gen.pip_after:
        run(
            [str(py), "-m", "pip", "--disable-pip-version-check", *gen.pip_after],
            env=child_env(tmp),
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


def set_created(model: Path, created: str) -> None:
    mlmodel = model / "MLmodel"
    text = mlmodel.read_text(encoding="utf-8")
    new, count = re.subn(
        r"^utc_time_created: .*$", f"utc_time_created: '{created}'", text, flags=re.MULTILINE
    )
    if count != 1:
        raise SystemExit(f"{mlmodel}: expected one utc_time_created line, found {count}")
    mlmodel.write_text(new, encoding="utf-8")


def check_written(fx: LegacyFixture) -> None:
    """Fail loudly when an MLflow release wrote something other than the failure class needs."""
    model = fx.model_dir
    mlmodel = (model / "MLmodel").read_text(encoding="utf-8")
    if fx.name == "mlflow1_sklearn":
        reqs = (model / "requirements.txt").read_text(encoding="utf-8").split()
        # MLflow 1.30 writes `mlflow` without a version itself: nothing is edited.
        if "mlflow" not in reqs or any(r.startswith("numpy") for r in reqs):
            raise SystemExit(f"{fx.name}: MLflow 1.30 wrote unexpected requirements {reqs}")
        if "    env: conda.yaml\n" not in mlmodel:
            raise SystemExit(f"{fx.name}: MLflow 1.30 did not write env as a string")
    if fx.name == "mlflow2_conda_only":
        reqs = (model / "requirements.txt").read_text(encoding="utf-8").lower()
        if "scikit-learn" in reqs or "numpy" in reqs:
            raise SystemExit(f"{fx.name}: requirements.txt declares conda packages: {reqs}")
    if fx.name == "code_dot" and "    code: .\n" not in mlmodel:
        raise SystemExit(f"{fx.name}: MLmodel does not say `code: .`")
    if fx.name == "frozen_conflict":
        reqs = (model / "requirements.txt").read_text(encoding="utf-8").split()
        if not {"mlflow==2.3.2", "sqlparse==0.3.1"} <= set(reqs):
            raise SystemExit(f"{fx.name}: the freeze lacks the conflicting pins: {reqs}")


def clean(model: Path) -> None:
    for cache in model.rglob("__pycache__"):
        shutil.rmtree(cache)


def generate(fixtures: list[LegacyFixture], find_links: list[Path]) -> None:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="envrun-legacy-") as tmp_name:
        tmp = Path(tmp_name)
        for fx in fixtures:
            if fx.model_dir.exists():
                shutil.rmtree(fx.model_dir)
            fx.expected_path.unlink(missing_ok=True)
            write_json(fx.input_path, fx.payload)
            fx.tasks = [
                {"op": fx.op, "path": str(fx.model_dir), "stage": str(tmp / f"stage-{fx.name}")},
                {
                    "op": "predict",
                    "model": str(fx.model_dir),
                    "input": str(fx.input_path),
                    "output": str(fx.expected_path),
                },
            ]
            if fx.name == "torch_cuda":
                # After MLflow computed the expected output from the CPU tensors.
                fx.tasks.append({"op": "relocate_to_cuda", "path": str(fx.model_dir)})
        venvs: dict[GenEnv, Path] = {}
        for fx in fixtures:
            if fx.env not in venvs:
                venvs[fx.env] = make_venv(tmp / f"venv-{len(venvs)}", fx.env, find_links, tmp)
            if fx.name == "frozen_conflict":
                freeze = subprocess.run(
                    [str(venvs[fx.env]), "-m", "pip", "freeze", "--disable-pip-version-check"],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                fx.tasks[0]["freeze"] = freeze.splitlines()
            run_child(venvs[fx.env], fx.tasks, tmp, fx.name)
            if fx.created:
                set_created(fx.model_dir, fx.created)
            if fx.name == "missing_requirements":
                # The failure: python_env.yaml still names the file, conda.yaml keeps the pins.
                (fx.model_dir / "requirements.txt").unlink()
            clean(fx.model_dir)
            check_written(fx)
    print(f"\nwrote {len(fixtures)} legacy fixture(s) in {time.monotonic() - started:.1f}s")
    for fx in fixtures:
        size = sum(p.stat().st_size for p in fx.model_dir.rglob("*") if p.is_file())
        print(f"  {fx.name:22s} {size:8d} bytes")


# --------------------------------------------------------------------------------------------
# Measuring what today's envrun does with each fixture
# --------------------------------------------------------------------------------------------

TELLING = re.compile(
    r"error|Error|fix:|offending value|No solution|because|Because|requires|depends|needs|"
    r"not found|No such file|warning"
)


def telling_lines(stderr: str, limit: int = 8) -> list[str]:
    lines = [ln.rstrip() for ln in stderr.splitlines() if ln.strip()]
    picked = [ln for ln in lines if TELLING.search(ln) and not ln.startswith("  |   File")]
    return (picked or lines)[-limit:]


def error_line(lines: list[str]) -> str:
    """The `envrun: error: ...` line (or the last line), without the prefix."""
    found = [ln for ln in lines if ln.startswith("envrun: ") and "error" in ln.split(":")[1]]
    return (found or lines or [""])[-1].removeprefix("envrun: ")


def measure(fixtures: list[LegacyFixture]) -> int:
    from datetime import datetime, timezone

    rows = []
    details = []
    with tempfile.TemporaryDirectory(prefix="envrun-legacy-measure-") as tmp_name:
        for fx in fixtures:
            cache = Path(tmp_name) / fx.name
            argv = [
                sys.executable,
                "-m",
                "envrun",
                "predict",
                str(fx.model_dir.relative_to(ROOT)),
                str(fx.input_path.relative_to(ROOT)),
                "--cache-dir",
                str(cache),
            ]
            print("+", " ".join(argv[1:]), flush=True)
            started = time.monotonic()
            proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT, check=False)
            elapsed = time.monotonic() - started
            expected = json.loads(fx.expected_path.read_text(encoding="utf-8"))
            if proc.returncode == 0:
                same = json.loads(proc.stdout) == expected
                outcome = "predicts the expected output" if same else "predicts a different output"
            else:
                outcome = "fails"
            # Paths differ per machine and run: show them relative to the repository and cache.
            stderr = proc.stderr.replace(str(cache), "CACHE").replace(f"{ROOT}/", "")
            key = telling_lines(stderr)
            rows.append((fx.name, proc.returncode, outcome, elapsed, error_line(key)))
            shown = " ".join(a for a in argv[3:] if a != str(cache)).replace("--cache-dir", "")
            details += [
                f"### {fx.name}",
                "",
                f"`envrun {shown.strip()} --cache-dir TMP` -> exit {proc.returncode} "
                f"in {elapsed:.1f} s ({outcome})",
                "",
                "```",
                *key,
                "```",
                "",
            ]
            print(f"  exit {proc.returncode} ({outcome}) in {elapsed:.1f}s", flush=True)
    envrun_version = subprocess.run(
        [sys.executable, "-m", "envrun", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    lines = [
        "# Legacy fixtures: what envrun does with them before the legacy work",
        "",
        f"Measured {datetime.now(timezone.utc):%Y-%m-%d} with {envrun_version} "
        "(`python scripts/make_legacy_fixtures.py --measure`): `envrun predict MODEL INPUT` "
        "with a fresh `--cache-dir` per fixture, default installer (uv). Times include the env "
        "build with uv's download cache warm, on a shared 2-core machine: they move with its load.",
        "",
        "| fixture | exit | outcome | time | key message |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, code, outcome, elapsed, msg in rows:
        cell = msg.replace("|", "\\|")
        if len(cell) > 160:
            cell = cell[:157] + "..."
        lines.append(f"| `{name}` | {code} | {outcome} | {elapsed:.1f} s | {cell} |")
    lines += ["", "## The telling lines of each run", "", *details]
    write_text(LEGACY / "STATUS-before.md", "\n".join(lines).rstrip() + "\n")
    print(f"wrote {LEGACY / 'STATUS-before.md'}")
    return 0


# --------------------------------------------------------------------------------------------
# Child side: runs inside a generation venv (Python 3.9+, that fixture's MLflow)
# --------------------------------------------------------------------------------------------


def iris_frame(seed: int) -> Any:
    """60 rows around three class centres, rounded to 0.1: the same on every numpy version."""
    import numpy as np
    import pandas as pd

    rng = np.random.RandomState(seed)
    centers = np.array([[5.0, 3.4, 1.5, 0.2], [5.9, 2.8, 4.3, 1.3], [6.6, 3.0, 5.6, 2.0]])
    x = np.round(np.repeat(centers, 20, axis=0) + rng.normal(0, 0.3, (60, 4)), 1)
    y = np.repeat(np.array(["setosa", "versicolor", "virginica"]), 20)
    order = rng.permutation(60)
    return pd.DataFrame(x[order], columns=IRIS_COLUMNS), y[order]


def fit_iris(seed: int = 7) -> Any:
    from sklearn.linear_model import LogisticRegression

    frame, labels = iris_frame(seed)
    model = LogisticRegression(max_iter=500, random_state=0).fit(frame, labels)
    return model, frame


def signature_for(frame: Any, output: Any) -> Any:
    from mlflow.models.signature import infer_signature

    return infer_signature(frame, output)


def child_save_sklearn(task: dict[str, Any], **kwargs: Any) -> None:
    import mlflow.sklearn

    model, frame = fit_iris()
    mlflow.sklearn.save_model(
        model,
        task["path"],
        signature=signature_for(frame, model.predict(frame)),
        input_example=frame.head(3),
        **kwargs,
    )


def child_save_sklearn_conda_only(task: dict[str, Any]) -> None:
    import numpy
    import pandas
    import sklearn

    # What a user wrote when the model was meant for `mlflow models serve` with conda: the
    # libraries as conda packages, only what conda-forge lacked (here nothing) under pip.
    conda_env = {
        "name": "iris-classifier",
        "channels": ["conda-forge"],
        "dependencies": [
            "python=3.10.13",
            f"scikit-learn={sklearn.__version__}",
            f"numpy={numpy.__version__}",
            f"pandas={pandas.__version__}",
            "pip",
            {"pip": ["mlflow-skinny==2.3.2", "cloudpickle==2.2.1"]},
        ],
    }
    child_save_sklearn(task, conda_env=conda_env)


def child_save_sklearn_frozen(task: dict[str, Any]) -> None:
    child_save_sklearn(task, pip_requirements=task["freeze"])


CODE_DOT_LOADER = '''\
"""Custom flavor loader: a weighted sum, weights read from weights.json in the model dir."""

import json
import os

import numpy as np


class WeightedSum(object):
    def __init__(self, weights):
        self.weights = weights

    def predict(self, model_input):
        x = np.asarray(model_input, dtype=np.float64)
        return (x * self.weights[None, :]).sum(axis=1)


def _load_pyfunc(path):
    with open(os.path.join(path, "weights.json")) as f:
        return WeightedSum(np.asarray(json.load(f), dtype=np.float64))
'''


def child_save_code_dot(task: dict[str, Any]) -> None:
    import numpy as np
    import yaml
    from mlflow.models import Model
    from mlflow.pyfunc import add_to_model
    from mlflow.utils.environment import _mlflow_conda_env

    # The pattern of custom flavors written against MLflow 1.x: the save function writes its
    # loader module into the model directory and registers that directory itself as the code
    # path. MLflow's add_to_model records the `code` argument verbatim: `code: .`.
    path = Path(task["path"])
    path.mkdir(parents=True)
    write_text(path / "weighted_sum_flavor.py", CODE_DOT_LOADER)
    write_text(path / "weights.json", json.dumps([0.5, -0.25, 1.0, 2.0]) + "\n")
    conda_env = _mlflow_conda_env(additional_pip_deps=[f"numpy=={np.__version__}"])
    with (path / "conda.yaml").open("w") as f:
        yaml.safe_dump(conda_env, f, default_flow_style=False)
    model = Model()
    add_to_model(model, loader_module="weighted_sum_flavor", code=".", env="conda.yaml")
    model.save(str(path / "MLmodel"))


TORCH_LOADER = '''\
"""Custom loader: a 4-8-3 MLP restored from a state_dict saved on the training GPU."""

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


class Wrapper:
    def __init__(self, module):
        self.module = module

    def predict(self, model_input, params=None):
        x = torch.as_tensor(np.asarray(model_input, dtype=np.float32))
        with torch.no_grad():
            return self.module(x).numpy()


def _load_pyfunc(data_path):
    module = TinyMLP()
    # Written where the model was trained on a GPU: no map_location.
    module.load_state_dict(torch.load(data_path, weights_only=True))
    module.eval()
    return Wrapper(module)
'''


def child_save_torch_cuda(task: dict[str, Any]) -> None:
    import importlib

    import mlflow.pyfunc
    import torch

    stage = Path(task["stage"])
    write_text(stage / "tiny_mlp_loader.py", TORCH_LOADER)
    sys.path.insert(0, str(stage))
    try:
        loader = importlib.import_module("tiny_mlp_loader")
    finally:
        sys.path.remove(str(stage))
    torch.manual_seed(0)
    torch.save(loader.TinyMLP().state_dict(), stage / "state_dict.pt")
    mlflow.pyfunc.save_model(
        task["path"],
        loader_module="tiny_mlp_loader",
        data_path=str(stage / "state_dict.pt"),
        code_paths=[str(stage / "tiny_mlp_loader.py")],
        # mlflow-skinny counts as MLflow's own requirement, so MLflow adds no full `mlflow`
        # (scikit-learn, scipy, pyarrow, ...) that this loader never imports; the env stays small.
        pip_requirements=[
            "mlflow-skinny==3.17.2",
            f"torch=={torch.__version__.split('+')[0]}",
            "numpy==2.4.6",
        ],
    )


def relocate_storages(path: Path, location: str) -> int:
    """Rewrite the storage location torch.save recorded in a zip checkpoint; returns how many.

    torch.save pickles each tensor's storage as a persistent id
    ('storage', type, key, location, numel); a save from a GPU records 'cuda:0' there. The data
    bytes themselves carry no device, so changing that one string is exactly the difference.
    """
    with zipfile.ZipFile(path) as zin:
        infos = zin.infolist()
        blobs = {info.filename: zin.read(info.filename) for info in infos}
    pkl = next(name for name in blobs if name.endswith("/data.pkl"))
    data = blobs[pkl]
    # Protocol 2 has no frames, so a string can change length without fixing up anything else.
    if not data.startswith(b"\x80\x02"):
        raise SystemExit(f"{path}: expected a protocol 2 pickle, got {data[:2]!r}")
    out = bytearray()
    last = 0
    count = 0
    new = location.encode()
    # A state_dict's pickle holds tensor names, 'storage', storage keys and locations; 'cpu' is
    # only ever a location (memoized after its first use, so it usually occurs once).
    for op, arg, pos in pickletools.genops(data):
        if op.name == "BINUNICODE" and arg == "cpu":
            out += data[last:pos] + b"X" + struct.pack("<I", len(new)) + new
            last = pos + 1 + 4 + 3
            count += 1
    out += data[last:]
    blobs[pkl] = bytes(out)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zout:
        for info in infos:
            entry = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            zout.writestr(entry, blobs[info.filename])
    return count


def child_relocate_to_cuda(task: dict[str, Any]) -> None:
    import torch

    path = Path(task["path"]) / "data" / "state_dict.pt"
    before = torch.load(path, weights_only=True)
    if relocate_storages(path, "cuda:0") < 1:
        raise SystemExit(f"{path}: no storage location found to rewrite")
    try:
        torch.load(path, weights_only=True)
    except RuntimeError as exc:
        if "CUDA device" not in str(exc):
            raise
    else:
        if not torch.cuda.is_available():
            raise SystemExit(f"{path}: still loads on this CPU-only host after the rewrite")
    after = torch.load(path, weights_only=True, map_location="cpu")
    if not all(torch.equal(before[k], after[k]) for k in before):
        raise SystemExit(f"{path}: tensors changed in the rewrite")


def parse_input(model: Any, payload: dict[str, Any]) -> Any:
    """The parsing of that MLflow's scoring server for this payload."""
    from mlflow.pyfunc import scoring_server

    schema = model.metadata.get_input_schema()
    data = {k: v for k, v in payload.items() if k in SERVING_FORMATS}
    if hasattr(scoring_server, "infer_and_parse_data"):  # MLflow 3.x
        return scoring_server.infer_and_parse_data(data, schema)
    if "dataframe_split" in data and hasattr(scoring_server, "parse_json_input"):
        # MLflow 1.x took the split frame itself (content type format=pandas-split).
        return scoring_server.parse_json_input(
            json.dumps(data["dataframe_split"]), orient="split", schema=schema
        )
    return scoring_server.infer_and_parse_json_input(json.dumps(data), schema)


def child_predict(task: dict[str, Any]) -> None:
    import io

    import mlflow.pyfunc
    from mlflow.pyfunc.scoring_server import predictions_to_json

    model = mlflow.pyfunc.load_model(task["model"])
    with Path(task["input"]).open(encoding="utf-8") as f:
        payload = json.load(f)
    predictions = model.predict(parse_input(model, payload))
    buf = io.StringIO()
    predictions_to_json(predictions, buf)
    rendered = json.loads(buf.getvalue())
    # MLflow 1.x's scoring server answered with the bare list; 2.0 wrapped it.
    if not (isinstance(rendered, dict) and "predictions" in rendered):
        rendered = {"predictions": rendered}
    write_text(Path(task["output"]), json.dumps(rendered) + "\n")


CHILD_OPS = {
    "save_sklearn": child_save_sklearn,
    "save_sklearn_conda_only": child_save_sklearn_conda_only,
    "save_sklearn_frozen": child_save_sklearn_frozen,
    "save_code_dot": child_save_code_dot,
    "save_torch_cuda": child_save_torch_cuda,
    "relocate_to_cuda": child_relocate_to_cuda,
    "predict": child_predict,
}


def child_main(job: Path) -> None:
    for task in json.loads(job.read_text(encoding="utf-8"))["tasks"]:
        print(f"[child] {task['op']} {task.get('path') or task.get('model')}", flush=True)
        CHILD_OPS[task["op"]](task)


# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", choices=NAMES, metavar="NAME", help=", ".join(NAMES))
    parser.add_argument(
        "--find-links",
        action="append",
        type=Path,
        metavar="DIR",
        help="wheel directory for torch (default: /opt/wheels if present)",
    )
    parser.add_argument(
        "--measure",
        action="store_true",
        help="run today's envrun predict on each fixture and write fixtures/legacy/STATUS-before.md",
    )
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(args.child)
        return 0
    if args.find_links is None:
        args.find_links = [DEFAULT_FIND_LINKS] if DEFAULT_FIND_LINKS.is_dir() else []
    selected = [fx for fx in all_fixtures() if not args.only or fx.name in args.only]
    if args.measure:
        return measure(selected)
    generate(selected, args.find_links)
    return 0


if __name__ == "__main__":
    sys.exit(main())
