"""`envrun check` end to end: real envs, the host process, baselines, variant envs and reports."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import FIXTURES, INPUTS, MODELS, ROOT, make_model, write
from tests.integration.conftest import run_envrun

pytestmark = pytest.mark.integration

PROBE_WHEELS = sorted((FIXTURES / "wheels").glob("envrun_probe_pkg-*.whl"))

# A model whose output depends on the version of a package: 1.0.0 scales by 1, 2.0.0 by 1.001.
VERSIONED_LOADER = """
import envrun_probe_pkg


class _Scaled:
    def predict(self, data, params=None):
        major = int(envrun_probe_pkg.__version__.split(".")[0])
        factor = 1.0 + (major - 1) * 1e-3
        return [float(x) * factor for x in data]


def _load_pyfunc(path):
    return _Scaled()
"""


def _versioned_model(root: Path) -> Path:
    model = make_model(root, loader="versioned", loader_source=VERSIONED_LOADER)
    wheels = model / "wheels"
    wheels.mkdir()
    for wheel in PROBE_WHEELS:
        shutil.copy(wheel, wheels / wheel.name)
    write(model / "requirements.txt", "--find-links ./wheels\nenvrun_probe_pkg==1.0.0\n")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies:\n  - -r requirements.txt\n")
    write(model / "input_example.json", '{"inputs": [1.0, 2.5, -3.0]}\n')
    return model


def _host_with_probe(tmp_path: Path, version: str) -> dict[str, str]:
    """PYTHONPATH for the envrun process holding envrun_probe_pkg at `version` (unpacked wheel)."""
    target = tmp_path / f"host-site-{version}"
    wheel = next(w for w in PROBE_WHEELS if f"-{version}-" in w.name)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return {"PYTHONPATH": str(target)}


def _doc(result: Any) -> dict[str, Any]:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def _row(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in doc["package_differences"] if r["name"] == name)


# Every fixture model, including the ones real MLflow wrote: save a baseline, then check
# against it. Host-loadable ones are also compared in-process.
FIXTURE_CHECKS = {
    "numpy_custom": (0, True),
    "py310": (0, True),
    "torch_custom": (0, True),
    "mlflow1_legacy": (0, True),
    "localwheel": (0, False),
    "mlflow_sklearn": (0, False),
    "mlflow_pyfunc": (0, False),
    "mlflow_pytorch": (0, False),
}


@pytest.mark.parametrize("name", sorted(FIXTURE_CHECKS))
def test_check_every_fixture_against_its_baseline(
    name: str, tmp_path: Path, shared_cache: Path
) -> None:
    code, host_loads = FIXTURE_CHECKS[name]
    model = MODELS / name
    inputs = [] if (model / "input_example.json").exists() else [INPUTS / f"{name}.json"]
    baseline = tmp_path / "baseline.json"
    first = run_envrun(
        "check", model, *inputs, "--save-baseline", baseline, "--json", cache_dir=shared_cache
    )
    doc = _doc(first)
    assert baseline.exists(), first.stderr
    assert doc["verdict"]["status"] == ("reproduced" if host_loads else "baseline-saved"), doc[
        "verdict"
    ]
    second = run_envrun(
        "check", model, *inputs, "--baseline", baseline, "--json", cache_dir=shared_cache
    )
    doc = _doc(second)
    assert second.returncode == code, (doc["verdict"], second.stderr)
    assert doc["verdict"]["status"] == "reproduced"
    compared = doc["verdict"]["compared"]
    assert "env vs baseline" in compared
    assert ("env vs host" in compared) == host_loads, doc["verdict"]
    if not host_loads:
        assert doc["sides"]["host"]["status"] == "failed"
        assert "cannot load the model" in doc["sides"]["host"]["reason"]
    env = doc["sides"]["env"]
    assert env["env"]["cache"] == "hit"
    assert env["packages"], "every installed package of the env is listed"
    assert doc["model"]["digest"].startswith("sha256:")


def test_failing_models_are_reported_as_failed(shared_cache: Path) -> None:
    result = run_envrun(
        "check", MODELS / "raises", INPUTS / "raises.json", "--json", cache_dir=shared_cache
    )
    doc = _doc(result)
    assert result.returncode == 4
    assert doc["verdict"]["status"] == "failed"
    assert doc["sides"]["env"]["error"]["stage"] == "predict"
    assert (
        'raise ValueError("bad input for raises model")'
        in doc["sides"]["env"]["error"]["traceback"]
    )


def test_upgraded_env_that_changes_predictions_is_named(tmp_path: Path, cache: Path) -> None:
    model = _versioned_model(tmp_path / "model")
    md, html = tmp_path / "r.md", tmp_path / "r.html"
    result = run_envrun(
        "check",
        model,
        "--against",
        "upgraded",
        "--no-host",
        "--json",
        "--report",
        md,
        "--report",
        html,
        cache_dir=cache,
    )
    doc = _doc(result)
    assert result.returncode == 1, result.stderr
    assert doc["verdict"]["status"] == "differs"
    assert "env vs upgraded" in doc["verdict"]["compared"]
    row = _row(doc, "envrun-probe-pkg")
    assert row["versions"] == {"env": "1.0.0", "upgraded": "2.0.0"}
    assert any(
        "envrun-probe-pkg differs: env 1.0.0, upgraded 2.0.0" in f
        for f in doc["verdict"]["findings"]
    )
    changes = doc["sides"]["upgraded"]["changes"]
    assert changes == [
        {"name": "envrun-probe-pkg", "from": "envrun_probe_pkg==1.0.0", "to": "envrun_probe_pkg"}
    ]
    (comparison,) = doc["comparisons"]
    (output,) = comparison["outputs"]
    assert output["differing"] == 3 and output["max_rel"] == pytest.approx(1e-3, rel=1e-6)
    assert "<svg" in html.read_text()  # the error distribution of the differing output
    for report in (md, html):
        text = report.read_text()
        assert (
            "envrun-probe-pkg" in text and "2.0.0" in text and doc["model"]["digest"][7:19] in text
        )


def test_with_override_and_pinned_equal_version(tmp_path: Path, cache: Path) -> None:
    model = _versioned_model(tmp_path / "model")
    differs = run_envrun(
        "check", model, "--with", "envrun_probe_pkg==2.0.0", "--no-host", "--json", cache_dir=cache
    )
    doc = _doc(differs)
    assert differs.returncode == 1 and doc["verdict"]["status"] == "differs"
    assert _row(doc, "envrun-probe-pkg")["versions"] == {"env": "1.0.0", "with": "2.0.0"}
    same = run_envrun(
        "check", model, "--with", "envrun_probe_pkg==1.0.0", "--no-host", "--json", cache_dir=cache
    )
    doc = _doc(same)
    assert same.returncode == 0, doc["verdict"]
    assert doc["verdict"]["compared"] == ["env vs with"]
    broken = run_envrun(
        "check", model, "--with", "envrun_probe_pkg==9.9", "--no-host", "--json", cache_dir=cache
    )
    doc = _doc(broken)
    assert broken.returncode == 1, doc["verdict"]
    assert doc["sides"]["with"]["status"] == "failed"
    assert doc["verdict"]["headline"].startswith(
        "Differs: the env with envrun_probe_pkg==9.9 could not be built"
    )


def test_host_with_another_version_differs_and_names_the_package(
    tmp_path: Path, cache: Path
) -> None:
    model = _versioned_model(tmp_path / "model")
    result = run_envrun(
        "check", model, "--json", cache_dir=cache, extra_env=_host_with_probe(tmp_path, "2.0.0")
    )
    doc = _doc(result)
    assert result.returncode == 1, result.stderr
    assert doc["sides"]["host"]["packages"]["envrun-probe-pkg"] == "2.0.0"
    assert "envrun-probe-pkg differs: env 1.0.0, host 2.0.0" in doc["verdict"]["findings"]
    same = run_envrun(
        "check", model, "--json", cache_dir=cache, extra_env=_host_with_probe(tmp_path, "1.0.0")
    )
    assert same.returncode == 0, _doc(same)["verdict"]


def test_host_that_cannot_load_the_model(tmp_path: Path, cache: Path) -> None:
    model = _versioned_model(tmp_path / "model")
    result = run_envrun("check", model, "--json", cache_dir=cache)
    doc = _doc(result)
    assert result.returncode == 1
    assert doc["verdict"]["status"] == "unverified"
    (missing,) = doc["verdict"]["not_compared"]
    assert missing["side"] == "host" and "envrun_probe_pkg" in missing["reason"]
    assert doc["sides"]["host"]["packages"] == {"envrun-probe-pkg": None}
    text = run_envrun("check", model, cache_dir=cache)
    assert "not compared: host: this host cannot load the model" in text.stdout
    assert "verdict: Unverified" in text.stdout


def test_baseline_from_another_python(tmp_path: Path, shared_cache: Path) -> None:
    python312 = sorted(Path("/root/.pyenv/versions").glob("3.12.*/bin/python3.12"))
    if not python312:
        pytest.skip("no Python 3.12 on this machine")
    baseline = tmp_path / "b.json"
    model = MODELS / "numpy_custom"
    made = run_envrun(
        "check",
        model,
        "--python",
        python312[-1],
        "--no-host",
        "--save-baseline",
        baseline,
        cache_dir=shared_cache,
    )
    assert made.returncode == 0, made.stderr
    result = run_envrun("check", model, "--baseline", baseline, "--json", cache_dir=shared_cache)
    doc = _doc(result)
    assert result.returncode == 0, doc["verdict"]
    assert doc["sides"]["baseline"]["python"]["version"].startswith("3.12.")
    assert doc["sides"]["env"]["python"]["version"] == "3.11.7"
    assert any(
        f.startswith("python differs: env 3.11.7, baseline 3.12.")
        for f in doc["verdict"]["findings"]
    )


def _tamper(baseline: Path, edit: Any) -> None:
    doc = json.loads(baseline.read_text())
    edit(doc["outputs"][0])
    baseline.write_text(json.dumps(doc))


def test_baseline_tolerances_nan_inf_and_float32(tmp_path: Path, cache: Path) -> None:
    loader = """
    import numpy as np

    class _M:
        def predict(self, data, params=None):
            x = np.asarray(data, dtype=np.float32)
            out = x * np.float32(0.5)
            out[0] = np.nan
            out[1] = np.inf
            out[2] = -np.inf
            return out

    def _load_pyfunc(path):
        return _M()
    """
    model = make_model(tmp_path / "model", loader="f32", loader_source=loader)
    write(model / "requirements.txt", "numpy==2.2.6\n")
    write(model / "input_example.json", '{"inputs": [1.0, 2.0, 3.0, 4.0, 5.0]}\n')
    baseline = tmp_path / "b.json"
    first = run_envrun("check", model, "--save-baseline", baseline, "--json", cache_dir=cache)
    assert first.returncode == 0, first.stderr
    assert (
        _doc(first)["comparisons"][0]["status"] == "equal"
    )  # NaN = NaN, inf = inf on host and env

    import base64
    import io

    import numpy as np

    def shift(by: float) -> Any:
        def edit(out: dict[str, Any]) -> None:
            (name,) = out["arrays"]
            array = np.load(io.BytesIO(base64.b64decode(out["arrays"][name])))
            array[3] = np.float32(array[3] * (1 + by))
            buf = io.BytesIO()
            np.save(buf, array)
            out["arrays"][name] = base64.b64encode(buf.getvalue()).decode()

        return edit

    _tamper(baseline, shift(1e-7))
    close = run_envrun(
        "check", model, "--baseline", baseline, "--no-host", "--json", cache_dir=cache
    )
    doc = _doc(close)
    assert close.returncode == 0, doc["comparisons"]
    assert doc["comparisons"][0]["status"] in ("close", "equal")
    _tamper(baseline, shift(1e-3))
    far = run_envrun("check", model, "--baseline", baseline, "--no-host", "--json", cache_dir=cache)
    doc = _doc(far)
    assert far.returncode == 1
    (output,) = doc["comparisons"][0]["outputs"]
    assert output["differing"] == 1 and output["first"][0]["position"] == "[3]"
    loose = run_envrun(
        "check",
        model,
        "--baseline",
        baseline,
        "--no-host",
        "--rtol",
        "1e-2",
        "--json",
        cache_dir=cache,
    )
    assert loose.returncode == 0, _doc(loose)["comparisons"]


def test_dataframe_column_order_in_a_baseline(tmp_path: Path, cache: Path) -> None:
    loader = """
    import pandas as pd

    class _M:
        def predict(self, data, params=None):
            return pd.DataFrame({"a": data["x"] * 2.0, "b": data["x"] + 1.0})

    def _load_pyfunc(path):
        return _M()
    """
    model = make_model(tmp_path / "model", loader="frame", loader_source=loader)
    write(model / "requirements.txt", "pandas==2.2.3\nnumpy==2.2.6\n")
    write(
        model / "input_example.json",
        '{"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}\n',
    )
    baseline = tmp_path / "b.json"
    assert (
        run_envrun(
            "check", model, "--save-baseline", baseline, "--no-host", cache_dir=cache
        ).returncode
        == 0
    )

    def swap(out: dict[str, Any]) -> None:
        tree = out["output"]
        for key in ("columns", "dtypes", "data"):
            tree[key] = list(reversed(tree[key]))

    _tamper(baseline, swap)
    result = run_envrun(
        "check", model, "--baseline", baseline, "--no-host", "--json", cache_dir=cache
    )
    doc = _doc(result)
    assert result.returncode == 1
    notes = [n for out in doc["comparisons"][0]["outputs"] for n in out["notes"]]
    assert any("column order" in n for n in notes), doc["comparisons"]


def test_signature_discrepancy_is_flagged(tmp_path: Path, shared_cache: Path) -> None:
    ints = tmp_path / "ints.json"
    ints.write_text(
        json.dumps(
            {
                "dataframe_split": {
                    "columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"],
                    "data": [[5, 3, 1, 0]],
                }
            }
        )
    )
    result = run_envrun(
        "check",
        MODELS / "mlflow_sklearn",
        ints,
        "--no-host",
        "--save-baseline",
        tmp_path / "b.json",
        "--json",
        cache_dir=shared_cache,
    )
    doc = _doc(result)
    assert result.returncode == 0, doc["verdict"]
    findings = doc["inputs"][0]["signature_findings"]
    assert {f["column"] for f in findings} == {
        "sepal_length",
        "sepal_width",
        "petal_length",
        "petal_width",
    }
    assert findings[0]["in_process"] == "refused: int64 to float64 is not a safe cast"
    assert findings[0]["severity"] == "warning"


def test_lossy_json_cast_is_flagged_and_refused(tmp_path: Path, cache: Path) -> None:
    loader = """
    class _M:
        def predict(self, data, params=None):
            return data["n"] * 2

    def _load_pyfunc(path):
        return _M()
    """
    model = make_model(
        tmp_path / "model",
        loader="longcol",
        loader_source=loader,
        extra_top="""
        signature:
          inputs: '[{"type": "long", "name": "n", "required": true}]'
        """,
    )
    write(model / "requirements.txt", "pandas==2.2.3\nnumpy==2.2.6\n")
    data = tmp_path / "in.json"
    data.write_text('{"dataframe_split": {"columns": ["n"], "data": [[1.5], [2]]}}')
    result = run_envrun("check", model, data, "--json", cache_dir=cache)
    doc = _doc(result)
    assert result.returncode == 2, doc["verdict"]
    (finding,) = doc["inputs"][0]["signature_findings"]
    assert finding["severity"] == "error"
    assert finding["json_path"] == "cast to 1 (value changed)"
    assert "refused" in finding["in_process"] and "refused" in finding["envrun"]


def test_reports_and_step_summary(tmp_path: Path, shared_cache: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("# earlier step\n")
    paths = [tmp_path / "out" / name for name in ("r.json", "r.md", "r.html")]
    args: list[str | Path] = ["check", MODELS / "numpy_custom"]
    for path in paths:
        args += ["--report", path]
    result = run_envrun(
        *args, cache_dir=shared_cache, extra_env={"GITHUB_STEP_SUMMARY": str(summary)}
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(paths[0].read_text())
    assert doc["schema"] == "envrun.check/1"
    facts = [
        doc["model"]["digest"],
        doc["sides"]["env"]["env"]["fingerprint"],
        doc["sides"]["env"]["python"]["version"],
        doc["sides"]["env"]["env"]["installer"]["reason"],
        "numpy",
    ]
    for path in paths[1:]:
        text = path.read_text()
        for fact in facts:
            assert fact[:12] in text, (path.name, fact)
        assert "2.2.6" in text
    assert "<link" not in paths[2].read_text() and "<script src" not in paths[2].read_text()
    assert summary.read_text().startswith("# earlier step\n") and "numpy" in summary.read_text()


def test_json_report_reads_back_to_the_same_bytes(tmp_path: Path, shared_cache: Path) -> None:
    from envrun.check.document import CheckReport
    from envrun.check.report import render_json

    baseline, report = tmp_path / "baseline.json", tmp_path / "report.json"
    model = MODELS / "numpy_custom"
    saved = run_envrun("check", model, "--save-baseline", baseline, cache_dir=shared_cache)
    assert saved.returncode == 0, saved.stderr
    result = run_envrun(
        "check", model, "--baseline", baseline, "--report", report, cache_dir=shared_cache
    )
    assert result.returncode == 0, result.stderr
    text = report.read_text(encoding="utf-8")
    read = CheckReport.from_json(json.loads(text))
    assert [s.key for s in read.sides] == ["env", "host", "baseline"]
    assert render_json(read) == text


def test_an_unwritable_report_says_why_and_what_fixes_it(
    tmp_path: Path, shared_cache: Path
) -> None:
    blocker = write(tmp_path / "file", "x")
    folder = tmp_path / "folder.html"
    folder.mkdir()
    for target, reason in (
        (blocker / "r.html", "is a file, not a directory"),
        (folder, "is a directory; name a file inside it"),
    ):
        result = run_envrun(
            "check", MODELS / "numpy_custom", "--report", target, cache_dir=shared_cache
        )
        assert result.returncode == 2, result.stderr
        assert "envrun: error: cannot write the report file" in result.stderr
        assert f"offending value: {target}: " in result.stderr
        fix = next(line for line in result.stderr.splitlines() if "fix:" in line)
        assert reason in fix and "choose another path for --report" in fix, fix
        assert ".tmp" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.html"]
    assert list(folder.iterdir()) == []


def test_usage_errors_come_before_any_build(tmp_path: Path, cache: Path) -> None:
    no_example = MODELS / "probe"
    result = run_envrun("check", no_example, cache_dir=cache)
    assert result.returncode == 2
    assert (
        "no input example" in result.stderr and "envrun check MODEL_DIR INPUT.json" in result.stderr
    )
    bad = run_envrun(
        "check", MODELS / "numpy_custom", "--report", tmp_path / "r.pdf", cache_dir=cache
    )
    assert bad.returncode == 2 and "r.pdf" in bad.stderr
    missing = run_envrun(
        "check", MODELS / "numpy_custom", "--baseline", tmp_path / "nope.json", cache_dir=cache
    )
    assert missing.returncode == 2 and "baseline file not found" in missing.stderr
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"dataframe_split": {"columns": ["sepal_len"], "data": [[1.0]]}}')
    columns = run_envrun("check", MODELS / "mlflow_sklearn", wrong, cache_dir=cache)
    assert columns.returncode == 2
    assert "sepal_length" in columns.stderr and "fix:" in columns.stderr
    assert not (cache / "envs").exists()


def test_a_baseline_of_another_model_version_is_named(tmp_path: Path, cache: Path) -> None:
    model = _versioned_model(tmp_path / "model")
    baseline = tmp_path / "b.json"
    saved = run_envrun("check", model, "--no-host", "--save-baseline", baseline, cache_dir=cache)
    assert saved.returncode == 0, saved.stderr
    same = _doc(
        run_envrun("check", model, "--no-host", "--baseline", baseline, "--json", cache_dir=cache)
    )
    assert same["verdict"]["findings"] == []
    loader = model / "code" / "versioned.py"
    loader.write_text(loader.read_text() + "\n# retrained\n")
    result = run_envrun(
        "check", model, "--no-host", "--baseline", baseline, "--json", cache_dir=cache
    )
    doc = _doc(result)
    assert result.returncode == 0  # same outputs: still reproduced, but the report says it
    assert any("another model directory content" in f for f in doc["verdict"]["findings"])


def test_a_host_without_pandas_says_what_it_lacks(tmp_path: Path, shared_cache: Path) -> None:
    # envrun installed alone, as on a CI runner: numpy comes with it, pandas does not.
    venv = tmp_path / "host"
    uv = [sys.executable, "-m", "uv"]
    subprocess.run([*uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [*uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(ROOT)],
        check=True,
    )
    env = {**os.environ, "ENVRUN_CACHE_DIR": str(shared_cache)}
    result = subprocess.run(
        [str(venv / "bin" / "envrun"), "check", str(MODELS / "mlflow_sklearn"), "--json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    doc = json.loads(result.stdout)
    host = doc["sides"]["host"]
    assert host["status"] == "failed"
    assert host["reason"].startswith(
        "this host cannot read the input: 'dataframe_split' input needs pandas"
    )
    assert "add pandas to the model's requirements" not in host["reason"]
    assert result.returncode == 1 and doc["verdict"]["status"] == "unverified"
