"""The ASGI app: MLflow's scoring routes over a pool of persistent workers, plus /metrics.

The pool is opened on a background thread after the socket is listening, so `/ping` answers
503 while the env builds and the model loads, and 200 once a worker is ready. Each predict waits
(in a thread) for a free worker; each worker runs one predict at a time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from envrun.errors import EnvrunError
from envrun.run.pool import Pool
from envrun.serve.metrics import CONTENT_TYPE, Metrics, route_label
from envrun.serve.options import ServeOptions
from envrun.serve.protocol import (
    REQUEST_LIMIT_EXCEEDED,
    TEMPORARILY_UNAVAILABLE,
    Reply,
    error_reply,
    input_format,
    reply_for,
)

ACCESS_LOG = logging.getLogger("envrun.serve.access")
LOG = logging.getLogger("envrun.serve")


class ModelService:
    """The pool behind the app: opened in the background, closed at shutdown."""

    def __init__(
        self,
        open_pool: Callable[[], AbstractContextManager[Pool]],
        options: ServeOptions,
        *,
        on_failure: Callable[[EnvrunError | BaseException], None] | None = None,
    ) -> None:
        self.options = options
        self.metrics = Metrics()
        self.pool: Pool | None = None
        self.error: BaseException | None = None
        self._open_pool = open_pool
        self._on_failure = on_failure
        self._stack = ExitStack()
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        # A thread per busy worker plus one ready behind it: more threads only fight over the
        # GIL with the event loop; the other requests wait in the loop, where waiting is cheap.
        self.limiter = anyio.CapacityLimiter(2 * options.workers)

    def start(self) -> None:
        """Open the pool on a background thread (builds the env first if needed)."""
        self._thread = threading.Thread(target=self._open, name="envrun-serve-open", daemon=True)
        self._thread.start()

    def _open(self) -> None:
        try:
            pool = self._stack.enter_context(self._open_pool())
        except BaseException as exc:  # reported to the caller, which stops the server
            self.error = exc
            if self._on_failure is not None:
                self._on_failure(exc)
            return
        with self._lock:
            if self._closed:
                self._stack.close()
                return
            self.pool = pool
        LOG.info("ready: %d worker(s) loaded the model", len(pool.workers()))

    def close(self) -> None:
        """Close the pool (its workers end); a pool still opening is closed once it opens."""
        with self._lock:
            self._closed = True
            self.pool = None
        self._stack.close()

    def version(self) -> str:
        """The mlflow version in the model's env (as MLflow's /version answers), else ours."""
        pool = self.pool
        for info in pool.workers() if pool else ():
            if info.packages and info.packages.get("mlflow"):
                return info.packages["mlflow"]
        return self.options.version


def create_app(service: ModelService) -> ASGIApp:
    """The ASGI app for a service: /ping, /health, /version, /invocations, /metrics."""
    options = service.options

    async def ping(request: Request) -> Response:
        if service.pool is None:
            return Response("\n", status_code=503, media_type="application/json")
        return Response("\n", status_code=200, media_type="application/json")

    async def version(request: Request) -> Response:
        return Response(service.version(), media_type="application/json")

    async def metrics(request: Request) -> Response:
        pool = service.pool
        text = service.metrics.render(pool.stats() if pool else None, workers=options.workers)
        return Response(text, media_type=CONTENT_TYPE)

    async def invocations(request: Request) -> Response:
        pool = service.pool
        if pool is None:
            return _send(error_reply(503, TEMPORARILY_UNAVAILABLE, "the model is not loaded yet"))
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > options.max_body_size:
            return _send(_too_large(options.max_body_size))
        fmt = input_format(request.headers.get("content-type"))
        if isinstance(fmt, Reply):
            return _send(fmt)
        body = await _read_body(request, options.max_body_size)
        if body is None:
            return _send(_too_large(options.max_body_size))
        service.metrics.predict_started()
        try:
            answer = await anyio.to_thread.run_sync(
                pool.predict, body, fmt, limiter=service.limiter
            )
        except EnvrunError as exc:
            return _send(reply_for(exc, fmt))
        finally:
            service.metrics.predict_finished()
        return Response(answer.predictions_text, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:  # uvicorn has drained the requests in flight by now
            await anyio.to_thread.run_sync(service.close)

    app = Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/health", ping, methods=["GET"]),
            Route("/version", version, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return Observed(app, service.metrics)


def _send(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, media_type=reply.media_type)


def _too_large(limit: int) -> Reply:
    return error_reply(
        413,
        REQUEST_LIMIT_EXCEEDED,
        f"the request body is larger than the server's limit of {limit} bytes; send smaller "
        "batches or start the server with a larger --max-body-size",
    )


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The whole body, or None as soon as it passes `limit` (a chunked body has no length)."""
    chunks = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class Observed:
    """ASGI middleware: one access-log line and the metrics for every HTTP request."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status, size = 500, 0

        async def observe(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        self.metrics.request_started()
        try:
            await self.app(scope, receive, observe)
        finally:
            seconds = time.perf_counter() - start
            path = str(scope.get("path", ""))
            self.metrics.request_finished(route_label(path), status, seconds)
            if ACCESS_LOG.isEnabledFor(logging.INFO):
                ACCESS_LOG.info(
                    '%s "%s %s HTTP/%s" %d %d %.1fms',
                    _client(scope),
                    scope.get("method", ""),
                    path,
                    scope.get("http_version", "1.1"),
                    status,
                    size,
                    seconds * 1000,
                )


def _client(scope: Scope) -> str:
    client: Any = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"
