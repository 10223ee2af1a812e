from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest

from envrun.drift.collectors import (
    DriftReport,
    Finding,
    ModelDrift,
    at_or_above,
    availability_findings,
    classify,
    consistency_findings,
    declared_of,
    host_findings,
    installed_findings,
    lock_findings,
    pickle_findings,
    static_drift,
)
from envrun.drift.formats import FORMATS, render
from envrun.env.sources import resolve_spec
from envrun.errors import ModelError
from envrun.model.mlmodel import read_model
from tests.helpers import FIXTURES, MODELS, make_model, write

DRIFT = FIXTURES / "drift"
GITHUB_LINE = re.compile(r"^::(error|warning|notice)( [a-z]+=[^,:]*(,[a-z]+=[^,:]*)*)?::.*$")


@pytest.mark.parametrize(
    ("name", "old", "new", "expected"),
    [
        # Python: a different minor or major is high, a patch difference low.
        ("python", "3.11.7", "3.12.1", "high"),
        ("python", "3.11.7", "4.0.0", "high"),
        ("python", "3.11.7", "3.11.9", "low"),
        ("python", "3.11", "3.11.9", "info"),
        ("python", "3.11.7", "3.11.7", "info"),
        # Ordinary packages: major high, minor medium, patch/post/local low, equal info.
        ("requests", "2.31.0", "3.0.0", "high"),
        ("requests", "2.31.0", "2.32.3", "medium"),
        ("requests", "2.32.0", "2.32.3", "low"),
        ("requests", "2.32.3", "2.32.3.post1", "low"),
        ("requests", "2.32.3", "2.32.3+local", "low"),
        ("requests", "2.32.3", "2.32.3", "info"),
        ("requests", "==2.32.3", "2.32.3", "info"),
        ("requests", "==2.31.0", "2.32.3", "medium"),
        ("scipy", "1.17.1", "1.16.0", "medium"),  # downgrades count like bumps
        # Critical packages: any change is high; names are canonicalized.
        ("scikit-learn", "1.9.1", "1.9.2", "high"),
        ("Scikit_Learn", "==1.9.1", "1.10.0", "high"),
        ("cloudpickle", "3.1.2", "3.1.2", "info"),
        ("mlflow-skinny", "3.17.1", "3.17.2", "high"),
        # A ==pin is satisfied by a local build of that version (PEP 440); bare versions differ.
        ("torch", "==2.13.0", "2.13.0+cpu", "info"),
        ("torch", "2.13.0+cpu", "2.13.0+cu121", "high"),
        # Missing or added: high when critical, else medium.
        ("numpy", "==2.2.6", None, "high"),
        ("numpy", None, "2.2.6", "high"),
        ("requests", "==2.32.3", None, "medium"),
        ("requests", None, "2.32.3", "medium"),
        ("requests", None, None, "info"),
        # Ranges: satisfied is not drift; violated classifies against the bound.
        ("requests", ">=2.0", "2.32.3", "info"),
        ("requests", "", "2.32.3", "info"),
        ("requests", ">=2.0,<3", "3.1.0", "high"),
        ("requests", ">=2.33", "2.32.3", "medium"),
        ("requests", ">=2.32.4", "2.32.3", "low"),
        ("requests", "~=2.31.0", "2.32.3", "medium"),
        ("pandas", ">=2.0", "1.5.3", "high"),
        ("pandas", ">=2.0", "2.2.3", "info"),
        ("requests", ">=2.0", ">=2.1", "low"),
        ("python", ">=3.9", "3.11.7", "info"),
        ("python", ">=3.12", "3.11.7", "high"),
        ("python", "==3.11.*", "3.11.7", "info"),
        ("requests", "<3.2", "3.5.0", "medium"),  # <3.2 allows 3.1.x at most: a minor step
        ("requests", "<2.32.1", "2.32.3", "low"),
        ("requests", "!=2.32.3", "2.32.3", "low"),
        # Unparsable versions cannot be ordered.
        ("requests", "not a version!", "2.32.3", "medium"),
        ("requests", "@ x.whl", "@ x.whl", "info"),
    ],
)
def test_classify(name: str, old: str | None, new: str | None, expected: str) -> None:
    assert classify(name, old, new) == expected


def test_at_or_above_orders_severities() -> None:
    assert at_or_above("high", "medium")
    assert at_or_above("medium", "medium")
    assert not at_or_above("low", "medium")
    assert not at_or_above("info", "low")
    assert at_or_above("info", "info")
    with pytest.raises(ValueError, match="unknown severity"):
        at_or_above("critical", "low")


def _by_key(findings: list[Finding]) -> dict[tuple[str, str | None], Finding]:
    return {(f.subject, f.source): f for f in findings}


def test_consistent_fixture_has_no_findings() -> None:
    assert consistency_findings(DRIFT / "consistent", "consistent") == []


def test_inconsistent_fixture_reports_each_disagreement() -> None:
    label = "fixtures/drift/inconsistent"
    found = _by_key(consistency_findings(DRIFT / "inconsistent", label))
    expected = {
        # Python: MLmodel (the saving interpreter) against each env file.
        ("python", "python_env.yaml"): ("low", "3.11.7", "3.11.9"),
        ("python", "conda.yaml"): ("high", "3.11.7", "3.10.13"),
        # requirements.txt and conda.yaml against python_env.yaml, which envrun installs from.
        ("cloudpickle", "requirements.txt"): ("high", "==3.1.2", "==3.0.0"),
        ("mlflow", "requirements.txt"): ("high", "==3.17.2", "==3.16.0"),
        ("scipy", "requirements.txt"): ("medium", "==1.17.1", "==1.16.0"),
        ("requests", "requirements.txt"): ("medium", None, "==2.32.3"),
        ("pandas", "requirements.txt"): ("info", ">=2.0", "==3.1.1"),
        ("cloudpickle", "conda.yaml"): ("high", "==3.1.2", None),
        ("pandas", "conda.yaml"): ("high", ">=2.0", "==1.5.3"),
        # MLmodel's flavor version against the pin every file agrees on.
        ("scikit-learn", "python_env.yaml"): ("high", "1.9.1", "==1.8.0"),
    }
    assert {k: (f.severity, f.expected, f.actual) for k, f in found.items()} == expected
    assert all(f.model == label and f.category == "consistency" for f in found.values())
    sk = found[("scikit-learn", "python_env.yaml")].message
    assert "sklearn_version 1.9.1" in sk and "pins 1.8.0" in sk and "critical" in sk
    assert "does not list it" in found[("cloudpickle", "conda.yaml")].message
    assert "outside the range >=2.0" in found[("pandas", "conda.yaml")].message


def test_ranges_fixture() -> None:
    found = {f.subject: f for f in consistency_findings(DRIFT / "ranges", "r")}
    assert {s: f.severity for s, f in found.items()} == {
        "mlflow": "info",  # 3.17.2 is within >=3.0,<4
        "scikit-learn": "info",  # 1.9.1 is within ~=1.9.0
        "cloudpickle": "high",  # 3.1.2 violates >=3.2
    }
    assert "a fresh build may install another version" in found["mlflow"].message
    assert found["cloudpickle"].source == "requirements.txt"


def test_undeclared_fixture_names_libraries_no_file_lists() -> None:
    found = {f.subject: f for f in consistency_findings(DRIFT / "undeclared", "u")}
    assert {s: (f.severity, f.actual) for s, f in found.items()} == {
        "mlflow": ("high", None),  # the loader is mlflow.xgboost, so mlflow is needed
        "xgboost": ("medium", None),
    }
    assert "xgb_version 2.1.4" in found["xgboost"].message


def test_broken_env_file_is_a_finding_not_a_crash() -> None:
    (finding,) = consistency_findings(DRIFT / "broken", "b")
    assert (finding.subject, finding.severity, finding.source) == (
        "conda.yaml",
        "high",
        "conda.yaml",
    )
    assert "not valid YAML at line 5" in finding.message


def test_bad_python_env_and_requirements_are_findings(tmp_path: Path) -> None:
    model = tmp_path / "m"
    write(model / "MLmodel", "flavors:\n  python_function:\n    loader_module: x\n")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies: numpy\n")
    write(model / "requirements.txt", "-e ./src\n")
    found = {f.subject: f for f in consistency_findings(model, "m")}
    assert set(found) == {"python_env.yaml", "requirements.txt"}
    assert all(f.severity == "high" for f in found.values())
    assert "editable" in found["requirements.txt"].message


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("python=3.11.7", None),
        ("python 3.11", None),
        ("python=3.11.*", None),
        ("python=3.12", "high"),
        ("python>=3.9", None),
        ("python<3.11", "high"),
        ("python", None),
    ],
)
def test_conda_python_forms(tmp_path: Path, line: str, expected: str | None) -> None:
    model = make_model(tmp_path / "m", env="conda.yaml", code=None)
    write(model / "conda.yaml", f"dependencies:\n  - {line}\n  - pip\n")
    assert [f.severity for f in consistency_findings(model, "m")] == (
        [expected] if expected else []
    )


def test_mlflow_skinny_counts_as_mlflow_and_missing_files_are_fine(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m", loader="mlflow.pyfunc.model", env=None, code=None)
    assert consistency_findings(model, "m") == []  # no env files at all: nothing to compare
    write(model / "requirements.txt", "mlflow-skinny==3.17.2\n")
    assert consistency_findings(model, "m") == []
    write(model / "requirements.txt", "mlflow-skinny==3.16.0\n")
    (f,) = consistency_findings(model, "m")
    assert (f.subject, f.severity, f.expected, f.actual) == (
        "mlflow-skinny",
        "high",
        "3.17.2",
        "==3.16.0",
    )


def test_not_a_model_dir_raises(tmp_path: Path) -> None:
    with pytest.raises(ModelError):
        consistency_findings(tmp_path, "x")


REAL_MODELS = [
    "localwheel",
    "mlflow1_legacy",
    "mlflow_pyfunc",
    "mlflow_pytorch",
    "mlflow_sklearn",
    "numpy_custom",
    "probe",
    "py310",
    "raises",
    "torch_custom",
    "unknown_loader",
]


def test_fixture_model_list_is_complete() -> None:
    assert sorted(p.name for p in MODELS.iterdir() if p.is_dir()) == REAL_MODELS


@pytest.mark.parametrize("name", REAL_MODELS)
def test_fixture_models_are_consistent(name: str) -> None:
    findings = consistency_findings(MODELS / name, name)
    if name == "mlflow_pytorch":
        # MLmodel records torch 2.13.0+cpu, the pin says 2.13.0: same version, build noted.
        (f,) = findings
        assert (f.subject, f.severity, f.expected, f.actual) == (
            "torch",
            "info",
            "2.13.0+cpu",
            "==2.13.0",
        )
        assert "+cpu" in f.message
    else:
        assert findings == []


def test_host_findings_explicit() -> None:
    declared = {
        "scikit-learn": "==1.9.1",
        "numpy": ">=1.24",
        "requests": "==2.32.3",
        "mlflow": "==3.17.2",
        "fixture-pkg": "@ fixture_pkg-1.0.0-py3-none-any.whl",
        "scipy": "",
    }
    host = {
        "scikit-learn": "1.10.0",
        "numpy": "2.4.6",
        "requests": None,
        "mlflow-skinny": "3.17.2",  # counts as mlflow
        "fixture-pkg": "1.0.0",
        "scipy": "1.17.1",
    }
    found = {
        f.subject: f
        for f in host_findings(
            "m",
            declared,
            "3.11.7",
            host_versions=host,
            host_python="3.12.1",
            sources={"scikit-learn": "requirements.txt", "python": "python_env.yaml"},
        )
    }
    assert {s: f.severity for s, f in found.items()} == {
        "scikit-learn": "high",
        "numpy": "medium",  # within >=1.24 but a major above its lower bound
        "requests": "low",  # missing on the host: only in-process loading needs it
        "python": "high",
    }
    sk = found["scikit-learn"]
    assert sk.message.startswith(
        "scikit-learn: requirements.txt pins 1.9.1 but this host has 1.10.0 "
        "(minor bump of a serialization-critical package)"
    )
    assert "in-process on this host may fail or give different predictions" in sk.message
    assert (sk.category, sk.expected, sk.actual, sk.source) == (
        "host",
        "==1.9.1",
        "1.10.0",
        "requirements.txt",
    )
    assert "not installed on this host" in found["requests"].message
    assert found["python"].message.startswith(
        "python: python_env.yaml declares 3.11.7 but this host runs 3.12.1"
    )


def test_host_findings_default_lookup_uses_this_interpreter() -> None:
    import platform

    here = metadata.version("packaging")
    declared = {"packaging": f"=={here}", "no-such-dist-xyz": "==1.0"}
    found = host_findings("m", declared, platform.python_version())
    assert [(f.subject, f.actual, f.severity) for f in found] == [("no-such-dist-xyz", None, "low")]


def test_installed_findings() -> None:
    (none,) = installed_findings("m", {"numpy": "==2.2.6"}, "3.11.7", None, None)
    assert (none.category, none.severity) == ("installed", "info")
    assert "no cached env for this model yet" in none.message
    state = {
        "installed": {"Scikit_Learn": "1.9.1", "numpy": "3.0.0", "requests": "2.32.0"},
        "interpreter": {"version": "3.11.9"},
    }
    declared = {
        "scikit-learn": "==1.9.1",
        "numpy": ">=1.24",
        "pandas": "==2.2.3",
        "requests": "==2.32.3",
    }
    found = {f.subject: f for f in installed_findings("m", declared, "3.11.7", state, "/envs/abc")}
    assert {s: f.severity for s, f in found.items()} == {
        "numpy": "medium",
        "pandas": "high",
        "requests": "low",
        "python": "low",
    }
    assert "not installed in the cached env at /envs/abc" in found["pandas"].message
    assert "the cached env at /envs/abc has 2.32.0" in found["requests"].message
    assert found["python"].actual == "3.11.9"


def test_lock_findings() -> None:
    changes = [
        ("numpy", "2.2.6", "2.3.0"),
        ("Requests", "2.32.3", "2.32.4"),
        ("idna", None, "3.10"),
        ("six", "1.16.0", None),
        ("same", "1.0", "1.0"),  # not a change: no finding
    ]
    found = {f.subject: f for f in lock_findings("m", "locks/m.lock", changes)}
    assert {s: f.severity for s, f in found.items()} == {
        "numpy": "high",
        "requests": "low",
        "idna": "medium",
        "six": "medium",
    }
    assert found["numpy"].message == (
        "a fresh resolution today gives numpy 2.3.0 instead of the locked 2.2.6 "
        "(minor bump of a serialization-critical package)"
    )
    assert all(f.source == "locks/m.lock" and f.category == "lock" for f in found.values())


def test_availability_findings() -> None:
    yanked, missing = availability_findings(
        "m",
        [
            ("numpy", "1.0", "yanked", "broken wheels"),
            ("Foo_Bar", "9.9", "missing", "no such version"),
        ],
    )
    assert yanked.message.startswith(
        "numpy==1.0 is yanked on the configured index (reason: broken wheels)"
    )
    assert (missing.subject, missing.expected, missing.actual) == ("foo-bar", "==9.9", None)
    assert {yanked.severity, missing.severity} == {"high"}


def test_pickle_findings() -> None:
    preflight = {
        "findings": [
            {
                "severity": "high",
                "file": "python_model.pkl",
                "module": "xgboost",
                "message": "m1",
                "fix": "f1",
            },
            {
                "severity": "weird",
                "file": "model.pkl",
                "module": None,
                "message": "m2",
                "fix": "f2",
            },
        ],
        "files": 2,
    }
    a, b = pickle_findings("m", preflight)
    assert (a.category, a.subject, a.actual, a.severity, a.source) == (
        "pickle",
        "python_model.pkl",
        "xgboost",
        "high",
        "python_model.pkl",
    )
    assert (b.severity, b.actual) == ("medium", None)


def _finding(severity: str, category: str = "consistency", **kw: str) -> Finding:
    values = {
        "model": "fixtures/models/x",
        "category": category,
        "subject": "numpy",
        "expected": "==2.2.6",
        "actual": "2.3.0",
        "severity": severity,
        "message": f"numpy: a {severity} change",
        "fix": "pin it",
        "source": "requirements.txt",
    } | kw
    return Finding(**values)  # type: ignore[arg-type]


def _report(threshold: str) -> DriftReport:
    dirty = ModelDrift(
        "fixtures/models/x",
        "/abs/fixtures/models/x",
        (
            _finding("high"),
            _finding("low", "host"),
            _finding("info", "host"),
            _finding("medium", "lock"),
        ),
        ("consistency", "host", "lock"),
        (("pickle", "the model has no pickle files"),),
    )
    clean = ModelDrift(
        "fixtures/models/y",
        "/abs/y",
        (_finding("low", model="fixtures/models/y"),),
        ("consistency",),
    )
    return DriftReport((dirty, clean), threshold)


@pytest.mark.parametrize(
    ("threshold", "failing", "code"),
    [("high", 1, 1), ("medium", 2, 1), ("low", 4, 1), ("info", 5, 1)],
)
def test_report_exit_codes(threshold: str, failing: int, code: int) -> None:
    report = _report(threshold)
    assert len(report.failing()) == failing
    assert report.exit_code == code


def test_report_exit_code_zero_when_below_threshold() -> None:
    clean = ModelDrift("m", "/m", (_finding("medium"), _finding("info")), ("consistency",))
    assert DriftReport((clean,), "high").exit_code == 0
    assert DriftReport((clean,), "medium").exit_code == 1
    assert DriftReport((), "high").exit_code == 0
    with pytest.raises(ValueError, match="unknown severity"):
        DriftReport((clean,), "severe")


def test_report_json() -> None:
    data = json.loads(render(_report("medium"), "json"))
    assert data["schema"] == "envrun.drift/1"
    assert data["threshold"] == "medium"
    assert data["summary"] == {
        "models": 2,
        "failing": 2,
        "failing_models": 1,
        "by_severity": {"high": 1, "medium": 1, "low": 2, "info": 1},
    }
    first = data["models"][0]
    assert first["skipped"] == [{"category": "pickle", "reason": "the model has no pickle files"}]
    assert [f["failing"] for f in first["findings"]] == [True, False, False, True]
    assert set(first["findings"][0]) >= {
        "model",
        "category",
        "subject",
        "expected",
        "actual",
        "severity",
        "message",
        "fix",
        "source",
    }


def test_table_is_quiet_when_clean() -> None:
    report = _report("high")
    clean = DriftReport(report.models[1:], "medium")
    assert render(clean, "table") == "ok: fixtures/models/y (1 check, 1 finding below medium)"
    verbose = render(clean, "table", verbose=True)
    assert "numpy: a low change" in verbose and "fix: pin it" in verbose
    assert verbose.splitlines()[-1] == "1 model, 0 with drift at or above medium (1 finding: 1 low)"


def test_table_lists_failing_findings() -> None:
    text = render(_report("medium"), "table", width=80)
    lines = text.splitlines()
    assert (
        lines[0]
        == "drift: fixtures/models/x (3 checks, 2 at or above medium, 2 findings below medium, 1 skipped)"
    )
    assert lines[1].split() == ["SEVERITY", "CATEGORY", "SUBJECT", "EXPECTED", "ACTUAL", "MESSAGE"]
    assert "numpy: a high change" in text and "numpy: a medium change" in text
    assert "a low change" not in text  # below the threshold and not verbose
    assert "ok: fixtures/models/y (1 check, 1 finding below medium)" in lines
    assert (
        lines[-1]
        == "2 models, 1 with drift at or above medium (5 findings: 1 high, 1 medium, 2 low, 1 info)"
    )
    assert all(len(line) <= 80 for line in lines[1:-1] if not line.startswith(("drift", "ok")))
    assert "\x1b[" not in text
    assert "\x1b[1;31mhigh" in render(_report("medium"), "table", color=True)


def test_markdown() -> None:
    text = render(_report("medium"), "markdown")
    assert text.startswith("## envrun drift")
    assert "| Severity | Category | Subject | Expected | Actual | Message | Fix |" in text
    assert "### ❌ `fixtures/models/x`" in text and "### ✅ `fixtures/models/y`" in text
    assert "<details>" in text and "Skipped pickle: the model has no pickle files." in text
    pipe = DriftReport(
        (ModelDrift("m", "/m", (_finding("high", message="a | b\nc"),), ("consistency",)),), "high"
    )
    assert "a \\| b<br>c" in render(pipe, "markdown")


def test_junit_parses_with_right_counts() -> None:
    root = ET.fromstring(render(_report("medium"), "junit"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped"), root.get("errors")) == (
        "5",
        "2",
        "1",
        "0",
    )
    dirty, clean = root.findall("testsuite")
    assert dirty.get("name") == "envrun drift: fixtures/models/x"
    assert (dirty.get("tests"), dirty.get("failures"), dirty.get("skipped")) == ("4", "2", "1")
    cases = {c.get("name"): c for c in dirty.findall("testcase")}
    assert set(cases) == {"consistency", "host", "lock", "pickle"}
    assert all(c.get("classname") == "fixtures/models/x" for c in cases.values())
    failure = cases["consistency"].find("failure")
    assert failure is not None and failure.get("type") == "drift.high"
    assert "numpy: a high change" in (failure.text or "")
    lock = cases["lock"].find("failure")
    assert lock is not None and lock.get("type") == "drift.medium"
    assert cases["host"].find("failure") is None
    assert "a low change" in (cases["host"].findtext("system-out") or "")
    skipped = cases["pickle"].find("skipped")
    assert skipped is not None and skipped.get("message") == "the model has no pickle files"
    assert (clean.get("tests"), clean.get("failures"), clean.get("skipped")) == ("1", "0", "0")


def test_github_commands_and_levels() -> None:
    lines = render(_report("low"), "github").splitlines()
    assert len(lines) == 4
    assert all(GITHUB_LINE.match(line) for line in lines)
    assert [line.split(" ", 1)[0] for line in lines] == [
        "::error",
        "::notice",
        "::warning",
        "::notice",
    ]
    assert "file=fixtures/models/x/requirements.txt," in lines[0]
    assert "file=requirements.txt," in lines[2]  # lock sources are paths as given
    assert len(render(_report("low"), "github", verbose=True).splitlines()) == 5
    assert render(_report("high"), "github").count("\n") == 0


def test_github_escaping() -> None:
    f = _finding("high", message="100% broken\nsecond line\r", source="odd:name,1.txt")
    text = render(
        DriftReport((ModelDrift("dir", "/dir", (f,), ("consistency",)),), "high"), "github"
    )
    assert "\n" not in text and GITHUB_LINE.match(text)
    assert "file=dir/odd%3Aname%2C1.txt," in text
    assert "100%25 broken%0Asecond line%0D" in text
    assert "title=envrun drift (high%2C consistency)%3A numpy::" in text


def test_render_rejects_unknown_format() -> None:
    assert set(FORMATS) == {"table", "json", "markdown", "junit", "github"}
    with pytest.raises(ValueError, match="unknown drift format"):
        render(_report("high"), "yaml")


def test_static_drift_on_a_fixture() -> None:
    host = {
        "numpy": "2.4.6",
        "mlflow": "3.17.2",
        "pandas": "3.1.1",
        "scikit-learn": "1.9.1",
        "scipy": "1.17.1",
        "skops": "0.16.0",
    }
    clean = static_drift(MODELS / "mlflow_sklearn", "sk", host_versions=host, host_python="3.11.7")
    assert (clean.checked, clean.findings, clean.skipped) == (("consistency", "host"), (), ())
    moved = static_drift(
        MODELS / "mlflow_sklearn",
        "sk",
        host_versions=host | {"scikit-learn": "1.10.0"},
        host_python="3.11.7",
    )
    (finding,) = moved.findings
    assert (finding.subject, finding.severity, finding.source) == (
        "scikit-learn",
        "high",
        "requirements.txt",
    )
    assert DriftReport((clean,), "high").exit_code == 0
    assert DriftReport((moved,), "high").exit_code == 1


def test_declared_of() -> None:
    pins, sources = declared_of(resolve_spec(read_model(MODELS / "localwheel")))
    assert pins == {"envrun-fixture-pkg": "@ envrun_fixture_pkg-1.0.0-py3-none-any.whl"}
    assert sources == {"envrun-fixture-pkg": "requirements.txt", "python": "python_env.yaml"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders_real_drift(fmt: str) -> None:
    models = tuple(
        static_drift(d, f"fixtures/drift/{d.name}", host_versions={}, host_python="3.11.7")
        for d in sorted(DRIFT.iterdir())
    )
    text = render(DriftReport(models, "high"), fmt)
    assert "fixtures/drift/inconsistent" in text
