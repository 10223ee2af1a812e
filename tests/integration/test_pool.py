"""api.open_pool on a bundled fixture: a real env, workers inside it, one-shot answers matched."""

from __future__ import annotations

from pathlib import Path

import pytest

from envrun import api
from envrun.settings import make_settings
from tests.helpers import INPUTS, MODELS

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\tZ" not in next(line for line in status.splitlines() if line.startswith("State:"))


def test_pool_in_the_models_env_answers_as_predict_does(shared_cache: Path) -> None:
    settings = make_settings(cache_dir=str(shared_cache))
    model, source = MODELS / "numpy_custom", INPUTS / "numpy_custom.json"
    oneshot = api.predict(model, str(source), settings)
    with api.open_pool(model, settings, workers=2, want_packages=True) as pool:
        infos = pool.workers()
        assert all(info.python["executable"].startswith(str(oneshot.env.path)) for info in infos)
        assert all(info.packages and "numpy" in info.packages for info in infos)
        for _ in range(3):
            answer = pool.predict(source.read_bytes())
            assert answer.predictions_text == oneshot.prediction.predictions_text
        assert (answer.value == oneshot.prediction.value).all()
        pids = [info.pid for info in infos]
    assert not any(_alive(pid) for pid in pids)
