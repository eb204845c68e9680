"""One symbol's indicators per timeframe and its order-book state, updated in O(1) per event.

Indicators move only on closed bars, so a strategy's inputs are the same live, in replay and in a
backtest that only has bars; books and tickers refresh the quote and liquidity view in between.
Every update returns a full :class:`FeaturesUpdated` snapshot so that Signal never needs a second
source, and conflating them (keeping the newest) loses nothing but bar closes, which are flagged.
A symbol can run on several timeframes at once (the regime strategies on 1m, the long dip on
15m): each has its own indicators; book and ticker snapshots carry the primary timeframe's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from engine.core.indicators import Adx, Atr, Bollinger, Ema, Momentum, RollingMedian, VolumeSpike
from engine.core.kill_switch import depth_within
from engine.core.regime import RegimeThresholds, classify
from engine.messages import BarClosed, BookUpdated, FeaturesUpdated, Regime, TickerUpdated

"""Liquidity counted by ``depth_usdt``: what a market order can take without moving far."""

NAN = math.nan


def _or_nan(value: float | None) -> float:
    return NAN if value is None else value


@dataclass(frozen=True, slots=True)
class FeatureSettings:
    """Indicator periods and regime thresholds ([strategy], [regime] and [scanner] settings)."""

    ema_fast: int = 9
    ema_slow: int = 21
    atr_period: int = 14
    adx_period: int = 14
    bb_period: int = 20
    bb_std: float = 2.0
    atr_median_window: int = 100
    momentum_period: int = 10
    volume_period: int = 20
    regime: RegimeThresholds = field(default_factory=RegimeThresholds)


class BarIndicators:
    """Every indicator of one timeframe, and the regime they imply, as of the newest bar.

    The values are kept as plain floats (NaN until warm) because snapshots are built on every book
    and ticker event while the indicators change once per bar.
    """

    __slots__ = (
        "_adx",
        "_atr",
        "_atr_median",
        "_bands",
        "_ema_fast",
        "_ema_slow",
        "_momentum",
        "_thresholds",
        "_volume",
        "adx",
        "atr",
        "atr_median",
        "bb_lower",
        "bb_middle",
        "bb_upper",
        "ema_fast",
        "ema_slow",
        "high",
        "interval_ms",
        "last_open_ts",
        "low",
        "minus_di",
        "momentum",
        "plus_di",
        "regime",
        "volume_spike",
        "warm",
    )

    def __init__(self, interval_ms: int, s: FeatureSettings) -> None:
        self.interval_ms = interval_ms
        self._ema_fast = Ema(s.ema_fast)
        self._ema_slow = Ema(s.ema_slow)
        self._atr = Atr(s.atr_period)
        self._adx = Adx(s.adx_period)
        self._bands = Bollinger(s.bb_period, s.bb_std)
        self._atr_median = RollingMedian(s.atr_median_window)
        self._momentum = Momentum(s.momentum_period)
        self._volume = VolumeSpike(s.volume_period)
        self._thresholds = s.regime
        self.ema_fast = self.ema_slow = self.atr = self.adx = self.plus_di = self.minus_di = NAN
        self.bb_upper = self.bb_middle = self.bb_lower = self.atr_median = self.momentum = NAN
        self.volume_spike = self.high = self.low = NAN
        self.regime = Regime.UNKNOWN
        self.warm = False
        self.last_open_ts: int | None = None

    def update(self, bar: BarClosed) -> None:
        high, low, close = bar.high, bar.low, bar.close
        self.ema_fast = _or_nan(self._ema_fast.update(close))
        self.ema_slow = _or_nan(self._ema_slow.update(close))
        atr = self._atr.update(high, low, close)
        self.atr = _or_nan(atr)
        adx = self._adx
        self.adx = _or_nan(adx.update(high, low, close))
        self.plus_di = _or_nan(adx.plus_di)
        self.minus_di = _or_nan(adx.minus_di)
        bands = self._bands.update(close)
        if bands is not None:
            self.bb_upper, self.bb_middle, self.bb_lower = bands
        if atr is not None:
            self.atr_median = _or_nan(self._atr_median.update(atr))
        change = self._momentum.update(close)
        # The rate of change as a fraction: comparable across a 90,000 and a 0.1 USDT coin.
        self.momentum = NAN if change is None or close == change else change / (close - change)
        self.volume_spike = _or_nan(self._volume.update(bar.volume))
        self.high, self.low = high, low
        self.warm = self._ema_fast.ready and self._ema_slow.ready and atr is not None
        self.regime = classify(self.adx, self.atr, self.atr_median, self._thresholds)
        self.last_open_ts = bar.open_ts


class FeatureEngine:
    """Indicators of one symbol on each of its timeframes (``intervals_ms[0]`` is the primary),
    plus its latest quote, spread, depth and book imbalance.

    Unknown values are NaN (no quote yet, indicators not warm) rather than 0.0, so that nothing
    downstream can mistake them for a price; ``warm`` says when the EMAs and ATR can be trusted.
    ``depth_usdt`` is 0.0 until a book arrives: a ticker says nothing about liquidity.
    """

    __slots__ = (
        "_ask",
        "_bid",
        "_depth_usdt",
        "_frames",
        "_has_book",
        "_imbalance",
        "_last",
        "_primary",
        "_spread_bps",
        "regime_change",
        "symbol",
    )

    def __init__(self, symbol: str, settings: FeatureSettings, intervals_ms: Sequence[int] = (60_000,)) -> None:
        if not intervals_ms:
            raise ValueError("a symbol needs at least one timeframe")
        self.symbol = symbol
        self._frames = {interval: BarIndicators(interval, settings) for interval in intervals_ms}
        self._primary = self._frames[intervals_ms[0]]
        self._has_book = False
        self._last = self._bid = self._ask = self._spread_bps = self._imbalance = NAN
        self._depth_usdt = 0.0
        self.regime_change: tuple[str, str] | None = None
        """(old, new) regime of the primary timeframe if the newest live bar changed it."""

    @property
    def warm(self) -> bool:
        return self._primary.warm

    @property
    def regime(self) -> str:
        return self._primary.regime

    def frame(self, interval_ms: int) -> BarIndicators:
        """The indicators of one timeframe; ValueError for a timeframe this symbol does not run."""
        try:
            return self._frames[interval_ms]
        except KeyError:
            raise ValueError(f"{self.symbol} has no {interval_ms} ms timeframe (has {sorted(self._frames)})") from None

    def backfill(self, bars: Iterable[BarClosed]) -> None:
        """Warm the indicators from history, oldest first, without emitting anything.

        Bars at or before the newest bar already applied (per timeframe) are skipped, so a
        backfill that overlaps what the engine has seen (a restart, a retried request) never
        counts a bar twice. A backfill sets the regime without reporting a change.
        """
        for bar in bars:
            if self.is_new(bar):
                frame = self.frame(bar.interval_ms)
                frame.update(bar)
                if frame is self._primary:
                    self._last = bar.close

    def is_new(self, bar: BarClosed) -> bool:
        """Whether ``bar`` is later than every bar of its timeframe applied so far: a live bar that
        repeats one the backfill already brought must not be counted twice."""
        last = self.frame(bar.interval_ms).last_open_ts
        return last is None or bar.open_ts > last

    def on_bar(self, bar: BarClosed) -> FeaturesUpdated:
        """Update the bar's timeframe; on the primary one ``last`` becomes the bar's close."""
        frame = self.frame(bar.interval_ms)
        before = frame.regime
        frame.update(bar)
        self.regime_change = None
        if frame is self._primary:
            self._last = bar.close
            if frame.regime != before:
                self.regime_change = (before, frame.regime)
        return self._snapshot(frame, bar.ts, bar.recv_ns, True, bar.close)

    def on_book(self, b: BookUpdated) -> FeaturesUpdated:
        """Refresh quote, spread, depth and imbalance from a book whose levels are sorted best first.

        A one-sided or empty book leaves the previous quote in place: it carries no mid price to
        measure the spread or the depth band from.
        """
        bids, asks = b.bids, b.asks
        if bids and asks:
            bid = bids[0][0]
            ask = asks[0][0]
            mid = (bid + ask) * 0.5
            bid_depth = depth_within(bids, mid)
            ask_depth = depth_within(asks, mid)
            depth = bid_depth + ask_depth
            self._has_book = True
            self._set_quote(bid, ask)
            self._depth_usdt = depth
            self._imbalance = (bid_depth - ask_depth) / depth if depth > 0.0 else NAN
        return self._snapshot(self._primary, b.ts, b.recv_ns, False, self._last)

    def on_ticker(self, t: TickerUpdated) -> FeaturesUpdated:
        """Take the last price; the ticker's bid/ask only until a book, which is more detailed."""
        self._last = t.last
        if not self._has_book:
            self._set_quote(t.bid, t.ask)
        return self._snapshot(self._primary, t.ts, t.recv_ns, False, t.last)

    def _set_quote(self, bid: float, ask: float) -> None:
        self._bid = bid
        self._ask = ask
        mid = (bid + ask) * 0.5
        self._spread_bps = (ask - bid) / mid * 1e4 if mid > 0.0 else NAN

    def _snapshot(self, f: BarIndicators, ts: int, recv_ns: int, bar_closed: bool, last: float) -> FeaturesUpdated:
        return FeaturesUpdated(
            self.symbol,
            ts,
            last,
            self._bid,
            self._ask,
            self._spread_bps,
            self._depth_usdt,
            f.ema_fast,
            f.ema_slow,
            f.atr,
            f.warm,
            bar_closed,
            recv_ns,
            f.interval_ms,
            f.high,
            f.low,
            f.adx,
            f.plus_di,
            f.minus_di,
            f.bb_upper,
            f.bb_middle,
            f.bb_lower,
            f.atr_median,
            f.momentum,
            f.volume_spike,
            self._imbalance,
            f.regime,
        )
