"""Latency samples from venue event arrival to the Signal decision, for status and benchmarks.

A fixed ring of the most recent samples: memory stays flat however long the engine runs, and
recording is one array store (the dispatcher workers are the only writers).
"""

from __future__ import annotations

import time
from array import array

import numpy as np


class LatencyRecorder:
    """The newest ``capacity`` latencies in microseconds."""

    def __init__(self, capacity: int = 65_536) -> None:
        self._samples = array("d", bytes(8 * capacity))
        self._capacity = capacity
        self._next = 0
        self.count = 0

    def record_since(self, recv_ns: int) -> None:
        """Record the time elapsed since ``recv_ns`` (a ``perf_counter_ns`` stamp); 0 means unknown."""
        if recv_ns:
            self._samples[self._next] = (time.perf_counter_ns() - recv_ns) / 1_000.0
            self._next = (self._next + 1) % self._capacity
            self.count += 1

    def reset(self) -> None:
        self._next = 0
        self.count = 0

    def percentiles_us(self, qs: tuple[float, ...] = (50.0, 99.0, 99.9)) -> dict[str, float]:
        """Percentiles of the samples held, e.g. ``{"p50": 410.0, "p99": 2100.0, "p99.9": ...}``."""
        held = min(self.count, self._capacity)
        names = [f"p{q:g}" for q in qs]
        if held == 0:
            return dict.fromkeys(names, 0.0)
        data = np.frombuffer(self._samples, dtype=np.float64)[:held]
        values = np.percentile(data, qs)
        return {name: round(float(v), 1) for name, v in zip(names, values, strict=True)}
