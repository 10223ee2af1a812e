"""Diagnoses attached to real failures: a build the installer fails, a load the worker fails."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from envrun import api
from envrun.cli.reporter import TerminalReporter
from envrun.env.backends import InstallPlan
from envrun.env.interpreters import Interpreter
from envrun.env.requirements import IndexOptions, ReqLine
from envrun.env.spec import EnvSpec
from envrun.env.store import ensure_env
from envrun.errors import CommandFailed, EnvBuildError, PredictError
from envrun.model.mlmodel import read_model
from envrun.run.pool import Pool
from envrun.settings import Choice, Settings
from tests.helpers import make_model, write

PYTHON = Path(sys.executable)
INTERP = Interpreter(sys.executable, "3.11.7", "cpython", "linux-x86_64", "test")

# The message numpy 2 prints when a module compiled against numpy 1.x is imported, verbatim.
NUMPY_ABI = (
    "numpy.dtype size changed, may indicate binary incompatibility. "
    "Expected 96 from C header, got 88 from PyObject"
)
ABI_LOADER = f"""
def _load_pyfunc(path):
    raise ValueError({NUMPY_ABI!r})
"""
# A pickle (protocol 2) whose only global is undeclared_mod.Thing: loading it imports the module.
UNDECLARED_PICKLE = b"\x80\x02cundeclared_mod\nThing\nq\x00)\x81q\x01."
PICKLE_LOADER = """
import os, pickle

def _load_pyfunc(path):
    with open(os.path.join(path, "model.pkl"), "rb") as fh:
        return pickle.load(fh)
"""


def _abi_model(tmp_path: Path) -> Path:
    return make_model(tmp_path / "abi", loader="abi_loader", loader_source=ABI_LOADER)


def test_one_shot_load_failure_carries_the_numpy_abi_diagnosis(tmp_path: Path) -> None:
    model = read_model(_abi_model(tmp_path))
    with pytest.raises(PredictError) as err:
        api.load_model(model, python=PYTHON, timeout=60)
    assert err.value.stage == "load"
    diagnosis = err.value.diagnosis
    assert diagnosis is not None
    assert "numpy" in diagnosis.cause
    assert "--as-of" in diagnosis.fix


def test_pool_load_failure_carries_the_diagnosis(tmp_path: Path) -> None:
    model = read_model(_abi_model(tmp_path))
    with pytest.raises(PredictError) as err:
        Pool(PYTHON, model, workers=1, log_dir=tmp_path / "logs")
    assert err.value.stage == "load"
    assert err.value.diagnosis is not None
    assert "binary incompatibility" in err.value.diagnosis.cause


def test_load_only_loads_without_an_input(tmp_path: Path) -> None:
    loader = "def _load_pyfunc(path):\n    return type('M', (), {'predict': lambda s, d: d})()\n"
    model = read_model(make_model(tmp_path / "ok", loader="ok_loader", loader_source=loader))
    loaded = api.load_model(model, python=PYTHON, timeout=60)
    assert "load" in loaded.timings
    assert loaded.python["version"]
    in_process = api.load_model(model, python=None)
    assert "load" in in_process.timings


def _resolution(model_dir: Path, requirements: tuple[str, ...]) -> api.Resolution:
    reqs = tuple(ReqLine(r, r.split("=")[0], (), "requirements.txt:1", None) for r in requirements)
    spec = EnvSpec("3.11.7", "test", (), reqs, (), IndexOptions(), (), "requirements.txt")
    return api.Resolution(
        model=read_model(model_dir),
        spec=spec,
        interpreter=INTERP,
        installer=Choice("uv", "default"),
        installer_version="0",
        index=IndexOptions(),
        index_sources=(),
        config_constraints=(),
        fingerprint="0" * 64,
        warnings=(),
        seconds=0.0,
    )


def test_undeclared_module_at_load_shows_the_preflight_finding(tmp_path: Path) -> None:
    root = make_model(tmp_path / "undeclared", loader="pkl_loader", loader_source=PICKLE_LOADER)
    (root / "model.pkl").write_bytes(UNDECLARED_PICKLE)
    with pytest.raises(PredictError) as err:
        api.load_model(read_model(root), python=PYTHON, timeout=60)
    assert err.value.error_type == "ModuleNotFoundError"
    api.explain_load_failure(err.value, _resolution(root, ("numpy==2.3.0",)))
    diagnosis = err.value.diagnosis
    assert diagnosis is not None
    assert "model.pkl" in diagnosis.cause and "undeclared_mod" in diagnosis.cause
    assert "undeclared" in diagnosis.fix


def test_the_cli_prints_the_diagnosis(tmp_path: Path) -> None:
    model = read_model(_abi_model(tmp_path))
    with pytest.raises(PredictError) as err:
        api.load_model(model, python=PYTHON, timeout=60)
    stream = io.StringIO()
    TerminalReporter(stream, quiet=False, verbose=False, out=io.StringIO()).error(err.value)
    printed = stream.getvalue()
    assert (
        "likely cause: a compiled package was built against another major version of numpy"
        in printed
    )
    assert "; fix: resolve as of the model's day (--as-of created" in printed


class _FailingBackend:
    """The installer seam failing as uv does when a source build lacks a C header."""

    name = "fake"

    def __init__(self, output: str) -> None:
        self.output = output

    def version(self) -> str:
        return "1"

    def create(
        self, env_dir: Path, python: str, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        (env_dir / "bin").mkdir(parents=True)
        (env_dir / "bin" / "python").symlink_to(python)

    def install(
        self, env_dir: Path, plan: InstallPlan, *, log: Path, on_line: Callable[[str], None]
    ) -> None:
        raise CommandFailed(["uv", "pip", "install"], 1, "", self.output)

    def list_installed(self, env_dir: Path) -> dict[str, str]:
        return {}


def test_build_failure_carries_the_system_package(tmp_path: Path) -> None:
    output = write(
        tmp_path / "out.txt",
        """
        Building wheel for python-snappy (setup.py): started
        snappy/snappymodule.cc:31:10: fatal error: snappy-c.h: No such file or directory
        compilation terminated.
        error: command '/usr/bin/gcc' failed with exit code 1
        """,
    ).read_text()
    req = ReqLine("python-snappy==0.5.4", "python-snappy", (), "requirements.txt:1", None)
    spec = EnvSpec("3.11.7", "test", (), (req,), (), IndexOptions(), (), "requirements.txt")
    with pytest.raises(EnvBuildError) as err:
        ensure_env(
            spec,
            fp="cd" * 32,
            interpreter=INTERP,
            backend=_FailingBackend(output),  # type: ignore[arg-type]
            plan_index=IndexOptions(),
            installer_reason="default",
            settings=Settings(cache_dir=tmp_path / "cache", installer=Choice("uv", "default")),
        )
    assert err.value.diagnosis is not None
    assert "snappy-c.h" in err.value.diagnosis.cause
    assert "libsnappy-dev" in err.value.diagnosis.fix


# What pip 25 prints for packaging==21.3 with pyparsing==3.0.5 (packaging needs pyparsing!=3.0.5).
PIP_CONFLICT = (
    "ERROR: Cannot install -r requirements.txt (line 1) and pyparsing==3.0.5 because these "
    "package versions have conflicting dependencies.\n"
) + """
The conflict is caused by:
    The user requested pyparsing==3.0.5
    packaging 21.3 depends on pyparsing!=3.0.5 and >=2.0.2

Additionally, some packages in these conflicts have no matching distributions available for your environment:
    pyparsing

ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/en/latest/topics/dependency-resolution/
"""


def test_pips_note_about_distributions_does_not_hide_a_pin_conflict() -> None:
    from envrun.env.diagnose import is_pin_conflict

    lines = tuple(
        ReqLine(r, r.split("==")[0], (), "requirements.txt:1", None)
        for r in ("packaging==21.3", "pyparsing==3.0.5")
    )
    spec = EnvSpec("3.11.7", "test", (), lines, (), IndexOptions(), (), "requirements.txt")
    assert is_pin_conflict(PIP_CONFLICT, spec)
    missing = "ERROR: No matching distribution found for pyparsing==9.9.9\n" + PIP_CONFLICT
    assert not is_pin_conflict(missing, spec)
