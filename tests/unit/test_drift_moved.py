"""The `moved` drift class: two compiled pin lists compared, and when the class cannot run."""

from __future__ import annotations

import datetime as dt
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from envrun import api
from envrun.drift import CATEGORIES, DriftReport, Finding, ModelDrift, moved_findings, render
from envrun.drift.finding import Skip
from envrun.drift.moved import as_of_text, exact_version_of, moved_drift
from envrun.drift.run import drift_model
from envrun.env.asof import Cutoff
from envrun.settings import make_settings
from tests.helpers import make_model, write

SAVED = Cutoff(
    dt.datetime(2022, 10, 22, 8, 30, tzinfo=dt.timezone.utc), "when the model was saved", "x"
)
THEN = {
    "numpy": "1.23.4",
    "packaging": "21.3",
    "pyparsing": "3.0.9",
    "requests": "2.28.1",
    "urllib3": "1.26.12",
    "six": "1.16.0",
    "idna": "3.4",
}
TODAY = {
    "numpy": "2.4.6",
    "packaging": "21.9",
    "requests": "2.28.2",
    "urllib3": "2.5.0",
    "six": "1.16.0",
    "idna": "3.4",
    "charset-normalizer": "3.4.0",
}
DECLARED = {"numpy": "", "packaging": ">=20", "requests": "==2.28.1", "six": "===1.16.0"}
SOURCES = {name: "requirements.txt" for name in DECLARED}


def _by_subject(findings: list[Finding]) -> dict[str, Finding]:
    return {f.subject: f for f in findings}


def test_each_package_that_moved_is_classified() -> None:
    found = _by_subject(moved_findings("m", SAVED, THEN, TODAY, declared=DECLARED, sources=SOURCES))
    assert all(f.category == "moved" for f in found.values())
    numpy = found["numpy"]
    assert numpy.message.startswith(
        "numpy 1.23.4 (resolved as of 2022-10-22, when the model was saved) -> 2.4.6 today"
    )
    assert (numpy.expected, numpy.actual, numpy.severity) == ("1.23.4", "2.4.6", "high")
    assert "declared without a version in requirements.txt" in numpy.message
    assert numpy.source == "requirements.txt" and "pin numpy==2.4.6" in numpy.fix
    # Not critical: a minor bump is medium, a patch low, a major high.
    assert (found["packaging"].severity, found["requests"].severity) == ("medium", "low")
    # A transitive major bump is at most medium: the build still resolves as of the model's day.
    assert found["urllib3"].severity == "medium" and "a transitive dependency" in (
        found["urllib3"].message
    )
    assert found["urllib3"].source is None
    # A declared exact pin is never told to be pinned again.
    assert "pin requests==" not in found["requests"].fix
    # Unchanged packages are no finding.
    assert "six" not in found and "idna" not in found


def test_added_and_removed_packages() -> None:
    found = _by_subject(moved_findings("m", SAVED, THEN, TODAY, declared=DECLARED))
    added, removed = found["charset-normalizer"], found["pyparsing"]
    assert (added.expected, added.actual, added.severity) == (None, "3.4.0", "medium")
    assert "charset-normalizer 3.4.0 today, which the env resolved as of 2022-10-22" in (
        added.message
    )
    assert (removed.expected, removed.actual, removed.severity) == ("3.0.9", None, "medium")
    assert "is no longer part of the env today (removed" in removed.message
    # A declared serialization-critical package that appears or goes is high; a transitive one
    # is at most medium.
    crit = _by_subject(
        moved_findings("m", SAVED, {"cloudpickle": "2.2.0"}, {}, declared={"cloudpickle": ""})
    )
    assert crit["cloudpickle"].severity == "high" and "is removed" in crit["cloudpickle"].message
    deep = _by_subject(moved_findings("m", SAVED, {"cloudpickle": "2.2.0"}, {}))
    assert deep["cloudpickle"].severity == "medium"


def test_summary_counts_moves_and_exact_pins() -> None:
    findings = moved_findings(
        "m", SAVED, THEN, TODAY, declared=DECLARED, notes=["taken as of now: x"]
    )
    summary = findings[-1]
    assert (summary.subject, summary.severity) == ("resolution", "info")
    assert summary.expected == "2022-10-22T08:30:00Z" and summary.actual == "now"
    assert summary.message == (
        "7 packages resolved as of 2022-10-22, when the model was saved, 7 today: "
        "4 moved, 1 added, 1 removed; exact pins, which cannot move: 2 of 4 declared; "
        "taken as of now: x"
    )
    quiet = moved_findings("m", SAVED, {"six": "1.16.0"}, {"Six": "1.16.0"})
    assert [f.severity for f in quiet] == ["info"] and "0 moved" in quiet[0].message


def test_a_requested_date_is_shown_as_given() -> None:
    # --as-of 2022-06-30 includes that whole UTC day: the cutoff is the next midnight.
    when = dt.datetime(2022, 7, 1, tzinfo=dt.timezone.utc)
    cutoff = Cutoff(when, "requested by --as-of flag", "2022-06-30")
    assert as_of_text(cutoff) == "resolved as of 2022-06-30, requested by --as-of flag"
    assert as_of_text(SAVED) == "resolved as of 2022-10-22, when the model was saved"


@pytest.mark.parametrize(
    ("text", "version"),
    [
        ("==1.2.3", "1.2.3"),
        ("===1.2.3", "1.2.3"),
        ("==1.2.*", None),
        (">=1.2", None),
        ("", None),
        ("==1.0,<2", None),
        ("not a specifier", None),
    ],
)
def test_exact_version_of(text: str, version: str | None) -> None:
    assert exact_version_of(text) == version


def test_arbitrary_equality_is_not_an_index_pin() -> None:
    assert exact_version_of("===1.2.3", arbitrary=False) is None


def _resolved(tmp_path: Path, extra_top: str, as_of: str | None = None) -> api.Resolution:
    model = make_model(tmp_path / "m", extra_top=extra_top)
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies: [packaging]\n")
    settings = make_settings(cache_dir=str(tmp_path / "cache"), environ={}, as_of=as_of)
    return api.resolve(model, settings)


def _never() -> Finding:
    raise AssertionError("no resolution today is needed when the class cannot run")


def test_skipped_without_a_creation_time_or_with_as_of_now(tmp_path: Path) -> None:
    undated = _resolved(tmp_path / "a", "")
    settings = make_settings(cache_dir=str(tmp_path / "cache"), environ={})
    with pytest.raises(Skip, match=r"no creation time .*pass --as-of DATE"):
        moved_drift("m", undated, settings, declared={}, sources={}, today=_never)
    dated = _resolved(tmp_path / "b", "utc_time_created: '2021-03-01 12:00:00.000000'")
    now = make_settings(cache_dir=str(tmp_path / "cache"), environ={}, as_of="now")
    with pytest.raises(Skip, match=r"--as-of now .*the model's day is today"):
        moved_drift("m", dated, now, declared={}, sources={}, today=_never)


def test_drift_model_lists_moved_as_skipped_with_why(tmp_path: Path) -> None:
    model = make_model(tmp_path / "m")
    write(model / "python_env.yaml", "python: 3.11.7\ndependencies: [packaging]\n")
    settings = make_settings(cache_dir=str(tmp_path / "cache"), environ={})
    offline = frozenset({"lock", "availability", "installed", "host"})
    report = drift_model(model, settings, skip=offline)
    assert "moved" not in report.checked
    assert "no creation time" in dict(report.skipped)["moved"]
    skipped = drift_model(model, settings, skip=offline | {"moved"})
    assert dict(skipped.skipped)["moved"] == "skipped with --skip"


def test_moved_sits_between_lock_and_availability() -> None:
    assert CATEGORIES.index("lock") < CATEGORIES.index("moved") < CATEGORIES.index("availability")


def test_formats_carry_the_moved_class() -> None:
    findings = tuple(moved_findings("fixtures/m", SAVED, THEN, TODAY, declared=DECLARED))
    model = ModelDrift("fixtures/m", "/abs/m", findings, ("consistency", "moved"), (("lock", "x"),))
    report = DriftReport((model,), "high")
    doc = json.loads(render(report, "json"))
    assert doc["models"][0]["checked"] == ["consistency", "moved"]
    assert {f["category"] for f in doc["models"][0]["findings"]} == {"moved"}
    suite = ET.fromstring(render(report, "junit")).find("testsuite")
    assert suite is not None
    cases = [c.get("name") for c in suite.findall("testcase")]
    assert cases.count("moved") == 1 and suite.get("failures") == "1"
    github = render(report, "github").splitlines()
    assert any(line.startswith("::error ") and "moved" in line for line in github)
    assert "| **high** | moved | `numpy` |" in render(report, "markdown")
