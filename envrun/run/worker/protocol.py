"""What the host and the worker agree on: versions, file names, input keys, dtypes and frames.

The host imports these from here (``envrun.run.worker.protocol``) instead of restating them, so
the two sides cannot drift apart. Standard library only, Python 3.8+.

A frame on the persistent worker's pipes is::

    length  u64 big-endian, the size of everything after it
    kind    1 byte (KIND_*)
    hlen    u32 big-endian, the size of the JSON header
    header  UTF-8 JSON object; header["blobs"] lists [name, size] of each attachment, in order
    blobs   the attachments' bytes, back to back

so arrays, Arrow or parquet bytes cross as they are, never through JSON.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any, List, Tuple

PROTOCOL = 1

# One-shot control dir: request.json and the input go in; response.json is written last.
REQUEST_FILE = "request.json"
RESPONSE_FILE = "response.json"
PREDICTIONS_FILE = "predictions.json"
EXIT_OK = 0
EXIT_BAD_REQUEST = 3
EXIT_MODEL = 4

# The input formats a request may name. "parquet" needs pandas with pyarrow (or fastparquet)
# in the env; "arrow" (an Arrow IPC stream, read into a DataFrame) needs pyarrow and pandas.
FILE_FORMATS = ("json", "csv", "npy", "npz")
BYTES_FORMATS = ("json", "csv", "npy", "npz", "parquet", "arrow")

# MLflow serving JSON: exactly one of these keys, plus optional "params".
FORMAT_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
SPLIT_SHAPE = '{"dataframe_split": {"columns": [...], "data": [[...], ...]}}'

# Column types of MLflow signatures and the numpy dtype each one means.
COLUMN_DTYPES = {
    "double": "float64",
    "float": "float32",
    "long": "int64",
    "integer": "int32",
    "boolean": "bool",
    "string": "object",
    "binary": "object",
    "datetime": "datetime64[ns]",
}

# MLflow's scoring server error codes: input it cannot parse is a BAD_REQUEST, input that
# parses but does not fit the signature (or a param of the wrong type) is an invalid value.
BAD_REQUEST = "BAD_REQUEST"
INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"

# Frame kinds on the persistent worker's pipes.
KIND_LOAD = b"L"  # host -> worker: the model to load (first frame)
KIND_HELLO = b"H"  # worker -> host: loaded; protocol, python, packages, load seconds, pid
KIND_REQUEST = b"Q"  # host -> worker: one input as a blob, its format, params
KIND_RESULT = b"R"  # worker -> host: the lossless tree, predictions.json and .npy blobs
KIND_ERROR = b"E"  # worker -> host: a failed load or request, with its stage and traceback
KINDS = (KIND_LOAD, KIND_HELLO, KIND_REQUEST, KIND_RESULT, KIND_ERROR)

_PREFIX = struct.Struct(">Qc")
_HEADER_LENGTH = struct.Struct(">I")
MAX_HEADER = 64 * 1024 * 1024

Blobs = List[Tuple[str, bytes]]


class FrameError(Exception):
    """A malformed frame: the peer speaks another protocol or the stream is corrupt."""


def encode_frame(kind: bytes, header: dict[str, Any], blobs: Blobs | None = None) -> bytes:
    """One frame as bytes; ``header`` gains the list of blobs."""
    blobs = blobs or []
    head = dict(header, blobs=[[name, len(data)] for name, data in blobs])
    text = json.dumps(head, default=repr).encode("utf-8")
    body_length = 1 + _HEADER_LENGTH.size + len(text) + sum(len(data) for _, data in blobs)
    parts = [_PREFIX.pack(body_length, kind), _HEADER_LENGTH.pack(len(text)), text]
    parts.extend(data for _, data in blobs)
    return b"".join(parts)


def decode_body(kind: bytes, body: bytes) -> tuple[bytes, dict[str, Any], dict[str, bytes]]:
    """(kind, header, blobs by name) from a frame's body (everything after the kind byte)."""
    if kind not in KINDS:
        raise FrameError(f"unknown frame kind {kind!r}")
    if len(body) < _HEADER_LENGTH.size:
        raise FrameError("frame too short for its header length")
    (length,) = _HEADER_LENGTH.unpack_from(body)
    end = _HEADER_LENGTH.size + length
    if length > MAX_HEADER or end > len(body):
        raise FrameError(f"frame header length {length} does not fit the frame")
    try:
        header = json.loads(body[_HEADER_LENGTH.size : end].decode("utf-8"))
    except ValueError as exc:
        raise FrameError(f"frame header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise FrameError("frame header is not a JSON object")
    blobs = {}
    offset = end
    for entry in header.get("blobs") or []:
        try:
            name, size = str(entry[0]), int(entry[1])
        except (TypeError, ValueError, IndexError) as exc:
            raise FrameError(f"malformed blob entry {entry!r}") from exc
        if size < 0 or offset + size > len(body):
            raise FrameError(f"blob {name!r} runs past the end of the frame")
        blobs[name] = body[offset : offset + size]
        offset += size
    if offset != len(body):
        raise FrameError(f"{len(body) - offset} stray bytes after the last blob")
    return kind, header, blobs


def _read_exactly(fd: int, size: int) -> bytes | None:
    chunks = []
    missing = size
    while missing:
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> tuple[bytes, dict[str, Any], dict[str, bytes]] | None:
    """The next frame from a blocking fd; None at a clean end of input (the peer is gone)."""
    prefix = _read_exactly(fd, _PREFIX.size)
    if prefix is None:
        return None
    length, kind = _PREFIX.unpack(prefix)
    if length < 1:
        raise FrameError(f"frame length {length} is too small")
    body = _read_exactly(fd, length - 1)
    if body is None:
        raise FrameError("the stream ended inside a frame")
    return decode_body(kind, body)


def write_frame(fd: int, kind: bytes, header: dict[str, Any], blobs: Blobs | None = None) -> None:
    """Write one whole frame to a blocking fd."""
    view = memoryview(encode_frame(kind, header, blobs))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def frame_length(prefix: bytes) -> tuple[int, bytes]:
    """(bytes still to read, kind) from the first PREFIX_SIZE bytes of a frame."""
    length, kind = _PREFIX.unpack(prefix)
    if length < 1:
        raise FrameError(f"frame length {length} is too small")
    return length - 1, kind


PREFIX_SIZE = _PREFIX.size
