"""The pickle safety scan: a corpus of malicious pickles, every one flagged, and clean fixtures.

Nothing here unpickles a malicious stream: they are written with pickle.dumps (which only names
the callables), cloudpickle.dumps or joblib.dump, or assembled opcode by opcode and checked with
pickletools.dis, which reads without running anything.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import pickletools
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from envrun.errors import EXIT_USAGE, UnsafeModelError
from envrun.pickles.formats import render_json, render_sarif, render_table, to_document
from envrun.pickles.safety import (
    SCHEMA,
    Finding,
    SafetyReport,
    refuse_if_dangerous,
    scan_file,
    scan_model,
)
from envrun.pickles.tables import classify
from tests.helpers import FIXTURES, MODELS


class Reduces:
    """An object whose pickle calls `func(*args)` when loaded."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.func, self.args


def u(text: str) -> bytes:
    """BINUNICODE: a string literal any protocol from 1 on reads."""
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def g(module: str, name: str) -> bytes:
    """GLOBAL, the text opcode every protocol reads."""
    return f"c{module}\n{name}\n".encode()


def assembled(body: bytes, proto: int = 2) -> bytes:
    data = bytes([0x80, proto]) + body + b"."
    pickletools.dis(data, out=io.StringIO())  # a well-formed stream, read without running it
    return data


CALL1 = b"\x85R"  # TUPLE1 REDUCE: call with one argument
CALL2 = b"\x86R"  # TUPLE2 REDUCE


def model_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    root = tmp_path / "model"
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def dangerous(report: SafetyReport) -> set[str]:
    return {f.callable for f in report.dangerous}


def only(report: SafetyReport, name: str) -> Finding:
    (found,) = [f for f in report.dangerous if f.callable == name]
    return found


# --- the malicious corpus ----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", range(6))
def test_os_system_through_reduce_at_every_protocol(tmp_path: Path, protocol: int) -> None:
    data = pickle.dumps(Reduces(os.system, "echo owned"), protocol=protocol)
    root = model_with(tmp_path, {"python_model.pkl": data})
    report = scan_model(root)
    found = only(report, f"{os.system.__module__}.system")  # posix.system on Linux
    assert (found.verdict, found.category, found.calls) == ("dangerous", "process", ("REDUCE",))
    assert found.file == "python_model.pkl"
    assert data[found.offset or 0 :].startswith((b"c", b"\x93"))  # GLOBAL or STACK_GLOBAL there
    assert report.exit_code == 1


def test_stack_global_with_memoized_literal_names(tmp_path: Path) -> None:
    body = (
        b"\x8c\x08builtins\x94" + b"0"  # SHORT_BINUNICODE, MEMOIZE 0, POP
        b"\x8c\x04eval\x94" + b"0"  # MEMOIZE 1, POP
        b"h\x00h\x01\x93" + u("1+1") + CALL1  # BINGET both, STACK_GLOBAL, call
    )
    data = assembled(body, proto=4)
    found = only(scan_model(model_with(tmp_path, {"m.pkl": data})), "builtins.eval")
    assert (found.how, found.category, found.calls) == ("STACK_GLOBAL", "code", ("REDUCE",))
    assert data[found.offset or 0] == 0x93


def test_stack_global_with_names_computed_at_load_time(tmp_path: Path) -> None:
    body = g("operator", "add") + u("o") + u("s") + CALL2  # the module name is built by a call
    body += u("system") + b"\x93" + u("id") + CALL1
    report = scan_model(model_with(tmp_path, {"m.pkl": assembled(body, proto=4)}))
    found = only(report, "?.system")
    assert (found.how, found.category, found.calls) == (
        "STACK_GLOBAL computed",
        "unresolved",
        ("REDUCE",),
    )


def test_stack_global_with_a_dotted_path_into_another_module(tmp_path: Path) -> None:
    body = u("torch.serialization") + u("os.system") + b"\x93" + u("id") + CALL1
    report = scan_model(model_with(tmp_path, {"m.pkl": assembled(body, proto=4)}))
    found = only(report, "torch.serialization.os.system")
    assert found.category == "process"
    assert "reached through torch.serialization" in found.reason


def test_getattr_on_an_imported_module(tmp_path: Path) -> None:
    body = g("builtins", "getattr") + g("cloudpickle.cloudpickle", "subimport")
    body += u("os") + CALL1 + u("system") + CALL2 + u("id") + CALL1
    report = scan_model(model_with(tmp_path, {"m.pkl": assembled(body)}))
    found = only(report, "os.system")
    assert (found.how, found.category, found.calls) == ("getattr", "process", ("REDUCE",))


def test_getattr_chain_to_function_globals(tmp_path: Path) -> None:
    body = g("builtins", "getattr") + b"q\x00"  # BINPUT 0: reused for the second lookup
    body += b"h\x00" + g("collections", "OrderedDict") + u("__init__") + CALL2
    body += u("__globals__") + CALL2
    report = scan_model(model_with(tmp_path, {"m.pkl": assembled(body)}))
    assert dangerous(report) == {"collections.OrderedDict.__init__.__globals__"}
    assert only(report, "collections.OrderedDict.__init__.__globals__").category == "code"


def test_getattr_with_a_computed_attribute_name(tmp_path: Path) -> None:
    body = g("builtins", "getattr") + g("cloudpickle.cloudpickle", "subimport") + u("os") + CALL1
    body += g("operator", "add") + u("sys") + u("tem") + CALL2 + CALL2 + u("id") + CALL1
    report = scan_model(model_with(tmp_path, {"m.pkl": assembled(body)}))
    found = only(report, "os.?")
    assert (found.how, found.category) == ("getattr computed", "unresolved")


def test_attrgetter_and_methodcaller(tmp_path: Path) -> None:
    module = g("cloudpickle.cloudpickle", "subimport") + u("subprocess") + CALL1
    getter = g("operator", "attrgetter") + u("getoutput") + CALL1 + module + CALL1
    caller = g("operator", "methodcaller") + u("system") + u("id") + CALL2
    caller += g("cloudpickle.cloudpickle", "subimport") + u("os") + CALL1 + CALL1
    report = scan_model(model_with(tmp_path, {"m.pkl": assembled(getter + b"0" + caller)}))
    assert {"subprocess.getoutput", "os.system"} <= dangerous(report)
    assert only(report, "os.system").calls == ("REDUCE",)  # methodcaller calls what it reaches


def test_inst_at_protocol_0(tmp_path: Path) -> None:
    data = b"(S'id'\nios\nsystem\n."
    pickletools.dis(data, out=io.StringIO())
    found = only(scan_model(model_with(tmp_path, {"m.pkl": data})), "os.system")
    assert (found.how, found.calls, found.offset) == ("INST", ("INST",), 7)


def test_obj_at_protocol_1(tmp_path: Path) -> None:
    data = b"(cos\nsystem\nS'id'\no."
    pickletools.dis(data, out=io.StringIO())
    found = only(scan_model(model_with(tmp_path, {"m.pkl": data})), "os.system")
    assert (found.how, found.calls, found.first_call) == ("GLOBAL", ("OBJ",), len(data) - 2)


def test_python2_builtin_spelling(tmp_path: Path) -> None:
    data = b"c__builtin__\neval\n(S'1'\ntR."
    pickletools.dis(data, out=io.StringIO())
    report = scan_model(model_with(tmp_path, {"m.pkl": data}))
    assert dangerous(report) == {"__builtin__.eval"}


def test_extension_registry_code(tmp_path: Path) -> None:
    data = assembled(b"\x82\x01" + u("id") + CALL1)  # EXT1: a callable from copyreg's registry
    report = scan_model(model_with(tmp_path, {"m.pkl": data}))
    assert [(f.how, f.category) for f in report.dangerous] == [("EXT", "unresolved")]


def test_nested_pickle_loads(tmp_path: Path) -> None:
    inner = pickle.dumps(Reduces(os.system, "id"))
    data = pickle.dumps(Reduces(pickle.loads, inner), protocol=4)
    report = scan_model(model_with(tmp_path, {"m.pkl": data}))
    assert only(report, "_pickle.loads").category == "unpickle"


def test_a_joblib_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMP_INIT_AT_FORK", "FALSE")  # joblib's import sets it; undone after
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    path = tmp_path / "model" / "model.joblib"
    path.parent.mkdir()
    payload = {"weights": np.arange(64.0), "hook": Reduces(os.remove, "/tmp/x")}
    joblib.dump(payload, path, compress=3)  # zlib, the array's raw bytes before the payload
    report = scan_model(path.parent)
    found = only(report, f"{os.remove.__module__}.remove")
    assert (found.file, found.category) == ("model.joblib", "filesystem")


def test_a_torch_zip_whose_data_pkl_is_malicious(tmp_path: Path) -> None:
    data = pickle.dumps(Reduces(os.system, "id"), protocol=2)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("archive/data.pkl", data)
        archive.writestr("archive/version", "3\n")
        archive.writestr("archive/data/0", b"\x00" * 64)
    report = scan_model(model_with(tmp_path, {"data/model.pth": out.getvalue()}))
    found = only(report, f"{os.system.__module__}.system")
    assert (found.file, found.member) == ("data/model.pth", "archive/data.pkl")
    assert "data/model.pth:archive/data.pkl at byte" in found.where


def test_a_cloudpickled_python_model_with_a_malicious_reduce(tmp_path: Path) -> None:
    cloudpickle = pytest.importorskip("cloudpickle")

    class PythonModel:  # defined in a function: cloudpickle stores its code by value
        def __init__(self) -> None:
            self.hook = Reduces(os.system, "id")

        def predict(self, context: Any, model_input: Any) -> Any:
            return model_input

    data = cloudpickle.dumps(PythonModel())
    report = scan_model(model_with(tmp_path, {"python_model.pkl": data}))
    assert f"{os.system.__module__}.system" in dangerous(report)
    assert report.of("code_by_value")  # the class itself, rebuilt from its code


def test_code_by_value_alone_does_not_block(tmp_path: Path) -> None:
    cloudpickle = pytest.importorskip("cloudpickle")

    class PythonModel:
        def predict(self, context: Any, model_input: Any) -> Any:
            return [os.path.basename(str(x)) for x in model_input]  # noqa: PTH119 - os by value

    report = scan_model(
        model_with(tmp_path, {"python_model.pkl": cloudpickle.dumps(PythonModel())})
    )
    assert report.dangerous == ()
    assert {f.module for f in report.of("code_by_value")} >= {"cloudpickle.cloudpickle"}
    refuse_if_dangerous(report)  # does not raise


def test_a_stray_pickle_without_a_pickle_suffix(tmp_path: Path) -> None:
    data = pickle.dumps(Reduces(os.system, "id"), protocol=4)
    report = scan_model(model_with(tmp_path, {"weights.bin": data}))
    assert dangerous(report) == {f"{os.system.__module__}.system"}


def test_an_unreadable_stream_is_dangerous(tmp_path: Path) -> None:
    report = scan_model(model_with(tmp_path, {"model.joblib": b"\x04\x22\x4d\x18" + bytes(20)}))
    assert [(f.callable, f.category) for f in report.dangerous] == [
        ("?.(the rest of the file)", "unresolved")
    ]


# --- clean models ------------------------------------------------------------------------------


def fixture_models() -> list[Path]:
    found = sorted(p for p in MODELS.iterdir() if p.is_dir())
    legacy = FIXTURES / "legacy"
    return found + (sorted(p for p in legacy.iterdir() if p.is_dir()) if legacy.is_dir() else [])


@pytest.mark.parametrize("model", fixture_models(), ids=lambda p: p.name)
def test_fixture_models_have_no_dangerous_finding(model: Path) -> None:
    report = scan_model(model)
    assert report.dangerous == (), render_table([report])
    refuse_if_dangerous(report)


def test_real_framework_pickles_are_known_safe() -> None:
    report = scan_model(MODELS / "torch_custom")
    assert {f.verdict for f in report.findings} == {"safe"}
    assert {f.callable for f in report.findings} >= {"torch._utils._rebuild_tensor_v2"}


@pytest.mark.parametrize(
    ("module", "name", "verdict"),
    [
        ("numpy.core.multiarray", "_reconstruct", "safe"),
        ("sklearn.linear_model._logistic", "LogisticRegression", "safe"),
        ("torch", "load", "dangerous"),
        ("numpy", "load", "dangerous"),
        ("cloudpickle.cloudpickle", "_make_function", "code_by_value"),
        ("cloudpickle", "loads", "dangerous"),
        ("mypackage.model", "Model", "unknown"),
        ("pathlib", "Path.write_text", "dangerous"),
        ("shutil", "rmtree", "dangerous"),
        ("socket", "create_connection", "dangerous"),
        ("importlib", "import_module", "dangerous"),
        ("runpy", "run_path", "dangerous"),
        ("pty", "spawn", "dangerous"),
        ("marshal", "loads", "dangerous"),
    ],
)
def test_classify(module: str, name: str, verdict: str) -> None:
    assert classify(module, name, "GLOBAL").verdict == verdict


# --- refusal, cache ----------------------------------------------------------------------------


def test_refusal_names_the_file_the_callable_and_the_position(tmp_path: Path) -> None:
    data = pickle.dumps(Reduces(os.system, "id"), protocol=2)
    report = scan_model(model_with(tmp_path, {"python_model.pkl": data}))
    with pytest.raises(UnsafeModelError) as info:
        refuse_if_dangerous(report)
    error, offset = info.value, report.dangerous[0].offset
    assert error.exit_code == EXIT_USAGE
    assert f"python_model.pkl at byte {offset}" in (error.value or "")
    assert f"{os.system.__module__}.system" in error.what
    assert "--trust-model" in (error.fix or "") and "remove python_model.pkl" in (error.fix or "")
    assert error.findings == report.dangerous


def test_warm_scan_comes_from_the_cache_and_edits_invalidate_it(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    root = model_with(tmp_path, {"m.pkl": pickle.dumps({"a": 1})})
    cold = scan_model(root, cache_root=cache)
    warm = scan_model(root, cache_root=cache)
    assert (cold.cached, warm.cached) == (False, True)
    assert warm.files == cold.files and warm.digest == cold.digest
    (root / "m.pkl").write_bytes(pickle.dumps(Reduces(os.system, "id")))
    edited = scan_model(root, cache_root=cache)
    assert (edited.cached, edited.exit_code) == (False, 1)
    assert edited.digest != cold.digest


def test_same_content_elsewhere_reuses_the_scan(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    data = {"m.pkl": pickle.dumps(Reduces(os.system, "id"))}
    first = scan_model(model_with(tmp_path / "a", data), cache_root=cache)
    second = scan_model(model_with(tmp_path / "b", data), cache_root=cache)
    assert second.cached and second.model != first.model
    assert second.dangerous == first.dangerous


def test_an_unusable_cache_only_costs_a_rescan(tmp_path: Path) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    root = model_with(tmp_path, {"m.pkl": pickle.dumps([1, 2])})
    assert scan_model(root, cache_root=blocker).cached is False


def test_scan_file_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(Reduces(eval, "1"), protocol=3))
    scanned = scan_file(path)
    assert [f.callable for f in scanned.findings if f.verdict == "dangerous"] == ["builtins.eval"]


# --- formats -----------------------------------------------------------------------------------


@pytest.fixture
def reports(tmp_path: Path) -> list[SafetyReport]:
    bad = model_with(tmp_path / "repo" / "models", {"python_model.pkl": pickle.dumps(
        Reduces(os.system, "id"), protocol=2)})  # fmt: skip
    return [scan_model(bad), scan_model(MODELS / "torch_custom")]


def test_json_document(reports: list[SafetyReport]) -> None:
    doc = json.loads(render_json(reports))
    assert doc == json.loads(json.dumps(to_document(reports)))
    assert (doc["schema"], doc["exit_code"]) == (SCHEMA, 1)
    first, second = doc["models"]
    assert (first["verdict"], second["verdict"]) == ("dangerous", "clean")
    (finding,) = [f for f in first["files"][0]["findings"] if f["verdict"] == "dangerous"]
    assert finding["called"] is True and finding["calls"] == ["REDUCE"]
    assert SafetyReport.from_json(first).files == reports[0].files


def test_table(reports: list[SafetyReport]) -> None:
    text = render_table(reports)
    assert "dangerous (process)" in text and "python_model.pkl at byte" in text
    assert "nothing dangerous found" in text


def test_sarif_structure(reports: list[SafetyReport], tmp_path: Path) -> None:
    doc = json.loads(render_sarif(reports, base=tmp_path / "repo"))
    assert doc["version"] == "2.1.0" and doc["$schema"].endswith("sarif-2.1.0.json")
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "envrun" and driver["rules"]
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert len(set(rule_ids)) == len(rule_ids)
    for rule in driver["rules"]:
        assert {"id", "shortDescription", "defaultConfiguration"} <= set(rule)
    (result,) = run["results"]
    assert rule_ids[result["ruleIndex"]] == result["ruleId"] == "pickle/process"
    assert result["level"] == "error" and "at byte" in result["message"]["text"]
    (location,) = result["locations"]
    physical = location["physicalLocation"]
    assert physical["artifactLocation"]["uri"] == "models/model/python_model.pkl"
    assert physical["region"]["startLine"] == 1
    assert physical["region"]["byteOffset"] == reports[0].dangerous[0].offset
    assert result["partialFingerprints"]
