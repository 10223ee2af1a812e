"""HTTP serving with MLflow's scoring protocol, on the persistent worker pool.

The server needs the optional extra `envrun[serve]` (starlette and uvicorn). Importing this
package does not, so a caller can name the extra when it is missing (`require_extra`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from envrun.serve.options import EXTRA, ServeOptions, parse_size, require_extra

if TYPE_CHECKING:
    from envrun.serve.app import ModelService, create_app
    from envrun.serve.server import run_server

__all__ = [
    "EXTRA",
    "ModelService",
    "ServeOptions",
    "create_app",
    "parse_size",
    "require_extra",
    "run_server",
]


def __getattr__(name: str) -> Any:
    # starlette and uvicorn are imported only when the server itself is asked for.
    if name in ("ModelService", "create_app"):
        require_extra()
        from envrun.serve import app

        return getattr(app, name)
    if name == "run_server":
        require_extra()
        from envrun.serve.server import run_server

        return run_server
    raise AttributeError(name)
