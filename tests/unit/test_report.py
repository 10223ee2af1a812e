from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from envrun.check.document import SCHEMA
from envrun.check.report import (
    append_step_summary,
    fmt_number,
    render_html,
    render_json,
    render_markdown,
    report_format,
    write_reports,
)
from envrun.errors import InputError

DIGEST = "sha256:" + "3f" * 32
ENV_FP = "ab12cd34ef56" + "0" * 52
UPG_FP = "9e8d7c6b5a41" + "1" * 52
ENV_PACKAGES = {
    "numpy": "2.2.6",
    "scikit-learn": "1.9.1",
    "scipy": "1.16.3",
    "joblib": "1.5.2",
    "threadpoolctl": "3.6.0",
}


def make_doc(status: str = "differs") -> dict[str, Any]:
    """A realistic check document: env, host (missing sklearn), baseline and upgraded sides."""
    differs = status == "differs"
    host_np = "2.4.6" if differs else "2.2.6"
    hist = [["0", 5], ["<1e-12", 0], ["1e-12..1e-9", 0], ["1e-9..1e-6", 1]]
    hist += [["1e-6..1e-3", 0], ["1e-3..1", 2], [">=1", 0], ["nan/inf mismatch", 0]]
    probs = {
        "path": "['probs']",
        "kind": "ndarray",
        "status": "differs" if differs else "equal",
        "left_type": "float64 (4, 2)",
        "right_type": "float32 (4, 2)" if differs else "float64 (4, 2)",
        "total": 8,
        "differing": 2 if differs else 0,
        "not_equal": 3 if differs else 0,
        "max_abs": 0.0025 if differs else 0.0,
        "max_rel": "inf" if differs else None,
        "rtol": 1e-7,
        "atol": 1e-7,
        "first": [
            {
                "position": "[1, 0]",
                "left": "0.25",
                "right": "0.2525",
                "abs_err": 0.0025,
                "rel_err": 0.01,
            }
        ]
        if differs
        else [],
        "notes": ["dtype float32 vs float64 (compared at float32 tolerance)"] if differs else [],
        "histogram": hist if differs else [],
    }
    same = {"status": "equal", "right_type": "float64 (4, 2)", "differing": 0, "not_equal": 0}
    same |= {"max_abs": 0.0, "max_rel": 0.0, "first": [], "notes": [], "histogram": []}
    labels = {
        "path": "['labels']",
        "kind": "ndarray",
        "status": "equal",
        "left_type": "int64 (4,)",
        "right_type": "int64 (4,)",
        "total": 4,
        "differing": 0,
        "max_abs": 0.0,
        "max_rel": 0.0,
    }
    summary = (
        "differs: 1 of 2 outputs; max abs 2.5e-03 at ['probs'] [1, 0]"
        if differs
        else "equal: 2 outputs"
    )
    timings = {"resolve": 0.05, "build": 12.3, "load": 0.4, "predict": 0.01, "total": 13.1}
    python = {
        "version": "3.11.7",
        "implementation": "CPython",
        "platform": "Linux-x86_64",
        "executable": "/cache/envs/ab12/bin/python",
    }
    return {
        "schema": SCHEMA,
        "envrun_version": "0.1.0",
        "created": "2026-11-22T10:00:00Z",
        "verdict": {
            "status": status,
            "exit_code": 1 if differs else 0,
            "headline": (
                "Differs: env and upgraded disagree on 1 of 2 outputs"
                if differs
                else "Reproduced: env = host, env = baseline (1 input)"
            ),
            "compared": ["env vs host", "env vs baseline", "env vs upgraded"],
            "not_compared": [{"side": "host", "reason": "the host cannot import sklearn"}]
            if differs
            else [],
            "findings": [f"numpy differs: env 2.2.6, host {host_np}"] if differs else [],
        },
        "model": {
            "path": "/work/models/iris-classifier",
            "digest": DIGEST,
            "files": 7,
            "bytes": 123456,
            "loader_module": "mlflow.sklearn",
            "flavors": ["python_function", "sklearn"],
            "mlflow_version": "3.17.2",
            "signature": {
                "inputs": [{"name": "a", "type": "long", "required": True}],
                "outputs": None,
            },
        },
        "tolerance": {
            "rtol": None,
            "atol": None,
            "defaults": {
                "float16": [1e-3, 1e-5],
                "float32": [1.3e-6, 1e-5],
                "float64": [1e-7, 1e-7],
            },
        },
        "inputs": [
            {
                "name": "input_example.json",
                "path": "/work/models/iris-classifier/input_example.json",
                "sha256": "c0ffee" * 10 + "abcd",
                "origin": "model's input_example.json",
                "signature_findings": [
                    {
                        "column": "a",
                        "declared": "long",
                        "json_value": "1.5",
                        "json_path": "cast to 1 (value changed)",
                        "in_process": "refused: float64 to int64 is not a safe cast",
                        "severity": "warning",
                        "message": "column a is declared long but the example holds 1.5",
                    }
                ],
            }
        ],
        "sides": {
            "env": {
                "label": "isolated env (declared)",
                "status": "ok",
                "error": None,
                "reason": None,
                "python": python,
                "env": {
                    "path": "/cache/envs/ab12cd34",
                    "fingerprint": ENV_FP,
                    "cache": "hit",
                    "installer": {"name": "uv", "version": "0.13.9", "reason": "default"},
                    "spec_source": "python_env.yaml",
                    "requirements": ["numpy==2.2.6", "scikit-learn==1.9.1"],
                },
                "packages": dict(ENV_PACKAGES),
                "timings": timings,
                "outputs": {"input_example.json": "ndarray float64 (4, 2)"},
            },
            "host": {
                "label": "host process",
                "status": "ok",
                "python": {**python, "version": "3.12.3", "executable": "/usr/bin/python3"},
                "env": None,
                "packages": {"numpy": host_np, "scikit-learn": None},
                "timings": {"load": 0.2, "predict": 0.002, "total": 0.21},
                "outputs": {"input_example.json": "ndarray float64 (4, 2)"},
            },
            "baseline": {
                "label": "baseline (baseline.json)",
                "status": "ok",
                "path": "/work/baseline.json",
                "created": "2026-11-01T09:00:00Z",
                "python": python,
                "packages": dict(ENV_PACKAGES),
                "env": {"fingerprint": ENV_FP},
                "outputs": {"input_example.json": "ndarray float64 (4, 2)"},
            },
            "upgraded": {
                "label": "upgraded env",
                "status": "ok",
                "python": python,
                "env": {
                    "path": "/cache/envs/9e8d7c6b",
                    "fingerprint": UPG_FP,
                    "cache": "miss",
                    "installer": {
                        "name": "virtualenv+pip",
                        "version": "25.1",
                        "reason": "--installer",
                    },
                    "spec_source": "python_env.yaml",
                    "requirements": ["numpy", "scikit-learn"],
                },
                "packages": {**ENV_PACKAGES, "numpy": "2.4.6"},
                "timings": {"build": 31.5, "load": 0.5, "predict": 0.012, "total": 32.0},
                "outputs": {"input_example.json": "ndarray float32 (4, 2)"},
                "changes": [{"name": "numpy", "from": "==2.2.6", "to": "2.4.6"}],
            },
        },
        "package_differences": [
            {
                "name": "numpy",
                "versions": {
                    "env": "2.2.6",
                    "host": host_np,
                    "baseline": "2.2.6",
                    "upgraded": "2.4.6",
                },
                "critical": True,
            },
            {
                "name": "scikit-learn",
                "versions": {
                    "env": "1.9.1",
                    "host": None,
                    "baseline": "1.9.1",
                    "upgraded": "1.9.1",
                },
                "critical": False,
            },
        ],
        "comparisons": [
            {
                "input": "input_example.json",
                "left": "env",
                "right": "upgraded",
                "status": status if differs else "equal",
                "reason": None,
                "summary": summary,
                "outputs": [probs, labels],
            },
            {
                "input": "input_example.json",
                "left": "env",
                "right": "baseline",
                "status": "equal",
                "summary": "equal: 2 outputs",
                "outputs": [{**probs, **same}, labels],
            },
        ],
        "warnings": ["the host Python (3.12.3) differs from the declared one (3.11.7)"],
    }


def skipped_doc() -> dict[str, Any]:
    """A document from a run that could not compare: sides skipped or failed, optional keys gone."""
    return {
        "schema": SCHEMA,
        "verdict": {
            "status": "failed",
            "exit_code": 4,
            "headline": "Failed: the env could not load",
        },
        "model": {"path": "/m"},
        "sides": {
            "env": {
                "status": "failed",
                "error": {"type": "ModuleNotFoundError", "stage": "load", "message": "no sklearn"},
            },
            "host": {"label": "host", "status": "skipped", "reason": "--no-host"},
            "baseline": None,
        },
        "comparisons": [
            {
                "input": "x.json",
                "left": "env",
                "right": "host",
                "status": "skipped",
                "reason": "env failed",
            }
        ],
        "inputs": [{"name": "x.json"}],
        "package_differences": None,
        "tolerance": None,
    }


@pytest.fixture(params=["markdown", "html"])
def rendered(request: pytest.FixtureRequest) -> str:
    return render_markdown(make_doc()) if request.param == "markdown" else render_html(make_doc())


def test_renderers_show_the_key_facts(rendered: str) -> None:
    for fact in [
        "DIFFERS",
        "disagree on 1 of 2 outputs",
        DIGEST,
        ENV_FP[:12],
        UPG_FP[:12],
        "3.11.7",
        "3.12.3",
        "Linux-x86_64",
        "uv 0.13.9 (default)",
        "virtualenv+pip 25.1 (--installer)",
        "hit",
        "miss",
        "12.3 s",
        "10 ms",
        "host cannot import sklearn",
        "numpy differs: env 2.2.6, host 2.4.6",
        "not installed",
        "2.5e-03",
        "0.0025",
        "critical",
        "refused: float64 to int64 is not a safe cast",
        "cast to 1 (value changed)",
        "compared at float32 tolerance",
        "the host Python (3.12.3) differs",
    ]:
        assert fact in rendered, fact
    assert "differs" in rendered.lower() and "equal" in rendered.lower()
    for name, version in ENV_PACKAGES.items():
        assert re.search(rf"{re.escape(name)}\W[^\n]*{re.escape(version)}", rendered), name


def test_markdown_is_a_pr_comment() -> None:
    md = render_markdown(make_doc())
    assert "**DIFFERS**" in md
    assert "<details>" in md and "</details>" in md
    assert md.index(DIGEST) < md.index("#### Environments")  # identity first
    assert "**numpy** (critical)" in md
    table_rows = [line for line in md.splitlines() if line.startswith("| ")]
    header_cols = {line.count(" | ") for line in table_rows if "---" not in line}
    assert table_rows and header_cols  # every row is a proper table row
    assert "| `['probs']` | differs | float64 (4, 2) vs float32 (4, 2) | 2 / 8 |" in md


def test_markdown_escapes_table_breakers() -> None:
    doc = make_doc()
    doc["sides"]["env"]["label"] = "pipe | and\nnewline <b>"
    md = render_markdown(doc)
    env_row = next(line for line in md.splitlines() if line.startswith("| **env**"))
    assert "pipe \\| and newline &lt;b&gt;" in env_row


def test_html_is_self_contained_and_escaped() -> None:
    doc = make_doc()
    doc["model"]["path"] = "/models/<script>alert(1)</script>"
    doc["sides"]["env"]["packages"]["<script>evil</script>"] = "1.0"
    page = render_html(doc)
    assert page.startswith("<!DOCTYPE html>")
    assert "<script>alert" not in page and "<script>evil" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;script&gt;evil&lt;/script&gt;" in page
    assert "http://" not in page and "https://" not in page
    assert "<link" not in page and not re.search(r"(src|href)\s*=", page)
    assert page.count("<svg") == 1 and "<title id=" in page
    assert "<style>" in page and "@media print" in page


def test_html_reads_compare_histograms_and_variant_changes() -> None:
    doc = make_doc()
    probs = doc["comparisons"][0]["outputs"][0]
    probs["histogram"] = dict(probs["histogram"])  # the shape OutputDiff.to_json() writes
    doc["sides"]["upgraded"]["changes"].append({"name": "scipy", "from": None, "to": "scipy>=1.17"})
    doc["sides"]["upgraded"]["env"]["reason"] = "no env with this fingerprint"
    page, md = render_html(doc), render_markdown(doc)
    assert page.count("<svg") == 1
    assert "1e-3..1: 2" in page  # the chart's accessible title lists every bucket
    for out in (page, md):
        assert "scipy not declared \u2192 scipy&gt;=1.17" in out
        assert "miss, built (no env with this fingerprint)" in out


def test_json_round_trips() -> None:
    doc = make_doc()
    out = render_json(doc)
    assert out.endswith("}\n")
    assert json.loads(out) == doc
    assert json.loads(out)["schema"] == "envrun.check/1"
    with pytest.raises(ValueError, match="JSON compliant"):
        render_json({**doc, "bad": float("nan")})


def test_skipped_sides_and_missing_keys_render() -> None:
    doc = skipped_doc()
    for out in (render_markdown(doc), render_html(doc), render_json(doc)):
        assert "FAILED" in out.upper()
    md = render_markdown(doc)
    assert "ModuleNotFoundError during load: no sklearn" in md
    assert "--no-host" in md and "env failed" in md
    assert "ModuleNotFoundError during load" in render_html(doc)
    assert render_markdown({}).startswith("### envrun check")
    assert "<html" in render_html({"sides": {"x": {}}, "comparisons": [{"outputs": [{}]}]})


def test_number_formatting() -> None:
    assert [fmt_number(v) for v in (0.0, 0.0025, 2.5e-7, 123456.0, 1.0, "inf", None, 3)] == [
        "0",
        "0.0025",
        "2.5e-07",
        "1.23e+05",
        "1",
        "inf",
        "\u2014",
        "3",
    ]


def test_write_reports_by_suffix(tmp_path: Path) -> None:
    doc = make_doc("reproduced")
    paths = [
        tmp_path / "r.json",
        tmp_path / "deep" / "r.md",
        tmp_path / "r.HTML",
        tmp_path / "r.htm",
    ]
    assert write_reports(doc, paths) == paths
    assert json.loads(paths[0].read_text())["verdict"]["status"] == "reproduced"
    assert paths[1].read_text(encoding="utf-8").startswith("### envrun check")
    assert "<!DOCTYPE html>" in paths[2].read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deep", "r.HTML", "r.htm", "r.json"]
    assert [report_format(p) for p in ("a.markdown", "b.Json")] == ["markdown", "json"]


def test_unknown_suffix_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        write_reports(make_doc(), [tmp_path / "ok.json", tmp_path / "bad.txt"])
    assert info.value.value == str(tmp_path / "bad.txt")
    assert ".html" in (info.value.fix or "")
    assert list(tmp_path.iterdir()) == []


def test_append_step_summary(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n", encoding="utf-8")
    assert append_step_summary(make_doc(), {}) is None
    assert append_step_summary(make_doc(), {"GITHUB_STEP_SUMMARY": ""}) is None
    assert append_step_summary(make_doc(), {"GITHUB_STEP_SUMMARY": str(summary)}) == summary
    assert (
        append_step_summary(make_doc("reproduced"), {"GITHUB_STEP_SUMMARY": str(summary)})
        == summary
    )
    content = summary.read_text(encoding="utf-8")
    assert content.startswith("earlier step\n")
    assert "**DIFFERS**" in content and "**REPRODUCED**" in content
