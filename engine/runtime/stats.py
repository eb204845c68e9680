"""Counters shared by the runtime for status and benchmarks (written by one thread each)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class RuntimeStats:
    started: float = field(default_factory=time.monotonic)
    events_routed: int = 0
