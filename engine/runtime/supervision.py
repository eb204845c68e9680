"""Restart decisions, OTP style: pure, so they are tested without threads or clocks.

One tracker per supervised unit (a symbol's pipeline, or one singleton). Each failure at time
``now`` (seconds, any monotonic origin) answers:
- ``Restart(delay_s)``: exponential backoff ``initial * 2**(k-1)`` for the k-th failure inside the
  window, capped at ``max``, spread by +/- ``jitter`` so many symbols failing together do not
  restart in lockstep;
- ``GiveUp(count)``: more than ``max_restarts`` failures within ``window_s``. For a symbol that
  means quarantine (stopped, never restarted in a loop); for a singleton the caller halts new
  entries while it keeps restarting it, because exits must still be possible.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """max_restarts=5 within window_s=60; backoff 0.02 s doubling to 5 s, jitter +/-20%."""

    max_restarts: int = 5
    window_s: float = 60.0
    backoff_initial_s: float = 0.02
    backoff_max_s: float = 5.0
    jitter: float = 0.2


@dataclass(frozen=True, slots=True)
class Restart:
    delay_s: float
    failures_in_window: int


@dataclass(frozen=True, slots=True)
class GiveUp:
    failures_in_window: int


Decision = Restart | GiveUp


class RestartTracker:
    """Failure history of one unit within the sliding window."""

    __slots__ = ("_failures", "_policy", "_rng", "total")

    def __init__(self, policy: RestartPolicy, rng: random.Random | None = None) -> None:
        self._policy = policy
        self._rng = rng or random.Random()
        self._failures: deque[float] = deque()
        self.total = 0

    def on_failure(self, now: float) -> Decision:
        policy = self._policy
        failures = self._failures
        failures.append(now)
        self.total += 1
        while failures and failures[0] < now - policy.window_s:
            failures.popleft()
        count = len(failures)
        if count > policy.max_restarts:
            return GiveUp(count)
        base = min(policy.backoff_max_s, policy.backoff_initial_s * 2 ** (count - 1))
        spread = 1.0 + policy.jitter * (2.0 * self._rng.random() - 1.0)
        return Restart(base * spread, count)

    def failures_in_window(self, now: float) -> int:
        return sum(1 for t in self._failures if t >= now - self._policy.window_s)
