"""One timer thread for the whole engine: delayed and periodic callbacks.

Actors must not sleep, so anything that happens "later" (a restart after its backoff, an equity
sample, the supervisor's liveness sweep) is a callback here that only ``tell``s a message.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from loguru import logger


class Timers:
    """A heap of due times served by one daemon thread."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, float, Callable[[], None]]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="timers", daemon=True)
        self._thread.start()

    def after(self, delay_s: float, callback: Callable[[], None]) -> None:
        self._push(time.monotonic() + delay_s, 0.0, callback)

    def every(self, interval_s: float, callback: Callable[[], None]) -> None:
        self._push(time.monotonic() + interval_s, interval_s, callback)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(2.0)

    def _push(self, due: float, interval: float, callback: Callable[[], None]) -> None:
        with self._cond:
            heapq.heappush(self._heap, (due, next(self._seq), interval, callback))
            self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    wait = self._heap[0][0] - now if self._heap else None
                    self._cond.wait(wait)
                if self._stopped:
                    return
                due, _, interval, callback = heapq.heappop(self._heap)
                if interval:
                    heapq.heappush(self._heap, (due + interval, next(self._seq), interval, callback))
            try:
                callback()
            except Exception:
                logger.exception("timer callback failed; the timer thread carries on")
