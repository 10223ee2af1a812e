"""MLflow protocol parity: the same requests to `mlflow models serve` and `envrun serve`.

Both serve the same MLflow-written model from the same env (MLflow run with the env's own
interpreter, `--env-manager local`), and must answer with the same status, the same
`error_code`, the same predictions, and a `stack_trace` where MLflow sends one.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import INPUTS, MODELS
from tests.integration.conftest import run_envrun
from tests.serving import (
    Answer,
    Server,
    envrun_env,
    envrun_serve_argv,
    free_port,
    mlflow_serve,
    processes_mentioning,
    running,
)

pytestmark = [pytest.mark.integration, pytest.mark.mlflow]

SKLEARN_COLUMNS = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SKLEARN_ROWS = [[5.1, 3.5, 1.4, 0.2], [6.2, 2.9, 4.3, 1.3], [7.7, 3.0, 6.1, 2.3]]
SKLEARN_RECORDS = [dict(zip(SKLEARN_COLUMNS, row, strict=True)) for row in SKLEARN_ROWS]
SPLIT = {"columns": SKLEARN_COLUMNS, "data": SKLEARN_ROWS}
PYFUNC_RECORDS = json.loads((INPUTS / "mlflow_pyfunc.json").read_text())["dataframe_records"]
JSON = "application/json"
JSON_UTF8 = "application/json; charset=UTF-8"
SHORT_SPLIT = {"columns": SKLEARN_COLUMNS, "data": [[1.0, 2.0]]}
WRONG_COLUMNS = {"columns": ["a", "b"], "data": [[1.0, 2.0]]}
COLUMNS = {c: [r[i] for r in SKLEARN_ROWS] for i, c in enumerate(SKLEARN_COLUMNS)}
PF = PYFUNC_RECORDS
bodies: dict[bytes, bytes] = {}  # bodies made once the env exists


def _json(doc: Any) -> bytes:
    return json.dumps(doc).encode()


def _csv() -> bytes:
    lines = [",".join(SKLEARN_COLUMNS)] + [",".join(map(str, row)) for row in SKLEARN_ROWS]
    return ("\n".join(lines) + "\n").encode()


PARQUET = b"<parquet, written by the env's pandas and pyarrow>"
MAKE_PARQUET = """
import io, json, sys
import pandas as pd
columns, rows = json.loads(sys.argv[1])
buffer = io.BytesIO()
pd.DataFrame(rows, columns=columns).to_parquet(buffer)
sys.stdout.buffer.write(buffer.getvalue())
"""


# (case id, model, body, content type)
CASES: list[tuple[str, str, bytes, str | None]] = [
    ("malformed-json", "mlflow_sklearn", b'{"dataframe_split": ', JSON),
    ("json-list", "mlflow_sklearn", b"[1, 2]", JSON),
    ("no-format-key", "mlflow_sklearn", _json({"data": SKLEARN_ROWS}), JSON),
    ("two-format-keys", "mlflow_sklearn", _json({"dataframe_split": SPLIT, "inputs": SKLEARN_ROWS}), JSON),
    ("split-given-records", "mlflow_sklearn", _json({"dataframe_split": SKLEARN_RECORDS}), JSON),
    ("records-given-split", "mlflow_sklearn", _json({"dataframe_records": SPLIT}), JSON),
    ("invalid-split-frame", "mlflow_sklearn", _json({"dataframe_split": SHORT_SPLIT}), JSON),
    ("frame-the-model-rejects", "mlflow_sklearn", _json({"dataframe_split": WRONG_COLUMNS}), JSON),
    ("empty-csv", "mlflow_sklearn", b"", "text/csv"),
    ("split", "mlflow_sklearn", _json({"dataframe_split": SPLIT}), JSON),
    ("split-utf8", "mlflow_sklearn", _json({"dataframe_split": SPLIT}), JSON_UTF8),
    ("records", "mlflow_sklearn", _json({"dataframe_records": SKLEARN_RECORDS}), JSON),
    ("records-utf8", "mlflow_sklearn", _json({"dataframe_records": SKLEARN_RECORDS}), JSON_UTF8),
    ("latin1-charset", "mlflow_sklearn", _json({"dataframe_split": SPLIT}), "application/json; charset=latin-1"),
    ("csv", "mlflow_sklearn", _csv(), "text/csv"),
    ("csv-utf8", "mlflow_sklearn", _csv(), "text/csv; charset=utf-8"),
    ("parquet", "mlflow_sklearn", PARQUET, "application/vnd.apache.parquet"),
    ("unsupported-content-type", "mlflow_sklearn", _json({"dataframe_split": SPLIT}), "text/plain"),
    ("unknown-parameter", "mlflow_sklearn", _json({"dataframe_split": SPLIT}), "application/json; format=pandas-split"),
    ("instances", "mlflow_sklearn", _json({"instances": SKLEARN_RECORDS}), JSON),
    ("inputs-records", "mlflow_sklearn", _json({"inputs": SKLEARN_RECORDS}), JSON),
    ("inputs-columns", "mlflow_sklearn", _json({"inputs": COLUMNS}), JSON),
    ("pyfunc-records", "mlflow_pyfunc", _json({"dataframe_records": PYFUNC_RECORDS}), JSON),
    ("pyfunc-params", "mlflow_pyfunc", _json({"dataframe_records": PF, "params": {"temperature": 0.5}}), JSON),
    ("pyfunc-bad-param", "mlflow_pyfunc", _json({"dataframe_records": PF, "params": {"temperature": "x"}}), JSON),
    ("pyfunc-params-unknown-key", "mlflow_pyfunc", _json({"dataframe_records": PF, "params": {"nope": 1}}), JSON),
    ("pyfunc-instances", "mlflow_pyfunc", _json({"instances": PYFUNC_RECORDS}), JSON),
    ("pyfunc-missing-column", "mlflow_pyfunc", _json({"dataframe_records": [{"customer_id": "c-1"}]}), JSON),
]  # fmt: skip


@pytest.fixture(scope="module")
def pairs(
    shared_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Server, Server]]]:
    """For each model: (MLflow's server, envrun's server), both on the same env."""
    logs = tmp_path_factory.mktemp("serve-logs")
    started: dict[str, tuple[Server, Server]] = {}
    with ExitStack() as stack:
        for name in ("mlflow_sklearn", "mlflow_pyfunc"):
            model = MODELS / name
            found = run_envrun("env", "path", model, cache_dir=shared_cache)
            assert found.returncode == 0, found.stderr
            port = free_port()
            argv, env = mlflow_serve(Path(found.stdout.strip()), model, port)
            theirs = stack.enter_context(running(argv, port, logs / f"mlflow-{name}.log", env=env))
            port = free_port()
            ours = stack.enter_context(
                running(
                    envrun_serve_argv(model, port), port, logs / f"envrun-{name}.log",
                    env=envrun_env(shared_cache),
                )
            )
            started[name] = (theirs, ours)
            if name == "mlflow_sklearn":  # the host may lack pyarrow; the env has it
                made = subprocess.run(
                    [str(Path(found.stdout.strip()) / "bin" / "python"), "-c", MAKE_PARQUET,
                     json.dumps([SKLEARN_COLUMNS, SKLEARN_ROWS])],
                    capture_output=True, check=True,
                )  # fmt: skip
                bodies[PARQUET] = made.stdout
        yield started
    assert not processes_mentioning(f"--port {port}"), "a server outlived its test"


def _describe(answer: Answer) -> dict[str, Any]:
    """What must match: status, error_code, predictions, whether a stack_trace was sent."""
    out: dict[str, Any] = {"status": answer.status}
    try:
        doc = answer.json()
    except ValueError:
        return out
    if isinstance(doc, dict) and "error_code" in doc:
        out["error_code"] = doc["error_code"]
        out["stack_trace"] = bool(doc.get("stack_trace"))
    elif isinstance(doc, dict) and "predictions" in doc:
        out["predictions"] = doc["predictions"]
    return out


@pytest.mark.parametrize(("case", "model", "body", "content_type"), CASES, ids=[c[0] for c in CASES])
def test_envrun_answers_as_mlflow_does(
    pairs: dict[str, tuple[Server, Server]], case: str, model: str, body: bytes, content_type: str | None
) -> None:
    theirs, ours = pairs[model]
    body = bodies.get(body, body)
    expected = theirs.post(body, content_type)
    got = ours.post(body, content_type)
    assert _describe(got) == _describe(expected), (
        f"{case}: MLflow answered {expected.status} {expected.body[:600]!r}\n"
        f"envrun answered {got.status} {got.body[:600]!r}"
    )


@pytest.mark.parametrize("path", ["/ping", "/health", "/version"])
def test_the_other_routes_answer_alike(pairs: dict[str, tuple[Server, Server]], path: str) -> None:
    theirs, ours = pairs["mlflow_sklearn"]
    expected, got = theirs.get(path), ours.get(path)
    assert (got.status, got.body) == (expected.status, expected.body)
