from __future__ import annotations

from pathlib import Path

import pytest

from envrun.env.sources import resolve_spec
from envrun.errors import SpecError
from envrun.model.mlmodel import read_model
from tests.helpers import make_model, write


def _texts(reqs: tuple) -> list[str]:  # type: ignore[type-arg]
    return [r.text for r in reqs]


def test_python_env_yaml_wins(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(
        model / "python_env.yaml",
        "python: 3.10.13\nbuild_dependencies:\n  - pip==24.0\ndependencies:\n  - -r requirements.txt\n",
    )
    write(model / "requirements.txt", "numpy==2.2.6\n")
    write(model / "conda.yaml", "dependencies:\n  - python=3.9\n  - pip:\n    - pandas==2.0\n")
    spec = resolve_spec(read_model(model))
    assert spec.source == "python_env.yaml"
    assert spec.python == "3.10.13"
    assert spec.python_source == "python_env.yaml"
    assert _texts(spec.build_dependencies) == ["pip==24.0"]
    assert _texts(spec.requirements) == ["numpy==2.2.6"]
    paths = [p for p, _ in spec.files]
    assert "python_env.yaml" in paths
    assert "requirements.txt" in paths


def test_requirements_with_python_from_conda(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", env=None, python_version="3.12.1")
    write(model / "requirements.txt", "numpy==2.2.6\n")
    write(model / "conda.yaml", "dependencies:\n  - python=3.10.13\n  - pip\n")
    spec = resolve_spec(read_model(model))
    assert spec.source == "requirements.txt"
    assert spec.python == "3.10.13"
    assert spec.python_source == "conda.yaml"


def test_conda_yaml_pip_section_and_ignored(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", env="conda.yaml")
    write(
        model / "conda.yaml",
        """
        channels: [conda-forge]
        dependencies:
          - python=3.11.7
          - pip<=24.0
          - libgomp
          - conda-forge::openblas
          - pip:
            - numpy==2.2.6
            - --extra-index-url https://example.invalid/simple
        """,
    )
    spec = resolve_spec(read_model(model))
    assert spec.source == "conda.yaml"
    assert spec.python == "3.11.7"
    assert _texts(spec.build_dependencies) == ["pip<=24.0"]
    assert _texts(spec.requirements) == ["numpy==2.2.6"]
    assert spec.index.extra_index_urls == ("https://example.invalid/simple",)
    assert spec.ignored == ("libgomp", "conda-forge::openblas")
    assert any("libgomp" in w for w in spec.warnings)


def test_conda_only_packages_fail_under_strict(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", env="conda.yaml")
    write(model / "conda.yaml", "dependencies:\n  - python=3.11\n  - pytorch=1.12\n")
    with pytest.raises(SpecError) as err:
        resolve_spec(read_model(model), strict=True)
    assert "pytorch=1.12 -> torch==1.12.*" in str(err.value)
    assert "--strict" in str(err.value)


def test_system_packages_are_only_noted_even_under_strict(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", env="conda.yaml")
    write(model / "conda.yaml", "dependencies:\n  - python=3.11\n  - cudatoolkit=11.8\n")
    spec = resolve_spec(read_model(model), strict=True)
    assert spec.ignored == ("cudatoolkit=11.8",)
    assert any("cudatoolkit=11.8 (CUDA runtime" in w for w in spec.warnings)


def test_mlmodel_python_version_is_last_fallback(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", env=None, python_version="3.10.13")
    write(model / "requirements.txt", "numpy==2.2.6\n")
    spec = resolve_spec(read_model(model))
    assert spec.python == "3.10.13"
    assert spec.python_source == "MLmodel python_version"


def test_nothing_declared(tmp_path: Path) -> None:
    spec = resolve_spec(read_model(make_model(tmp_path / "m", env=None)))
    assert spec.source == "none"
    assert spec.requirements == ()
    assert spec.python == "3.11.7"
    assert any("declares no environment" in w for w in spec.warnings)


def test_python_env_unknown_key(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(model / "python_env.yaml", "python: 3.11\ndepndencies: [numpy]\n")
    with pytest.raises(SpecError, match="unknown keys"):
        resolve_spec(read_model(model))


def test_bad_python_version(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(model / "python_env.yaml", "python: latest\n")
    with pytest.raises(SpecError) as err:
        resolve_spec(read_model(model))
    assert "latest" in str(err.value)


def test_conda_python_range_is_refused(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", env="conda.yaml")
    write(model / "conda.yaml", "dependencies:\n  - python>=3.8\n")
    with pytest.raises(SpecError, match="cannot pick one Python version"):
        resolve_spec(read_model(model))


def test_env_files_named_in_mlmodel_are_used(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", env=None, extra_pyfunc="env:\n  virtualenv: envs/py.yaml")
    write(model / "envs" / "py.yaml", "python: 3.11.7\ndependencies:\n  - -r reqs.txt\n")
    write(model / "envs" / "reqs.txt", "packaging==24.0\n")
    spec = resolve_spec(read_model(model))
    assert spec.source == "py.yaml"
    assert _texts(spec.requirements) == ["packaging==24.0"]
