"""Live orders between the send and their last fill: which are in flight, and which fills are new.

The venue reports a fill on its stream and again in every re-sync that covers it, so a fill is
recognised by its trade id and turned into an ``OrderFilled`` only once. A fill carries the venue's
facts (price, size, fee, time); the order it belongs to supplies the engine's (stop, target,
strategy, reason, regime). An order is in flight from its send until less than one lot of it is
left unfilled, or until it is finished (refused, or found missing on the venue).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.messages import OrderFilled, SubmitOrder, VenueFill


class UnknownOrder(LookupError):
    """A fill of an order this engine did not send (or no longer remembers)."""


@dataclass(slots=True)
class _Live:
    order: SubmitOrder
    lot: float
    sent_ms: int
    filled: float = 0.0


class OrderTracker:
    def __init__(self) -> None:
        self._orders: dict[str, SubmitOrder] = {}
        self._live: dict[str, _Live] = {}
        self._seen: set[str] = set()
        self.duplicates = 0

    def know(self, orders: Iterable[SubmitOrder]) -> None:
        """Orders sent before (from the store), so their late fills can still be booked."""
        for order in orders:
            self._orders.setdefault(order.client_oid, order)

    def seen(self, fill_ids: Iterable[str]) -> None:
        """Fills booked before (from the store): never booked again."""
        self._seen.update(fill_ids)

    def track(self, order: SubmitOrder, lot: float, sent_ms: int) -> None:
        self._orders[order.client_oid] = order
        self._live[order.client_oid] = _Live(order, lot, sent_ms)

    def finish(self, client_oid: str) -> None:
        self._live.pop(client_oid, None)

    def exit_in_flight(self, symbol: str) -> bool:
        """Whether a reduce-only order of ``symbol`` is still unfilled: a second one would only be
        refused by the venue (nothing left to close) once the first fills."""
        return any(live.order.reduce_only and live.order.symbol == symbol for live in self._live.values())

    def in_flight(self) -> list[tuple[SubmitOrder, int, float]]:
        """(order, sent time, quantity filled) of every order not yet filled or finished."""
        return [(live.order, live.sent_ms, live.filled) for live in self._live.values()]

    def book(self, fill: VenueFill) -> OrderFilled | None:
        """The ``OrderFilled`` of a new fill; None for one booked before. Raises ``UnknownOrder``."""
        if fill.trade_id in self._seen:
            self.duplicates += 1
            return None
        order = self._orders.get(fill.client_oid)
        if order is None:
            raise UnknownOrder(
                f"fill {fill.trade_id} belongs to order {fill.client_oid or '?'}, not sent by this engine"
            )
        self._seen.add(fill.trade_id)
        live = self._live.get(fill.client_oid)
        if live is not None:
            live.filled += fill.qty
            if order.qty - live.filled < live.lot * (1.0 - 1e-9):  # the venue sent whole lots only
                del self._live[fill.client_oid]
        return OrderFilled(
            fill_id=fill.trade_id, client_oid=order.client_oid, symbol=order.symbol, ts=fill.ts, side=fill.side,
            qty=fill.qty, price=fill.price, fee=fill.fee, reduce_only=order.reduce_only, stop=order.stop,
            strategy=order.strategy, reason=order.reason, target=order.target, regime=order.regime,
        )  # fmt: skip
