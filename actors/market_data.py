"""MarketData: owns the venue's stream, subscribes symbols, routes each event to its Feed.

Events are routed on the stream's own thread (where a websocket client delivers them) straight
into the symbols' pooled inboxes: no extra thread hop per event. Quotes go to Portfolio, Risk and
Execution in batches every ``engine.quote_batch_ms``. Backfill is sent before a symbol is
subscribed; after a pipeline restart the stream keeps flowing, so the new Feed ignores live events
until its history arrives (see ``FeedActor``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import EXECUTION, FEED, PORTFOLIO, RISK, ActorContext
from engine.core.quotes import QuoteBook
from engine.messages import (
    BackfillSymbol,
    BarsBackfilled,
    MarketEvent,
    QuotesUpdated,
    SubscribeSymbol,
    UnsubscribeSymbol,
)
from engine.strategy_plan import timeframes_of


class MarketDataActor(SingletonActor):
    role = "market_data"

    def __init__(self, ctx: ActorContext, backfill_on_start: bool = True) -> None:
        super().__init__(ctx)
        self.source = ctx.source
        self.quotes = QuoteBook()
        self._batch_ns = ctx.config.engine.quote_batch_ms * 1_000_000
        self._next_batch_ns = 0
        self._backfill_on_start = backfill_on_start

    def on_start(self) -> None:
        """Stream every symbol that has a running pipeline (the router knows which).

        On the first start each is backfilled before it is subscribed; after a crash the pipelines
        are warm already, so they are only resubscribed.
        """
        symbols = sorted({symbol for symbol, role, _ in self.router.symbol_refs() if role == FEED})
        started = time.monotonic()
        for symbol in symbols:
            if self._backfill_on_start:
                self._backfill(symbol)
            self.source.subscribe(symbol)
        self.source.start(self._route)
        logger.info(
            "market data: streaming {} symbols ({} in {:.1f}s)",
            len(symbols),
            "backfilled" if self._backfill_on_start else "resubscribed",
            time.monotonic() - started,
        )

    def on_stop(self) -> None:
        self.source.stop()

    def on_failure(self, *_exc: Any) -> None:
        self.source.stop()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, SubscribeSymbol):
            self._backfill(message.symbol)
            self.source.subscribe(message.symbol)
        elif isinstance(message, UnsubscribeSymbol):
            self.source.unsubscribe(message.symbol)
        elif isinstance(message, BackfillSymbol):
            self._backfill(message.symbol)
        return None

    def _backfill(self, symbol: str) -> None:
        """History for each timeframe the symbol runs, the primary one first."""
        for interval in timeframes_of(self.ctx.config, symbol):
            bars = self.source.candles(symbol, self.ctx.config.strategy.warmup_bars, interval)
            self.router.tell(symbol, FEED, BarsBackfilled(symbol, tuple(bars), interval))

    def _route(self, events: Sequence[MarketEvent]) -> None:
        """Runs on the stream thread: one ``tell`` per event to its symbol's Feed."""
        tell = self.router.tell
        quotes = self.quotes
        for event in events:
            quotes.on_event(event)
            tell(event.symbol, FEED, event)
        self.ctx.stats.events_routed += len(events)
        now = time.perf_counter_ns()
        if now >= self._next_batch_ns:
            self._next_batch_ns = now + self._batch_ns
            changed = QuotesUpdated(quotes.drain_changed())
            if changed.quotes:
                self.router.tell_singleton(EXECUTION, changed)
                self.router.tell_singleton(PORTFOLIO, changed)
                self.router.tell_singleton(RISK, changed)
