"""Newest quote per symbol, collected from the stream and handed to singletons in batches.

Singletons (Portfolio, Execution) need prices but must not take one message per market event:
a ThreadingActor wake-up per event is what collapses thread-per-actor designs. The market data
path records each event here (plain floats, no object per event) and every ``quote_batch_ms``
sends ``Quote`` messages for the symbols that changed.
"""

from __future__ import annotations

from engine.core.kill_switch import depth_within
from engine.messages import BookUpdated, MarketEvent, Quote, TickerUpdated, TradesReceived

_EMPTY = [0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.0]


class QuoteBook:
    __slots__ = ("_changed", "_quotes")

    def __init__(self) -> None:
        self._quotes: dict[str, list[float]] = {}
        self._changed: set[str] = set()

    def on_event(self, event: MarketEvent) -> None:
        symbol = event.symbol
        row = self._quotes.get(symbol)
        if isinstance(event, BookUpdated):
            if not event.bids or not event.asks:
                return
            bid, ask = event.bids[0][0], event.asks[0][0]
            mid = (bid + ask) / 2
            if row is None:
                row = self._quotes[symbol] = [*_EMPTY[:3], mid, *_EMPTY[4:]]
            row[:3] = event.ts, bid, ask
            row[4], row[5] = depth_within(event.bids, mid), depth_within(event.asks, mid)
        elif isinstance(event, TickerUpdated):
            if row is None:
                row = self._quotes[symbol] = list(_EMPTY)
            row[:4] = event.ts, event.bid, event.ask, event.last
            row[6] = event.funding_rate
        elif isinstance(event, TradesReceived):
            if row is None:
                return
            row[0], row[3] = event.ts, event.close
        else:
            return
        self._changed.add(symbol)

    def get(self, symbol: str) -> Quote | None:
        row = self._quotes.get(symbol)
        return None if row is None else _quote(symbol, row)

    def drain_changed(self) -> tuple[Quote, ...]:
        """Quotes that changed since the last drain, then start collecting afresh."""
        quotes = self._quotes
        changed = tuple(_quote(s, quotes[s]) for s in self._changed)
        self._changed.clear()
        return changed


def _quote(symbol: str, row: list[float]) -> Quote:
    return Quote(symbol, int(row[0]), row[1], row[2], row[3], row[4], row[5], row[6])
