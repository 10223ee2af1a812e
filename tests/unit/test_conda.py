from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from envrun.env.conda import (
    conda_names,
    conda_to_pep440,
    parse_conda_env,
    pypi_name,
    python_version,
    system_reason,
)
from envrun.errors import SpecError
from tests.helpers import ROOT


@pytest.mark.parametrize(
    ("conda", "pip"),
    [
        ("", ""),
        ("=1.2", "==1.2.*"),
        ("=1.2.3", "==1.2.3.*"),
        ("==1.2", "==1.2"),
        ("=1.21.2=py39h20f2e39_0", "==1.21.2"),
        (" 1.2 py39_0", "==1.2"),
        (" 1.2", "==1.2"),
        ("1.2.*", "==1.2.*"),
        (" 1.2*", "==1.2.*"),
        (">=1.2,<2", ">=1.2,<2"),
        (">=1.2*", ">=1.2"),
        ("!=1.3*", "!=1.3.*"),
        ("~=1.4", "~=1.4"),
        ("== 1.26.1", "==1.26.1"),
        (" >= 1.0", ">=1.0"),
        ("=*", ""),
        ("[version='>=1.8,<2']", ">=1.8,<2"),
        ("[build=py39_0]", ""),
        ("1.2|1.3", None),
        ("=1.1.1k", None),
    ],
)
def test_version_specs_translate_to_pep440(conda: str, pip: str | None) -> None:
    assert conda_to_pep440(conda) == pip


@pytest.mark.parametrize(
    ("conda", "pypi"),
    [
        ("pytorch", "torch"),
        ("py-xgboost", "xgboost"),
        ("matplotlib-base", "matplotlib"),
        ("msgpack-python", "msgpack"),
        ("scikit-learn", "scikit-learn"),
        ("tensorflow", "tensorflow"),
        ("PyYAML", "pyyaml"),
    ],
)
def test_conda_names_map_to_pypi_names(conda: str, pypi: str) -> None:
    assert pypi_name(conda) == pypi


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("_libgcc_mutex", "conda mutex"),
        ("libgcc-ng", "system library"),
        ("binutils", "toolchain"),
        ("gcc_linux-64", "toolchain"),
        ("openssl", "system library"),
        ("mkl", "BLAS"),
        ("cudatoolkit", "CUDA"),
        ("conda", "conda's own"),
        ("r-base", "R package"),
    ],
)
def test_system_and_toolchain_packages_have_a_reason(name: str, reason: str) -> None:
    assert reason in (system_reason(name) or "")


@pytest.mark.parametrize("name", ["librosa", "libcst", "numpy", "pytorch", "lightgbm"])
def test_python_projects_are_not_system_packages(name: str) -> None:
    assert system_reason(name) is None


def test_shipped_table_records_its_source_and_stays_small() -> None:
    table = conda_names()
    assert table.source["package"] == "conda-pypi"
    assert table.source["version"]
    assert len(table.source["wheel_sha256"]) == 64
    assert 20 < len(table.names) < 2000
    # Only names that differ: an identity entry would be dead weight.
    assert all(k != v for k, v in table.names.items())


def test_full_environment_file_is_split_by_what_envrun_does_with_each_entry() -> None:
    env = parse_conda_env(
        {
            "channels": ["pytorch", "conda-forge"],
            "dependencies": [
                "_libgcc_mutex=0.1=conda_forge",
                "python=3.8.10=h12debd9_8",
                "pip=20.2.4",
                "conda-forge::numpy=1.21.2=py38h20f2e39_0",
                "pytorch::pytorch=1.12",
                "scikit-learn==0.24.2",
                None,
                "cudatoolkit=11.3",
                {"pip": ["mlflow== 1.26.1", 3]},
            ],
        },
        name="conda.yaml",
    )
    assert env.python == "3.8.10"
    assert env.build == ("pip==20.2.4.*",)
    assert env.pip == ("mlflow== 1.26.1", "3")
    assert [p.requirement for p in env.packages] == [
        "numpy==1.21.2",
        "torch==1.12.*",
        "scikit-learn==0.24.2",
    ]
    assert [p.index for p in env.packages] == [3, 4, 5]
    assert [i.conda for i in env.ignored] == ["_libgcc_mutex=0.1=conda_forge", "cudatoolkit=11.3"]


def test_pip_block_without_pip_and_an_empty_pip_block() -> None:
    env = parse_conda_env({"dependencies": [{"pip": None}, {"pip": ["numpy"]}]}, name="c.yaml")
    assert env.pip == ("numpy",)
    assert env.build == ()


def test_untranslatable_version_keeps_the_package_with_a_note() -> None:
    env = parse_conda_env({"dependencies": ["numpy 1.2|1.3"]}, name="c.yaml")
    assert env.packages[0].requirement == "numpy"
    assert "no pip form" in env.packages[0].note


@pytest.mark.parametrize(
    "data",
    [
        ["numpy"],
        {"dependencies": "numpy"},
        {"dependencies": [{"conda": ["x"]}]},
        {"dependencies": [{"pip": "numpy"}]},
        {"dependencies": [["numpy"]]},
    ],
)
def test_shapes_no_conda_accepts_are_spec_errors(data: object) -> None:
    with pytest.raises(SpecError) as err:
        parse_conda_env(data, name="conda.yaml")
    assert err.value.fix


@pytest.mark.parametrize(
    ("spec", "version"),
    [("=3.8", "3.8"), ("==3.8.10", "3.8.10"), (" 3.8.10 h1", "3.8.10"), ("", None)],
)
def test_python_version(spec: str, version: str | None) -> None:
    assert python_version(spec, "conda.yaml") == version


def test_python_range_is_refused() -> None:
    with pytest.raises(SpecError, match="cannot pick one Python version"):
        python_version(">=3.8", "conda.yaml")


def _generator() -> ModuleType:
    path = ROOT / "scripts" / "gen_conda_map.py"
    spec = importlib.util.spec_from_file_location("gen_conda_map", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_conda_map", module)
    spec.loader.exec_module(module)
    return module


def test_generator_reverses_the_mapping_and_keeps_only_differing_names(tmp_path: Path) -> None:
    gen = _generator()
    source = {
        "torch": {"pypi_name": "torch", "conda_name": "pytorch", "mapping_source": "static"},
        "alpha-vantage": {"pypi_name": "alpha-vantage", "conda_name": "alpha_vantage"},
        "numpy": {"pypi_name": "numpy", "conda_name": "numpy"},
        "pyqt4": {"pypi_name": "pyqt4", "conda_name": "pyqt", "delimiter_min": "4.0.0"},
        "pyqt5": {"pypi_name": "pyqt5", "conda_name": "pyqt", "delimiter_min": "5.0.0"},
        "a" * 40: {"pypi_name": "a" * 40, "conda_name": "junk"},
        "psycopg2-binary": {"pypi_name": "psycopg2-binary", "conda_name": "numpy"},
    }
    assert gen.reverse_mapping(source) == {"pyqt": "pyqt5", "pytorch": "torch"}


def test_generated_file_is_what_the_generator_writes_from_its_recorded_source() -> None:
    gen = _generator()
    shipped = (ROOT / "envrun" / "env" / "conda_names.json").read_text(encoding="utf-8")
    doc = json.loads(shipped)
    assert gen.render(doc) == shipped  # stable formatting: regenerating gives no spurious diff
    assert doc["source"]["version"] == gen.SOURCE_VERSION
