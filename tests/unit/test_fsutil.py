"""The one atomic writer: whole files or nothing, and a failed write says what fixes it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from envrun.errors import EXIT_USAGE, OutputError
from envrun.fsutil import write_atomic


def test_writes_text_and_bytes_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    assert write_atomic(target, "caf\u00e9\n", what="output file") == target
    assert target.read_bytes() == "caf\u00e9\n".encode()
    write_atomic(target, b"\x00\x01", what="output file")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary file left


def test_new_file_gets_the_mode_open_would_give(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "new.json", "{}", what="report file")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask


def test_replacing_keeps_the_existing_mode(tmp_path: Path) -> None:
    target = tmp_path / "kept.txt"
    target.write_text("old")
    target.chmod(0o640)
    write_atomic(target, "new", what="output file")
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert target.read_text() == "new"


def test_make_parents(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "r.md"
    with pytest.raises(OutputError):
        write_atomic(target, "x", what="report file")
    write_atomic(target, "x", what="report file", make_parents=True)
    assert target.read_text() == "x"


def test_missing_directory_names_it(tmp_path: Path) -> None:
    target = tmp_path / "nowhere" / "r.html"
    with pytest.raises(OutputError) as info:
        write_atomic(target, "x", what="report file", option="--report")
    err = info.value
    assert err.exit_code == EXIT_USAGE
    assert err.what == "cannot write the report file"
    assert err.value is not None and err.value.startswith(f"{target}: ")
    assert (
        err.fix
        == f"create the directory {target.parent} first, or choose another path for --report"
    )


def test_a_file_in_the_way_and_a_directory_as_target(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError) as info:
        write_atomic(blocker / "r.json", "x", what="lock file", option="-o", make_parents=True)
    assert "is a file, not a directory" in (info.value.fix or "")
    assert ".tmp" not in info.value.render()
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(OutputError) as info:
        write_atomic(folder, "x", what="output file", option="-o")
    assert (
        info.value.fix
        == f"{folder} is a directory; name a file inside it, or choose another path for -o"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]  # nothing left behind
    assert list(folder.iterdir()) == []
