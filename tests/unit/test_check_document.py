"""The typed check report: its JSON round trip, its closed statuses, and the errors it is built from."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from envrun import api
from envrun.check.compare import compare
from envrun.check.document import (
    SCHEMA,
    CheckReport,
    ComparisonReport,
    EnvInfo,
    InputReport,
    InstallerInfo,
    ModelFacts,
    PythonInfo,
    SideError,
    SideReport,
    Verdict,
)
from envrun.check.leaves import OutputDiff
from envrun.check.report import render_html, render_json, render_markdown, render_terminal
from envrun.check.sigcheck import SignatureFinding
from envrun.check.verdict import Side, package_rows, verdict_of
from envrun.errors import BridgeError, InputError, PredictError
from envrun.model.mlmodel import read_model
from envrun.run.bridge import build_request, run_in_env
from envrun.run.inputs import read_input
from tests.helpers import INPUTS, MODELS, make_model
from tests.unit.test_report import make_doc, skipped_doc

PYTHON = PythonInfo("3.11.7", "cpython", "linux-x86_64", "/envs/a/bin/python")


def _report() -> CheckReport:
    """A report built the way run_check builds one, from sides and a real comparison."""
    import numpy as np

    env = Side("env", "isolated env (declared)", python=PYTHON)
    env.env = EnvInfo(
        "/envs/a", "ab" * 32, "hit", "cache hit", InstallerInfo("uv", "0.13.9", "default"),
        "python_env.yaml", ("numpy==2.2.6",),
    )  # fmt: skip
    env.packages, env.timings = {"numpy": "2.2.6", "pip": "26.3"}, {"load": 0.123456, "total": 1.0}
    host = Side(
        "host", "this host (in-process)", python=dataclasses.replace(PYTHON, version="3.12.3")
    )
    host.packages = {"numpy": "2.4.6"}
    env.values["in.json"] = np.array([1.0, 2.0, float("inf")])
    host.values["in.json"] = np.array([1.0, 2.5, float("inf")])
    result = compare(
        env.values["in.json"], host.values["in.json"], left_name="env", right_name="host"
    )
    comparisons = [
        ComparisonReport(
            "in.json", "env", "host", result.status, None, result.summary(), result.outputs
        )
    ]
    rows = package_rows([env, host])
    verdict = verdict_of(
        env, sides=[env, host], comparisons=comparisons, rows=rows, written=None, n_inputs=1
    )
    finding = SignatureFinding(
        column="n",
        declared="long",
        json_value="1.5",
        natural_dtype="float64",
        json_path="cast to 1 (value changed)",
        in_process="refused: float64 to int64 is not a safe cast",
        severity="error",
        message="column 'n' ...",
    )
    return CheckReport(
        envrun_version="0.1.0",
        created="2026-11-30T10:00:00Z",
        verdict=verdict,
        model=ModelFacts("/m", "sha256:" + "0" * 64, 3, 1234, "my_loader", ("python_function",)),
        inputs=(InputReport("in.json", "/in.json", "c0" * 32, "argument", (finding,)),),
        sides=(env.report(), host.report()),
        package_differences=tuple(rows),
        comparisons=tuple(comparisons),
        warnings=("a warning",),
        timings={"total": 1.5},
    )


def test_built_report_round_trips_to_the_same_json() -> None:
    report = _report()
    doc = report.to_json()
    assert doc["schema"] == SCHEMA and doc["verdict"]["status"] == "differs"
    assert list(doc["sides"]) == ["env", "host"]
    assert doc["sides"]["env"]["timings"] == {"load": 0.1235, "total": 1.0}
    assert doc["comparisons"][0]["outputs"][0]["histogram"]["0"] == 2  # compare's dict form
    text = json.dumps(doc, indent=2, allow_nan=False)
    again = CheckReport.from_json(json.loads(text))
    assert again == report
    assert json.dumps(again.to_json(), indent=2, allow_nan=False) == text
    assert render_json(again) == render_json(doc)


def test_recorded_sides_keep_their_shape() -> None:
    # A baseline's env records no cache state and a baseline side has its file and date.
    side = SideReport(
        "baseline", "baseline (b.json)", "ok", python=PythonInfo(version="3.12.1"),
        env=EnvInfo(fingerprint="ab" * 32), baseline_path="/b.json", baseline_created="",
    )  # fmt: skip
    doc = side.to_json()
    assert doc["python"] == {"version": "3.12.1"} and doc["env"] == {"fingerprint": "ab" * 32}
    assert (doc["path"], doc["created"]) == ("/b.json", "")
    read = CheckReport.from_json({"sides": {"baseline": doc}}).sides[0]
    assert read == side and read.to_json() == doc


@pytest.mark.parametrize("make", [make_doc, skipped_doc])
def test_hand_written_documents_read_and_settle(make: Any) -> None:
    once = CheckReport.from_json(make()).to_json()
    assert CheckReport.from_json(once).to_json() == once  # a fixed point after one read


def test_absent_statuses_read_as_the_least_assuring() -> None:
    report = CheckReport.from_json(
        {
            "sides": {"x": {}},
            "comparisons": [{"outputs": [{}]}],
            "inputs": [{"signature_findings": [{}]}],
        }
    )
    assert (report.verdict.status, report.verdict.exit_code) == ("unverified", 1)
    assert report.sides[0].status == "skipped" and report.comparisons[0].status == "skipped"
    assert report.comparisons[0].outputs[0].status == "differs"
    assert report.inputs[0].signature_findings[0].severity == "warning"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("verdict", "status"), "passed"),
        (("sides", "env", "status"), "unknown"),
        (("sides", "env", "env", "cache"), "warm"),
        (("sides", "baseline", "error"), {"type": "X", "stage": "somewhere", "message": ""}),
        (("comparisons", 0, "status"), "same"),
        (("comparisons", 0, "outputs", 0, "status"), "fine"),
        (("inputs", 0, "signature_findings", 0, "severity"), "fatal"),
        (("schema",), "envrun.check/2"),
    ],
)
def test_an_unknown_status_is_refused_when_read(path: tuple[Any, ...], value: object) -> None:
    doc = make_doc()
    target: Any = doc
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InputError) as info:
        CheckReport.from_json(doc)
    shown = value["stage"] if isinstance(value, dict) else value
    assert repr(shown) in str(info.value.value)
    for render in (render_markdown, render_html, render_terminal):
        with pytest.raises(InputError):
            render(doc)


def test_an_unknown_status_cannot_be_constructed() -> None:
    bad: Any = "maybe"  # what mypy refuses, the dataclasses refuse at run time
    with pytest.raises(ValueError, match="verdict status 'maybe'"):
        Verdict(bad, 0, "")
    with pytest.raises(ValueError, match="side status"):
        SideReport("env", "env", bad)
    with pytest.raises(ValueError, match="comparison status"):
        ComparisonReport("in", "env", "host", bad, None, "")
    with pytest.raises(ValueError, match="output status"):
        OutputDiff("", "ndarray", bad, "a", "b")
    with pytest.raises(ValueError, match="error stage"):
        SideError("X", bad, "")
    with pytest.raises(ValueError, match="cache state"):
        EnvInfo(cache=bad)
    with pytest.raises(ValueError, match="severity"):
        SignatureFinding("c", "long", "1", "int64", "", "", bad, "")
    with pytest.raises(InputError):
        CheckReport.from_json([])  # type: ignore[arg-type]


# ------------------------------------------------------------------------ the errors check reads


def test_predict_error_carries_stage_and_the_models_words() -> None:
    with pytest.raises(PredictError) as info:
        api.run_input(MODELS / "raises", str(INPUTS / "raises.json"), python=None)
    err = info.value
    assert (err.stage, err.error_type, err.detail) == (
        "predict",
        "ValueError",
        "bad input for raises model",
    )
    assert err.what.endswith(f"{err.error_type}: {err.detail}")


def test_load_error_and_input_refusal_carry_their_stage(tmp_path: Path) -> None:
    broken = make_model(
        tmp_path / "broken", loader="broken", loader_source="raise KeyError('nope')\n"
    )
    with pytest.raises(PredictError) as load:
        api.run_input(broken, str(INPUTS / "raises.json"), python=None)
    assert (load.value.stage, load.value.error_type) == ("load", "KeyError")
    assert load.value.detail.endswith("'nope'") and load.value.what.endswith(load.value.detail)

    model = make_model(
        tmp_path / "longcol", loader="longcol",
        loader_source="class M:\n    def predict(self, d, params=None):\n        return d\n\n"
        "def _load_pyfunc(path):\n    return M()\n",
        extra_top="""
        signature:
          inputs: '[{"type": "long", "name": "n", "required": true}]'
        """,
    )  # fmt: skip
    data = tmp_path / "in.json"
    data.write_text('{"dataframe_split": {"columns": ["n"], "data": [[1.5]]}}')
    with pytest.raises(InputError) as refused:
        api.run_input(model, str(data), python=None)
    assert refused.value.stage == "input"
    assert (
        refused.value.detail.startswith("column 'n'") and refused.value.detail in refused.value.what
    )


@pytest.mark.parametrize(
    ("body", "timeout", "stage"),
    [("import os; os._exit(3)", None, "crash"), ("import time; time.sleep(60)", 0.5, "timeout")],
)
def test_worker_process_failures_carry_their_stage(
    tmp_path: Path, body: str, timeout: float | None, stage: str
) -> None:
    predict = f"    def predict(self, d, params=None):\n        {body}\n"
    source = f"class M:\n{predict}\n\ndef _load_pyfunc(p):\n    return M()\n"
    model = read_model(make_model(tmp_path / "m", loader="dies", loader_source=source))
    ctl = tmp_path / "ctl"
    ctl.mkdir()
    spec = read_input(str(INPUTS / "raises.json"), dest_dir=ctl)
    request = build_request(model, input_path=spec.path, input_format=spec.format, params=None)
    with pytest.raises(BridgeError) as info:
        run_in_env(Path(sys.executable), ctl, request, timeout=timeout)
    assert info.value.stage == stage and not isinstance(info.value, PredictError)


def test_mypy_refuses_an_unknown_status(tmp_path: Path) -> None:
    snippet = tmp_path / "statuses.py"
    snippet.write_text(
        "from envrun.check.document import SideReport, Verdict\n"
        "Verdict('differs', 1, '')\n"
        "Verdict('maybe', 0, '')\n"
        "SideReport('env', 'env', 'unknown')\n"
    )
    root = Path(__file__).resolve().parents[2]
    argv = [sys.executable, "-m", "mypy", "--strict", "--config-file", "/dev/null"]
    argv += ["--cache-dir", str(tmp_path / "cache"), str(snippet)]
    result = subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=root, env={"MYPYPATH": str(root)}
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["3", "4"], result.stdout
    assert "'maybe'" in errors[0] and "'unknown'" in errors[1]
