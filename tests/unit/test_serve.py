"""envrun serve's server: real uvicorn, real worker processes on this interpreter (no env build)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from envrun.serve import parse_size
from envrun.serve.protocol import input_format
from tests.helpers import make_model
from tests.serving import Server, call, free_port, running

pytest.importorskip("uvicorn")

LOADER = """
import os, sys, time

class Model:
    def __init__(self, path):
        self.path = path

    def predict(self, data, params=None):
        params = params or {}
        if params.get("sleep"):
            open(os.path.join(self.path, f"busy-{os.getpid()}"), "w").close()
            time.sleep(float(params["sleep"]))
        if params.get("print"):
            print("noise from print " * 50)
            sys.stdout.flush()
            os.write(1, b"noise straight on fd 1\\n")
        return [[x * 2 for x in row] for row in data]

def _load_pyfunc(path):
    with open(os.path.join(path, "loads.txt"), "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    time.sleep(float(open(os.path.join(path, "load-seconds")).read() or 0))
    return Model(path)
"""
PARAMS = """
signature:
  params: '[{"name": "sleep", "type": "double", "default": 0.0, "shape": null},
    {"name": "print", "type": "boolean", "default": false, "shape": null}]'
"""
SERVER = """
import logging, sys
logging.basicConfig(level=logging.INFO)
from pathlib import Path
from envrun.model.mlmodel import read_model
from envrun.run.pool import Pool
from envrun.serve import ServeOptions, run_server

root, port, workers, timeout, limit = sys.argv[1:6]
model = read_model(root)
options = ServeOptions(workers=int(workers), timeout=float(timeout), max_body_size=int(limit))

def open_pool():
    return Pool(Path(sys.executable), model, workers=options.workers, timeout=options.timeout,
                log_dir=Path(root) / "logs")

run_server(open_pool, options, port=int(port))
"""


def _serve(root: Path, *, workers: int = 1, timeout: float = 30, limit: int = 1 << 20) -> Iterator[Server]:
    port = free_port()
    argv = [sys.executable, "-c", SERVER, str(root), str(port), str(workers), str(timeout), str(limit)]
    return running(argv, port, root / "server.log", ready_within=60)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    model = make_model(tmp_path / "model", loader="serve_model", loader_source=LOADER, extra_top=PARAMS)
    (model / "load-seconds").write_text("0")
    return model


def body(rows: list[list[float]], **params: object) -> bytes:
    doc: dict[str, object] = {"inputs": rows}
    if params:
        doc["params"] = params
    return json.dumps(doc).encode()


def worker_pids(root: Path) -> list[int]:
    return [int(line) for line in (root / "loads.txt").read_text().split()]


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "Z" not in next(line for line in status.splitlines() if line.startswith("State:")).split()[1]


def wait_until(condition: object, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def metric(server: Server, name: str) -> float:
    for line in server.get("/metrics").body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no metric {name}")


def test_routes_answer_as_mlflows_do(root: Path) -> None:
    with _serve(root) as server:
        assert (server.get("/ping").status, server.get("/ping").body) == (200, b"\n")
        assert server.get("/health").status == 200
        answer = server.post(body([[1.0, 2.0]]))
        assert (answer.status, answer.json()) == (200, {"predictions": [[2.0, 4.0]]})
        assert server.get("/version").status == 200
        assert server.post(b"{", "application/json").json()["error_code"] == "BAD_REQUEST"
        assert server.post(body([[1.0]]), "text/plain").status == 415
        assert server.post(body([[1.0]]), None).status == 415
        assert server.get("/nowhere").status == 404
        text = server.get("/metrics").body.decode()
        assert 'envrun_requests_total{route="/invocations",status="200"} 1' in text
        assert 'envrun_requests_total{route="other",status="404"} 1' in text
        assert "# TYPE envrun_request_duration_seconds histogram" in text
        for name in ("envrun_requests_in_flight", "envrun_queue_depth", "envrun_worker_restarts_total"):
            assert f"\n{name} " in text
        assert 'envrun_model_load_seconds{slot="0"}' in text
    log = (root / "server.log").read_text()
    assert '"POST /invocations HTTP/1.1" 200' in log  # one access-log line per request
    assert log.count('"GET /ping HTTP/1.1"') >= 2


def test_ping_is_503_until_a_worker_is_ready(root: Path) -> None:
    (root / "load-seconds").write_text("3")
    port = free_port()
    argv = [sys.executable, "-c", SERVER, str(root), str(port), "1", "30", "1000"]
    import subprocess

    log = (root / "server.log").open("wb")
    process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        seen = []
        while not seen or seen[-1] != 200:
            try:
                seen.append(call(port, "GET", "/ping").status)
            except OSError:
                seen.append(0)
            time.sleep(0.1)
            assert process.poll() is None
        assert 503 in seen, seen  # the socket was open while the model loaded
    finally:
        from tests.serving import stop

        stop(process)
        log.close()


def test_a_sleeping_model_gets_504_and_its_worker_is_replaced(root: Path) -> None:
    with _serve(root, timeout=1) as server:
        answer = server.post(body([[1.0]], sleep=30))
        assert answer.status == 504
        assert answer.json()["error_code"] == "DEADLINE_EXCEEDED"
        first = worker_pids(root)[0]
        assert wait_until(lambda: not alive(first))
        assert server.post(body([[1.0]])).status == 200
        assert len(worker_pids(root)) == 2
        assert metric(server, "envrun_worker_restarts_total") == 1


def test_a_worker_killed_mid_request_fails_only_that_request(root: Path) -> None:
    with _serve(root, workers=2) as server, ThreadPoolExecutor(4) as pool:
        doomed = pool.submit(server.post, body([[1.0]], sleep=30))
        assert wait_until(lambda: list(root.glob("busy-*")))
        victim = int(next(root.glob("busy-*")).name.split("-")[1])
        others = [pool.submit(server.post, body([[float(i)]])) for i in range(6)]
        os.kill(victim, signal.SIGKILL)
        failed = doomed.result(60)
        assert failed.status == 500 and failed.json()["error_code"] == "INTERNAL_ERROR"
        assert [f.result(60).status for f in others] == [200] * 6
        assert wait_until(lambda: len(worker_pids(root)) == 3)  # the slot got a new worker
        assert server.post(body([[1.0]])).status == 200


def test_500_requests_at_concurrency_16_all_answer_correctly(root: Path) -> None:
    def one(i: int) -> tuple[int, object]:
        answer = call(server.port, "POST", "/invocations", body([[float(i), 1.0]]), "application/json")
        return answer.status, answer.json()

    with _serve(root, workers=2) as server, ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, range(500)))
    assert results == [(200, {"predictions": [[2.0 * i, 2.0]]}) for i in range(500)]
    assert len(worker_pids(root)) == 2  # each worker loaded the model once


def test_a_model_that_prints_answers_correctly(root: Path) -> None:
    with _serve(root) as server:
        for _ in range(3):
            answer = server.post(body([[3.0]], print=True))
            assert (answer.status, answer.json()) == (200, {"predictions": [[6.0]]})
    assert "noise straight on fd 1" in (root / "logs" / "worker-0.log").read_text()


def test_413_before_an_oversized_body_is_read(root: Path) -> None:
    with _serve(root, limit=1000) as server:
        big = body([[1.0] * 500])
        answer = server.post(big)
        assert answer.status == 413 and answer.json()["error_code"] == "REQUEST_LIMIT_EXCEEDED"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while reading
            for _ in range(100):
                yield b" " * 100

        chunked = call(server.port, "POST", "/invocations", chunks(), "application/json")  # type: ignore[arg-type]
        assert chunked.status == 413
        assert server.post(body([[1.0]])).status == 200


def test_sigterm_drains_requests_in_flight_then_stops_the_workers(root: Path) -> None:
    with _serve(root) as server, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(server.post, body([[1.0]], sleep=2))
        assert wait_until(lambda: list(root.glob("busy-*")))
        server.process.terminate()  # to the server, as `kill PID` and container runtimes send it
        answer = slow.result(60)
        assert (answer.status, answer.json()) == (200, {"predictions": [[2.0]]})
        server.process.wait(60)
    assert not any(alive(pid) for pid in worker_pids(root))


def test_sigterm_to_the_process_group_also_drains(root: Path) -> None:
    with _serve(root) as server, ThreadPoolExecutor(1) as pool:
        slow = pool.submit(server.post, body([[1.0]], sleep=2))
        assert wait_until(lambda: list(root.glob("busy-*")))
        os.killpg(server.process.pid, signal.SIGTERM)  # as a service manager stops a unit
        answer = slow.result(60)
        assert (answer.status, answer.json()) == (200, {"predictions": [[2.0]]})
        server.process.wait(60)
    assert not any(alive(pid) for pid in worker_pids(root))


def test_after_sigkill_of_the_server_no_worker_remains(root: Path) -> None:
    with _serve(root, workers=2) as server:
        assert server.post(body([[1.0]])).status == 200
        pids = worker_pids(root)
        server.process.kill()  # the server alone, not its process group
        server.process.wait()
        assert wait_until(lambda: not any(alive(pid) for pid in pids))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/json", "json"),
        ("application/json; charset=UTF-8", "json"),
        ("text/csv; charset=utf-8", "csv"),
        ("application/vnd.apache.parquet", "parquet"),
    ],
)
def test_content_types(header: str, expected: str) -> None:
    assert input_format(header) == expected


@pytest.mark.parametrize(
    "header", [None, "", "text/plain", "application/json; charset=latin-1", "application/json; format=split"]
)
def test_refused_content_types_are_415(header: str | None) -> None:
    reply = input_format(header)
    assert not isinstance(reply, str) and reply.status == 415


def test_sizes() -> None:
    assert [parse_size(s) for s in ("1000", "512k", "10M", "1G", "1.5m")] == [
        1000, 512 * 1024, 10 * 1024**2, 1024**3, int(1.5 * 1024**2)
    ]  # fmt: skip
    for bad in ("", "ten", "-1", "5T", "0"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)
