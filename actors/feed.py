"""Feed(symbol): the symbol's venue events in, bars of each of its timeframes out.

A Feed starts without history and ignores live events until the backfill of every one of its
timeframes (``BarsBackfilled``) has arrived: indicators must be warmed from history before the
first live bar, or a bar closed live would make the older history look stale. MarketData backfills
a symbol before subscribing it, so on a first start nothing is ignored; after a restart the stream
is already flowing and the few events that arrive first are counted in ``ignored_before_history``
(the history covers them, bar for bar, up to the bar in progress).
"""

from __future__ import annotations

from typing import Any

from actors.base import SymbolActor
from actors.context import FEATURES, FEED, ActorContext
from engine.core.bars import BarAggregator
from engine.messages import BarsBackfilled, BookUpdated, TickerUpdated, TradesReceived
from engine.strategy_plan import timeframes_of


class FeedActor(SymbolActor):
    role = FEED

    def __init__(self, ctx: ActorContext, symbol: str, generation: int) -> None:
        super().__init__(ctx, symbol, generation)
        self.bars = {interval: BarAggregator(symbol, interval) for interval in timeframes_of(ctx.config, symbol)}
        self.awaiting_history = set(self.bars)
        self.ignored_before_history = 0

    @property
    def has_history(self) -> bool:
        return not self.awaiting_history

    def handle(self, message: Any) -> None:
        kind = type(message)
        router = self._router
        if kind is BarsBackfilled:
            aggregator = self.bars.get(message.interval_ms)
            if aggregator is None:
                return
            if message.bars:
                aggregator.seed(message.bars[-1])
            self.awaiting_history.discard(message.interval_ms)
            router.tell(self.symbol, FEATURES, message)
        elif self.awaiting_history:
            self.ignored_before_history += 1
        elif kind is TradesReceived:
            for aggregator in self.bars.values():
                for bar in aggregator.on_trade(message):
                    router.tell(self.symbol, FEATURES, bar)
        elif kind is BookUpdated or kind is TickerUpdated:
            ts = message.ts
            for aggregator in self.bars.values():
                for bar in aggregator.on_time(ts):
                    router.tell(self.symbol, FEATURES, bar)
            router.tell(self.symbol, FEATURES, message)
