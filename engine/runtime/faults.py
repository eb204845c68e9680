"""Fault injection: make a chosen symbol's actor raise on chosen events (tests and benchmarks).

A rule is ``SYMBOL:ROLE:EVENT`` or ``SYMBOL:ROLE:EVENT:TIMES``: ``EVENT`` is a message class name
(``BarClosed``, ``BookUpdated``, ...), ``*`` matches anything in the first three fields, and
``TIMES`` limits how often the rule fires (unlimited when absent). Rules come from the
``supervision.fault_inject`` setting or from ``arm`` at run time. With no rules armed the check is
one attribute read, so leaving the hook in the hot path costs nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass


class InjectedFault(RuntimeError):
    """Raised on purpose by the fault injector."""


@dataclass(slots=True)
class _Rule:
    symbol: str
    role: str
    event: str
    remaining: int | None

    def matches(self, symbol: str, role: str, event: str) -> bool:
        return self.symbol in ("*", symbol) and self.role in ("*", role) and self.event in ("*", event)


def parse_rule(text: str) -> _Rule:
    parts = text.split(":")
    if len(parts) not in (3, 4) or not all(parts[:3]):
        raise ValueError(f"fault rule {text!r} must look like SYMBOL:ROLE:EVENT or SYMBOL:ROLE:EVENT:TIMES")
    times: int | None = None
    if len(parts) == 4:
        if not (parts[3].isascii() and parts[3].isdigit()) or int(parts[3]) < 1:
            raise ValueError(f"fault rule {text!r}: TIMES must be a positive integer")
        times = int(parts[3])
    return _Rule(parts[0], parts[1], parts[2], times)


class FaultInjector:
    """Shared by every symbol actor; thread-safe to arm while the engine runs."""

    def __init__(self, rules: list[str] | tuple[str, ...] = ()) -> None:
        self._lock = threading.Lock()
        self.rules: list[_Rule] = [parse_rule(r) for r in rules]
        self.fired = 0

    def arm(self, rule: str) -> None:
        parsed = parse_rule(rule)
        with self._lock:
            self.rules = [*self.rules, parsed]

    def clear(self) -> None:
        with self._lock:
            self.rules = []

    def check(self, symbol: str, role: str, event: str) -> None:
        """Raise ``InjectedFault`` if an armed rule matches this actor and event."""
        if not self.rules:
            return
        with self._lock:
            for rule in self.rules:
                if rule.matches(symbol, role, event):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                        if rule.remaining <= 0:
                            self.rules = [r for r in self.rules if r is not rule]
                    self.fired += 1
                    raise InjectedFault(f"injected fault in {symbol} {role} on {event}")
