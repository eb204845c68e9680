"""Newest quote per symbol, collected from the stream and handed to singletons in batches.

Singletons (Portfolio, Execution) need prices but must not take one message per market event:
a ThreadingActor wake-up per event is what collapses thread-per-actor designs. The market data
path records each event here (plain floats, no object per event) and every ``quote_batch_ms``
sends ``Quote`` messages for the symbols that changed.
"""

from __future__ import annotations

from engine.messages import BookUpdated, MarketEvent, Quote, TickerUpdated, TradesReceived


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
            last = row[3] if row is not None else (bid + ask) / 2
            self._quotes[symbol] = [event.ts, bid, ask, last]
        elif isinstance(event, TickerUpdated):
            self._quotes[symbol] = [event.ts, event.bid, event.ask, event.last]
        elif isinstance(event, TradesReceived):
            if row is None:
                return
            row[0], row[3] = event.ts, event.close
        else:
            return
        self._changed.add(symbol)

    def get(self, symbol: str) -> Quote | None:
        row = self._quotes.get(symbol)
        return None if row is None else Quote(symbol, int(row[0]), row[1], row[2], row[3])

    def drain_changed(self) -> tuple[Quote, ...]:
        """Quotes that changed since the last drain, then start collecting afresh."""
        quotes = self._quotes
        changed = tuple(Quote(s, int(r[0]), r[1], r[2], r[3]) for s in self._changed for r in (quotes[s],))
        self._changed.clear()
        return changed
