"""Features(symbol): indicators per timeframe and book state, updated in O(1) per event.

Primary-timeframe bar closes also go to the Scanner (ranking) and Correlation (returns). A regime
change on the primary timeframe is logged and stored as an event.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from actors.base import SymbolActor
from actors.context import CORRELATION, FEATURES, SCANNER, SIGNAL, STORE, ActorContext
from engine.core.features import FeatureEngine
from engine.messages import BarClosed, BarsBackfilled, BookUpdated, FeaturesUpdated, RecordEvent, TickerUpdated
from engine.strategy_plan import feature_settings, timeframes_of


class FeaturesActor(SymbolActor):
    role = FEATURES

    def __init__(self, ctx: ActorContext, symbol: str, generation: int) -> None:
        super().__init__(ctx, symbol, generation)
        self.intervals = timeframes_of(ctx.config, symbol)
        self.engine = FeatureEngine(symbol, feature_settings(ctx.config), self.intervals)

    def handle(self, message: Any) -> None:
        kind = type(message)
        router = self._router
        if kind is BookUpdated:
            router.tell(self.symbol, SIGNAL, self.engine.on_book(message))
        elif kind is TickerUpdated:
            router.tell(self.symbol, SIGNAL, self.engine.on_ticker(message))
        elif kind is BarClosed:
            if not self.engine.is_new(message):
                logger.debug("{} bar at {} skipped: already applied (backfill overlap)", self.symbol, message.open_ts)
                return
            update = self.engine.on_bar(message)
            router.tell(self.symbol, SIGNAL, update)
            if message.interval_ms == self.intervals[0]:
                router.tell_singleton(SCANNER, update)
                router.tell_singleton(CORRELATION, update)
                if self.engine.regime_change is not None:
                    self._report_regime(update, *self.engine.regime_change)
        elif kind is BarsBackfilled:
            self.engine.backfill(message.bars)
            if message.interval_ms == self.intervals[0]:
                router.tell_singleton(CORRELATION, message)

    def _report_regime(self, f: FeaturesUpdated, old: str, new: str) -> None:
        ratio = f.atr / f.atr_median if f.atr_median > 0.0 else float("nan")
        detail = f"{old} -> {new} (ADX {f.adx:.1f}, ATR/median {ratio:.2f})"
        logger.info("{} regime {}", self.symbol, detail)
        self._router.tell_singleton(STORE, RecordEvent(f.ts, "regime", self.symbol, detail))
