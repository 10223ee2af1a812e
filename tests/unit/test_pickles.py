from __future__ import annotations

import bz2
import datetime
import decimal
import gzip
import importlib
import io
import json
import lzma
import pickle
import pickletools
import sys
import types
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from envrun.env.sources import resolve_spec
from envrun.model.mlmodel import read_model
from envrun.pickles.preflight import (
    Preflight,
    modules_provided_by,
    preflight,
    preflight_model,
    scan_pickle,
)
from tests.helpers import MODELS, copy_model, tree_snapshot, write

FAKE_SOURCE = """
import json

import fancydep


class Booster:
    def __init__(self):
        self.depth = 3


class Other:
    pass


def predict(x):
    return json.dumps(fancydep.scale(x))
"""


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[types.ModuleType]:
    """`fancyboost`, a package that only this test's sys.path provides (with its dep fancydep)."""
    site = tmp_path / "site"
    write(site / "fancyboost" / "__init__.py", FAKE_SOURCE)
    write(site / "fancydep.py", "def scale(x):\n    return x\n")
    monkeypatch.syspath_prepend(str(site))
    yield importlib.import_module("fancyboost")
    for name in ("fancyboost", "fancydep"):
        sys.modules.pop(name, None)


def model_dir(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "model"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    root.mkdir(exist_ok=True)
    return root


def run(
    root: Path,
    reqs: tuple[str, ...] = (),
    python: str | None = "3.11.7",
    code: tuple[Path, ...] = (),
) -> Preflight:
    return preflight(
        root,
        python_version=python,
        requirement_names=reqs,
        requirements_file="requirements.txt",
        code_dirs=code,
    )


def summary(result: Preflight) -> list[tuple[str, str | None]]:
    return [(f.severity, f.module) for f in result.findings]


def global_pickle(module: str, name: str) -> bytes:
    """The smallest pickle that names a global: GLOBAL 'module name', STOP (protocol 0)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n."


def short_str(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data  # SHORT_BINUNICODE


# --- what a pickle references ------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 1, 2, 3, 4, 5])
def test_finds_the_class_and_the_protocol(
    tmp_path: Path, fake: types.ModuleType, protocol: int
) -> None:
    root = model_dir(tmp_path, {"python_model.pkl": pickle.dumps(fake.Booster(), protocol)})
    info = scan_pickle(root / "python_model.pkl", root=root)
    assert info.path == "python_model.pkl"
    assert info.protocol == protocol
    assert "fancyboost.Booster" in info.globals
    assert info.error is None
    # Protocols 0-1 also name copy_reg / __builtin__: Python 2 spellings of stdlib modules.
    assert summary(run(root)) == [("high", "fancyboost")]


def test_undeclared_module_message_and_fix(tmp_path: Path, fake: types.ModuleType) -> None:
    root = model_dir(tmp_path, {"python_model.pkl": pickle.dumps(fake.Booster())})
    (finding,) = run(root, reqs=("numpy",)).findings
    assert finding.severity == "high"
    assert finding.file == "python_model.pkl"
    assert finding.module == "fancyboost"
    assert finding.message == (
        "python_model.pkl needs module `fancyboost`, which requirements.txt does not declare"
    )
    assert finding.fix == (
        "add fancyboost to requirements.txt, or add the module to the model's code paths"
    )


def test_declared_module_is_fine(tmp_path: Path, fake: types.ModuleType) -> None:
    root = model_dir(tmp_path, {"python_model.pkl": pickle.dumps(fake.Booster())})
    assert run(root, reqs=("FancyBoost",)).findings == ()


@pytest.mark.parametrize("layout", ["fancyboost/__init__.py", "fancyboost.py"])
def test_module_in_code_paths_is_fine(tmp_path: Path, fake: types.ModuleType, layout: str) -> None:
    root = model_dir(tmp_path, {"python_model.pkl": pickle.dumps(fake.Booster())})
    write(root / "code" / layout, "class Booster: ...\n")
    assert run(root, code=(root / "code",)).findings == ()


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_stdlib_modules_are_fine(tmp_path: Path, protocol: int) -> None:
    value = {
        "od": OrderedDict(a=1),
        "day": datetime.date(2024, 1, 2),
        "dec": decimal.Decimal("1.5"),
        "path": PurePosixPath("a/b"),
        "raw": b"\x00\xff",
    }
    root = model_dir(tmp_path, {"python_model.pkl": pickle.dumps(value, protocol)})
    result = run(root)
    assert result.findings == ()
    assert "collections" in result.pickles[0].modules


@pytest.mark.parametrize(
    ("module", "dist"),
    [
        ("sklearn.linear_model._logistic", "scikit-learn"),
        ("yaml.nodes", "PyYAML"),
        ("cv2", "opencv-python-headless"),
        ("PIL.Image", "Pillow"),
        ("dateutil.tz", "python-dateutil"),
        ("google.protobuf.message", "protobuf"),
        ("my_pkg.sub", "My.Pkg"),
    ],
)
def test_distribution_names_map_to_modules(tmp_path: Path, module: str, dist: str) -> None:
    root = model_dir(tmp_path, {"model.pkl": global_pickle(module, "Thing")})
    assert run(root, reqs=(dist,)).findings == ()
    (finding,) = run(root).findings
    assert finding.module == module.split(".", maxsplit=1)[0]


def test_fix_names_the_distribution_to_add(tmp_path: Path) -> None:
    root = model_dir(tmp_path, {"model.pkl": global_pickle("sklearn.pipeline", "Pipeline")})
    (finding,) = run(root).findings
    assert finding.fix.startswith("add scikit-learn to requirements.txt")


@pytest.mark.parametrize(
    ("dist", "modules"),
    [
        ("scikit-learn", ("sklearn",)),
        ("PyYAML", ("yaml", "_yaml")),
        ("opencv-contrib-python", ("cv2",)),
        ("beautifulsoup4", ("bs4",)),
        ("attrs", ("attr", "attrs")),
        ("llama_cpp.python", ("llama_cpp",)),
        ("Foo.Bar-baz", ("foo_bar_baz",)),
        ("google-cloud-storage", ("google", "google_cloud_storage")),
    ],
)
def test_modules_provided_by(dist: str, modules: tuple[str, ...]) -> None:
    assert modules_provided_by(dist) == modules


def test_transitive_dependency_is_medium(tmp_path: Path) -> None:
    root = model_dir(
        tmp_path,
        {
            "a.pkl": global_pickle("numpy._core.multiarray", "_reconstruct"),
            "b.pkl": global_pickle("pandas.core.frame", "DataFrame"),
        },
    )
    result = run(root, reqs=("scikit-learn", "mlflow"))
    assert summary(result) == [("medium", "numpy"), ("medium", "pandas")]
    numpy, pandas = result.findings
    assert numpy.message == (
        "a.pkl needs module `numpy`, which requirements.txt does not declare; "
        "it is likely pulled in by mlflow"
    )
    assert numpy.fix.startswith("add numpy to requirements.txt")
    assert pandas.message.endswith("it is likely pulled in by mlflow")
    assert summary(run(root, reqs=("scikit-learn",))) == [("high", "pandas"), ("medium", "numpy")]


def test_main_module_reference_is_high(tmp_path: Path) -> None:
    root = model_dir(tmp_path, {"python_model.pkl": global_pickle("__main__", "MyModel")})
    (finding,) = run(root).findings
    assert (finding.severity, finding.module) == ("high", "__main__")
    assert "`__main__.MyModel`" in finding.message


def test_stdlib_module_removed_in_target_python(tmp_path: Path) -> None:
    root = model_dir(tmp_path, {"m.pkl": global_pickle("distutils.version", "LooseVersion")})
    assert run(root, python="3.11.7").findings == ()
    (finding,) = run(root, python="3.12.1").findings
    assert finding.severity == "high"
    assert "add setuptools" in finding.fix
    assert run(root, python="3.12.1", reqs=("setuptools",)).findings == ()


# --- protocols ---------------------------------------------------------------------------------


def test_protocol_against_target_python(tmp_path: Path, fake: types.ModuleType) -> None:
    root = model_dir(tmp_path, {"python_model.pkl": pickle.dumps(fake.Booster(), protocol=5)})
    old = run(root, reqs=("fancyboost",), python="3.7.9")
    (finding,) = old.findings
    assert finding.severity == "high"
    assert finding.message == (
        "python_model.pkl uses pickle protocol 5, which Python 3.7.9 cannot read "
        "(needs Python >= 3.8)"
    )
    assert "protocol 4" in finding.fix
    assert run(root, reqs=("fancyboost",), python="3.11.7").findings == ()
    assert summary(run(root, reqs=("fancyboost",), python=None)) == [("low", None)]


def test_stack_global_reads_memoized_strings(tmp_path: Path, fake: types.ModuleType) -> None:
    data = pickle.dumps([fake.Booster(), fake.Other(), fake.Booster()], protocol=4)
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    # The module name is written once; the second STACK_GLOBAL takes it from the memo.
    assert ops.count(("SHORT_BINUNICODE", "fancyboost")) == 1
    assert [name for name, _ in ops].count("STACK_GLOBAL") == 2
    root = model_dir(tmp_path, {"m.pkl": data})
    info = scan_pickle(root / "m.pkl")
    assert info.modules == ("fancyboost",)
    assert info.globals == ("fancyboost.Booster", "fancyboost.Other")


def test_stack_global_with_explicit_put_and_get(tmp_path: Path) -> None:
    data = (
        b"\x80\x04"
        + short_str("pkg.mod")
        + b"q\x07"  # BINPUT 7
        + short_str("A")
        + b"\x93"  # STACK_GLOBAL
        + b"0"  # POP
        + b"h\x07"  # BINGET 7
        + short_str("B")
        + b"\x93."
    )
    root = model_dir(tmp_path, {"m.pkl": data})
    assert scan_pickle(root / "m.pkl").globals == ("pkg.mod.A", "pkg.mod.B")


def test_large_payloads_are_skipped_not_read(tmp_path: Path, fake: types.ModuleType) -> None:
    data = pickle.dumps((b"x" * (3 << 20), "y" * (2 << 20), fake.Booster()), protocol=4)
    root = model_dir(tmp_path, {"m.pkl": data})
    info = scan_pickle(root / "m.pkl")
    assert info.error is None
    assert info.globals == ("fancyboost.Booster",)


def test_cloudpickle_by_value_needs_cloudpickle_and_its_imports(
    tmp_path: Path, fake: types.ModuleType
) -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    cloudpickle.register_pickle_by_value(fake)
    try:
        data = cloudpickle.dumps(fake.predict)
    finally:
        cloudpickle.unregister_pickle_by_value(fake)
    root = model_dir(tmp_path, {"python_model.pkl": data})
    info = scan_pickle(root / "python_model.pkl")
    assert "cloudpickle.cloudpickle" in info.modules
    assert {"json", "fancydep"} <= set(info.modules)  # subimport("...") of the function's globals
    assert summary(run(root)) == [("high", "cloudpickle"), ("high", "fancydep")]
    assert run(root, reqs=("cloudpickle", "fancydep")).findings == ()


# --- file formats ------------------------------------------------------------------------------

COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "zlib": zlib.compress,
    "gzip": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "lzma": lambda data: lzma.compress(data, format=lzma.FORMAT_ALONE),
}


@pytest.mark.parametrize("kind", sorted(COMPRESSORS))
def test_compressed_joblib_files(tmp_path: Path, fake: types.ModuleType, kind: str) -> None:
    data = COMPRESSORS[kind](pickle.dumps({"model": fake.Booster()}, protocol=4))
    root = model_dir(tmp_path, {"artifacts/model.joblib": data})
    info = scan_pickle(root / "artifacts" / "model.joblib", root=root)
    assert info.path == "artifacts/model.joblib"
    assert (info.protocol, info.modules, info.error) == (4, ("fancyboost",), None)


def test_lz4_is_reported_not_guessed(tmp_path: Path) -> None:
    root = model_dir(tmp_path, {"model.joblib": b"\x04\x22\x4d\x18" + b"\x00" * 20})
    result = run(root)
    assert result.pickles[0].error is None
    (finding,) = result.findings
    assert finding.severity == "info"
    assert "cannot inspect lz4-compressed data" in finding.message


def joblib_like(value: Any, np: Any, protocol: int = 4) -> bytes:
    """Write `value` the way joblib.dump does: each array's raw bytes follow its wrapper."""
    wrapper_cls = sys.modules["joblib.numpy_pickle"].NumpyArrayWrapper
    out = io.BytesIO()
    python_pickler: Any = pickle._Pickler  # joblib subclasses the pure-Python pickler too

    class Pickler(python_pickler):  # type: ignore[misc]
        def save(self, obj: Any, save_persistent_id: bool = True) -> None:
            if not isinstance(obj, np.ndarray):
                super().save(obj, save_persistent_id)
                return
            super().save(wrapper_cls(np.ndarray, obj.shape, "C", obj.dtype, True, 16))
            if self.proto >= 4:
                self.framer.commit_frame(force=True)
            if obj.dtype.hasobject:
                pickle.dump(obj, out, protocol=5)
                return
            padding = 16 - (out.tell() + 1) % 16
            out.write(bytes([padding]) + b"\xff" * padding + obj.tobytes("C"))

    Pickler(out, protocol=protocol).dump(value)
    return out.getvalue()


@pytest.fixture
def fake_joblib(monkeypatch: pytest.MonkeyPatch) -> None:
    class NumpyArrayWrapper:
        def __init__(self, *args: Any) -> None:
            names = ("subclass", "shape", "order", "dtype", "allow_mmap")
            self.__dict__.update(zip((*names, "numpy_array_alignment_bytes"), args, strict=True))

    package, module = types.ModuleType("joblib"), types.ModuleType("joblib.numpy_pickle")
    NumpyArrayWrapper.__module__ = module.__name__
    NumpyArrayWrapper.__qualname__ = "NumpyArrayWrapper"
    module.NumpyArrayWrapper = NumpyArrayWrapper  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "joblib", package)
    monkeypatch.setitem(sys.modules, "joblib.numpy_pickle", module)


@pytest.mark.parametrize("compress", [None, "zlib"])
def test_joblib_arrays_are_stepped_over(
    tmp_path: Path, fake: types.ModuleType, fake_joblib: None, compress: str | None
) -> None:
    np = pytest.importorskip("numpy")
    value = {
        "floats": np.arange(12.0).reshape(3, 4),
        "text": np.array(["ab", "cde"]),
        "objects": np.array([fake.Other(), None], dtype=object),
        "records": np.zeros(2, dtype=[("a", "<i4"), ("b", "<f8")]),
        "model": fake.Booster(),  # after the arrays: only found if their bytes were skipped
    }
    data = joblib_like(value, np)
    root = model_dir(tmp_path, {"m.joblib": COMPRESSORS[compress](data) if compress else data})
    info = scan_pickle(root / "m.joblib")
    assert (info.error, info.notes) == (None, ())
    assert {
        "fancyboost.Booster",
        "fancyboost.Other",
        "joblib.numpy_pickle.NumpyArrayWrapper",
    } <= set(info.globals)
    assert info.protocol == 5  # object arrays are nested pickles at protocol 5


def torch_zip(prefix: str = "archive") -> bytes:
    data = (
        b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01(X\x01\x00\x00\x00wq\x02"
        b"ctorch._utils\n_rebuild_tensor_v2\nq\x03)Rq\x04u."
    )
    pickletools.dis(data, out=io.StringIO())  # a valid stream
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(f"{prefix}/data.pkl", data)
        archive.writestr(f"{prefix}/version", "3\n")
        archive.writestr(f"{prefix}/data/0", b"\x00" * 64)
    return out.getvalue()


def test_torch_zip_archive(tmp_path: Path) -> None:
    nested = io.BytesIO()
    with zipfile.ZipFile(nested, "w") as archive:  # torch.export's .pt2 holds a .pt inside
        archive.writestr("model/archive_format", "pt2")
        archive.writestr("model/data/sample_inputs/model.pt", torch_zip())
    root = model_dir(tmp_path, {"data/model.pth": torch_zip(), "data/model.pt2": nested.getvalue()})
    for rel in ("data/model.pth", "data/model.pt2"):
        info = scan_pickle(root / rel, root=root)
        assert (info.path, info.protocol, info.error) == (rel, 2, None)
        assert info.modules == ("collections", "torch._utils")
    assert summary(run(root)) == [("high", "torch"), ("high", "torch")]
    assert run(root, reqs=("torch",)).findings == ()


def test_torch_legacy_format(tmp_path: Path) -> None:
    streams = [
        pickle.dumps(0x1950A86A20F9469CFC6C, 2),
        pickle.dumps(1001, 2),
        pickle.dumps({"protocol_version": 1001}, 2),
        global_pickle("torch._utils", "_rebuild_tensor_v2"),
        pickle.dumps(["0"], 2),
    ]
    root = model_dir(tmp_path, {"old.pt": b"".join(streams) + b"\x80" * 32})
    info = scan_pickle(root / "old.pt")
    assert (info.error, info.modules) == (None, ("torch._utils",))


def test_skops_schema_is_read_instead_of_pickles(tmp_path: Path) -> None:
    schema = {
        "__class__": "Pipeline",
        "__module__": "sklearn.pipeline",
        "__loader__": "ObjectNode",
        "content": {
            "steps": [{"__class__": "XGBClassifier", "__module__": "xgboost.sklearn"}],
            "func": {
                "__loader__": "FunctionNode",
                "content": {"module_path": "numpy", "function": "sqrt"},
            },
        },
        "protocol": 2,
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("schema.json", json.dumps(schema))
        archive.writestr("1234.npy", b"\x93NUMPY")
    root = model_dir(tmp_path, {"model.skops": out.getvalue()})
    result = run(root, reqs=("scikit-learn", "skops"))
    (info,) = result.pickles
    assert info.protocol is None
    assert info.modules == ("numpy", "sklearn.pipeline", "xgboost.sklearn")
    assert "numpy.sqrt" in info.globals
    assert summary(result) == [("high", "xgboost"), ("medium", "numpy")]


def test_corrupt_files_are_findings_not_crashes(tmp_path: Path, fake: types.ModuleType) -> None:
    good = pickle.dumps(fake.Booster(), protocol=4)
    root = model_dir(
        tmp_path,
        {
            "python_model.pkl": b"not a pickle",
            "artifacts/cut.pkl": good[:-6],
            "artifacts/empty.joblib": b"",
            "artifacts/broken.joblib": zlib.compress(good)[:-8],
        },
    )
    info = scan_pickle(root / "python_model.pkl")
    assert info.error == "not a pickle stream (opcode error at byte 0: unknown opcode b'n')"
    result = run(root, reqs=("fancyboost",))
    by_file = {f.file: f for f in result.findings}
    assert by_file["python_model.pkl"].severity == "high"  # the file MLflow loads
    assert by_file["python_model.pkl"].message == (
        "python_model.pkl is not a pickle stream (opcode error at byte 0: unknown opcode b'n')"
    )
    assert by_file["artifacts/cut.pkl"].severity == "medium"  # a stray file may be unused
    assert "opcode error at byte" in by_file["artifacts/cut.pkl"].message
    assert "the data ends before STOP" in by_file["artifacts/empty.joblib"].message
    assert by_file["artifacts/broken.joblib"].message.startswith("artifacts/broken.joblib is not")


# --- the model directory -----------------------------------------------------------------------


def test_links_leaving_the_model_are_not_followed(tmp_path: Path, fake: types.ModuleType) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.pkl").write_bytes(pickle.dumps(fake.Booster()))
    root = model_dir(tmp_path, {"inside.pkl": global_pickle("collections", "OrderedDict")})
    (root / "link.pkl").symlink_to(outside / "secret.pkl")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    result = run(root)
    assert [p.path for p in result.pickles] == ["inside.pkl"]
    assert result.findings == ()


def test_to_json(tmp_path: Path, fake: types.ModuleType) -> None:
    root = model_dir(tmp_path, {"python_model.pkl": pickle.dumps(fake.Booster())})
    data = json.loads(json.dumps(run(root).to_json()))
    assert data["pickles"][0]["globals"] == ["fancyboost.Booster"]
    assert data["findings"][0]["module"] == "fancyboost"


def write_env(root: Path, requirements: str) -> None:
    write(root / "requirements.txt", requirements)
    write(root / "python_env.yaml", "python: 3.11.7\ndependencies:\n- -r requirements.txt\n")


def test_preflight_model_reads_flavor_files_and_names_the_requirements_file(tmp_path: Path) -> None:
    root = tmp_path / "m"
    write(
        root / "MLmodel",
        """
        flavors:
          python_function:
            loader_module: mlflow.sklearn
            model_path: model.bin
            python_version: 3.11.7
            env:
              virtualenv: python_env.yaml
          sklearn:
            pickled_model: model.bin
            serialization_format: cloudpickle
            settings: settings.json
            code: null
        """,
    )
    write_env(root, "scikit-learn==1.5.0\n")
    (root / "model.bin").write_bytes(b"\x80\x02" + global_pickle("sklearn.pipeline", "Pipeline"))
    write(root / "settings.json", "{}")
    (root / "extra.pkl").write_bytes(global_pickle("lightgbm.sklearn", "LGBMClassifier"))
    model = read_model(root)
    result = preflight_model(model, resolve_spec(model))
    assert [p.path for p in result.pickles] == ["extra.pkl", "model.bin"]
    (finding,) = result.findings
    assert finding.message == (
        "extra.pkl needs module `lightgbm`, which requirements.txt does not declare"
    )


def test_preflight_model_reads_local_wheels_and_code(tmp_path: Path) -> None:
    root = tmp_path / "m"
    write(
        root / "MLmodel",
        """
        flavors:
          python_function:
            loader_module: my_loader
            code: code
            python_version: 3.11.7
            env:
              virtualenv: python_env.yaml
        """,
    )
    write(root / "code" / "my_loader.py", "")
    wheel = root / "wheels" / "odd_dist-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("oddname/__init__.py", "class Thing: ...\n")
        archive.writestr("odd_dist-1.0.dist-info/METADATA", "Name: odd-dist\nVersion: 1.0\n")
    write_env(root, "./wheels/odd_dist-1.0-py3-none-any.whl\n")
    (root / "python_model.pkl").write_bytes(global_pickle("oddname", "Thing"))
    (root / "helper.pkl").write_bytes(global_pickle("my_loader", "Helper"))
    model = read_model(root)
    assert preflight_model(model, resolve_spec(model)).findings == ()


FIXTURE_PICKLES = {
    "mlflow_pyfunc": {"python_model.pkl": ("churn_model", "mlflow.models.signature")},
    "mlflow_sklearn": {"model.skops": ("builtins", "numpy", "sklearn.linear_model._logistic")},
    "mlflow_pytorch": {"data/model.pt2": ("collections", "torch", "torch._utils")},
    "torch_custom": {"data/state_dict.pt": ("collections", "torch", "torch._utils")},
    "numpy_custom": {},
    "mlflow1_legacy": {},
}


@pytest.mark.parametrize("name", sorted(FIXTURE_PICKLES))
def test_real_fixture_models_have_no_high_findings(tmp_path: Path, name: str) -> None:
    root = copy_model(name, tmp_path / name)
    before = tree_snapshot(root)
    model = read_model(root)
    result = preflight_model(model, resolve_spec(model))
    assert {p.path: p.modules for p in result.pickles} == FIXTURE_PICKLES[name]
    assert all(p.error is None for p in result.pickles)
    assert [f for f in result.findings if f.severity == "high"] == []
    assert tree_snapshot(root) == before  # nothing written


def test_fixture_pyfunc_against_an_old_python() -> None:
    model = read_model(MODELS / "mlflow_pyfunc")
    spec = resolve_spec(model)
    result = preflight(
        model.path,
        python_version="3.7.9",
        requirement_names=[r.name for r in spec.requirements if r.name],
        requirements_file="requirements.txt",
        code_dirs=[model.path / "code"],
    )
    assert summary(result) == [("high", None)]  # protocol 5, written by cloudpickle on 3.11
