"""Torch tensors saved on a CUDA device, loaded on a host without one.

A model pickled on a GPU machine records "cuda:0" as its tensors' location, and ``torch.load``
refuses it where CUDA is unavailable unless given ``map_location``. During the model's load,
``torch.load`` without a ``map_location`` gets "cpu" instead, so mlflow.pytorch and custom
loaders that call torch.load both work. torch is never imported here: the patch is applied
when the model's own code imports it (or at once, if it already has).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

DEVICES = ("auto", "cpu")
_PATCHED = "__envrun_cpu_default__"


class CpuDefault:
    """While active, torch.load maps tensors to the CPU when CUDA is absent (or device is cpu)."""

    def __init__(self, device: str, warnings: list[str]) -> None:
        self.device = device if device in DEVICES else "auto"
        self.warnings = warnings
        self.originals: list[Any] = []  # (module, attribute, function)
        self.finder: _TorchFinder | None = None
        self.warned = False

    def __enter__(self) -> CpuDefault:
        torch = sys.modules.get("torch")
        if torch is not None:
            self.patch(torch)
        else:
            self.finder = _TorchFinder(self)
            sys.meta_path.insert(0, self.finder)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.finder is not None and self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)
        for module, name, function in reversed(self.originals):
            setattr(module, name, function)
        self.originals = []

    def patch(self, torch: ModuleType) -> None:
        """Wrap torch.load (and torch.serialization.load) unless CUDA is there to use."""
        if self.device == "auto":
            try:
                usable = bool(torch.cuda.is_available())
            except Exception:  # a broken CUDA setup is no CUDA
                usable = False
            if usable:
                return
        modules: list[Any] = [torch, getattr(torch, "serialization", None)]
        for module in modules:
            original = getattr(module, "load", None) if module is not None else None
            if original is None or getattr(original, _PATCHED, False):
                continue
            module.load = self._wrap(original)
            self.originals.append((module, "load", original))

    def _wrap(self, original: Any) -> Any:
        def load(*args: Any, **kwargs: Any) -> Any:
            if len(args) < 2 and kwargs.get("map_location") is None:
                kwargs["map_location"] = "cpu"
                if not self.warned:
                    self.warned = True
                    why = "--device cpu" if self.device == "cpu" else "this host has no CUDA"
                    self.warnings.append(
                        f"torch tensors are loaded onto the CPU ({why}); a model saved on a "
                        "GPU runs on the CPU here"
                    )
            return original(*args, **kwargs)

        setattr(load, _PATCHED, True)
        load.__doc__ = getattr(original, "__doc__", None)
        return load


class _TorchFinder(importlib.abc.MetaPathFinder):
    """Finds nothing itself: lets the real finders import torch, then patches it."""

    def __init__(self, owner: CpuDefault) -> None:
        self.owner = owner

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "torch":
            return None
        others = [f for f in sys.meta_path if f is not self]
        for finder in others:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if isinstance(spec, importlib.machinery.ModuleSpec) and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, self.owner)
                return spec
        return None


class _PatchingLoader(importlib.abc.Loader):
    """torch's own loader, followed by the patch once the module has executed."""

    def __init__(self, loader: Any, owner: CpuDefault) -> None:
        self.loader = loader
        self.owner = owner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        self.loader.exec_module(module)
        self.owner.patch(module)
