"""Sliding-window entry rate limits on event time.

A strategy gone wrong (a flapping signal, a bad feed) shows first as a burst of entries; capping
them per minute, hour and day bounds what it can cost in fees and slippage before a human looks.
The times are rebuilt from the Store's orders after a restart, so a crash does not reset them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable


class EntryRate:
    """Event times of approved entries, checked against (name, window ms, most entries) limits."""

    def __init__(self, windows: tuple[tuple[str, int, int], ...]) -> None:
        self.windows = windows
        self._longest = max((ms for _, ms, _ in windows), default=0)
        self._times: deque[int] = deque()

    def restore(self, times: Iterable[int]) -> None:
        """Start from these entry times (any order), e.g. the Store's entry orders of the last day."""
        self._times = deque(sorted(times))

    def breach(self, ts: int) -> str:
        """Why one more entry at ``ts`` would break a limit, or '' if it fits."""
        self._forget(ts)
        for name, window_ms, most in self.windows:
            count = sum(1 for t in self._times if t > ts - window_ms)
            if count >= most:
                return f"{count} entries in the last {name}, limit {most}"
        return ""

    def record(self, ts: int) -> None:
        """Count an approved entry at ``ts``."""
        self._times.append(ts)
        if len(self._times) > 1 and self._times[-2] > ts:
            self._times = deque(sorted(self._times))

    def counts(self, ts: int) -> dict[str, int]:
        """Entries in each window ending at ``ts``, for status."""
        return {name: sum(1 for t in self._times if t > ts - ms) for name, ms, _ in self.windows}

    def _forget(self, ts: int) -> None:
        times = self._times
        while times and times[0] <= ts - self._longest:
            times.popleft()
