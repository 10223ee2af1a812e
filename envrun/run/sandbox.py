"""The optional sandbox: the model's worker runs without network and with its files read-only.

Two tools can confine a process on Linux: bubblewrap (`bwrap`), preferred, and util-linux's
`unshare` (a network namespace, and a mount namespace in which mount(8) re-binds the model and
env directories read-only). Each is tried once per process with a no-op command, so a tool that
is installed but not allowed here (user namespaces switched off) is passed over for the other.

Only the network and writes to those two directories are taken away: CPU and memory, reading
other files and writing elsewhere (the control dir, /tmp, the home directory) stay as they were.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from envrun import proc
from envrun.errors import CommandFailed, SandboxUnavailable

BWRAP = "bwrap"
UNSHARE = "unshare"

# Inside the new namespaces: bind each directory (until "--") onto itself, remount the binding
# read-only, then become the worker. The paths arrive as arguments, never inside the script text.
_REBIND_READ_ONLY = (
    'while [ "$1" != -- ]; do '
    'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" || exit 125; '
    'shift; done; shift; exec "$@"'
)


@dataclass(frozen=True)
class Sandbox:
    """A confinement tool that works on this machine: which one, and its executable."""

    kind: str  # bwrap | unshare
    executable: str
    helper: str = ""  # unshare: the shell that runs mount(8) inside the namespaces

    def wrap(self, argv: Sequence[str], *, read_only: Sequence[Path]) -> list[str]:
        """argv run without network, with each `read_only` directory read-only."""
        dirs = [str(Path(d).resolve()) for d in read_only]
        if self.kind == BWRAP:
            binds = [arg for d in dirs for arg in ("--ro-bind", d, d)]
            # --new-session: the model cannot push keystrokes into the caller's terminal.
            return [self.executable, "--dev-bind", "/", "/", *binds, "--unshare-net",
                    "--die-with-parent", "--new-session", "--", *argv]  # fmt: skip
        # A user namespace only where it is needed: as root it would change nothing but the uid
        # the model sees.
        user = ["--user", "--map-root-user"] if os.geteuid() != 0 else []
        return [self.executable, *user, "--net", "--mount", "--propagation", "private", "--",
                self.helper, "-c", _REBIND_READ_ONLY, "envrun-sandbox", *dirs, "--", *argv]  # fmt: skip


def wrap_argv(
    argv: Sequence[str],
    *,
    model_dir: Path,
    env_dir: Path,
    sandbox: Sandbox | None = None,
    path: str | None = None,
) -> list[str]:
    """The worker's argv run in the sandbox: no network, the model and env dirs read-only.

    `sandbox` defaults to the first tool that works here (searched on `path`, else $PATH);
    raises SandboxUnavailable when none does.
    """
    tool = sandbox or find_sandbox(path=path)
    return tool.wrap(argv, read_only=(model_dir, env_dir))


def find_sandbox(*, path: str | None = None) -> Sandbox:
    """The first of bwrap and unshare that can confine a process here; SandboxUnavailable if none."""
    search = path if path is not None else os.environ.get("PATH", os.defpath)
    return _find(search)


@functools.cache
def _find(search: str) -> Sandbox:
    # Cached per process: whether a tool works is a property of the machine, and a probe costs
    # a process start on every call otherwise.
    tried: list[str] = []
    true = shutil.which("true", path=search) or "/bin/true"
    probe_dir = Path(true).parent
    bwrap = shutil.which(BWRAP, path=search)
    unshare = shutil.which(UNSHARE, path=search)
    shell = shutil.which("sh", path=search)
    candidates = []
    if bwrap:
        candidates.append(Sandbox(BWRAP, bwrap))
    else:
        tried.append("bwrap: not found")
    if unshare and shell and shutil.which("mount", path=search):
        candidates.append(Sandbox(UNSHARE, unshare, shell))
    else:
        tried.append("unshare with sh and mount: not found")
    for tool in candidates:
        failure = _probe(tool, probe_dir, true)
        if failure is None:
            return tool
        tried.append(f"{tool.kind}: {failure}")
    raise SandboxUnavailable(
        "the sandbox needs bubblewrap (bwrap) or unshare with network and mount namespaces, "
        "and neither works here",
        value="; ".join(tried),
        fix="install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
        "bubblewrap) and allow unprivileged user namespaces if it reports that they are off "
        "(sysctl kernel.unprivileged_userns_clone=1), or run the model without the sandbox",
    )


def _probe(tool: Sandbox, directory: Path, true: str) -> str | None:
    """None when the tool ran a no-op confined; else the last line it said."""
    try:
        proc.run(tool.wrap([true], read_only=[directory]), timeout=30)
    except CommandFailed as exc:
        said = [ln.strip() for ln in (exc.stderr or exc.stdout).splitlines() if ln.strip()]
        return said[-1] if said else "failed without a message"
    return None
