"""Run the app with uvicorn on a socket bound before the model loads."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager

from envrun.errors import EnvrunError
from envrun.run.pool import Pool
from envrun.serve.app import ModelService, create_app
from envrun.serve.options import ServeOptions

LOG = logging.getLogger("envrun.serve")


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that name TCP, and without
    # it a keep-alive client waits ~40 ms per answer (Nagle against delayed ACKs).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise EnvrunError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            value=f"{host}:{port}",
            fix="choose another --port (or stop the process that holds it)",
        ) from None
    sock.listen(2048)
    return sock


def run_server(
    open_pool: Callable[[], AbstractContextManager[Pool]],
    options: ServeOptions,
    *,
    host: str = "127.0.0.1",
    port: int = 5000,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve until SIGINT or SIGTERM (which drain requests in flight, then end the workers).

    The socket listens at once; the pool opens in the background. If it cannot open (the env
    does not build, the model does not load), the server stops and that error is raised.
    """
    import uvicorn

    sock = bind(host, port)
    bound = sock.getsockname()
    url = f"http://{host if ':' not in host else f'[{host}]'}:{bound[1]}"

    def failed(exc: BaseException) -> None:
        server.should_exit = True

    service = ModelService(open_pool, options, on_failure=failed)
    grace = (options.timeout or 60.0) + 5.0
    config = uvicorn.Config(
        create_app(service),
        log_config=None,
        access_log=False,  # ours has the latency and the route label
        lifespan="on",
        timeout_graceful_shutdown=int(grace),
        server_header=False,
    )
    server = uvicorn.Server(config)
    if on_listening is not None:
        on_listening(url)
    try:
        server.run(sockets=[sock])
    finally:
        service.close()
        sock.close()
    if service.error is not None:
        raise service.error
