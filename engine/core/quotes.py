"""Newest quote per symbol, collected from the stream and handed to singletons in batches.

Singletons (Portfolio, Execution) need prices but must not take one message per market event:
a ThreadingActor wake-up per event is what collapses thread-per-actor designs. The market data
path records each event here and every ``quote_batch_ms`` sends only the quotes that changed.
"""

from __future__ import annotations

from engine.messages import BookUpdated, MarketEvent, Quote, TickerUpdated, TradesReceived


class QuoteBook:
    __slots__ = ("_quotes", "_changed")

    def __init__(self) -> None:
        self._quotes: dict[str, Quote] = {}
        self._changed: set[str] = set()

    def on_event(self, event: MarketEvent) -> None:
        if isinstance(event, TickerUpdated):
            quote = Quote(event.symbol, event.ts, event.bid, event.ask, event.last)
        elif isinstance(event, BookUpdated):
            if not event.bids or not event.asks:
                return
            old = self._quotes.get(event.symbol)
            bid, ask = event.bids[0][0], event.asks[0][0]
            quote = Quote(event.symbol, event.ts, bid, ask, old.last if old else (bid + ask) / 2)
        elif isinstance(event, TradesReceived):
            old = self._quotes.get(event.symbol)
            if old is None:
                return
            quote = Quote(event.symbol, event.ts, old.bid, old.ask, event.close)
        else:
            return
        self._quotes[event.symbol] = quote
        self._changed.add(event.symbol)

    def get(self, symbol: str) -> Quote | None:
        return self._quotes.get(symbol)

    def drain_changed(self) -> tuple[Quote, ...]:
        """Quotes that changed since the last drain, then start collecting afresh."""
        changed = tuple(self._quotes[s] for s in self._changed)
        self._changed.clear()
        return changed
