"""Per-endpoint request pacing: never send faster than a venue documents, instead of learning it
from 429s (repeated 429s get an IP banned).

Each key (an endpoint path) allows at most ``rate`` requests in any sliding one-second window:
``acquire`` blocks until sending now would keep that true. A plain token bucket that starts full
would let almost twice the rate through in one second (a full burst at the end of one second and
the refill right after), which is what a venue counting per second punishes. The clock and the
sleep are injectable so the pacing can be tested without waiting.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

WINDOW_S = 1.0


class RateLimiter:
    """Sliding one-second windows by key; keys without a configured rate use ``default_rate``."""

    def __init__(
        self,
        rates: Mapping[str, float],
        default_rate: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if default_rate < 1.0 or any(rate < 1.0 for rate in rates.values()):
            raise ValueError(f"rates must be at least 1 per second: default {default_rate}, {dict(rates)}")
        self._rates = dict(rates)
        self._default = default_rate
        self._clock = clock
        self._sleep = sleep
        self._sent: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Reserve the earliest send time for ``key`` that keeps its window within the rate, sleep
        until then, and return the seconds waited."""
        with self._lock:
            most = int(self._rates.get(key, self._default))
            sent = self._sent.setdefault(key, deque(maxlen=most))
            now = self._clock()
            at = max(now, sent[0] + WINDOW_S) if len(sent) == most else now
            sent.append(at)
        wait = at - now
        if wait > 0.0:
            self._sleep(wait)
        return wait
