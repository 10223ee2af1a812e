"""The pieces of `envrun check` that need no env: signature paths, variant specs, baselines, inputs."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from envrun.check.baseline import StoredOutput, load_baseline, save_baseline
from envrun.check.run import model_inputs
from envrun.check.sigcheck import check_column, check_json_input, natural_dtype
from envrun.check.variants import variant_spec
from envrun.env.requirements import IndexOptions, ReqLine
from envrun.env.spec import EnvSpec
from envrun.errors import InputError
from envrun.model.mlmodel import model_digest, read_model
from tests.helpers import MODELS, make_model, write

# What MLflow 3.17.2 does with JSON values on its two paths (read off real runs of
# infer_and_parse_data and _enforce_schema): declared type, values, JSON path, in-process.
MLFLOW_TABLE = [
    ("long", [1, 2], None),  # both accept: no finding
    (
        "long",
        [1.5, 2.0],
        ("error", "cast to 1 (value changed)", "refused: float64 to int64 is not a safe cast"),
    ),
    (
        "long",
        [True, False],
        ("error", "cast to 1 (value changed)", "refused: bool to int64 is not a safe cast"),
    ),
    (
        "double",
        [5, 6],
        (
            "warning",
            "cast to float64 (values kept)",
            "refused: int64 to float64 is not a safe cast",
        ),
    ),
    ("double", [1.5, 2.0], None),
    ("double", [1.0, None], None),
    (
        "integer",
        [2**53 + 1, 1],
        ("error", "cast to 1 (value changed)", "refused: int64 to int32 is not a safe cast"),
    ),
    (
        "boolean",
        [2.0, 0.0],
        ("error", "cast to true (value changed)", "refused: float64 to bool is not a safe cast"),
    ),
    ("boolean", [True, False], None),
    (
        "float",
        [1.5],
        (
            "warning",
            "cast to float32 (values kept)",
            "refused: float64 to float32 is not a safe cast",
        ),
    ),
    ("string", ["a", "b"], None),
    ("long", ["a"], None),  # refused on both paths: consistent
]


@pytest.mark.parametrize(("declared", "values", "expected"), MLFLOW_TABLE)
def test_signature_paths_match_mlflow(
    declared: str, values: list[object], expected: object
) -> None:
    finding = check_column("c", declared, values)
    if expected is None:
        assert finding is None
        return
    assert finding is not None
    assert (finding.severity, finding.json_path, finding.in_process) == expected


def test_signature_string_column_fed_numbers() -> None:
    finding = check_column("s", "string", [1, 2])
    assert finding is not None and finding.severity == "error"
    assert "passes 1 on unchanged (int), not as a string" in finding.message


def test_natural_dtypes() -> None:
    assert natural_dtype([1, 2]) == "int64"
    assert natural_dtype([1, 2.5]) == "float64"
    assert natural_dtype([1, None]) == "float64"
    assert natural_dtype([True, None]) == "object"
    assert natural_dtype(["a", None]) == "str"
    assert natural_dtype([2**70]) == "object"


def test_signature_check_reads_every_dataframe_form(tmp_path: Path) -> None:
    sig = [{"name": "n", "type": "long"}, {"name": "x", "type": "double"}]
    forms = [
        {"dataframe_split": {"columns": ["n", "x"], "data": [[1.5, 1.0]]}},
        {"dataframe_records": [{"n": 1.5, "x": 1.0}]},
        {"inputs": {"n": [1.5], "x": [1.0]}},
        {"columns": ["n", "x"], "data": [[1.5, 1.0]]},  # input_example.json's split form
    ]
    for form in forms:
        path = tmp_path / "in.json"
        path.write_text(json.dumps(form))
        (finding,) = check_json_input(path, sig)
        assert finding.column == "n" and finding.json_value == "1.5"
    tensor = [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]
    assert check_json_input(path, tensor) == []
    (tmp_path / "bad.json").write_text("{not json")
    assert check_json_input(tmp_path / "bad.json", sig) == []


def _spec(lines: list[ReqLine], constraints: tuple[ReqLine, ...] = ()) -> EnvSpec:
    return EnvSpec(
        python="3.11.7",
        python_source="python_env.yaml",
        build_dependencies=(),
        requirements=tuple(lines),
        constraints=constraints,
        index=IndexOptions(),
        files=(("requirements.txt", "0" * 64),),
        source="python_env.yaml",
    )


def test_upgraded_variant_relaxes_pins_keeps_markers_and_local_wheels() -> None:
    spec = _spec(
        [
            ReqLine("numpy==2.2.6", "numpy", ("sha256:aa",), "requirements.txt:1", None),
            ReqLine(
                "scikit-learn[alldeps]==1.9.1; python_version >= '3.9'",
                "scikit-learn",
                (),
                "r:2",
                None,
            ),
            ReqLine(
                "./wheels/pkg-1.0-py3-none-any.whl",
                "pkg",
                (),
                "r:3",
                "/m/wheels/pkg-1.0-py3-none-any.whl",
            ),
        ],
        constraints=(ReqLine("scipy==1.14.0", "scipy", (), "c:1", None),),
    )
    variant, changes = variant_spec(spec, upgrade=True, today=datetime.date(2026, 11, 22))
    assert [r.text for r in variant.requirements] == [
        "numpy",
        'scikit-learn[alldeps]; python_version >= "3.9"',
        "./wheels/pkg-1.0-py3-none-any.whl",
    ]
    assert all(not r.hashes for r in variant.requirements)
    assert variant.constraints == ()
    assert [c.name for c in changes] == ["numpy", "scikit-learn"]
    tomorrow, _ = variant_spec(spec, upgrade=True, today=datetime.date(2026, 11, 23))
    assert tomorrow.files != variant.files  # one upgraded env per day


def test_with_overrides_replace_and_add() -> None:
    spec = _spec([ReqLine("numpy==2.2.6", "numpy", (), "r:1", None)])
    variant, changes = variant_spec(
        spec, upgrade=False, overrides=["NumPy==2.3.0", "scipy==1.14.1"]
    )
    assert [r.text for r in variant.requirements] == ["NumPy==2.3.0", "scipy==1.14.1"]
    assert [c.to_json() for c in changes] == [
        {"name": "numpy", "from": "numpy==2.2.6", "to": "NumPy==2.3.0"},
        {"name": "scipy", "from": None, "to": "scipy==1.14.1"},
    ]
    with pytest.raises(InputError, match="--with takes a requirement"):
        variant_spec(spec, upgrade=False, overrides=["numpy=2"])


def test_baseline_round_trip_and_errors(tmp_path: Path) -> None:
    out = StoredOutput(
        "in.json",
        "ab" * 32,
        {"kind": "ndarray", "file": "out-0.npy"},
        {"out-0.npy": b"\x93NUMPY"},
        "s",
    )
    path = save_baseline(
        tmp_path / "sub" / "b.json",
        created="2026-11-22T00:00:00Z",
        model={"digest": "x"},
        side={"python": {}},
        outputs=[out],
    )
    loaded = load_baseline(path)
    assert loaded.find("ab" * 32) == out
    assert loaded.find("cd" * 32) is None
    with pytest.raises(InputError, match="baseline file not found"):
        load_baseline(tmp_path / "missing.json")
    (tmp_path / "other.json").write_text('{"schema": "something/1"}')
    with pytest.raises(InputError, match="is not an envrun baseline"):
        load_baseline(tmp_path / "other.json")
    (tmp_path / "damaged.json").write_text(
        '{"schema": "envrun.baseline/1", "outputs": [{"input": 1}]}'
    )
    with pytest.raises(InputError, match="damaged outputs"):
        load_baseline(tmp_path / "damaged.json")


def test_model_inputs_default_to_the_models_examples(tmp_path: Path) -> None:
    model = read_model(MODELS / "mlflow_sklearn")
    (item,) = model_inputs(model, [])
    assert item.name == "serving_input_example.json" and "serving_input_example" in item.origin
    bare = read_model(
        make_model(tmp_path / "bare", loader_source="def _load_pyfunc(p):\n    return None\n")
    )
    with pytest.raises(InputError, match="no input example"):
        model_inputs(bare, [])
    write(tmp_path / "a" / "x.json", "{}")
    write(tmp_path / "b" / "x.json", "{}")
    names = [
        i.name
        for i in model_inputs(
            bare, [str(tmp_path / "a" / "x.json"), str(tmp_path / "b" / "x.json")]
        )
    ]
    assert names[0] == "x.json" and names[1].endswith("b/x.json")


def test_model_digest_changes_with_content(tmp_path: Path) -> None:
    root = make_model(tmp_path / "m", loader_source="def _load_pyfunc(p):\n    return None\n")
    first = model_digest(root)
    write(root / "code" / "__pycache__" / "x.pyc", "bytecode")
    assert model_digest(root) == first  # bytecode is not part of the model
    write(root / "code" / "my_loader.py", "def _load_pyfunc(p):\n    return 1\n")
    assert model_digest(root).sha256 != first.sha256
