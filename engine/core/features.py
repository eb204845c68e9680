"""One symbol's indicator and order-book state, updated in O(1) per event.

Indicators move only on closed bars, so a strategy's inputs are the same live, in replay and in a
backtest that only has bars; books and tickers refresh the quote and liquidity view in between.
Every update returns a full :class:`FeaturesUpdated` snapshot so that Signal never needs a second
source, and conflating them (keeping the newest) loses nothing but bar closes, which are flagged.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from engine.core.indicators import Atr, Ema
from engine.messages import BarClosed, BookUpdated, FeaturesUpdated, TickerUpdated

DEPTH_BAND_BPS = 10.0
"""Liquidity counted by ``depth_usdt``: what a market order can take without moving far."""


def _or_nan(value: float | None) -> float:
    return math.nan if value is None else value


class FeatureEngine:
    """Holds the fast/slow EMAs and ATR of the closes, plus the latest quote of one symbol.

    Unknown values are NaN (no quote yet, indicators not warm) rather than 0.0, so that nothing
    downstream can mistake them for a price; ``warm`` says when the indicators can be trusted.
    ``depth_usdt`` is 0.0 until a book arrives: a ticker says nothing about liquidity.
    """

    __slots__ = (
        "_ask",
        "_atr",
        "_atr_value",
        "_bid",
        "_depth_usdt",
        "_ema_fast",
        "_ema_slow",
        "_fast",
        "_has_book",
        "_last",
        "_last_bar_open_ts",
        "_slow",
        "_spread_bps",
        "_warm",
        "symbol",
    )

    def __init__(self, symbol: str, ema_fast: int = 9, ema_slow: int = 21, atr_period: int = 14) -> None:
        self.symbol = symbol
        self._fast = Ema(ema_fast)
        self._slow = Ema(ema_slow)
        self._atr = Atr(atr_period)
        # Plain-float copies of the indicator values: snapshots are built on every book and
        # ticker event, indicators change only once per bar.
        self._ema_fast = self._ema_slow = self._atr_value = math.nan
        self._warm = False
        self._last_bar_open_ts: int | None = None
        self._has_book = False
        self._last = self._bid = self._ask = self._spread_bps = math.nan
        self._depth_usdt = 0.0

    @property
    def warm(self) -> bool:
        return self._warm

    def backfill(self, bars: Iterable[BarClosed]) -> None:
        """Warm the indicators from history, oldest first, without emitting anything.

        Bars at or before the newest bar already applied are skipped, so a backfill that
        overlaps what the engine has seen (a restart, a retried request) never counts a bar twice.
        """
        for bar in bars:
            if self._last_bar_open_ts is None or bar.open_ts > self._last_bar_open_ts:
                self._apply_bar(bar)

    def on_bar(self, bar: BarClosed) -> FeaturesUpdated:
        """Update the indicators; ``last`` becomes the bar's close, the price strategies act on."""
        self._apply_bar(bar)
        return self._snapshot(bar.ts, bar.recv_ns, True)

    def on_book(self, b: BookUpdated) -> FeaturesUpdated:
        """Refresh quote, spread and depth from a book whose levels are sorted best first.

        A one-sided or empty book leaves the previous quote in place: it carries no mid price to
        measure the spread or the depth band from.
        """
        bids, asks = b.bids, b.asks
        if bids and asks:
            bid = bids[0][0]
            ask = asks[0][0]
            mid = (bid + ask) * 0.5
            band = mid * DEPTH_BAND_BPS * 1e-4
            depth = 0.0
            floor = mid - band
            for price, size in bids:
                if price < floor:
                    break
                depth += price * size
            ceiling = mid + band
            for price, size in asks:
                if price > ceiling:
                    break
                depth += price * size
            self._has_book = True
            self._set_quote(bid, ask)
            self._depth_usdt = depth
        return self._snapshot(b.ts, b.recv_ns, False)

    def on_ticker(self, t: TickerUpdated) -> FeaturesUpdated:
        """Take the last price; the ticker's bid/ask only until a book, which is more detailed."""
        self._last = t.last
        if not self._has_book:
            self._set_quote(t.bid, t.ask)
        return self._snapshot(t.ts, t.recv_ns, False)

    def _apply_bar(self, bar: BarClosed) -> None:
        close = bar.close
        self._ema_fast = _or_nan(self._fast.update(close))
        self._ema_slow = _or_nan(self._slow.update(close))
        self._atr_value = _or_nan(self._atr.update(bar.high, bar.low, close))
        self._warm = self._fast.ready and self._slow.ready and self._atr.ready
        self._last = close
        self._last_bar_open_ts = bar.open_ts

    def _set_quote(self, bid: float, ask: float) -> None:
        self._bid = bid
        self._ask = ask
        mid = (bid + ask) * 0.5
        self._spread_bps = (ask - bid) / mid * 1e4 if mid > 0.0 else math.nan

    def _snapshot(self, ts: int, recv_ns: int, bar_closed: bool) -> FeaturesUpdated:
        return FeaturesUpdated(
            symbol=self.symbol,
            ts=ts,
            last=self._last,
            bid=self._bid,
            ask=self._ask,
            spread_bps=self._spread_bps,
            depth_usdt=self._depth_usdt,
            ema_fast=self._ema_fast,
            ema_slow=self._ema_slow,
            atr=self._atr_value,
            warm=self._warm,
            bar_closed=bar_closed,
            recv_ns=recv_ns,
        )
