from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from envrun import proc
from envrun.env.interpreters import Interpreter
from envrun.env.requirements import IndexOptions, ReqLine
from envrun.env.spec import EnvSpec, fingerprint
from envrun.errors import CommandFailed, EnvrunError
from envrun.settings import choose_installer, make_settings

# --- proc: the one subprocess seam -------------------------------------------------------


def test_child_env_scrubs_python_state() -> None:
    settings = make_settings(
        environ={"PYTHONPATH": "/x", "VIRTUAL_ENV": "/v", "HOME": "/h", "PIP_USER": "1"}
    )
    env = settings.child_env({"UV_NO_PROGRESS": "1"})
    assert "PYTHONPATH" not in env
    assert "VIRTUAL_ENV" not in env
    assert "PIP_USER" not in env
    assert env["HOME"] == "/h"
    assert env["PYTHONNOUSERSITE"] == "1"
    assert env["UV_NO_PROGRESS"] == "1"
    assert settings.environ["PYTHONPATH"] == "/x"  # the settings' own mapping is untouched


def test_a_child_sees_the_settings_environment_not_this_process(tmp_path: Path) -> None:
    assert "PIP_INDEX_URL" not in os.environ
    index = (tmp_path / "simple").as_uri()
    settings = make_settings(environ={**os.environ, "PIP_INDEX_URL": index, "PYTHONPATH": "/x"})
    code = "import os; print(os.environ.get('PIP_INDEX_URL'), os.environ.get('PYTHONPATH'))"
    out = proc.run([sys.executable, "-c", code], env=settings.child_env()).stdout.split()
    assert out == [index, "None"]


def test_run_captures_output_and_raises_typed_failure() -> None:
    ok = proc.run([sys.executable, "-c", "print('out')"])
    assert ok.stdout.strip() == "out"
    with pytest.raises(CommandFailed) as err:
        proc.run([sys.executable, "-c", "import sys; sys.stderr.write('bad thing'); sys.exit(3)"])
    assert err.value.returncode == 3
    assert "bad thing" in err.value.stderr
    assert err.value.argv[0] == sys.executable


def test_run_timeout() -> None:
    with pytest.raises(CommandFailed) as err:
        proc.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert err.value.timed_out


def test_run_missing_program() -> None:
    with pytest.raises(CommandFailed) as err:
        proc.run(["/no/such/program"])
    assert err.value.returncode is None


def test_logged_run_streams_lines_and_keeps_a_log(tmp_path: Path) -> None:
    seen: list[str] = []
    log = tmp_path / "logs" / "build.log"
    code = "import sys; print('one'); sys.stderr.write('two\\n'); sys.exit(1)"
    with pytest.raises(CommandFailed) as err:
        proc.run([sys.executable, "-c", code], log=log, on_line=seen.append)
    assert seen == ["one", "two"] or sorted(seen) == ["one", "two"]
    text = log.read_text()
    assert "one" in text
    assert "two" in text
    assert "two" in err.value.stderr


def test_tail_cuts_at_a_line_start() -> None:
    text = "\n".join(f"line {i}" for i in range(1000))
    cut = proc.tail(text, 50)
    assert len(cut) <= 50
    assert cut.startswith("line ")
    assert cut.endswith("line 999")


# --- settings: visible precedence ---------------------------------------------------------


def test_installer_precedence() -> None:
    assert choose_installer(None, {}).value == "uv"
    assert choose_installer(None, {}).reason == "default"
    env = choose_installer(None, {"ENVRUN_INSTALLER": "PIP"})
    assert (env.value, env.reason) == ("pip", "ENVRUN_INSTALLER environment variable")
    flag = choose_installer("uv", {"ENVRUN_INSTALLER": "pip"})
    assert (flag.value, flag.reason) == ("uv", "--installer flag")
    with pytest.raises(EnvrunError, match="unknown installer"):
        choose_installer(None, {"ENVRUN_INSTALLER": "conda"})


def test_cache_dir_precedence(tmp_path: Path) -> None:
    from_env = make_settings(environ={"ENVRUN_CACHE_DIR": str(tmp_path / "e")})
    assert from_env.cache_dir == tmp_path / "e"
    from_flag = make_settings(
        cache_dir=str(tmp_path / "f"), environ={"ENVRUN_CACHE_DIR": str(tmp_path / "e")}
    )
    assert from_flag.cache_dir == tmp_path / "f"
    default = make_settings(environ={})
    assert default.cache_dir.name == "envrun"


# --- spec: the fingerprint ----------------------------------------------------------------

INTERP = Interpreter("/usr/bin/python3.11", "3.11.7", "cpython", "linux-x86_64", "PATH")


def _spec(*reqs: ReqLine, files: tuple[tuple[str, str], ...] = ()) -> EnvSpec:
    return EnvSpec(
        "3.11.7", "python_env.yaml", (), reqs, (), IndexOptions(), files, "python_env.yaml"
    )


def _fp(spec: EnvSpec, **kw: object) -> str:
    args: dict[str, object] = {
        "interpreter": INTERP,
        "installer": "uv",
        "installer_version": "0.13.9",
        "index": IndexOptions(),
    }
    args.update(kw)
    return fingerprint(spec, **args)  # type: ignore[arg-type]


def test_fingerprint_is_stable_and_sensitive() -> None:
    numpy = ReqLine("numpy==2.2.6", "numpy", (), "requirements.txt:1", None)
    base = _fp(_spec(numpy))
    assert base == _fp(_spec(numpy))
    assert len(base) == 64
    changed = {
        _fp(_spec(ReqLine("numpy==2.2.5", "numpy", (), "requirements.txt:1", None))),
        _fp(_spec(numpy, files=(("base.txt", "ab" * 32),))),
        _fp(_spec(numpy), installer="pip"),
        _fp(_spec(numpy), installer_version="0.14.0"),
        _fp(
            _spec(numpy), interpreter=Interpreter("/x", "3.11.8", "cpython", "linux-x86_64", "PATH")
        ),
        _fp(_spec(numpy), index=IndexOptions(find_links=("/wheels",))),
        _fp(_spec(numpy), config_constraints=(("/etc/c.txt", "cd" * 32),)),
    }
    assert base not in changed
    assert len(changed) == 7


def test_fingerprint_ignores_where_the_model_lives() -> None:
    a = ReqLine(
        "pkg @ file:///a/wheels/pkg-1.0-py3-none-any.whl",
        "pkg",
        (),
        "r:1",
        "/a/wheels/pkg-1.0-py3-none-any.whl",
    )
    b = ReqLine(
        "pkg @ file:///b/wheels/pkg-1.0-py3-none-any.whl",
        "pkg",
        (),
        "r:1",
        "/b/wheels/pkg-1.0-py3-none-any.whl",
    )
    files = (("wheels/pkg-1.0-py3-none-any.whl", "ef" * 32),)
    assert _fp(_spec(a, files=files)) == _fp(_spec(b, files=files))
    assert _fp(_spec(a, files=files)) != _fp(
        _spec(a, files=(("wheels/pkg-1.0-py3-none-any.whl", "00" * 32),))
    )


def test_interpreter_path_alone_does_not_change_the_fingerprint() -> None:
    numpy = ReqLine("numpy==2.2.6", "numpy", (), "requirements.txt:1", None)
    other = Interpreter("/opt/other/python3.11", "3.11.7", "cpython", "linux-x86_64", "pyenv")
    assert _fp(_spec(numpy)) == _fp(_spec(numpy), interpreter=other)


def test_logged_run_times_out_even_when_the_command_is_silent(tmp_path: Path) -> None:
    with pytest.raises(CommandFailed) as err:
        proc.run(
            [sys.executable, "-c", "import time; time.sleep(30)"],
            timeout=0.5,
            log=tmp_path / "l.log",
        )
    assert err.value.timed_out
