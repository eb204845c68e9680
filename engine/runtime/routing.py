"""Stable addresses: actors send to (symbol, role) or to a singleton's role, never to a held ref.

The Supervisor is the only writer: it binds the refs of a pipeline when it starts and unbinds
them before stopping it, so a restart swaps the refs behind an address that never changes.
Senders on any thread read the table (a dict read is atomic under the GIL). A message to an
address with no live actor, because the symbol is restarting, quarantined or removed, is counted
as undelivered and dropped: ``ActorDeadError`` never reaches a sender.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pykka


class Router:
    """The address table: (symbol, role) and singleton role -> ActorRef."""

    def __init__(self) -> None:
        self._symbol_refs: dict[tuple[str, str], pykka.ActorRef[Any]] = {}
        self._singletons: dict[str, pykka.ActorRef[Any]] = {}
        self.undelivered = 0
        self.undelivered_by_symbol: Counter[str] = Counter()
        self.delivered = 0
        """Messages handed to an inbox: when a round of asks to every actor leaves it unchanged,
        nothing is in flight (the backtest replay's wait for quiet)."""

    def bind(self, symbol: str, role: str, ref: pykka.ActorRef[Any]) -> None:
        self._symbol_refs[(symbol, role)] = ref

    def unbind(self, symbol: str, role: str) -> None:
        self._symbol_refs.pop((symbol, role), None)

    def bind_singleton(self, role: str, ref: pykka.ActorRef[Any]) -> None:
        self._singletons[role] = ref

    def unbind_singleton(self, role: str) -> None:
        self._singletons.pop(role, None)

    def ref(self, symbol: str, role: str) -> pykka.ActorRef[Any] | None:
        return self._symbol_refs.get((symbol, role))

    def singleton(self, role: str) -> pykka.ActorRef[Any] | None:
        return self._singletons.get(role)

    def tell(self, symbol: str, role: str, message: Any) -> bool:
        """Deliver to a symbol's actor; False (and counted) when nobody lives at the address."""
        ref = self._symbol_refs.get((symbol, role))
        if ref is not None:
            try:
                ref.tell(message)
                self.delivered += 1
                return True
            except pykka.ActorDeadError:
                pass
        self.undelivered += 1
        self.undelivered_by_symbol[symbol] += 1
        return False

    def tell_singleton(self, role: str, message: Any) -> bool:
        """Deliver to a singleton; False (and counted) while it is down or restarting."""
        ref = self._singletons.get(role)
        if ref is None:
            self.undelivered += 1
            return False
        try:
            ref.tell(message)
        except pykka.ActorDeadError:
            self.undelivered += 1
            return False
        self.delivered += 1
        return True

    def symbol_refs(self) -> list[tuple[str, str, pykka.ActorRef[Any]]]:
        return [(symbol, role, ref) for (symbol, role), ref in list(self._symbol_refs.items())]
