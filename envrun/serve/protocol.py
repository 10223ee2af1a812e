"""MLflow's scoring protocol over HTTP: content types, error bodies and status codes.

The rules follow MLflow 3's scoring server (mlflow/pyfunc/scoring_server): the media type picks
the parser, `charset` must be UTF-8, any other content-type parameter is refused with 415, and
errors are MLflow's JSON (`error_code`, `message`, `stack_trace` where MLflow sends one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from envrun.errors import (
    BridgeError,
    EnvrunError,
    InputError,
    PredictError,
    WorkerCrashed,
    WorkerTimeout,
)
from envrun.run.worker.protocol import BAD_REQUEST

CONTENT_TYPE_JSON = "application/json"
CONTENT_TYPE_CSV = "text/csv"
CONTENT_TYPE_PARQUET = "application/vnd.apache.parquet"
FORMATS = {CONTENT_TYPE_JSON: "json", CONTENT_TYPE_CSV: "csv", CONTENT_TYPE_PARQUET: "parquet"}

# MLflow's codes for the answers it has no input error for (its ERROR_CODE_TO_HTTP_STATUS).
DEADLINE_EXCEEDED = "DEADLINE_EXCEEDED"
TEMPORARILY_UNAVAILABLE = "TEMPORARILY_UNAVAILABLE"
INTERNAL_ERROR = "INTERNAL_ERROR"
REQUEST_LIMIT_EXCEEDED = "REQUEST_LIMIT_EXCEEDED"


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, body and media type."""

    status: int
    body: bytes
    media_type: str = CONTENT_TYPE_JSON


def input_format(content_type: str | None) -> str | Reply:
    """The worker's input format for a Content-Type header, or the 415 reply MLflow gives."""
    parts = [part.strip() for part in (content_type or "").split(";")]
    media = parts[0].lower()
    parameters = {}
    for pair in parts[1:]:
        key, _, value = pair.partition("=")
        parameters[key.strip().lower()] = value.strip().strip('"')
    if parameters.get("charset", "utf-8").lower() != "utf-8":
        return Reply(415, b"The scoring server only supports UTF-8", "text/plain")
    unknown = sorted(set(parameters) - {"charset"})
    if unknown:
        text = f"Unrecognized content type parameters: {', '.join(unknown)}."
        return Reply(415, text.encode(), "text/plain")
    fmt = FORMATS.get(media)
    if fmt is None:
        shown = content_type if content_type is not None else "(no Content-Type header)"
        text = (
            f"This predictor only supports the following content types: {sorted(FORMATS)}. "
            f"Got '{shown}'."
        )
        return Reply(415, text.encode(), "text/plain")
    return fmt


def error_reply(
    status: int, code: str, message: str, stack_trace: str | None = None
) -> Reply:
    """MLflow's error JSON."""
    doc = {"error_code": code, "message": message}
    if stack_trace is not None:
        doc["stack_trace"] = stack_trace
    return Reply(status, json.dumps(doc).encode())


def reply_for(error: EnvrunError, fmt: str) -> Reply:
    """The reply MLflow's scoring server gives for what went wrong in the pool."""
    if isinstance(error, InputError):
        code = error.error_code or BAD_REQUEST
        message = error.detail or error.what
        # MLflow attaches the parser's traceback to CSV and parquet failures, not to JSON ones;
        # the worker's message (which names the parser's exception) stands in for it.
        trace = message if fmt in ("csv", "parquet") else None
        return error_reply(400, code, message, trace)
    if isinstance(error, WorkerTimeout):
        return error_reply(504, DEADLINE_EXCEEDED, error.what)
    if isinstance(error, PredictError):
        message = (
            "Encountered an unexpected error while evaluating the model. Verify that the "
            f"serialized input Dataframe is compatible with the model for inference. "
            f"{error.error_type}: {error.detail}"
        )
        return error_reply(400, BAD_REQUEST, message, error.traceback or error.what)
    if isinstance(error, WorkerCrashed):
        return error_reply(500, INTERNAL_ERROR, error.what)
    if isinstance(error, BridgeError):  # the pool is closing, or no worker could start
        return error_reply(503, TEMPORARILY_UNAVAILABLE, error.what)
    return error_reply(500, INTERNAL_ERROR, str(error))
