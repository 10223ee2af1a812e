"""Request counters and a latency histogram, rendered in Prometheus' text format (0.0.4)."""

from __future__ import annotations

import threading
from collections import Counter

from envrun.run.pool import PoolStats

# Latency buckets in seconds: a 1 ms model answer up to a minute-long predict.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ROUTES = ("/ping", "/health", "/version", "/invocations", "/metrics")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def route_label(path: str) -> str:
    """The route as a label; unknown paths share one label, so a scanner cannot grow the set."""
    return path if path in ROUTES else "other"


class Metrics:
    """Thread-safe counters for the server; the pool's own numbers are read at scrape time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: Counter[tuple[str, int]] = Counter()
        self._buckets: dict[str, list[int]] = {}
        self._sums: dict[str, float] = {}
        self._counts: Counter[str] = Counter()
        self.in_flight = 0
        self.predicting = 0  # /invocations requests past parsing: on a worker or queued for one

    def request_started(self) -> None:
        """A request came in."""
        with self._lock:
            self.in_flight += 1

    def predict_started(self) -> None:
        """A predict request is about to wait for a worker."""
        with self._lock:
            self.predicting += 1

    def predict_finished(self) -> None:
        """A predict request left the pool."""
        with self._lock:
            self.predicting -= 1

    def request_finished(self, route: str, status: int, seconds: float) -> None:
        """A request ended with `status` after `seconds`."""
        with self._lock:
            self.in_flight -= 1
            self._requests[route, status] += 1
            counts = self._buckets.setdefault(route, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self._sums[route] = self._sums.get(route, 0.0) + seconds
            self._counts[route] += 1

    def render(self, pool: PoolStats | None, *, workers: int) -> str:
        """The exposition text."""
        out: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            family("envrun_requests_total", "counter", "HTTP requests by route and status.")
            for (route, status), n in sorted(self._requests.items()):
                out.append(f'envrun_requests_total{{route="{route}",status="{status}"}} {n}')
            family(
                "envrun_request_duration_seconds", "histogram", "HTTP request latency by route."
            )
            for route in sorted(self._buckets):
                for bound, n in zip(BUCKETS, self._buckets[route], strict=True):
                    out.append(
                        f'envrun_request_duration_seconds_bucket{{route="{route}",le="{bound}"}} {n}'
                    )
                total = self._counts[route]
                out.append(
                    f'envrun_request_duration_seconds_bucket{{route="{route}",le="+Inf"}} {total}'
                )
                out.append(
                    f'envrun_request_duration_seconds_sum{{route="{route}"}} {self._sums[route]:.6f}'
                )
                out.append(f'envrun_request_duration_seconds_count{{route="{route}"}} {total}')
            in_flight, predicting = self.in_flight, self.predicting
        family("envrun_requests_in_flight", "gauge", "HTTP requests being answered now.")
        out.append(f"envrun_requests_in_flight {in_flight}")
        busy = pool.in_flight if pool else 0
        family("envrun_queue_depth", "gauge", "Predict requests waiting for a free worker.")
        out.append(f"envrun_queue_depth {max(0, predicting - busy)}")
        family("envrun_workers", "gauge", "Worker slots.")
        out.append(f"envrun_workers {workers}")
        family("envrun_workers_ready", "gauge", "Workers loaded and idle.")
        out.append(f"envrun_workers_ready {pool.ready if pool else 0}")
        family("envrun_workers_busy", "gauge", "Workers running a predict.")
        out.append(f"envrun_workers_busy {busy}")
        family("envrun_worker_restarts_total", "counter", "Workers replaced after a crash or timeout.")
        out.append(f"envrun_worker_restarts_total {pool.restarts if pool else 0}")
        family("envrun_model_load_seconds", "gauge", "Model load time of each slot's current worker.")
        for slot, seconds in enumerate(pool.load_seconds if pool else ()):
            if seconds is not None:
                out.append(f'envrun_model_load_seconds{{slot="{slot}"}} {seconds:.6f}')
        return "\n".join(out) + "\n"
