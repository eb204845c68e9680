"""Sliding-window entry rate limits on event time.

A strategy gone wrong (a flapping signal, a bad feed) shows first as a burst of entries; capping
them per minute, hour and day bounds what it can cost in fees and slippage before a human looks.
The times are rebuilt from the Store's orders after a restart, so a crash does not reset them.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable


class EntryRate:
    """Event times of approved entries, checked against (name, window ms, most entries) limits."""

    def __init__(self, windows: tuple[tuple[str, int, int], ...]) -> None:
        self.windows = windows
        self._longest = max((ms for _, ms, _ in windows), default=0)
        self._times: list[int] = []

    def restore(self, times: Iterable[int]) -> None:
        """Start from these entry times (any order), e.g. the Store's entry orders of the last day."""
        self._times = sorted(times)

    def breach(self, ts: int) -> str:
        """Why one more entry at ``ts`` would break a limit, or '' if it fits."""
        self._forget(ts)
        for name, window_ms, most in self.windows:
            count = self._since(ts - window_ms)
            if count >= most:
                return f"{count} entries in the last {name}, limit {most}"
        return ""

    def record(self, ts: int) -> None:
        """Count an approved entry at ``ts``."""
        bisect.insort(self._times, ts)

    def counts(self, ts: int) -> dict[str, int]:
        """Entries in each window ending at ``ts``, for status."""
        return {name: self._since(ts - ms) for name, ms, _ in self.windows}

    def _since(self, start: int) -> int:
        """Entries after ``start`` (an entry exactly a window ago has left it)."""
        return len(self._times) - bisect.bisect_right(self._times, start)

    def _forget(self, ts: int) -> None:
        """Drop the times no window ending at ``ts`` or later can count."""
        cut = bisect.bisect_right(self._times, ts - self._longest)
        if cut:
            del self._times[:cut]
