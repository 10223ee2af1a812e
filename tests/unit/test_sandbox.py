"""The sandbox wrappers, each run for real around this interpreter: no network, read-only dirs.

Skipped, with the reason, for a tool that cannot confine a process on this machine.
"""

from __future__ import annotations

import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from envrun import proc
from envrun.errors import SandboxUnavailable
from envrun.run.sandbox import Sandbox, find_sandbox, wrap_argv

# What the confined child tries; it prints one word per attempt and never fails itself.
PROBE = """
import socket, sys
for target in sys.argv[2:]:
    try:
        open(target + "/probe.txt", "w").close()
        print("wrote")
    except OSError:
        print("read-only")
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5).close()
    print("connected")
except OSError:
    print("no-network")
"""


def only_tool(kind: str, bin_dir: Path) -> Sandbox:
    """The sandbox of one kind, found on a PATH that holds only it and its helpers."""
    bin_dir.mkdir()
    for name in (kind, "sh", "mount", "true"):
        target = shutil.which(name)
        if target is None:
            pytest.skip(f"{name} is not installed")
        (bin_dir / name).symlink_to(target)
    try:
        found = find_sandbox(path=str(bin_dir))
    except SandboxUnavailable as exc:
        pytest.skip(f"{kind} cannot confine a process here: {exc.value}")
    assert found.kind == kind
    return found


@pytest.fixture
def listener() -> Iterator[int]:
    """A loopback port that accepts connections (the kernel completes them from the backlog)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.mark.parametrize("kind", ["bwrap", "unshare"])
def test_the_wrapped_process_has_no_network_and_read_only_dirs(
    kind: str, tmp_path: Path, listener: int
) -> None:
    tool = only_tool(kind, tmp_path / "bin")
    model, env, free = tmp_path / "model", tmp_path / "env", tmp_path / "free"
    for d in (model, env, free):
        d.mkdir()
    argv = [sys.executable, "-c", PROBE, str(listener), str(model), str(env), str(free)]
    outside = proc.run(argv).stdout.split()
    assert outside == ["wrote", "wrote", "wrote", "connected"]
    for d in (model, env, free):
        (d / "probe.txt").unlink()
    wrapped = wrap_argv(argv, model_dir=model, env_dir=env, sandbox=tool)
    inside = proc.run(wrapped).stdout.split()
    assert inside == ["read-only", "read-only", "wrote", "no-network"]
    assert not (model / "probe.txt").exists()
