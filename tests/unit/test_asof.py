"""Resolution as of the model's day: the setting, the cutoff, the installers' flags, diagnoses."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import sys
from pathlib import Path

import pytest

from envrun.env.asof import (
    apply_as_of,
    effective_cutoff,
    exempt_names,
    filtered_by_cutoff,
    pip_supports_cutoff,
    pkg_resources_reason,
    run_uv_as_of,
    uv_flags,
)
from envrun.env.backends.plan import InstallPlan
from envrun.env.backends.plan import install_argvs as _install_argvs
from envrun.env.diagnose import diagnose_build, is_pin_conflict
from envrun.env.interpreters import Interpreter
from envrun.env.requirements import IndexOptions, ReqLine
from envrun.env.spec import EnvSpec, fingerprint
from envrun.errors import CommandFailed, EnvrunError
from envrun.model.mlmodel import created_time, read_model
from envrun.run.diagnose import diagnose_load
from envrun.settings import Choice, choose_as_of, parse_as_of_time
from tests.helpers import make_model

UTC = dt.timezone.utc
INTERP = Interpreter(sys.executable, "3.11.7", "cpython", "linux-x86_64", "test")


def _req(text: str) -> ReqLine:
    return ReqLine(text, re.split(r"[=<>~!]", text, maxsplit=1)[0], (), "r.txt:1", None)


def _spec(*reqs: str, build: tuple[str, ...] = ()) -> EnvSpec:
    return EnvSpec(
        "3.11.7",
        "python_env.yaml",
        tuple(_req(b) for b in build),
        tuple(_req(r) for r in reqs),
        (),
        IndexOptions(),
        (),
        "python_env.yaml",
    )


def _model(tmp_path: Path, created: str | None, mlflow_version: str = "3.17.2") -> Path:
    root = make_model(tmp_path / "m", extra_top=f"utc_time_created: '{created}'" if created else "")
    text = (root / "MLmodel").read_text().replace("3.17.2", mlflow_version)
    (root / "MLmodel").write_text(text)
    return root


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2023-01-02", dt.datetime(2023, 1, 3, tzinfo=UTC)),  # that whole day included
        ("2023-01-02 10:11:12.123456", dt.datetime(2023, 1, 2, 10, 11, 12, 123456, tzinfo=UTC)),
        ("2023-01-02T10:11:12Z", dt.datetime(2023, 1, 2, 10, 11, 12, tzinfo=UTC)),
        ("2023-01-02T10:11:12+02:00", dt.datetime(2023, 1, 2, 8, 11, 12, tzinfo=UTC)),
        ("2023-01-02T10:11:12.5", dt.datetime(2023, 1, 2, 10, 11, 12, 500000, tzinfo=UTC)),
        ("yesterday", None),
        ("2023-02-30", None),
        ("", None),
    ],
)
def test_parse_as_of_time(text: str, expected: dt.datetime | None) -> None:
    assert parse_as_of_time(text) == expected


def test_as_of_precedence_flag_over_variable_over_default() -> None:
    assert choose_as_of(None, {}) == Choice("created", "default")
    assert choose_as_of(None, {"ENVRUN_AS_OF": "NOW"}).value == "now"
    assert choose_as_of("2023-01-02", {"ENVRUN_AS_OF": "now"}) == Choice(
        "2023-01-02", "--as-of flag"
    )
    with pytest.raises(EnvrunError, match="ENVRUN_AS_OF") as info:
        choose_as_of(None, {"ENVRUN_AS_OF": "last tuesday"})
    assert info.value.value == "last tuesday"


def test_created_time_from_mlmodel(tmp_path: Path) -> None:
    model = read_model(_model(tmp_path, "2023-01-02 10:11:12.123456"))
    assert model.utc_time_created == dt.datetime(2023, 1, 2, 10, 11, 12, 123456, tzinfo=UTC)
    assert created_time(None) is None
    assert created_time("not a time") is None
    assert created_time(dt.datetime(2023, 1, 2, 10, 0)) == dt.datetime(2023, 1, 2, 10, tzinfo=UTC)


def test_cutoff_and_its_reason(tmp_path: Path) -> None:
    model = read_model(_model(tmp_path, "2023-01-02 10:11:12"))
    saved = effective_cutoff(Choice("created", "default"), model)
    assert saved.stamp == "2023-01-02T10:11:12Z"
    assert saved.describe() == "resolved as of 2023-01-02 10:11 UTC, when the model was saved"
    now = effective_cutoff(Choice("now", "--as-of flag"), model)
    assert now.stamp is None
    assert "now" in now.describe()
    day = effective_cutoff(Choice("2024-06-30", "ENVRUN_AS_OF environment variable"), model)
    assert day.stamp == "2024-07-01T00:00:00Z"
    assert day.describe().startswith("resolved as of 2024-06-30, requested")


def test_a_model_without_creation_time_resolves_as_of_now_and_says_so(tmp_path: Path) -> None:
    model = read_model(_model(tmp_path, None))
    spec = apply_as_of(_spec("numpy"), model, Choice("created", "default"), exact_pins=False)
    assert spec.as_of is None
    assert "no creation time" in spec.as_of_reason
    assert any("no creation time" in w for w in spec.warnings)


def test_cutoff_is_part_of_the_fingerprint(tmp_path: Path) -> None:
    model = read_model(_model(tmp_path, "2023-01-02 10:11:12"))

    def fp(choice: str, *, exact: bool = False) -> str:
        spec = apply_as_of(_spec("numpy"), model, Choice(choice, "t"), exact_pins=exact)
        return fingerprint(
            spec, interpreter=INTERP, installer="uv", installer_version="1", index=IndexOptions()
        )

    assert fp("created") == fp("2023-01-02T10:11:12Z")  # the same cutoff, the same env
    assert len({fp("created"), fp("now"), fp("2024-01-01"), fp("created", exact=True)}) == 4


def test_exact_pins_are_exempt_from_the_cutoff() -> None:
    spec = _spec(
        "torch==2.13.0", "numpy>=1.20", "pandas", "Scikit_Learn===1.3.0", build=("pip==23",)
    )
    assert exempt_names(spec) == ("pip", "scikit-learn", "torch")
    assert uv_flags("2023-06-01T00:00:00Z", exempt_names(spec)) == [
        *("--exclude-newer", "2023-06-01T00:00:00Z"),
        *("--exclude-newer-package", "pip=false"),
        *("--exclude-newer-package", "scikit-learn=false"),
        *("--exclude-newer-package", "torch=false"),
    ]
    assert uv_flags(None, ("torch",)) == []


def test_uv_install_argv_carries_the_cutoff_and_no_deps(tmp_path: Path) -> None:
    plan = InstallPlan(
        (_req("pip"),),
        (_req("torch==2.13.0"),),
        (),
        IndexOptions(find_links=("/opt/wheels",)),
        tmp_path,
        as_of="2023-06-01T00:00:00Z",
        exempt=("torch",),
        no_deps=True,
    )
    seen: list[list[str]] = []
    for argv in _install_argvs(plan, ["uv", "pip", "install", "--no-deps"]):
        run_uv_as_of(seen.append, argv, cutoff=plan.as_of, exempt=plan.exempt, notes=plan.notes)
    assert len(seen) == 2
    for argv in seen:
        assert argv[argv.index("--exclude-newer") + 1] == "2023-06-01T00:00:00Z"
        assert "torch=false" in argv
        assert "--no-deps" in argv


def test_uv_lifts_the_cutoff_for_packages_only_today_satisfies() -> None:
    output = (
        "hint: `typing-extensions` was filtered by `exclude-newer` to only include packages "
        "uploaded before 2023-06-01T00:00:00Z.\n"
        "hint: `torch` was filtered by `exclude-newer` to only include ..."
    )
    assert filtered_by_cutoff(output) == {"typing-extensions", "torch"}
    calls: list[list[str]] = []

    def run(argv: list[str]) -> None:
        calls.append(argv)
        if "typing-extensions=false" not in argv:
            raise CommandFailed(argv, 1, "", output)

    notes: list[str] = []
    run_uv_as_of(run, ["uv"], cutoff="2023-06-01T00:00:00Z", exempt=("torch",), notes=notes)
    assert len(calls) == 2
    assert "typing-extensions" in notes[0]
    # A failure the cutoff did not cause is raised as it is, without retries.
    with pytest.raises(CommandFailed):
        run_uv_as_of(
            lambda a: (_ for _ in ()).throw(CommandFailed(a, 1, "", "boom")),
            ["uv"],
            cutoff="2023-06-01T00:00:00Z",
            exempt=(),
            notes=[],
        )


def test_pip_version_that_knows_uploaded_prior_to() -> None:
    assert pip_supports_cutoff("26.0")
    assert pip_supports_cutoff("26.3")
    assert not pip_supports_cutoff("25.3")
    assert not pip_supports_cutoff("garbage")


@pytest.mark.parametrize(
    ("reqs", "mlflow_version", "expected"),
    [
        (("mlflow==2.3.1", "numpy"), "2.3.1", "MLflow 2.3.1 imports pkg_resources"),
        (("mlflow==2.16.0",), "2.3.1", None),  # the declared pin wins over the saving MLflow
        (("mlflow<3,>=2.3",), "2.3.1", "MLflow 2.3.1 imports pkg_resources"),
        (("mlflow<2.10",), "3.1.0", "allows only MLflow releases"),
        (("mlflow",), "3.1.0", None),
        (("numpy",), "2.3.1", None),  # no mlflow in the env: nothing imports it
        (("mlflow==2.3.1", "setuptools==65.0"), "2.3.1", None),  # declared already
    ],
)
def test_setuptools_for_mlflow_that_imports_pkg_resources(
    tmp_path: Path, reqs: tuple[str, ...], mlflow_version: str, expected: str | None
) -> None:
    model = read_model(_model(tmp_path, "2023-01-02 10:00:00", mlflow_version))
    reason = pkg_resources_reason(model, _spec(*reqs))
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and expected in reason


def test_setuptools_is_added_to_the_build_dependencies(tmp_path: Path) -> None:
    model = read_model(_model(tmp_path, "2023-01-02 10:00:00", "2.3.1"))
    spec = apply_as_of(
        _spec("mlflow==2.3.1"), model, Choice("created", "default"), exact_pins=False
    )
    assert [r.text for r in spec.build_dependencies] == ["setuptools<82"]
    assert spec.added == ("added setuptools<82: MLflow 2.3.1 imports pkg_resources",)
    assert spec.to_json()["added"] == list(spec.added)


UV_CONFLICT = """\
  x No solution found when resolving dependencies:
  `-> Because argcomplete==2.0.0 depends on importlib-metadata<5 and you require
      importlib-metadata==5.0.0, we can conclude that argcomplete==2.0.0 cannot be used.
"""
PIP_CONFLICT = """\
ERROR: Cannot install argcomplete==2.0.0 and importlib-metadata==5.0.0 because these package
versions have conflicting dependencies.
The conflict is caused by:
    The user requested importlib-metadata==5.0.0
    argcomplete 2.0.0 depends on importlib-metadata<5; python_version == "3.7"
ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/...
"""
UV_MISSING = """\
  x No solution found when resolving dependencies:
  `-> Because there is no version of numpy==9.9.9 and you require numpy==9.9.9, we can conclude
"""


def test_a_conflict_between_exact_pins_is_told_apart() -> None:
    pinned = _spec("argcomplete==2.0.0", "importlib-metadata==5.0.0")
    assert is_pin_conflict(UV_CONFLICT, pinned)
    assert is_pin_conflict(PIP_CONFLICT, pinned)
    assert not is_pin_conflict(UV_MISSING, pinned)  # a pin the index lacks is another matter
    assert not is_pin_conflict(UV_CONFLICT, _spec("argcomplete>=2", "importlib-metadata==5.0.0"))
    assert not is_pin_conflict(UV_CONFLICT, dataclasses.replace(pinned, requirements=()))


def test_build_diagnosis_names_the_system_package() -> None:
    output = (
        "snappy/snappymodule.cc:33:10: fatal error: snappy-c.h: No such file or directory\n"
        "compilation terminated.\nerror: command '/usr/bin/gcc' failed with exit code 1"
    )
    found = diagnose_build(output)
    assert found is not None
    assert "snappy-c.h" in found.cause
    assert "libsnappy-dev" in found.fix
    no_gcc = diagnose_build("error: command 'gcc' failed: No such file or directory")
    assert no_gcc is not None and "build-essential" in no_gcc.fix
    assert diagnose_build("everything is fine") is None


def test_load_diagnosis_for_numpy_abi_names_the_package() -> None:
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "/env/lib/python3.9/site-packages/mlflow/sklearn/__init__.py", line 1\n'
        '  File "/env/lib/python3.9/site-packages/lightgbm/basic.py", line 20, in <module>\n'
        '  File "/env/lib/python3.9/site-packages/numpy/core/__init__.py", line 1\n'
        "ValueError: numpy.dtype size changed, may indicate binary incompatibility. "
        "Expected 96 from C header, got 88 from PyObject"
    )
    found = diagnose_load(traceback)
    assert found is not None
    assert found.cause.startswith("lightgbm was built against")
    assert "--as-of" in found.fix
    alias = diagnose_load("AttributeError: module 'numpy' has no attribute 'float'")
    assert alias is not None and "numpy 1.24" in alias.cause
    pkg = diagnose_load("ModuleNotFoundError: No module named 'pkg_resources'")
    assert pkg is not None and "setuptools<82" in pkg.fix
    assert diagnose_load("ZeroDivisionError: division by zero") is None


def test_pip_exact_pins_uploaded_after_the_cutoff_are_found_in_pips_output() -> None:
    from envrun.env.asof import pip_missing_pins, without_pip_cutoff

    output = (
        "ERROR: Could not find a version that satisfies the requirement numpy==2.2.6 (from "
        "versions: 1.3.0, 2.2.1)\nERROR: No matching distribution found for numpy==2.2.6\n"
    )
    assert pip_missing_pins(output, ("numpy", "pandas")) == {"numpy"}
    assert pip_missing_pins(output, ("pandas",)) == set()  # not an exact pin: a real failure
    argv = ["pip", "install", "-r", "r.txt", "--uploaded-prior-to", "2025-01-01T00:00:00Z", "-q"]
    assert without_pip_cutoff(argv) == ["pip", "install", "-r", "r.txt", "-q"]
