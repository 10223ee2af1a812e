"""The persistent worker pool, with real worker processes on this interpreter (no env build)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from envrun.errors import InputError, PredictError, WorkerCrashed, WorkerTimeout
from envrun.model.mlmodel import ModelInfo, read_model
from envrun.run.pool import Pool
from envrun.run.worker.protocol import BAD_REQUEST, INVALID_PARAMETER_VALUE, PROTOCOL
from tests.helpers import ROOT, make_model

PYTHON = Path(sys.executable)

LOADER = """
import os, sys, time
import numpy as np

class Model:
    def __init__(self, path):
        self.path = path

    def predict(self, data, params=None):
        action = (params or {}).get("action") or ""
        if action == "sleep":
            time.sleep(60)
        if action == "exit":
            os._exit(7)
        if action == "mark_and_sleep":
            open(os.path.join(self.path, f"started-{os.getpid()}"), "w").close()
            time.sleep(60)
        if action == "raise":
            raise ValueError("the model says no")
        if action == "print":
            print("noise from print " * 50)
            sys.stdout.flush()
            os.write(1, b"noise straight on fd 1\\n")
        return {"pid": os.getpid(), "doubled": np.asarray(data) * 2}

def _load_pyfunc(path):
    with open(os.path.join(path, "loads.txt"), "a") as handle:
        handle.write(f"{os.getpid()}\\n")
    if os.path.exists(os.path.join(path, "fail-load")):
        raise RuntimeError("cannot load today")
    return Model(path)
"""

PARAMS = """
signature:
  params: '[{"name": "action", "type": "string", "default": "", "shape": null}]'
"""
COLUMNS = """
signature:
  inputs: '[{"name": "x", "type": "double"}]'
"""


@pytest.fixture
def model(tmp_path: Path) -> ModelInfo:
    root = make_model(
        tmp_path / "model", loader="pool_model", loader_source=LOADER, extra_top=PARAMS
    )
    return read_model(root)


@pytest.fixture
def column_model(tmp_path: Path) -> ModelInfo:
    root = make_model(
        tmp_path / "model", loader="pool_model", loader_source=LOADER, extra_top=COLUMNS
    )
    return read_model(root)


@pytest.fixture
def pool(model: ModelInfo, tmp_path: Path) -> Iterator[Pool]:
    with Pool(PYTHON, model, workers=1, log_dir=tmp_path / "logs") as opened:
        yield opened


def request(values: list[float], action: str = "") -> bytes:
    doc: dict[str, object] = {"inputs": values}
    if action:
        doc["params"] = {"action": action}
    return json.dumps(doc).encode()


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    state = next(line for line in status.splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


def wait_until(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return False


def test_handshake(model: ModelInfo, tmp_path: Path) -> None:
    with Pool(PYTHON, model, workers=2, want_packages=True, log_dir=tmp_path) as pool:
        infos = pool.workers()
        assert [info.slot for info in infos] == [0, 1]
        for info in infos:
            assert info.protocol == PROTOCOL
            assert alive(info.pid)
            assert info.python["version"] == ".".join(map(str, sys.version_info[:3]))
            assert info.packages is not None and "numpy" in info.packages
            assert info.load_seconds > 0
        assert pool.stats().load_seconds == tuple(info.load_seconds for info in infos)


def test_many_requests_load_the_model_once(pool: Pool, model: ModelInfo) -> None:
    pids = {pool.predict(request([i, i + 0.5])).value["pid"] for i in range(20)}
    loads = (model.path / "loads.txt").read_text().split()
    assert loads == [str(pid) for pid in pids]
    stats = pool.stats()
    assert (stats.served, stats.restarts, stats.in_flight, stats.queued) == (20, 0, 0, 0)


def test_answers_carry_mlflow_text_and_lossless_arrays(pool: Pool) -> None:
    answer = pool.predict(request([1.5, float("nan")]))
    doubled = answer.value["doubled"]
    assert doubled.dtype == np.float64 and doubled[0] == 3.0 and np.isnan(doubled[1])
    text = json.loads(answer.predictions_text)["predictions"]
    assert text["doubled"][0] == 3.0 and text["pid"] == answer.pid
    assert answer.arrays, "the array crossed as an .npy attachment"


def test_npy_bytes_input(pool: Pool) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.arange(6, dtype=np.int32).reshape(2, 3))
    doubled = pool.predict(buffer.getvalue(), "npy").value["doubled"]
    assert doubled.dtype == np.int32 and doubled.tolist() == [[0, 2, 4], [6, 8, 10]]


def test_eight_threads_get_their_own_answers(model: ModelInfo, tmp_path: Path) -> None:
    results: dict[int, list[float]] = {}
    errors: list[BaseException] = []
    with Pool(PYTHON, model, workers=3, log_dir=tmp_path) as pool:

        def work(number: int) -> None:
            try:
                for round_ in range(5):
                    key = number * 100 + round_
                    results[key] = pool.predict(request([key, -key])).value["doubled"].tolist()
            except BaseException as exc:  # collected, asserted below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert pool.stats().served == 40
    assert errors == []
    assert results == {key: [2.0 * key, -2.0 * key] for key in results} and len(results) == 40


def test_a_model_that_prints_still_answers(pool: Pool, tmp_path: Path) -> None:
    for _ in range(3):
        assert pool.predict(request([1.0], "print")).value["doubled"].tolist() == [2.0]
    log = (tmp_path / "logs" / "worker-0.log").read_text()
    assert "noise from print" in log and "noise straight on fd 1" in log


def test_timeout_kills_and_replaces_the_worker(model: ModelInfo, tmp_path: Path) -> None:
    with Pool(PYTHON, model, workers=1, timeout=1, log_dir=tmp_path) as pool:
        first = pool.workers()[0].pid
        with pytest.raises(WorkerTimeout) as caught:
            pool.predict(request([1.0], "sleep"))
        assert "1 s" in caught.value.what and caught.value.fix
        assert wait_until(lambda: not alive(first))
        answer = pool.predict(request([2.0]))
        assert answer.value["doubled"].tolist() == [4.0]
        assert answer.pid != first
        assert pool.stats().restarts == 1


@pytest.mark.parametrize("how", ["os._exit", "SIGKILL"])
def test_a_dying_worker_fails_only_its_caller(model: ModelInfo, tmp_path: Path, how: str) -> None:
    with Pool(PYTHON, model, workers=2, log_dir=tmp_path) as pool:
        before = {info.pid for info in pool.workers()}
        outcome: list[BaseException] = []

        def doomed() -> None:
            try:
                pool.predict(request([1.0], "exit" if how == "os._exit" else "mark_and_sleep"))
            except BaseException as exc:  # asserted below
                outcome.append(exc)

        thread = threading.Thread(target=doomed)
        thread.start()
        if how == "SIGKILL":
            assert wait_until(lambda: any(model.path.glob("started-*")))
            victim = int(next(model.path.glob("started-*")).name.split("-")[1])
            os.kill(victim, signal.SIGKILL)
        # The other worker keeps answering while its neighbour dies and is replaced.
        for i in range(5):
            assert pool.predict(request([float(i)])).value["doubled"].tolist() == [2.0 * i]
        thread.join()
        assert len(outcome) == 1 and isinstance(outcome[0], WorkerCrashed)
        expected = "exit code 7" if how == "os._exit" else "SIGKILL"
        assert expected in outcome[0].what
        assert wait_until(lambda: pool.stats().ready == 2)
        after = {info.pid for info in pool.workers()}
        assert len(after - before) == 1 and pool.stats().restarts == 1


def test_input_errors_carry_mlflows_codes(column_model: ModelInfo, tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    with Pool(PYTHON, column_model, log_dir=tmp_path) as pool:
        with pytest.raises(InputError) as bad:
            pool.predict(b'{"dataframe_split": ')
        assert bad.value.error_code == BAD_REQUEST
        missing = b'{"dataframe_split": {"columns": ["y"], "data": [[1.0]]}}'
        with pytest.raises(InputError) as invalid:
            pool.predict(missing)
        assert invalid.value.error_code == INVALID_PARAMETER_VALUE
        assert "missing column" in invalid.value.what
        fine = pool.predict(b'{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}')
        assert fine.value["doubled"].tolist() == [[2.0]]
        assert pool.stats().restarts == 0


def test_a_model_exception_is_a_predict_error_with_its_traceback(pool: Pool) -> None:
    with pytest.raises(PredictError) as caught:
        pool.predict(request([1.0], "raise"))
    assert caught.value.stage == "predict" and caught.value.error_type == "ValueError"
    assert "the model says no" in caught.value.traceback
    assert pool.predict(request([1.0])).value["doubled"].tolist() == [2.0]


def test_a_load_failure_fails_the_open_and_leaves_no_process(
    model: ModelInfo, tmp_path: Path
) -> None:
    (model.path / "fail-load").write_text("")
    with pytest.raises(PredictError) as caught:
        Pool(PYTHON, model, workers=2, log_dir=tmp_path)
    assert caught.value.stage == "load" and "cannot load today" in caught.value.what
    pids = [int(pid) for pid in (model.path / "loads.txt").read_text().split()]
    assert len(pids) == 2 and not any(alive(pid) for pid in pids)


def test_close_leaves_no_worker(model: ModelInfo, tmp_path: Path) -> None:
    pool = Pool(PYTHON, model, workers=3, log_dir=tmp_path)
    pids = [info.pid for info in pool.workers()]
    assert all(alive(pid) for pid in pids)
    pool.close()
    assert not any(alive(pid) for pid in pids)
    pool.close()  # idempotent


PARENT = """
import sys, threading, time
from pathlib import Path
from envrun.model.mlmodel import read_model
from envrun.run.pool import Pool

pool = Pool(Path(sys.executable), read_model(sys.argv[1]), workers=2)
busy = threading.Thread(target=pool.predict, args=(b'{"inputs": [1], "params": {"action": "mark_and_sleep"}}',))
busy.start()
while not list(Path(sys.argv[1]).glob("started-*")):
    time.sleep(0.05)
print(" ".join(str(info.pid) for info in pool.workers()), flush=True)
time.sleep(600)
"""


def test_a_killed_parent_leaves_no_worker(model: ModelInfo) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(PARENT), str(model.path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()  # type: ignore[union-attr]
    # One worker idles (it reads end of input), the other is inside predict (parent-death signal).
    assert wait_until(lambda: not any(alive(pid) for pid in pids))


PROBE_LOADER = """
import os, socket

class Model:
    def __init__(self, path):
        self.path = path

    def predict(self, data, params=None):
        try:
            open(os.path.join(self.path, "written.txt"), "w").close()
            wrote = "wrote"
        except OSError:
            wrote = "read-only"
        try:
            socket.create_connection(("127.0.0.1", int(data[0])), timeout=5).close()
            net = "connected"
        except OSError:
            net = "no-network"
        return [wrote, net]

def _load_pyfunc(path):
    return Model(path)
"""


@pytest.mark.parametrize("sandbox", [False, True])
def test_sandboxed_workers_have_no_network_and_a_read_only_model_dir(
    tmp_path: Path, sandbox: bool
) -> None:
    from envrun.errors import SandboxUnavailable
    from envrun.run.sandbox import find_sandbox

    if sandbox:
        try:
            find_sandbox()
        except SandboxUnavailable as exc:
            pytest.skip(f"no sandbox tool works here: {exc.what}")
    root = make_model(tmp_path / "model", loader="probe_model", loader_source=PROBE_LOADER)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    try:
        with Pool(PYTHON, read_model(root), sandbox=sandbox, timeout=30) as pool:
            body = json.dumps({"instances": [port]}).encode()
            answer = json.loads(pool.predict(body, "json").predictions_text)["predictions"]
    finally:
        listener.close()
    assert answer == (["read-only", "no-network"] if sandbox else ["wrote", "connected"])


def test_a_refused_column_is_named_in_a_field_not_only_in_the_message(
    column_model: ModelInfo,
) -> None:
    with Pool(PYTHON, column_model) as pool:
        body = json.dumps({"dataframe_split": {"columns": ["x"], "data": [["text"]]}}).encode()
        with pytest.raises(InputError) as caught:
            pool.predict(body, "json")
    assert caught.value.column == "x"
    assert caught.value.stage == "input"
