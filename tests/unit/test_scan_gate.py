"""`envrun scan`, the load gate (refusing dangerous pickles before any build) and finding a sandbox.

The malicious model's pickle is only written, never unpickled; nothing here builds an env.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from envrun import api
from envrun.cli import app as cli
from envrun.errors import SandboxUnavailable, UnsafeModelError
from envrun.run.sandbox import find_sandbox
from envrun.settings import make_settings
from tests.helpers import INPUTS, MODELS, make_model, make_unsafe_model

PY = platform.python_version()


@pytest.fixture
def unsafe(tmp_path: Path) -> Path:
    return make_unsafe_model(tmp_path / "unsafe", python_version=PY)


def envrun_child(
    *args: str | Path, cwd: Path, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    """The CLI in a child process: for a working directory or a PATH this process must keep."""
    env = dict(os.environ, ENVRUN_CACHE_DIR=str(cwd / "cache"))
    if path is not None:
        env["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "envrun", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


# --- envrun scan -------------------------------------------------------------------------------


def test_scan_of_every_fixture_is_clean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    models = sorted(p for p in MODELS.iterdir() if (p / "MLmodel").is_file())
    code = cli.main(["scan", *map(str, models), "--cache-dir", str(tmp_path), "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["schema"] == "envrun.scan/1"
    assert [m["verdict"] for m in doc["models"]] != []
    assert {m["verdict"] for m in doc["models"]} <= {"clean", "code_by_value"}


def test_scan_finds_the_dangerous_call(
    unsafe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = cli.main(["scan", str(unsafe), "--cache-dir", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 1
    assert f"{os.system.__module__}.system" in out
    assert "python_model.pkl at byte" in out
    assert "called by REDUCE" in out


def test_scan_json_and_output_file(
    unsafe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "scan.json"
    argv = ["scan", str(unsafe), "--format", "json", "-o", str(target)]
    code = cli.main([*argv, "--cache-dir", str(tmp_path / "cache")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.out == ""
    assert "1 dangerous finding" in captured.err
    doc = json.loads(target.read_text())
    assert doc["exit_code"] == 1
    (model,) = doc["models"]
    assert model["verdict"] == "dangerous"
    (found,) = [f for f in model["files"][0]["findings"] if f["verdict"] == "dangerous"]
    assert (found["name"], found["category"], found["calls"]) == ("system", "process", ["REDUCE"])


def test_scan_sarif_locates_findings_from_the_working_directory(tmp_path: Path) -> None:
    make_unsafe_model(tmp_path / "models" / "unsafe", python_version=PY)
    result = envrun_child("scan", "models/unsafe", "--format", "sarif", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    (run,) = json.loads(result.stdout)["runs"]
    (hit,) = run["results"]
    location = hit["locations"][0]["physicalLocation"]
    assert location["artifactLocation"]["uri"] == "models/unsafe/python_model.pkl"
    assert hit["level"] == "error"
    assert hit["ruleId"] == "pickle/process"


def test_scan_sarif_outside_the_working_directory_uses_file_uris(
    unsafe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(["scan", str(unsafe), "--format", "sarif", "--cache-dir", str(tmp_path / "c")])
    (run,) = json.loads(capsys.readouterr().out)["runs"]
    uri = run["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == (unsafe.resolve() / "python_model.pkl").as_uri()


@pytest.mark.parametrize("kind", ["missing", "not a model"])
def test_scan_of_a_bad_directory_is_a_usage_error(
    kind: str, unsafe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "nothing-here" if kind == "missing" else tmp_path
    code = cli.main(["scan", str(unsafe), str(bad), "--cache-dir", str(tmp_path / "c")])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""  # no report for the good one either: the call was wrong
    assert str(bad) in captured.err


def test_a_second_scan_comes_from_the_cache(unsafe: Path, tmp_path: Path) -> None:
    settings = make_settings(cache_dir=str(tmp_path / "cache"), environ={})
    assert not api.scan(unsafe, settings).cached
    assert api.scan(unsafe, settings).cached
    assert list((tmp_path / "cache" / "scans").glob("*.json"))


# --- the load gate -----------------------------------------------------------------------------


def test_predict_refuses_a_dangerous_model_before_building(
    unsafe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    argv = ["predict", str(unsafe), str(INPUTS / "localwheel.json"), "--cache-dir", str(cache)]
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code == 2
    assert f"would run {os.system.__module__}.system" in err
    assert "python_model.pkl at byte" in err  # the file and the opcode's position
    assert "--trust-model" in err
    assert "envrun scan MODEL_DIR" in err
    assert not (cache / "envs").exists()


def test_check_refuses_a_dangerous_model_before_building(
    unsafe: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cache = tmp_path / "cache"
    code = cli.main(
        ["check", str(unsafe), str(INPUTS / "localwheel.json"), "--cache-dir", str(cache)]
    )
    assert code == 2
    assert "refusing to load" in capsys.readouterr().err
    assert not (cache / "envs").exists()


def test_in_process_predict_is_gated_too(unsafe: Path) -> None:
    with pytest.raises(UnsafeModelError) as info:
        api.predict_in_process(unsafe, str(INPUTS / "localwheel.json"))
    assert info.value.findings


def test_trusting_skips_the_scan(unsafe: Path, tmp_path: Path) -> None:
    settings = make_settings(cache_dir=str(tmp_path / "c"), trust_model=True, environ={})
    assert api.gate_load(unsafe, settings) is None
    assert not (tmp_path / "c").exists()


def test_code_by_value_does_not_block(tmp_path: Path) -> None:
    import cloudpickle

    model = make_model(tmp_path / "m", env=None, python_version=PY)
    (model / "python_model.pkl").write_bytes(cloudpickle.dumps(lambda x: x + 1))
    report = api.gate_load(model, make_settings(cache_dir=str(tmp_path / "c"), environ={}))
    assert report is not None
    assert report.of("code_by_value")
    assert not report.dangerous


def test_trust_model_and_sandbox_reach_the_settings_of_loading_verbs() -> None:
    parser = cli.build_parser()
    for verb in ("predict", "check"):
        args = parser.parse_args([verb, "m", "x", "--trust-model", "--sandbox"])
        assert (args.trust_model, args.sandbox) == (True, True)
    for argv in (["drift", "m"], ["scan", "m"], ["resolve", "m"], ["env", "path", "m"]):
        args = parser.parse_args(argv)
        assert (args.trust_model, args.sandbox) == (False, False)


# --- finding a sandbox -------------------------------------------------------------------------


def test_no_sandbox_tool_is_a_usage_error_naming_what_to_install(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = envrun_child(
        "predict", "--sandbox", MODELS / "numpy_custom", INPUTS / "numpy_custom.json",
        cwd=tmp_path, path=str(empty),
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert "bubblewrap" in result.stderr
    assert "bwrap: not found" in result.stderr
    assert not (tmp_path / "cache" / "envs").exists()


def test_check_cannot_sandbox_its_host_side(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["check", str(MODELS / "numpy_custom"), str(INPUTS / "numpy_custom.json"), "--sandbox"]
    assert cli.main([*argv, "--cache-dir", str(tmp_path / "c")]) == 2
    assert "--no-host" in capsys.readouterr().err
    assert not (tmp_path / "c" / "envs").exists()


def _fake_bwrap(bin_dir: Path) -> None:
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "bwrap"
    fake.write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create a new namespace' >&2\nexit 1\n"
    )
    fake.chmod(0o755)


def test_a_bwrap_that_cannot_run_here_is_reported(tmp_path: Path) -> None:
    _fake_bwrap(tmp_path)
    with pytest.raises(SandboxUnavailable) as info:
        find_sandbox(path=str(tmp_path))
    assert "bwrap: bwrap: No permissions to create a new namespace" in str(info.value.value)


def test_unshare_is_the_fallback_for_a_bwrap_that_cannot_run(tmp_path: Path) -> None:
    tools = {name: shutil.which(name) for name in ("unshare", "sh", "mount", "true")}
    if not all(tools.values()):
        pytest.skip(f"unshare, sh, mount or true missing: {tools}")
    _fake_bwrap(tmp_path)
    for name, target in tools.items():
        (tmp_path / name).symlink_to(str(target))
    try:
        found = find_sandbox(path=str(tmp_path))
    except SandboxUnavailable as exc:
        pytest.skip(f"unshare cannot make namespaces here: {exc.value}")
    assert found.kind == "unshare"
