"""The worker, run for real as ``python -I _runner.py oneshot CTL`` against small synthetic models."""

from __future__ import annotations

import importlib
import json
import math
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from envrun.run.bridge import RUNNER
from envrun.run.values import decode
from envrun.run.worker import failure, oneshot

try:
    import pandas as pd
except ImportError:  # pragma: no cover - pandas is optional on the host
    pd = None

needs_pandas = pytest.mark.skipif(pd is None, reason="pandas is not installed on the host")


@dataclass
class Run:
    code: int
    response: dict[str, Any]
    ctl: Path
    stdout: str = ""
    stderr: str = ""

    @property
    def error(self) -> dict[str, Any]:
        assert self.response["status"] == "error", self.response
        return self.response["error"]

    def output(self) -> Any:
        assert self.response["status"] == "ok", self.response["error"]
        return decode(self.response["output"], self.ctl)

    def predictions_text(self) -> str:
        return (self.ctl / self.response["predictions_file"]).read_text()


class Model:
    """A model directory whose code/ holds one module with ``_load_pyfunc``."""

    def __init__(self, root: Path, source: str, *, data: str | None = None) -> None:
        self.root = root
        self.module = f"envrun_test_model_{uuid.uuid4().hex[:10]}"
        self.dir = root / "model"
        (self.dir / "code").mkdir(parents=True)
        (self.dir / "code" / f"{self.module}.py").write_text(textwrap.dedent(source))
        self.data = data
        self.runs = 0

    def request(
        self,
        payload: Any,
        *,
        fmt: str = "json",
        inputs: list[dict[str, Any]] | None = None,
        param_specs: list[dict[str, Any]] | None = None,
        params: dict[str, Any] | None = None,
        enforce: bool = True,
        packages: bool = False,
        model_config: dict[str, Any] | None = None,
        loader: str | None = None,
        code: str | None = "code",
    ) -> Path:
        self.runs += 1
        ctl = self.root / f"ctl{self.runs}"
        ctl.mkdir()
        source = ctl / f"input.{fmt}"
        if isinstance(payload, bytes):
            source.write_bytes(payload)
        elif isinstance(payload, str):
            source.write_text(payload)
        elif fmt == "npy":
            np.save(source, payload)
        elif fmt == "npz":
            np.savez(source, **payload)
        else:
            source.write_text(json.dumps(payload))
        request = {
            "protocol": 1,
            "model": {
                "dir": str(self.dir),
                "loader_module": loader or self.module,
                "code": code,
                "data": self.data,
                "model_config": model_config,
                "predict_fn": "predict",
            },
            "signature": {"inputs": inputs, "params": param_specs},
            "input": {"path": str(source), "format": fmt},
            "params": params,
            "enforce_signature": enforce,
            "want_packages": packages,
        }
        (ctl / "request.json").write_text(json.dumps(request))
        return ctl

    def run(self, payload: Any = None, **options: Any) -> Run:
        if payload is None:
            payload = {"inputs": [[1.0, 2.0]]}
        return run_worker(self.request(payload, **options))


def run_worker(ctl: Path) -> Run:
    proc = subprocess.run(
        [sys.executable, "-I", str(RUNNER), "oneshot", str(ctl)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    response = json.loads((ctl / "response.json").read_text())
    return Run(proc.returncode, response, ctl, proc.stdout, proc.stderr)


def returning(expression: str, *, imports: str = "", signature: str = "self, data") -> str:
    """Source of a model module whose predict returns ``expression``."""
    return "\n".join(
        [
            "import numpy as np",
            textwrap.dedent(imports),
            "class Model:",
            f"    def predict({signature}):",
            f"        return ({expression.strip()})",
            "",
            "def _load_pyfunc(path):",
            "    return Model()",
            "",
        ]
    )


def same(left: Any, right: Any) -> bool:
    """Equality that treats NaN as equal to NaN and checks numpy dtypes."""
    if isinstance(left, np.ndarray) or isinstance(right, np.ndarray):
        return (
            type(left) is type(right)
            and left.dtype == right.dtype
            and left.shape == right.shape
            and all(
                same(a, b)
                for a, b in zip(left.ravel().tolist(), right.ravel().tolist(), strict=True)
            )
        )
    if isinstance(left, float) and isinstance(right, float):
        return (math.isnan(left) and math.isnan(right)) or left == right
    if isinstance(left, (list, tuple)):
        return (
            type(left) is type(right)
            and len(left) == len(right)
            and all(same(a, b) for a, b in zip(left, right, strict=True))
        )
    if isinstance(left, dict):
        return type(right) is dict and same(list(left.items()), list(right.items()))
    return type(left) is type(right) and left == right


# ---------------------------------------------------------------- outputs


def test_float64_array_keeps_nan_and_infinities(tmp_path: Path) -> None:
    model = Model(tmp_path, returning("np.array([1.5, np.nan, np.inf, -np.inf])"))
    run = model.run()
    assert run.code == 0
    tree = run.response["output"]
    assert tree["kind"] == "ndarray" and tree["dtype"] == "<f8" and tree["shape"] == [4]
    assert same(run.output(), np.array([1.5, np.nan, np.inf, -np.inf]))
    assert run.predictions_text() == '{"predictions": [1.5, NaN, Infinity, -Infinity]}'


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool", "float16", "uint8", "int32"])
def test_numeric_arrays_keep_dtype_and_shape(tmp_path: Path, dtype: str) -> None:
    model = Model(tmp_path, returning(f"(np.arange(6) % 3).astype({dtype!r}).reshape(3, 2)"))
    run = model.run()
    expected = (np.arange(6) % 3).astype(dtype).reshape(3, 2)
    assert same(run.output(), expected)
    assert run.response["output"]["file"].endswith(".npy")
    assert json.loads(run.predictions_text()) == {"predictions": expected.tolist()}


def test_nested_containers_strings_bytes_and_scalars(tmp_path: Path) -> None:
    expression = """{
        "list": [1, 2.5, None, "s", True, float("nan")],
        "tuple": (1, (2, 3)),
        3: b"\\x00\\xffraw",
        "unicode": "h\\u00e9llo \\u2713",
        "strings": np.array(["ab", "c"]),
        "objects": np.array([1, "x", None, {"k": [1]}], dtype=object),
        "f32": np.float32(1.5),
        "i64": np.int64(-7),
        "flag": np.bool_(True),
        "when": np.datetime64("2024-05-01T12:00:00.000000001", "ns"),
        "nested": {"inner": [np.array([1, 2], dtype=np.int8)]},
    }"""
    run = Model(tmp_path, returning(expression)).run()
    value = run.output()
    assert list(value) == [
        "list", "tuple", 3, "unicode", "strings", "objects", "f32", "i64", "flag", "when",
        "nested",
    ]  # fmt: skip
    assert same(value["list"], [1, 2.5, None, "s", True, float("nan")])
    assert value["tuple"] == (1, (2, 3))
    assert value[3] == b"\x00\xffraw"
    assert value["unicode"] == "h\u00e9llo \u2713"
    assert same(value["strings"], np.array(["ab", "c"]))
    objects = value["objects"]
    assert objects.dtype == object and objects.tolist() == [1, "x", None, {"k": [1]}]
    assert type(value["f32"]) is np.float32 and value["f32"] == np.float32(1.5)
    assert type(value["i64"]) is np.int64 and value["i64"] == -7
    assert type(value["flag"]) is np.bool_ and value["flag"]
    assert value["when"] == np.datetime64("2024-05-01T12:00:00.000000001", "ns")
    assert same(value["nested"]["inner"][0], np.array([1, 2], dtype=np.int8))


def test_plain_string_output(tmp_path: Path) -> None:
    run = Model(tmp_path, returning('"r\\u00e9sum\\u00e9"')).run()
    assert run.response["output"] == {"kind": "str", "value": "r\u00e9sum\u00e9"}
    assert json.loads(run.predictions_text()) == {"predictions": "r\u00e9sum\u00e9"}


@needs_pandas
def test_dataframe_with_mixed_dtypes_and_column_order(tmp_path: Path) -> None:
    source = returning(
        """pd.DataFrame({
            "zeta": [0.5, np.nan, 2.0],
            "alpha": ["x", None, "z"],
            "mid": np.array([1, 2, 3], dtype="int64"),
            "flag": [True, False, True],
            "kind": pd.Categorical(["b", "a", "b"], categories=["b", "a"], ordered=True),
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
        }, index=pd.Index(["r1", "r2", "r3"], name="id"))""",
        imports="import pandas as pd",
    )
    run = Model(tmp_path, source).run()
    frame = run.output()
    expected = pd.DataFrame(
        {
            "zeta": [0.5, np.nan, 2.0],
            "alpha": ["x", None, "z"],
            "mid": np.array([1, 2, 3], dtype="int64"),
            "flag": [True, False, True],
            "kind": pd.Categorical(["b", "a", "b"], categories=["b", "a"], ordered=True),
            "when": pd.to_datetime(["2024-01-01", "2024-01-02", None]),
        },
        index=pd.Index(["r1", "r2", "r3"], name="id"),
    )
    pd.testing.assert_frame_equal(frame, expected)
    assert list(frame.columns) == ["zeta", "alpha", "mid", "flag", "kind", "when"]
    records = json.loads(run.predictions_text())["predictions"]
    assert [list(record) for record in records] == [list(expected.columns)] * 3
    assert records[0]["kind"] == "b"
    assert records[2]["when"] == "NaT"  # MLflow's encoder calls isoformat() on NaT too
    assert math.isnan(records[1]["zeta"])


@needs_pandas
def test_series_output_renders_like_mlflow(tmp_path: Path) -> None:
    source = returning(
        'pd.Series([0.25, 0.75], name="proba", index=[10, 11])', imports="import pandas as pd"
    )
    run = Model(tmp_path, source).run()
    pd.testing.assert_series_equal(
        run.output(), pd.Series([0.25, 0.75], name="proba", index=[10, 11])
    )
    # MLflow renders a Series as pandas.DataFrame(series).to_dict(orient="records").
    assert json.loads(run.predictions_text()) == {"predictions": [{"proba": 0.25}, {"proba": 0.75}]}


def test_unencodable_output_is_kept_as_repr_and_flagged(tmp_path: Path) -> None:
    source = returning("Thing()", imports="class Thing:\n    __repr__ = lambda s: 'T!'")
    run = Model(tmp_path, source).run()
    assert run.code == 0
    assert run.response["output"]["kind"] == "repr"
    assert run.response["output"]["repr"] == "T!"
    assert run.response["predictions_file"] is None
    assert any("repr" in warning for warning in run.response["warnings"])


# ---------------------------------------------------------------- failures


def test_model_exception_is_reported_with_its_traceback(tmp_path: Path) -> None:
    source = """
        class Model:
            def predict(self, data):
                raise ValueError("no good: " + str(len(data)))

        def _load_pyfunc(path):
            return Model()
        """
    run = Model(tmp_path, source).run()
    assert run.code == 4
    error = run.error
    assert error["stage"] == "predict" and error["type"] == "ValueError"
    assert error["message"] == "no good: 1"
    assert "raise ValueError" in error["traceback"] and "Traceback" in error["traceback"]
    assert run.response["output"] is None and run.response["predictions_file"] is None
    assert not (run.ctl / "predictions.json").exists()


def test_system_exit_in_model_is_an_error_not_a_crash(tmp_path: Path) -> None:
    run = Model(tmp_path, returning("sys.exit(9)", imports="import sys")).run()
    assert run.code == 4
    assert run.error["type"] == "SystemExit"


def test_unknown_loader_module(tmp_path: Path) -> None:
    model = Model(tmp_path, returning("1"))
    run = model.run(loader="no_such_flavor.loader", code=None)
    assert run.code == 4
    error = run.error
    assert error["stage"] == "load" and error["type"] == "ModuleNotFoundError"
    assert "cannot import the model's loader module 'no_such_flavor.loader'" in error["message"]
    assert "'no_such_flavor' is not installed" in error["message"]
    assert error["missing_module"] == "no_such_flavor"


def test_loader_module_importing_a_missing_package(tmp_path: Path) -> None:
    source = "import envrun_missing_dependency_xyz\n\ndef _load_pyfunc(path):\n    return None\n"
    model = Model(tmp_path, source)
    run = model.run()
    assert run.code == 4
    message = run.error["message"]
    assert f"loader module {model.module!r} imports 'envrun_missing_dependency_xyz'" in message
    assert run.error["missing_module"] == "envrun_missing_dependency_xyz"


def test_missing_package_needed_while_loading(tmp_path: Path) -> None:
    source = """
        def _load_pyfunc(path):
            import envrun_missing_pickle_dep
        """
    run = Model(tmp_path, source).run()
    assert run.code == 4
    assert "loading the model needs module 'envrun_missing_pickle_dep'" in run.error["message"]


def test_malformed_request(tmp_path: Path) -> None:
    (tmp_path / "request.json").write_text('{"protocol": 1, "model": ')
    run = run_worker(tmp_path)
    assert run.code == 3
    assert run.error["stage"] == "request"


def test_missing_request_and_wrong_protocol(tmp_path: Path) -> None:
    run = run_worker(tmp_path)
    assert run.code == 3 and "request.json" in run.error["message"]
    model = Model(tmp_path, returning("1"))
    ctl = model.request({"inputs": [1]})
    request = json.loads((ctl / "request.json").read_text())
    request["protocol"] = 99
    (ctl / "request.json").write_text(json.dumps(request))
    run = run_worker(ctl)
    assert run.code == 3 and "protocol" in run.error["message"]


def test_unreadable_input(tmp_path: Path) -> None:
    model = Model(tmp_path, returning("1"))
    ctl = model.request({"inputs": [1]})
    (ctl / "input.json").unlink()
    run = run_worker(ctl)
    assert run.code == 3
    assert run.error["stage"] == "input" and "input.json" in run.error["message"]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"inputs": [1], "instances": [2]}, "exactly one of"),
        ({"data": [1]}, "found keys ['data']"),
        ([1, 2], "got a list"),
        ({"dataframe_split": [[1, 2]]}, "dataframe_split must be an object"),
        ({"inputs": [1], "params": [1]}, "'params'"),
    ],
)
def test_bad_json_shapes(tmp_path: Path, payload: Any, fragment: str) -> None:
    run = Model(tmp_path, returning("1")).run(payload)
    assert run.code == 3
    assert run.error["stage"] == "input"
    assert fragment in run.error["message"]


def test_model_printing_to_stdout_does_not_disturb_the_protocol(tmp_path: Path) -> None:
    source = """
        import sys
        print("loading...")

        class Model:
            def predict(self, data):
                print("predicting", data)
                sys.stderr.write("a warning\\n")
                return [1, 2]

        def _load_pyfunc(path):
            return Model()
        """
    run = Model(tmp_path, source).run()
    assert run.code == 0
    assert run.output() == [1, 2]
    assert "loading..." in run.stdout and "predicting" in run.stdout
    assert run.stderr == "a warning\n"


# ---------------------------------------------------------------- loading and params


def test_data_path_and_model_config(tmp_path: Path) -> None:
    source = """
        class Model:
            def __init__(self, path, config):
                self.path, self.config = path, config
            def predict(self, data):
                with open(self.path) as handle:
                    return [handle.read(), self.config]

        def _load_pyfunc(path, model_config=None):
            return Model(path, model_config)
        """
    model = Model(tmp_path, source, data="weights.txt")
    (model.dir / "weights.txt").write_text("w=1")
    run = model.run(model_config={"temperature": 0.1})
    assert run.output() == ["w=1", {"temperature": 0.1}]


def test_model_config_not_passed_to_a_one_argument_loader(tmp_path: Path) -> None:
    run = Model(tmp_path, returning("'ok'")).run(model_config={"a": 1})
    assert run.output() == "ok"
    assert any("model_config ignored" in w for w in run.response["warnings"])


PARAMS_MODEL = returning("params", signature="self, data, params=None")
PARAM_SPECS = [
    {"name": "temperature", "type": "double", "default": 1.0, "shape": None},
    {"name": "top_k", "type": "long", "default": 3, "shape": None},
]


def test_params_from_request_with_signature_defaults(tmp_path: Path) -> None:
    run = Model(tmp_path, PARAMS_MODEL).run(param_specs=PARAM_SPECS, params={"temperature": 1})
    assert same(run.output(), {"temperature": 1.0, "top_k": 3})


def test_params_from_json_unless_the_request_has_them(tmp_path: Path) -> None:
    model = Model(tmp_path, PARAMS_MODEL)
    payload = {"inputs": [1], "params": {"top_k": 5}}
    assert model.run(payload, param_specs=PARAM_SPECS).output() == {
        "temperature": 1.0,
        "top_k": 5,
    }
    overridden = model.run(payload, param_specs=PARAM_SPECS, params={"top_k": 7})
    assert overridden.output() == {"temperature": 1.0, "top_k": 7}


def test_params_of_wrong_type_are_refused(tmp_path: Path) -> None:
    run = Model(tmp_path, PARAMS_MODEL).run(param_specs=PARAM_SPECS, params={"top_k": 2.5})
    assert run.code == 3 and "top_k" in run.error["message"]


def test_params_without_a_params_schema_are_dropped_like_mlflow(tmp_path: Path) -> None:
    model = Model(tmp_path, PARAMS_MODEL)
    run = model.run(params={"x": 1})
    assert run.output() == {}
    assert any("params ignored" in w for w in run.response["warnings"])
    assert model.run(params={"x": 1}, enforce=False).output() == {"x": 1}


def test_predict_without_params_argument_is_called_without_params(tmp_path: Path) -> None:
    run = Model(tmp_path, returning("'called'")).run(param_specs=PARAM_SPECS, params={"top_k": 1})
    assert run.output() == "called"


# ---------------------------------------------------------------- input parsing


def test_instances_records_become_a_dict_of_arrays(tmp_path: Path) -> None:
    expression = "{k: (type(v).__name__, v.dtype.str, v.tolist()) for k, v in data.items()}"
    payload = {"instances": [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]}
    run = Model(tmp_path, returning(expression)).run(payload)
    assert run.output() == {
        "a": ("ndarray", "<i8", [1, 2]),
        "b": ("ndarray", "<U1", ["x", "y"]),
    }


def test_inputs_list_becomes_an_array(tmp_path: Path) -> None:
    run = Model(tmp_path, returning("data")).run({"inputs": [[1, 2], [3, 4]]})
    assert same(run.output(), np.array([[1, 2], [3, 4]]))


def test_npy_and_npz_inputs(tmp_path: Path) -> None:
    model = Model(tmp_path, returning("data"))
    array = np.arange(4, dtype=np.float32).reshape(2, 2)
    assert same(model.run(array, fmt="npy").output(), array)
    pair = model.run({"x": array, "y": np.array([1, 2])}, fmt="npz").output()
    assert list(pair) == ["x", "y"] and same(pair["x"], array)


@needs_pandas
def test_csv_input_with_a_column_signature(tmp_path: Path) -> None:
    expression = "[[str(t) for t in data.dtypes], data.to_dict(orient='list')]"
    inputs = [{"name": "a", "type": "double"}, {"name": "code", "type": "string"}]
    run = Model(tmp_path, returning(expression)).run(
        "a,code\n1,007\n2,010\n", fmt="csv", inputs=inputs
    )
    dtypes, columns = run.output()
    assert dtypes[0] == "float64"
    assert columns == {"a": [1.0, 2.0], "code": ["007", "010"]}


@needs_pandas
def test_dataframe_input_reaches_the_model_as_a_dataframe(tmp_path: Path) -> None:
    expression = "[type(data).__name__, list(data.columns), data.shape]"
    payload = {"dataframe_records": [{"b": 1, "a": "x"}, {"b": 2, "a": "y"}]}
    assert Model(tmp_path, returning(expression)).run(payload).output() == [
        "DataFrame",
        ["b", "a"],
        (2, 2),
    ]


@needs_pandas
def test_dataframe_input_without_pandas_in_the_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_pandas(name: str) -> Any:
        return None if name == "pandas" else importlib.import_module(name)

    monkeypatch.setattr(failure, "optional", no_pandas)
    model = Model(tmp_path, returning("1"))
    ctl = model.request({"dataframe_split": {"columns": ["a"], "data": [[1]]}})
    assert oneshot.serve(str(ctl)) == 3
    error = json.loads((ctl / "response.json").read_text())["error"]
    assert error["stage"] == "input"
    assert "pandas" in error["message"] and "'inputs' or 'instances'" in error["message"]


# ---------------------------------------------------------------- signature enforcement

COLUMNS = [{"name": "a", "type": "double"}, {"name": "b", "type": "long"}]
DESCRIBE = "[list(data.columns), [str(t) for t in data.dtypes], data.values.tolist()]"


@needs_pandas
def test_missing_required_column(tmp_path: Path) -> None:
    payload = {"dataframe_split": {"columns": ["a", "c"], "data": [[1.0, 2]]}}
    run = Model(tmp_path, returning(DESCRIBE)).run(payload, inputs=COLUMNS)
    assert run.code == 3
    assert run.error["stage"] == "input"
    message = run.error["message"]
    assert "['b']" in message and "columns received: ['a', 'c']" in message


@needs_pandas
def test_optional_column_may_be_missing(tmp_path: Path) -> None:
    inputs = [{"name": "a", "type": "double"}, {"name": "b", "type": "long", "required": False}]
    payload = {"dataframe_split": {"columns": ["a"], "data": [[1.0]]}}
    run = Model(tmp_path, returning(DESCRIBE)).run(payload, inputs=inputs)
    assert run.output() == [["a"], ["float64"], [[1.0]]]


@needs_pandas
def test_extra_columns_dropped_and_order_follows_the_signature(tmp_path: Path) -> None:
    payload = {"dataframe_split": {"columns": ["extra", "b", "a"], "data": [["x", 2, 1.5]]}}
    run = Model(tmp_path, returning(DESCRIBE)).run(payload, inputs=COLUMNS)
    assert run.output() == [["a", "b"], ["float64", "int64"], [[1.5, 2.0]]]
    assert run.response["warnings"] == [
        "input columns not in the model signature were dropped: extra"
    ]


@needs_pandas
def test_long_to_double_and_integral_float_to_long(tmp_path: Path) -> None:
    payload = {"dataframe_records": [{"a": 1, "b": 2.0}, {"a": 3, "b": 4.0}]}
    run = Model(tmp_path, returning(DESCRIBE)).run(payload, inputs=COLUMNS)
    assert run.output() == [["a", "b"], ["float64", "int64"], [[1.0, 2.0], [3.0, 4.0]]]


@needs_pandas
@pytest.mark.parametrize(
    ("rows", "fragment"),
    [
        ([{"a": 1.0, "b": 2.5}], "fractional"),
        ([{"a": 1.0, "b": None}, {"a": 1.0, "b": 1}], "missing"),
        ([{"a": "x", "b": 1}], "only numbers"),
    ],
)
def test_lossy_column_conversions_are_refused(
    tmp_path: Path, rows: list[dict[str, Any]], fragment: str
) -> None:
    run = Model(tmp_path, returning(DESCRIBE)).run({"dataframe_records": rows}, inputs=COLUMNS)
    assert run.code == 3
    message = run.error["message"]
    assert fragment in message
    assert "the model signature declares" in message and "input has dtype" in message


@needs_pandas
def test_inputs_dict_with_a_column_signature_becomes_a_dataframe(tmp_path: Path) -> None:
    payload = {"inputs": {"a": [1, 2], "b": [3, 4]}}
    run = Model(tmp_path, returning(DESCRIBE)).run(payload, inputs=COLUMNS)
    assert run.output() == [["a", "b"], ["float64", "int64"], [[1.0, 3.0], [2.0, 4.0]]]


@needs_pandas
def test_inputs_single_record_with_a_column_signature(tmp_path: Path) -> None:
    inputs = [{"name": "a", "type": "double"}, {"name": "s", "type": "string"}]
    run = Model(tmp_path, returning(DESCRIBE)).run({"inputs": {"a": 2, "s": "x"}}, inputs=inputs)
    assert run.output()[2] == [[2.0, "x"]]


TENSOR = [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 2]}}]


def test_tensor_signature_casts_safely(tmp_path: Path) -> None:
    run = Model(tmp_path, returning("data")).run({"inputs": [[1, 2], [3, 4]]}, inputs=TENSOR)
    assert same(run.output(), np.array([[1, 2], [3, 4]], dtype=np.float32))


def _tensor(dtype: str, shape: list[int]) -> dict[str, Any]:
    return {"type": "tensor", "tensor-spec": {"dtype": dtype, "shape": shape}}


@pytest.mark.parametrize(
    ("dtype", "payload"), [("uint8", [[0, 255]]), ("uint64", [[0, 2**40]]), ("bool", [[0, 1]])]
)
def test_json_integers_take_the_signatures_integer_dtype(
    tmp_path: Path, dtype: str, payload: list[list[int]]
) -> None:
    # As MLflow's scoring server builds the array with the signature's dtype.
    run = Model(tmp_path, returning("data")).run(
        {"inputs": payload}, inputs=[_tensor(dtype, [-1, 2])]
    )
    assert same(run.output(), np.array(payload, dtype=dtype))


@pytest.mark.parametrize(
    ("payload", "inputs", "fragment"),
    [
        ({"inputs": [[1, 2, 3]]}, TENSOR, "shape (1, 3)"),
        (
            {"inputs": [[1.5]]},
            [{"type": "tensor", "tensor-spec": {"dtype": "int64", "shape": [-1, 1]}}],
            "dtype float64",
        ),
        ({"inputs": [["a", "b"]]}, TENSOR, "dtype <U1"),
        ({"inputs": [[-1, 2]]}, [_tensor("uint8", [-1, 2])], "dtype int64"),
        ({"inputs": [[256]]}, [_tensor("uint8", [-1, 1])], "dtype int64"),
        ({"inputs": [[0, 2]]}, [_tensor("bool", [-1, 2])], "dtype int64"),
    ],
)
def test_tensor_signature_refusals(
    tmp_path: Path, payload: Any, inputs: list[dict[str, Any]], fragment: str
) -> None:
    run = Model(tmp_path, returning("data")).run(payload, inputs=inputs)
    assert run.code == 3
    assert fragment in run.error["message"]


def test_named_tensor_signature(tmp_path: Path) -> None:
    inputs = [
        {"name": "x", "type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}},
        {"name": "y", "type": "tensor", "tensor-spec": {"dtype": "int32", "shape": [-1]}},
    ]
    model = Model(tmp_path, returning("data"))
    run = model.run({"inputs": {"y": [1, 2], "x": [1, 2], "z": [0]}}, inputs=inputs)
    value = run.output()
    assert list(value) == ["x", "y"]
    assert value["x"].dtype == np.float64 and value["y"].dtype == np.int32
    missing = model.run({"inputs": {"x": [1.0]}}, inputs=inputs)
    assert missing.code == 3 and "['y']" in missing.error["message"]


def test_enforcement_can_be_switched_off(tmp_path: Path) -> None:
    payload = {"inputs": [[1.5, 2.5, 3.5]]}
    run = Model(tmp_path, returning("data")).run(payload, inputs=TENSOR, enforce=False)
    assert same(run.output(), np.array([[1.5, 2.5, 3.5]]))


# ---------------------------------------------------------------- response and in-process


def test_response_metadata(tmp_path: Path) -> None:
    model = Model(tmp_path, returning("1"))
    run = model.run(packages=True)
    response = run.response
    assert response["protocol"] == 1 and response["status"] == "ok"
    assert set(response["timings"]) == {"input", "load", "predict", "encode"}
    assert response["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert response["python"]["executable"] == sys.executable
    assert response["packages"]["numpy"] == np.__version__
    assert model.run().response["packages"] is None
    assert sorted(p.name for p in run.ctl.iterdir()) == [
        "input.json",
        "predictions.json",
        "request.json",
        "response.json",
    ]


def _comparable(response: dict[str, Any]) -> dict[str, Any]:
    response = dict(response, timings=None)
    if response["error"]:
        response["error"] = dict(response["error"], traceback=None)
    return response


@pytest.mark.parametrize(
    "expression", ["{'a': np.array([1.5, np.nan]), 'b': [np.int32(3), 'x']}", "1 / 0"]
)
def test_in_process_serve_matches_the_subprocess(tmp_path: Path, expression: str) -> None:
    model = Model(tmp_path, returning(expression))
    payload = {"inputs": [[1, 2]], "params": {"k": 1}}
    subprocess_run = model.run(payload)
    ctl = model.request(payload)
    path_before = list(sys.path)
    try:
        code = oneshot.serve(str(ctl))
    finally:
        sys.modules.pop(model.module, None)
    assert sys.path == path_before
    response = json.loads((ctl / "response.json").read_text())
    assert code == subprocess_run.code
    assert _comparable(response) == _comparable(subprocess_run.response)
    if code == 0:
        assert same(decode(response["output"], ctl), subprocess_run.output())


def test_main_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert oneshot.main([]) == 2
    assert "usage" in capsys.readouterr().err
