"""FeatureEngine: indicators on closed bars, quote/spread/depth from books and tickers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.core.features import FeatureEngine
from engine.core.indicators import atr, ema
from engine.messages import BarClosed, BookUpdated, TickerUpdated

SYM = "ETHUSDT"
MIN = 60_000


def make_bars(closes: list[float]) -> list[BarClosed]:
    return [BarClosed(SYM, MIN, i * MIN, c, c + 1.0, c - 1.0, c, 10.0, recv_ns=i) for i, c in enumerate(closes)]


# mid 100, best bid/ask 5 bps away, second levels 8 bps away, third levels 50 bps away.
BOOK = BookUpdated(
    SYM,
    ts=123_000,
    bids=((99.95, 2.0), (99.92, 4.0), (99.5, 100.0)),
    asks=((100.05, 2.0), (100.08, 4.0), (100.5, 100.0)),
    recv_ns=999,
)


def test_book_gives_bid_ask_and_spread_in_bps_of_mid() -> None:
    f = FeatureEngine(SYM).on_book(BOOK)
    assert (f.bid, f.ask) == (99.95, 100.05)
    assert f.spread_bps == pytest.approx(10.0)  # 0.10 / 100 * 1e4
    assert (f.ts, f.recv_ns, f.bar_closed) == (123_000, 999, False)


def test_depth_counts_notional_on_both_sides_within_10_bps_of_mid_only() -> None:
    f = FeatureEngine(SYM).on_book(BOOK)
    # 99.95*2 + 99.92*4 + 100.05*2 + 100.08*4; the levels 50 bps away are left out.
    assert f.depth_usdt == pytest.approx(1200.0)


def test_a_wide_book_has_no_depth_within_the_band() -> None:
    book = BookUpdated(SYM, 1, bids=((99.0, 1.0),), asks=((101.0, 1.0),))
    f = FeatureEngine(SYM).on_book(book)  # best levels 100 bps from mid, band is 10 bps
    assert f.depth_usdt == 0.0
    assert f.spread_bps == pytest.approx(200.0)


def test_one_sided_book_keeps_the_previous_quote() -> None:
    fe = FeatureEngine(SYM)
    fe.on_book(BOOK)
    f = fe.on_book(BookUpdated(SYM, 124_000, bids=((99.0, 1.0),), asks=()))
    assert (f.bid, f.ask) == (99.95, 100.05)
    assert f.depth_usdt == pytest.approx(1200.0)


def test_ticker_sets_last_and_its_quote_only_until_a_book_arrives() -> None:
    fe = FeatureEngine(SYM)
    f = fe.on_ticker(TickerUpdated(SYM, 1_000, 100.0, 99.0, 101.0, 1e9, 0.0001, recv_ns=5))
    assert (f.last, f.bid, f.ask, f.recv_ns) == (100.0, 99.0, 101.0, 5)
    assert f.spread_bps == pytest.approx(200.0)
    assert f.depth_usdt == 0.0
    fe.on_book(BOOK)
    f = fe.on_ticker(TickerUpdated(SYM, 2_000, 100.01, 98.0, 102.0, 1e9, 0.0001))
    assert (f.last, f.bid, f.ask) == (100.01, 99.95, 100.05)


def test_before_any_data_prices_and_indicators_are_nan_and_not_warm() -> None:
    f = FeatureEngine(SYM).on_book(BookUpdated(SYM, 1, bids=(), asks=()))
    assert all(math.isnan(x) for x in (f.last, f.bid, f.ask, f.spread_bps, f.ema_fast, f.atr))
    assert not f.warm


def test_bar_updates_indicators_exactly_as_the_batch_functions() -> None:
    closes = [100.0 + 3.0 * math.sin(i / 4.0) for i in range(40)]
    bars = make_bars(closes)
    fe = FeatureEngine(SYM, ema_fast=3, ema_slow=5, atr_period=4)
    out = [fe.on_bar(b) for b in bars]
    c = np.array(closes)
    assert out[-1].ema_fast == ema(c, 3)[-1]
    assert out[-1].ema_slow == ema(c, 5)[-1]
    assert out[-1].atr == atr(c + 1.0, c - 1.0, c, 4)[-1]
    last = out[-1]
    assert (last.ts, last.recv_ns, last.last, last.bar_closed) == (40 * MIN, 39, closes[-1], True)


def test_warm_only_once_both_emas_and_atr_are_ready() -> None:
    fe = FeatureEngine(SYM, ema_fast=3, ema_slow=5, atr_period=4)
    warm = [fe.on_bar(b).warm for b in make_bars([100.0] * 7)]
    # slow EMA ready at index 4, ATR at index 4 (first TR is on bar 1)
    assert warm == [False, False, False, False, True, True, True]
    assert fe.warm


def test_backfill_warms_the_indicators_to_the_same_values_as_live_bars() -> None:
    bars = make_bars([100.0 + i % 7 for i in range(30)])
    live = FeatureEngine(SYM)
    for b in bars:
        expected = live.on_bar(b)
    filled = FeatureEngine(SYM)
    filled.backfill(bars[:20])
    filled.backfill(bars[10:])  # overlapping history is not counted twice
    assert filled.warm
    f = filled.on_book(BOOK)
    assert (f.ema_fast, f.ema_slow, f.atr, f.last) == (
        expected.ema_fast,
        expected.ema_slow,
        expected.atr,
        expected.last,
    )
