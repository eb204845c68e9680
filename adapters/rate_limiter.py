"""Per-endpoint request pacing: never send faster than a venue documents, instead of learning it
from 429s (repeated 429s get an IP banned).

Each key (an endpoint path) allows at most ``rate`` requests in any sliding one-second window:
``acquire`` blocks until sending now would keep that true. A plain token bucket that starts full
would let almost twice the rate through in one second (a full burst at the end of one second and
the refill right after), which is what a venue counting per second punishes. The clock and the
sleep are injectable so the pacing can be tested without waiting.

The venue counts requests when they arrive, which is some time after they were paced here. Used
through ``slot``, a request's place in the window moves to when its answer came back (by then the
venue has certainly received it), so network jitter can never squeeze one request too many into
the venue's second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

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
        self._sent: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Reserve the earliest send time for ``key`` that keeps its window within the rate, sleep
        until then, and return the seconds waited."""
        return self._reserve(key)[1]

    @contextmanager
    def slot(self, key: str) -> Iterator[float]:
        """``acquire``, then, once the request is answered, count it from the answer's time."""
        at, wait = self._reserve(key)
        try:
            yield wait
        finally:
            with self._lock:
                sent = self._sent[key]
                if at in sent:
                    sent[sent.index(at)] = max(at, self._clock())

    def _reserve(self, key: str) -> tuple[float, float]:
        with self._lock:
            most = int(self._rates.get(key, self._default))
            sent = self._sent.setdefault(key, [])
            now = self._clock()
            at = now
            if len(sent) >= most:
                oldest = min(sent)
                sent.remove(oldest)
                at = max(now, oldest + WINDOW_S)
            sent.append(at)
        wait = at - now
        if wait > 0.0:
            self._sleep(wait)
        return at, wait
