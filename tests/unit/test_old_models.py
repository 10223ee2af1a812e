"""Declarations real old MLflow models carry: fallbacks and quirks, one small model dir each."""

from __future__ import annotations

from pathlib import Path

import pytest

from envrun import api
from envrun.drift.run import drift_model
from envrun.env.sources import resolve_spec
from envrun.errors import SpecError
from envrun.model.mlmodel import read_model
from envrun.settings import make_settings
from tests.helpers import make_model, write


def _texts(reqs: tuple) -> list[str]:  # type: ignore[type-arg]
    return [r.text for r in reqs]


def _mlflow1(root: Path, *, mlmodel_extra: str = "") -> Path:
    """An MLflow 1.x layout: `env: conda.yaml`, no python_version, no mlflow_version."""
    root.mkdir(parents=True)
    (root / "MLmodel").write_text(
        "flavors:\n  python_function:\n    loader_module: my_loader\n    env: conda.yaml\n"
        + mlmodel_extra,
        encoding="utf-8",
    )
    return root


# --- conda-only packages -------------------------------------------------------------------


def test_conda_only_package_is_added_even_when_python_env_is_the_source(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(model / "python_env.yaml", "python: 3.8.10\ndependencies:\n  - numpy==1.21.2\n")
    write(
        model / "conda.yaml",
        """
        dependencies:
          - python=3.8.10
          - pytorch::pytorch=1.12
          - numpy=1.21
          - _libgcc_mutex=0.1
          - pip:
            - numpy==1.21.2
        """,
    )
    spec = resolve_spec(read_model(model))
    assert spec.source == "python_env.yaml"
    assert _texts(spec.requirements) == ["numpy==1.21.2", "torch==1.12.*"]
    assert spec.requirements[1].origin == "conda.yaml dependencies[1]"
    added = [w for w in spec.warnings if "added as pip packages" in w]
    assert added == [
        "conda.yaml lists conda packages that python_env.yaml lacks; added as pip packages: "
        "pytorch::pytorch=1.12 -> torch==1.12.*"
    ]
    assert spec.ignored == ("_libgcc_mutex=0.1",)
    with pytest.raises(SpecError) as err:
        resolve_spec(read_model(model), strict=True)
    assert "pytorch::pytorch=1.12" in str(err.value)


def test_conda_source_adds_its_conda_packages_next_to_its_pip_section(tmp_path: Path) -> None:
    model = _mlflow1(tmp_path / "m")
    write(
        model / "conda.yaml",
        """
        dependencies:
          - python=3.8.10
          - scikit-learn=0.24.2
          - py-xgboost=1.5.0
          - pip:
            - mlflow
            - xgboost==1.5.1
        """,
    )
    spec = resolve_spec(read_model(model))
    assert spec.source == "conda.yaml"
    assert _texts(spec.requirements) == ["mlflow", "xgboost==1.5.1", "scikit-learn==0.24.2.*"]
    assert any("that its pip section lacks" in w for w in spec.warnings)


# --- fallbacks ------------------------------------------------------------------------------


def test_missing_declared_python_env_falls_back_to_requirements(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")  # MLmodel names python_env.yaml, which is not there
    write(model / "requirements.txt", "numpy==2.2.6")
    spec = resolve_spec(read_model(model))
    assert spec.source == "requirements.txt"
    assert any("env.virtualenv python_env.yaml, which is missing" in w for w in spec.warnings)
    with pytest.raises(SpecError) as err:
        resolve_spec(read_model(model), strict=True)
    assert err.value.value == "python_env.yaml"
    assert "--strict" in err.value.what


def test_missing_include_falls_back_to_conda_and_keeps_python_env_python(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", python_version="3.8.12")
    write(model / "python_env.yaml", "python: 3.8.10\ndependencies:\n  - -r requirements.txt\n")
    write(model / "conda.yaml", "dependencies:\n  - python=3.8.9\n  - pip:\n    - numpy==1.21\n")
    spec = resolve_spec(read_model(model))
    assert spec.source == "conda.yaml"
    assert _texts(spec.requirements) == ["numpy==1.21"]
    assert any("includes a file that is missing" in w for w in spec.warnings)
    with pytest.raises(SpecError, match="--strict"):
        resolve_spec(read_model(model), strict=True)


def test_python_from_conda_when_mlmodel_and_python_env_have_none(tmp_path: Path) -> None:
    model = _mlflow1(tmp_path / "m")
    write(model / "python_env.yaml", "dependencies:\n  - numpy==1.21\n")
    write(model / "conda.yaml", "dependencies:\n  - python=3.7.12\n  - pip\n")
    info = read_model(model)
    assert info.mlflow_version is None
    assert info.pyfunc.python_version is None
    spec = resolve_spec(info)
    assert spec.source == "python_env.yaml"
    assert (spec.python, spec.python_source) == ("3.7.12", "conda.yaml")


def test_env_string_next_to_python_env_yaml_uses_python_env(tmp_path: Path) -> None:
    model = _mlflow1(tmp_path / "m")
    write(model / "python_env.yaml", "python: 3.9.1\ndependencies: [numpy==1.21]\n")
    write(model / "conda.yaml", "dependencies:\n  - python=3.9.1\n")
    spec = resolve_spec(read_model(model))
    assert (spec.source, spec.python) == ("python_env.yaml", "3.9.1")


def test_no_env_files_at_all(tmp_path: Path) -> None:
    spec = resolve_spec(read_model(_mlflow1(tmp_path / "m")))
    assert spec.source == "none"
    assert spec.python_source == "undeclared"
    assert any("env.conda conda.yaml, which is missing" in w for w in spec.warnings)


def test_broken_conda_yaml_costs_only_its_packages_when_not_the_source(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies: [numpy==2.2.6]\n")
    write(model / "conda.yaml", "dependencies:\n  - python>=3.8\n")
    spec = resolve_spec(read_model(model))
    assert _texts(spec.requirements) == ["numpy==2.2.6"]
    assert any("cannot pick one Python version" in w for w in spec.warnings)


def test_nested_mlmodel_copies_do_not_count(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies: [numpy==2.2.6]\n")
    write(model / "artifacts" / "inner" / "MLmodel", "flavors: [not, a, mapping]\n")
    write(model / "artifacts" / "inner" / "conda.yaml", "dependencies:\n  - pytorch=1.0\n")
    spec = resolve_spec(read_model(model))
    assert _texts(spec.requirements) == ["numpy==2.2.6"]


# --- quirks in requirement lines ------------------------------------------------------------


def test_requirement_quirks(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(
        model / "python_env.yaml",
        """
        python: 3.8.10
        build_dependencies:
          - pip=20.2.4
        dependencies:
          - -r requirements.txt
        """,
    )
    # A space after ==, extras, a package listed twice, and no trailing newline.
    (model / "requirements.txt").write_text(
        "mlflow== 1.26.1\nscikit-learn[alldeps]==0.24.2\nnumpy==1.21\nnumpy==1.21\ncloudpickle",
        encoding="utf-8",
    )
    spec = resolve_spec(read_model(model))
    assert _texts(spec.build_dependencies) == ["pip==20.2.4"]
    assert _texts(spec.requirements) == [
        "mlflow==1.26.1",
        "scikit-learn[alldeps]==0.24.2",
        "numpy==1.21",
        "cloudpickle",
    ]
    assert any("read 'pip=20.2.4' as 'pip==20.2.4'" in w for w in spec.warnings)
    assert any("numpy==1.21 is listed twice" in w for w in spec.warnings)


def test_one_project_pinned_two_ways_is_flagged(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(model / "python_env.yaml", "python: 3.8.10\ndependencies: [numpy==1.21, numpy>=1.20]\n")
    spec = resolve_spec(read_model(model))
    assert len(spec.requirements) == 2
    assert any("installer must satisfy both" in w for w in spec.warnings)


def test_conda_pip_block_without_pip_and_pip_pin(tmp_path: Path) -> None:
    model = _mlflow1(tmp_path / "m")
    (model / "conda.yaml").write_text(
        "dependencies:\n- python=3.8.10\n- pip:\n  - mlflow==1.26.1", encoding="utf-8"
    )
    spec = resolve_spec(read_model(model))
    assert spec.build_dependencies == ()
    assert _texts(spec.requirements) == ["mlflow==1.26.1"]
    write(model / "conda.yaml", "dependencies:\n- python=3.8.10\n- pip=20.2.4\n- pip:\n")
    spec = resolve_spec(read_model(model))
    assert _texts(spec.build_dependencies) == ["pip==20.2.4.*"]


# --- MLmodel quirks ---------------------------------------------------------------------------


def test_absolute_windows_artifact_uri_next_to_a_relative_path(tmp_path: Path) -> None:
    model = make_model(
        tmp_path / "m",
        extra_pyfunc="""
        python_model: python_model.pkl
        artifacts:
          model:
            path: artifacts/model.pkl
            uri: file:///C:/Users/me/mlruns/0/abc/artifacts/model.pkl
        """,
    )
    info = read_model(model)
    assert info.pyfunc.loader_module == "my_loader"


def test_serving_example_under_another_name_and_a_lost_one(tmp_path: Path) -> None:
    model = make_model(
        tmp_path / "m",
        extra_top="""
        saved_input_example_info:
          artifact_path: example_in.json
          serving_input_path: payload.json
        """,
    )
    write(model / "payload.json", '{"inputs": [1]}')
    write(model / "input_example.json", "[1]")
    info = read_model(model)
    assert info.serving_input_example == model / "payload.json"
    assert info.input_example == model / "input_example.json"
    assert any("example_in.json, which is missing" in w for w in info.warnings)
    assert any("example_in.json" in w for w in resolve_spec(info).warnings)


def test_code_dot_is_the_model_dir_itself(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", code=".")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies: [packaging==24.0]\n")
    info = read_model(model)
    assert info.pyfunc.code == "."
    settings = make_settings(cache_dir=str(tmp_path / "cache"), environ={})
    resolution = api.resolve(model, settings)
    assert resolution.spec.source == "python_env.yaml"
    report = drift_model(
        model, settings, skip=frozenset({"lock", "availability", "installed", "host"})
    )
    assert report is not None
