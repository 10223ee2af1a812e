"""The serve section of scripts/bench: envrun serve vs mlflow models serve, side by side.

Load generator: an asyncio HTTP/1.1 client written here (keep-alive connections, one request in
flight per connection). It needs nothing installed and, at these rates (a few thousand requests
per second), costs far less CPU than the servers it drives; wrk would need a Lua script per body
and an apt install. Each cell runs for --seconds after a warm-up.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "fixtures" / "models"
BIN = Path(sys.executable).parent
CONCURRENCY = (1, 8, 32)
SKLEARN_ROW = [5.1, 3.5, 1.4, 0.2]
SKLEARN_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def bodies(model: str, rows: int) -> bytes:
    """A dataframe_split body for sklearn; `inputs` rows for the tensor model numpy_custom."""
    if model == "mlflow_sklearn":
        doc: dict[str, object] = {
            "dataframe_split": {"columns": SKLEARN_COLUMNS, "data": [SKLEARN_ROW] * rows}
        }
    else:
        doc = {"inputs": [[0.5, -1.25, 2.0]] * rows}
    return json.dumps(doc).encode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def _load(
    port: int, body: bytes, concurrency: int, seconds: float
) -> tuple[float, list[float]]:
    request = (
        f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    failures = 0

    async def client(until: float, record: bool) -> None:
        nonlocal failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < until:
                start = time.perf_counter()
                status = await _one(reader, writer, request)
                if record:
                    latencies.append(time.perf_counter() - start)
                    failures += status != 200
        finally:
            writer.close()

    await asyncio.gather(*(client(time.perf_counter() + 1.0, False) for _ in range(concurrency)))
    start = time.perf_counter()
    await asyncio.gather(*(client(start + seconds, True) for _ in range(concurrency)))
    wall = time.perf_counter() - start
    if failures:
        raise RuntimeError(f"{failures} requests failed")
    return len(latencies) / wall, latencies


def start(argv: list[str], env: dict[str, str], port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start a server; return it and the seconds until the first 200 on /ping."""
    began = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    import http.client

    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {argv}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return process, time.perf_counter() - began
        except OSError:
            pass
        time.sleep(0.02)


def stop(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _ms(value: float) -> str:
    return f"{value * 1000:.1f}"


def serve_rows(env: dict[str, str], workers: int, seconds: float) -> list[str]:
    """Markdown rows: per model, rows and concurrency, both servers; then start-up times."""
    envrun = str(BIN / "envrun")
    lines = [
        f"Serving, {workers} worker(s) each; asyncio client on the same machine, {seconds:g} s per cell.",
        "",
        "| model | rows | conc. | envrun req/s | p50 / p99 ms | mlflow req/s | p50 / p99 ms | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    startup: list[str] = []
    mlflow_env_dir = ""
    for model in ("mlflow_sklearn", "numpy_custom"):
        path = MODELS / model
        env_dir = subprocess.run(
            [envrun, "env", "path", str(path)], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        # MLflow runs with the model env's interpreter; numpy_custom's env declares numpy only,
        # so MLflow serves it from the scikit-learn fixture's env (mlflow 3.17.2 and numpy).
        if not (Path(env_dir) / "bin" / "mlflow").exists():
            env_dir = mlflow_env_dir
        mlflow_env_dir = env_dir
        mlflow_bin = Path(env_dir) / "bin"
        mlflow_env = dict(env, PATH=f"{mlflow_bin}{os.pathsep}{env.get('PATH', '')}")
        results: dict[str, dict[tuple[int, int], tuple[float, list[float]]]] = {}
        for side in ("envrun", "mlflow"):
            port = free_port()
            if side == "envrun":
                argv = [
                    envrun,
                    "serve",
                    "-q",
                    str(path),
                    "--port",
                    str(port),
                    "--workers",
                    str(workers),
                ]
                process, ready = start(argv, env, port)
            else:
                argv = [
                    str(mlflow_bin / "python"), "-m", "mlflow", "models", "serve", "-m", str(path),
                    "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers),
                ]  # fmt: skip
                process, ready = start(argv, mlflow_env, port)
            startup.append(f"| {model} | {side} | {ready:.2f} s |")
            try:
                results[side] = {
                    (rows, conc): asyncio.run(_load(port, bodies(model, rows), conc, seconds))
                    for rows in (1, 100)
                    for conc in CONCURRENCY
                }
            finally:
                stop(process)
        for (rows, conc), (ours_rps, ours) in results["envrun"].items():
            theirs_rps, theirs = results["mlflow"][rows, conc]
            q = statistics.quantiles
            lines.append(
                f"| {model} | {rows} | {conc} | {ours_rps:.0f} | {_ms(statistics.median(ours))} / "
                f"{_ms(q(ours, n=100)[98])} | {theirs_rps:.0f} | {_ms(statistics.median(theirs))} / "
                f"{_ms(q(theirs, n=100)[98])} | **{ours_rps / theirs_rps:.2f}x** |"
            )
    lines += [
        "",
        "| model | server | start to first 200 on /ping (env cached) |",
        "| --- | --- | --- |",
    ]
    return lines + startup


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    print("\n".join(serve_rows(dict(os.environ), args.workers, args.seconds)))
