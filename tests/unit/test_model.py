from __future__ import annotations

import os
from pathlib import Path

import pytest

from envrun.errors import ModelError
from envrun.model.mlmodel import read_model
from tests.helpers import make_model, write


def test_reads_mlflow2_layout(tmp_path: Path) -> None:
    model = make_model(
        tmp_path / "m",
        data="data",
        extra_pyfunc="predict_fn: predict_proba\nmodel_config:\n  k: 1",
        extra_top="""
        signature:
          inputs: '[{"type": "double", "name": "a", "required": true}]'
          outputs: '[{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1]}}]'
          params: null
        saved_input_example_info:
          artifact_path: input_example.json
          serving_input_path: serving_input_example.json
        """,
    )
    (model / "data").mkdir()
    write(model / "input_example.json", '{"columns": ["a"], "data": [[1.0]]}')
    info = read_model(model)
    assert info.pyfunc.loader_module == "my_loader"
    assert info.pyfunc.data == "data"
    assert info.pyfunc.code == "code"
    assert info.pyfunc.predict_fn == "predict_proba"
    assert info.pyfunc.model_config == {"k": 1}
    assert info.pyfunc.env_files == {"conda": "conda.yaml", "virtualenv": "python_env.yaml"}
    assert info.signature_inputs == [{"type": "double", "name": "a", "required": True}]
    assert info.signature_params is None
    assert info.input_example == model / "input_example.json"
    assert info.serving_input_example is None
    assert info.mlflow_version == "3.17.2"


def test_mlflow1_string_env(tmp_path: Path) -> None:
    info = read_model(make_model(tmp_path / "m", env="conda.yaml"))
    assert info.pyfunc.env_files == {"conda": "conda.yaml"}


def test_read_only_model_dir(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    os.chmod(model / "MLmodel", 0o444)
    os.chmod(model, 0o555)
    try:
        assert read_model(model).pyfunc.loader_module == "my_loader"
    finally:
        os.chmod(model, 0o755)


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("code", "/etc", "absolute path"),
        ("code", "../outside", "'..'"),
        ("data", "sub/../../x", "'..'"),
    ],
)
def test_unsafe_paths_refused(tmp_path: Path, field: str, value: str, needle: str) -> None:
    kwargs = {field: value}
    model = make_model(tmp_path / "m", **kwargs)  # type: ignore[arg-type]
    with pytest.raises(ModelError) as err:
        read_model(model)
    assert needle in str(err.value)
    assert value in str(err.value)


def test_symlink_leaving_dir_refused(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    model = make_model(tmp_path / "m", code=None)
    (model / "data").symlink_to(outside)
    with pytest.raises(ModelError, match="symbolic link"):
        read_model(model)


def test_symlink_inside_dir_allowed(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", data="alias")
    (model / "real").mkdir()
    (model / "alias").symlink_to(model / "real")
    assert read_model(model).pyfunc.data == "alias"


def test_missing_mlmodel(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    with pytest.raises(ModelError) as err:
        read_model(tmp_path / "m")
    assert "no MLmodel file" in str(err.value)
    assert "fix:" in str(err.value)


def test_missing_dir(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        read_model(tmp_path / "nope")


def test_broken_yaml_names_line(tmp_path: Path) -> None:
    write(
        tmp_path / "m" / "MLmodel", "flavors:\n  python_function:\n    loader_module: [unclosed\n"
    )
    with pytest.raises(ModelError, match=r"not valid YAML at line \d+"):
        read_model(tmp_path / "m")


def test_no_pyfunc_flavor(tmp_path: Path) -> None:
    write(tmp_path / "m" / "MLmodel", "flavors:\n  sklearn:\n    pickled_model: model.pkl\n")
    with pytest.raises(ModelError) as err:
        read_model(tmp_path / "m")
    assert "python_function" in str(err.value)
    assert "sklearn" in str(err.value)


def test_bad_loader_module_name(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a valid module name"):
        read_model(make_model(tmp_path / "m", loader="my-loader"))


def test_data_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        read_model(make_model(tmp_path / "m", data="weights.npy"))
