"""Per-endpoint request pacing: never send faster than a venue documents, instead of learning it
from 429s (repeated 429s get an IP banned).

Each key (an endpoint path) has its own token bucket of ``rate`` requests per second with a burst of
``rate`` tokens; ``acquire`` blocks until a token is free. The clock and the sleep are injectable
so the pacing can be tested without waiting.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping


class RateLimiter:
    """Token buckets by key; keys without a configured rate use ``default_rate``."""

    def __init__(
        self,
        rates: Mapping[str, float],
        default_rate: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if default_rate <= 0.0 or any(rate <= 0.0 for rate in rates.values()):
            raise ValueError(f"rates must be positive: default {default_rate}, {dict(rates)}")
        self._rates = dict(rates)
        self._default = default_rate
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``, sleeping until there is one; returns the seconds waited."""
        with self._lock:
            rate = self._rates.get(key, self._default)
            now = self._clock()
            tokens, stamp = self._buckets.get(key, (rate, now))
            tokens = min(rate, tokens + (now - stamp) * rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate
            self._buckets[key] = (tokens - 1.0, now)
        if wait > 0.0:
            self._sleep(wait)
        return wait
