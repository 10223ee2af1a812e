"""Start HTTP servers (envrun serve, mlflow models serve) on free loopback ports, and stop them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import ROOT


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Answer:
    status: int
    body: bytes
    content_type: str

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str | None = None,
    *,
    headers: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Answer:
    """One HTTP request on a fresh connection."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = dict(headers or {})
        if content_type is not None:
            sent["Content-Type"] = content_type
        conn.request(method, path, body=body, headers=sent)
        reply = conn.getresponse()
        return Answer(reply.status, reply.read(), reply.getheader("content-type") or "")
    finally:
        conn.close()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def post(self, body: bytes, content_type: str | None = "application/json") -> Answer:
        return call(self.port, "POST", "/invocations", body, content_type)

    def get(self, path: str) -> Answer:
        return call(self.port, "GET", path)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def wait_ready(server: Server, seconds: float) -> None:
    """Poll /ping until 200, as MLflow's client does; fail with the server's log if it dies."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"the server exited ({server.process.returncode}):\n{server.log_text()}")
        try:
            if server.get("/ping").status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"the server did not become ready:\n{server.log_text()[-3000:]}")


@contextmanager
def running(
    argv: Sequence[str],
    port: int,
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    ready_within: float = 600,
) -> Iterator[Server]:
    """A server process in its own process group; always stopped (TERM, then KILL) on leaving."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            list(argv), stdout=out, stderr=subprocess.STDOUT, env=dict(env or os.environ),
            cwd=ROOT, start_new_session=True,
        )  # fmt: skip
    server = Server(process, port, log)
    try:
        wait_ready(server, ready_within)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], grace: float = 30) -> None:
    """SIGTERM the server's process group, then SIGKILL what is left."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def envrun_serve_argv(model: Path, port: int, *extra: str) -> list[str]:
    """`envrun serve MODEL` on a loopback port, through this interpreter."""
    return [sys.executable, "-m", "envrun", "serve", str(model), "--port", str(port), *extra]


def envrun_env(cache: Path) -> dict[str, str]:
    """The process environment for envrun with this cache root."""
    env = dict(os.environ)
    env["ENVRUN_CACHE_DIR"] = str(cache)
    env.pop("ENVRUN_INSTALLER", None)
    return env


def mlflow_serve(env_dir: Path, model: Path, port: int, workers: int = 1) -> tuple[list[str], dict[str, str]]:
    """`mlflow models serve --env-manager local` run by the model env's own interpreter.

    MLflow starts `uvicorn` by name, so the env's bin directory goes first on PATH.
    """
    env = dict(os.environ)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    for name in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"):
        env.pop(name, None)
    argv = [
        str(env_dir / "bin" / "python"), "-m", "mlflow", "models", "serve", "-m", str(model),
        "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers),
    ]  # fmt: skip
    return argv, env


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that mention `text` (pgrep -af)."""
    found = subprocess.run(["pgrep", "-af", text], capture_output=True, text=True, check=False)
    return [line for line in found.stdout.splitlines() if "pgrep" not in line]
