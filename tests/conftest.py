"""Guards for every test: the process environment and working directory stay as they were."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _environment_and_cwd_untouched() -> Iterator[None]:
    environ = _environ()
    cwd = Path.cwd()
    yield
    assert _environ() == environ, "a test changed os.environ; pass an environ mapping instead"
    assert Path.cwd() == cwd, "a test changed the working directory"


def _environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
