"""Faults the simulated venue injects on command, so the adapter's failure paths run for real.

A test or an operator sets them over REST (``POST /sim/faults``, the fields below as JSON) or
directly on a ``VenueFaults``. Counted faults (``rest_5xx``, ``rest_429``, ``hold_after_accept``)
hit the next N matching requests and then stop; rates apply to every push until set back to 0.

- ``rest_5xx``: the next N REST requests answer HTTP 500 before doing anything.
- ``rest_429``: the next N REST requests answer HTTP 429 ("too many requests").
- ``latency_ms``: every REST answer waits this long first.
- ``hold_after_accept``: the next N place-orders are accepted and executed, then the connection is
  closed after ``hold_s`` without an answer: the client's outcome is unknown.
- ``drop_ws``: every open WebSocket connection is cut at once (no close frame).
- ``silent_s``: WebSocket connections send nothing (pushes, acks and pongs) for this long.
- ``duplicate_rate`` / ``malformed_rate``: the share of pushes sent twice / preceded by a frame
  that is not valid JSON.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(slots=True)
class VenueFaults:
    rest_5xx: int = 0
    rest_429: int = 0
    latency_ms: float = 0.0
    hold_after_accept: int = 0
    hold_s: float = 2.0
    silent_until: float = 0.0
    duplicate_rate: float = 0.0
    malformed_rate: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(default_factory=lambda: random.Random(7), repr=False)

    def update(self, command: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a command (``silent_s`` and the field names; ``drop_ws`` is the server's); the new state."""
        settable = {f.name: f.type for f in fields(self) if not f.name.startswith("_") and f.name != "silent_until"}
        unknown = set(command) - set(settable) - {"silent_s", "drop_ws"}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        with self._lock:
            for name, value in command.items():
                if name == "silent_s":
                    self.silent_until = time.monotonic() + float(value)
                elif name in settable:
                    number = float(value)
                    if number < 0 or (name.endswith("_rate") and number > 1):
                        raise ValueError(f"{name} must be >= 0 (rates <= 1), not {value}")
                    setattr(self, name, int(number) if settable[name] == "int" else number)
            return self.state()

    def state(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}

    def take(self, name: str) -> bool:
        """Use up one of the counted fault ``name``; whether it applies to this request."""
        with self._lock:
            left = int(getattr(self, name))
            if left <= 0:
                return False
            setattr(self, name, left - 1)
            return True

    def silent(self) -> bool:
        return time.monotonic() < self.silent_until

    def chance(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._rng.random() < rate
