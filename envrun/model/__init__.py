"""What a model directory says: its MLmodel, python_function conf, signature and examples."""

from __future__ import annotations

from envrun.model.mlmodel import (
    ModelDigest,
    ModelInfo,
    PyfuncConf,
    load_yaml,
    model_digest,
    read_model,
    safe_path,
)

__all__ = [
    "ModelDigest",
    "ModelInfo",
    "PyfuncConf",
    "load_yaml",
    "model_digest",
    "read_model",
    "safe_path",
]
