"""FeatureEngine: indicators per timeframe on closed bars, regime changes, quote/spread/depth/imbalance."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.features import FeatureEngine, FeatureSettings
from engine.core.indicators import adx, atr, bollinger, ema, momentum, rolling_median, volume_spike
from engine.core.regime import RegimeThresholds, classify
from engine.messages import BarClosed, BookUpdated, FeaturesUpdated, Regime, TickerUpdated

SYM = "ETHUSDT"
MIN = 60_000
FIVE_MIN = 300_000

# Short periods so that every indicator is warm within a few dozen bars.
SMALL = FeatureSettings(
    ema_fast=3,
    ema_slow=5,
    atr_period=4,
    adx_period=3,
    bb_period=5,
    bb_std=2.0,
    atr_median_window=6,
    momentum_period=4,
    volume_period=5,
)


def engine(settings: FeatureSettings | None = None, intervals: Sequence[int] = (MIN,)) -> FeatureEngine:
    return FeatureEngine(SYM, settings or FeatureSettings(), intervals)


def make_bars(closes: list[float], interval: int = MIN) -> list[BarClosed]:
    return [
        BarClosed(SYM, interval, i * interval, c, c + 1.0, c - 1.0, c, 10.0, recv_ns=i) for i, c in enumerate(closes)
    ]


def regime_bars(n: int = 160, seed: int = 3, interval: int = MIN) -> list[BarClosed]:
    """A trend, then a range, then a volatility burst, then a slow fall; volumes vary."""
    rng = np.random.default_rng(seed)
    closes = [100.0]
    for i in range(1, n):
        if i < 50:
            step = 0.6 + rng.normal(0.0, 0.3)
        elif i < 100:
            step = -0.4 * (closes[-1] - closes[49]) + rng.normal(0.0, 0.5)
        elif i < 115:
            step = rng.normal(0.0, 4.0)
        else:
            step = -0.5 + rng.normal(0.0, 0.3)
        closes.append(closes[-1] + step)
    bars = []
    for i, c in enumerate(closes):
        half_range = 0.5 + (3.0 if 100 <= i < 115 else 0.0) + float(rng.random())
        open_ = closes[i - 1] if i else c
        high = max(open_, c) + half_range
        low = min(open_, c) - half_range
        bars.append(BarClosed(SYM, interval, i * interval, open_, high, low, c, 10.0 + 5.0 * float(rng.random()), i))
    return bars


def same(a: float, b: float) -> bool:
    """Equal, or both NaN."""
    return (math.isnan(a) and math.isnan(b)) or a == b


def expected_series(bars: Sequence[BarClosed], s: FeatureSettings) -> dict[str, list[float]]:
    """Every indicator of a FeatureEngine frame computed by the batch functions over ``bars``."""
    h = np.array([b.high for b in bars])
    lo = np.array([b.low for b in bars])
    c = np.array([b.close for b in bars])
    v = np.array([b.volume for b in bars])
    a = atr(h, lo, c, s.atr_period)
    # the ATR median runs over the ATR values only, from the first one on
    median = np.full(len(bars), np.nan)
    first = s.atr_period
    if len(bars) > first:
        median[first:] = rolling_median(a[first:], s.atr_median_window)
    mom = momentum(c, s.momentum_period)
    with np.errstate(invalid="ignore", divide="ignore"):
        roc = mom / (c - mom)
    adx_series = adx(h, lo, c, s.adx_period)
    bands = bollinger(c, s.bb_period, s.bb_std)
    out = {
        "ema_fast": ema(c, s.ema_fast),
        "ema_slow": ema(c, s.ema_slow),
        "atr": a,
        "adx": adx_series.adx,
        "plus_di": adx_series.plus_di,
        "minus_di": adx_series.minus_di,
        "bb_upper": bands.upper,
        "bb_middle": bands.middle,
        "bb_lower": bands.lower,
        "atr_median": median,
        "momentum": roc,
        "volume_spike": volume_spike(v, s.volume_period),
    }
    series = {name: [float(x) for x in values] for name, values in out.items()}
    series["regime"] = [
        classify(x, y, z, s.regime) for x, y, z in zip(series["adx"], series["atr"], series["atr_median"], strict=True)
    ]
    return series


INDICATORS = (
    "ema_fast", "ema_slow", "atr", "adx", "plus_di", "minus_di", "bb_upper", "bb_middle", "bb_lower",
    "atr_median", "momentum", "volume_spike",
)  # fmt: skip


def assert_matches_batch(out: Sequence[FeaturesUpdated], bars: Sequence[BarClosed], s: FeatureSettings) -> None:
    expected = expected_series(bars, s)
    for i, f in enumerate(out):
        for name in INDICATORS:
            assert same(getattr(f, name), expected[name][i]), (i, name, getattr(f, name), expected[name][i])
        assert f.regime == expected["regime"][i], i
        assert (f.high, f.low) == (bars[i].high, bars[i].low)


# mid 100, best bid/ask 5 bps away, second levels 8 bps away, third levels 50 bps away.
BOOK = BookUpdated(
    SYM,
    ts=123_000,
    bids=((99.95, 2.0), (99.92, 4.0), (99.5, 100.0)),
    asks=((100.05, 2.0), (100.08, 4.0), (100.5, 100.0)),
    recv_ns=999,
)


# --- construction -------------------------------------------------------------------------------


def test_a_symbol_needs_at_least_one_timeframe() -> None:
    with pytest.raises(ValueError, match="at least one timeframe"):
        FeatureEngine(SYM, FeatureSettings(), ())


def test_the_default_timeframe_is_one_minute() -> None:
    fe = FeatureEngine(SYM, FeatureSettings())
    assert fe.frame(MIN).interval_ms == MIN


def test_frame_of_an_unknown_timeframe_is_a_value_error_naming_the_known_ones() -> None:
    fe = engine(intervals=(MIN, FIVE_MIN))
    with pytest.raises(ValueError, match=r"ETHUSDT has no 900000 ms timeframe \(has \[60000, 300000\]\)"):
        fe.frame(900_000)


def test_a_new_engine_is_not_warm_and_its_regime_unknown() -> None:
    fe = engine()
    assert not fe.warm
    assert fe.regime == Regime.UNKNOWN
    assert fe.regime_change is None


# --- books and tickers --------------------------------------------------------------------------


def test_book_gives_bid_ask_and_spread_in_bps_of_mid() -> None:
    f = engine().on_book(BOOK)
    assert (f.bid, f.ask) == (99.95, 100.05)
    assert f.spread_bps == pytest.approx(10.0)  # 0.10 / 100 * 1e4
    assert (f.ts, f.recv_ns, f.bar_closed, f.interval_ms) == (123_000, 999, False, MIN)


def test_depth_counts_notional_on_both_sides_within_10_bps_of_mid_only() -> None:
    f = engine().on_book(BOOK)
    # 99.95*2 + 99.92*4 + 100.05*2 + 100.08*4; the levels 50 bps away are left out.
    assert f.depth_usdt == pytest.approx(1200.0)


def test_a_wide_book_has_no_depth_within_the_band_and_no_imbalance() -> None:
    book = BookUpdated(SYM, 1, bids=((99.0, 1.0),), asks=((101.0, 1.0),))
    f = engine().on_book(book)  # best levels 100 bps from mid, band is 10 bps
    assert f.depth_usdt == 0.0
    assert f.spread_bps == pytest.approx(200.0)
    assert math.isnan(f.imbalance)


def test_one_sided_book_keeps_the_previous_quote() -> None:
    fe = engine()
    fe.on_book(BOOK)
    f = fe.on_book(BookUpdated(SYM, 124_000, bids=((99.0, 1.0),), asks=()))
    assert (f.bid, f.ask) == (99.95, 100.05)
    assert f.depth_usdt == pytest.approx(1200.0)
    assert f.imbalance == pytest.approx((599.58 - 600.42) / 1200.0)


def test_ticker_sets_last_and_its_quote_only_until_a_book_arrives() -> None:
    fe = engine()
    f = fe.on_ticker(TickerUpdated(SYM, 1_000, 100.0, 99.0, 101.0, 1e9, 0.0001, recv_ns=5))
    assert (f.last, f.bid, f.ask, f.recv_ns) == (100.0, 99.0, 101.0, 5)
    assert f.spread_bps == pytest.approx(200.0)
    assert f.depth_usdt == 0.0
    assert math.isnan(f.imbalance)
    fe.on_book(BOOK)
    f = fe.on_ticker(TickerUpdated(SYM, 2_000, 100.01, 98.0, 102.0, 1e9, 0.0001))
    assert (f.last, f.bid, f.ask) == (100.01, 99.95, 100.05)


def test_before_any_data_prices_and_indicators_are_nan_and_not_warm() -> None:
    f = engine().on_book(BookUpdated(SYM, 1, bids=(), asks=()))
    values = (f.last, f.bid, f.ask, f.spread_bps, f.imbalance, f.high, f.low)
    assert all(math.isnan(x) for x in values + tuple(getattr(f, name) for name in INDICATORS))
    assert not f.warm
    assert f.regime == Regime.UNKNOWN


# --- book imbalance -----------------------------------------------------------------------------

# mid 100 (band 99.9 .. 100.1): inside it 300 USDT of bids against 100 of asks, beyond it a wall of
# asks that must not count.
BID_HEAVY = BookUpdated(
    SYM,
    ts=5_000,
    bids=((99.99, 2.0), (99.95, 1.0), (99.5, 1_000.0)),
    asks=((100.01, 1.0), (100.3, 1_000.0)),
)


def test_more_bids_than_asks_within_the_band_is_a_positive_imbalance() -> None:
    f = engine().on_book(BID_HEAVY)
    bid_depth = 99.99 * 2.0 + 99.95 * 1.0
    ask_depth = 100.01 * 1.0
    assert f.depth_usdt == pytest.approx(bid_depth + ask_depth)
    assert f.imbalance == pytest.approx((bid_depth - ask_depth) / (bid_depth + ask_depth))
    assert f.imbalance == pytest.approx(0.5, abs=2e-4)


def test_more_asks_than_bids_within_the_band_is_a_negative_imbalance() -> None:
    mirrored = BookUpdated(
        SYM,
        ts=5_000,
        bids=((99.99, 1.0), (99.7, 1_000.0)),
        asks=((100.01, 2.0), (100.05, 1.0), (100.5, 1_000.0)),
    )
    f = engine().on_book(mirrored)
    bid_depth = 99.99
    ask_depth = 100.01 * 2.0 + 100.05
    assert f.imbalance == pytest.approx((bid_depth - ask_depth) / (bid_depth + ask_depth))
    assert f.imbalance < 0.0


def test_a_book_with_nothing_on_the_ask_side_of_the_band_has_imbalance_one() -> None:
    book = BookUpdated(SYM, 1, bids=((99.99, 3.0), (99.95, 1.0)), asks=((100.01, 0.0), (100.5, 5.0)))
    assert engine().on_book(book).imbalance == 1.0


def test_an_even_book_has_zero_imbalance() -> None:
    book = BookUpdated(SYM, 1, bids=((99.99, 2.0),), asks=((100.01, 2.0),))
    f = engine().on_book(book)
    assert f.imbalance == pytest.approx((99.99 - 100.01) * 2.0 / ((99.99 + 100.01) * 2.0))
    assert abs(f.imbalance) < 1e-3


_levels = st.lists(
    st.tuples(st.floats(min_value=0.0, max_value=0.003), st.floats(min_value=0.0, max_value=100.0)),
    min_size=1,
    max_size=5,
)


@given(bid_levels=_levels, ask_levels=_levels)
def test_the_imbalance_is_the_depth_difference_over_the_depth_within_the_band(
    bid_levels: list[tuple[float, float]], ask_levels: list[tuple[float, float]]
) -> None:
    # levels given as (fractional distance from 100, size), sorted best first
    bids = tuple((100.0 * (1.0 - d), size) for d, size in sorted(bid_levels))
    asks = tuple((100.0 * (1.0 + d), size) for d, size in sorted(ask_levels))
    f = engine().on_book(BookUpdated(SYM, 1, bids, asks))
    mid = (bids[0][0] + asks[0][0]) * 0.5
    band = mid * 10.0 * 1e-4
    bid_depth = ask_depth = 0.0
    for price, size in bids:
        if price < mid - band:
            break
        bid_depth += price * size
    for price, size in asks:
        if price > mid + band:
            break
        ask_depth += price * size
    assert f.depth_usdt == pytest.approx(bid_depth + ask_depth)
    if bid_depth + ask_depth > 0.0:
        assert -1.0 <= f.imbalance <= 1.0
        assert f.imbalance == pytest.approx((bid_depth - ask_depth) / (bid_depth + ask_depth))
    else:
        assert math.isnan(f.imbalance)


def test_the_imbalance_is_carried_by_later_bar_and_ticker_snapshots() -> None:
    fe = engine(SMALL)
    expected = fe.on_book(BID_HEAVY).imbalance
    assert fe.on_ticker(TickerUpdated(SYM, 6_000, 100.0, 99.0, 101.0, 1e9, 0.0)).imbalance == expected
    assert fe.on_bar(make_bars([100.0])[0]).imbalance == expected


# --- indicators against the batch functions ---------------------------------------------------


def test_bar_updates_ema_and_atr_exactly_as_the_batch_functions() -> None:
    closes = [100.0 + 3.0 * math.sin(i / 4.0) for i in range(40)]
    bars = make_bars(closes)
    fe = engine(FeatureSettings(ema_fast=3, ema_slow=5, atr_period=4))
    out = [fe.on_bar(b) for b in bars]
    c = np.array(closes)
    assert out[-1].ema_fast == ema(c, 3)[-1]
    assert out[-1].ema_slow == ema(c, 5)[-1]
    assert out[-1].atr == atr(c + 1.0, c - 1.0, c, 4)[-1]
    last = out[-1]
    assert (last.ts, last.recv_ns, last.last, last.bar_closed) == (40 * MIN, 39, closes[-1], True)


def test_every_indicator_of_every_bar_equals_the_batch_functions() -> None:
    bars = regime_bars()
    fe = engine(SMALL)
    out = [fe.on_bar(b) for b in bars]
    assert_matches_batch(out, bars, SMALL)
    assert out[-1].warm
    assert all(math.isfinite(getattr(out[-1], name)) for name in INDICATORS)


def test_the_default_settings_match_the_batch_functions_too() -> None:
    bars = regime_bars(n=260, seed=11)
    fe = engine()
    out = [fe.on_bar(b) for b in bars]
    assert_matches_batch(out, bars, FeatureSettings())
    assert math.isfinite(out[-1].atr_median)  # 14 bars of ATR warm-up + a 100-bar median


def test_momentum_is_the_rate_of_change_as_a_fraction() -> None:
    closes = [100.0, 101.0, 102.0, 103.0, 110.0, 99.0]
    fe = engine(FeatureSettings(momentum_period=4))
    out = [fe.on_bar(b) for b in make_bars(closes)]
    assert all(math.isnan(f.momentum) for f in out[:4])
    assert out[4].momentum == pytest.approx(0.10)  # 110 / 100 - 1
    assert out[5].momentum == pytest.approx(99.0 / 101.0 - 1.0)


def test_volume_spike_is_the_bar_volume_over_the_mean_of_the_bars_before() -> None:
    volumes = [10.0, 20.0, 30.0, 90.0, 5.0]
    bars = [BarClosed(SYM, MIN, i * MIN, 100.0, 101.0, 99.0, 100.0, v) for i, v in enumerate(volumes)]
    fe = engine(FeatureSettings(volume_period=3))
    out = [fe.on_bar(b).volume_spike for b in bars]
    assert all(math.isnan(x) for x in out[:3])
    assert out[3] == pytest.approx(90.0 / 20.0)
    assert out[4] == pytest.approx(5.0 / 140.0 * 3.0)


_bar_rows = st.lists(
    st.tuples(
        st.floats(min_value=50.0, max_value=150.0),  # close
        st.floats(min_value=0.0, max_value=5.0),  # distance of the high above the close
        st.floats(min_value=0.0, max_value=5.0),  # distance of the low below the close
        st.floats(min_value=0.0, max_value=1_000.0),  # volume
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows=_bar_rows)
def test_any_bars_give_the_batch_values(rows: list[tuple[float, float, float, float]]) -> None:
    bars = [BarClosed(SYM, MIN, i * MIN, c, c + up, c - down, c, v) for i, (c, up, down, v) in enumerate(rows)]
    fe = engine(SMALL)
    assert_matches_batch([fe.on_bar(b) for b in bars], bars, SMALL)


def test_warm_only_once_both_emas_and_atr_are_ready() -> None:
    fe = engine(FeatureSettings(ema_fast=3, ema_slow=5, atr_period=4))
    warm = [fe.on_bar(b).warm for b in make_bars([100.0] * 7)]
    # slow EMA ready at index 4, ATR at index 4 (first TR is on bar 1)
    assert warm == [False, False, False, False, True, True, True]
    assert fe.warm


def test_regime_thresholds_come_from_the_settings() -> None:
    bars = regime_bars()
    strict = FeatureSettings(
        ema_fast=3, ema_slow=5, atr_period=4, adx_period=3, bb_period=5, atr_median_window=6,
        momentum_period=4, volume_period=5, regime=RegimeThresholds(adx_trend=60.0, high_vol_ratio=1.2),
    )  # fmt: skip
    fe = engine(strict)
    out = [fe.on_bar(b) for b in bars]
    assert_matches_batch(out, bars, strict)
    assert [f.regime for f in out] != expected_series(bars, SMALL)["regime"]


# --- backfill -----------------------------------------------------------------------------------


def test_backfill_warms_the_indicators_to_the_same_values_as_live_bars() -> None:
    bars = make_bars([100.0 + i % 7 for i in range(30)])
    live = engine()
    for b in bars:
        expected = live.on_bar(b)
    filled = engine()
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


def test_backfill_then_live_bars_match_the_batch_functions() -> None:
    bars = regime_bars()
    fe = engine(SMALL)
    fe.backfill(bars[:80])
    fe.backfill(bars[40:90])  # overlap
    out = [fe.on_bar(b) for b in bars[90:]]
    expected = expected_series(bars, SMALL)
    for j, f in enumerate(out):
        for name in INDICATORS:
            assert same(getattr(f, name), expected[name][90 + j]), (j, name)


def test_a_live_bar_the_backfill_already_brought_is_not_new() -> None:
    bars = make_bars([100.0 + i % 7 for i in range(30)])
    fe = engine()
    fe.backfill(bars[:20])
    assert not fe.is_new(bars[19])
    assert not fe.is_new(bars[5])
    assert fe.is_new(bars[20])


def test_backfill_emits_nothing_and_reports_no_regime_change() -> None:
    bars = regime_bars()
    regimes = expected_series(bars, SMALL)["regime"]
    changes = [i for i in range(1, len(bars)) if regimes[i] != regimes[i - 1]]
    assert len(changes) >= 5  # the data does change regime, repeatedly
    fe = engine(SMALL)
    for i in range(len(bars)):
        fe.backfill(bars[i : i + 1])
        assert fe.regime_change is None
    assert fe.regime == regimes[-1]


# --- regime changes -----------------------------------------------------------------------------


def test_regime_change_is_set_exactly_on_the_live_bars_that_change_the_regime() -> None:
    bars = regime_bars()
    regimes = expected_series(bars, SMALL)["regime"]
    fe = engine(SMALL)
    seen = set()
    for i, b in enumerate(bars):
        fe.on_bar(b)
        before = regimes[i - 1] if i else Regime.UNKNOWN
        expected = (before, regimes[i]) if regimes[i] != before else None
        assert fe.regime_change == expected, i
        assert fe.regime == regimes[i]
        if expected is not None:
            seen.add(expected[1])
    assert seen == {Regime.TRENDING, Regime.RANGING, Regime.HIGH_VOLATILITY}


def test_the_first_live_bar_after_a_backfill_reports_a_change_only_against_the_backfilled_regime() -> None:
    bars = regime_bars()
    regimes = expected_series(bars, SMALL)["regime"]
    # a backfill that ends just before a change, and one that ends in the middle of a steady regime
    change = next(i for i in range(60, len(bars)) if regimes[i] != regimes[i - 1])
    steady = next(i for i in range(30, len(bars)) if regimes[i] == regimes[i - 1] != Regime.UNKNOWN)
    for end, expected in ((change, (regimes[change - 1], regimes[change])), (steady, None)):
        fe = engine(SMALL)
        fe.backfill(bars[:end])
        assert fe.regime_change is None
        fe.on_bar(bars[end])
        assert fe.regime_change == expected


def test_a_bar_of_a_secondary_timeframe_never_reports_a_regime_change() -> None:
    primary = regime_bars(interval=MIN)
    secondary = regime_bars(interval=FIVE_MIN)
    fe = engine(SMALL, (MIN, FIVE_MIN))
    secondary_regimes = []
    for b in secondary:
        f = fe.on_bar(b)
        secondary_regimes.append(f.regime)
        assert fe.regime_change is None
    assert len(set(secondary_regimes)) >= 3  # its own regime did change
    assert fe.regime == Regime.UNKNOWN  # the primary has seen nothing
    fe.on_bar(primary[0])
    assert fe.regime_change is None  # UNKNOWN -> UNKNOWN


def test_a_secondary_bar_clears_a_change_reported_by_the_previous_primary_bar() -> None:
    bars = regime_bars()
    regimes = expected_series(bars, SMALL)["regime"]
    change = next(i for i in range(1, len(bars)) if regimes[i] != regimes[i - 1])
    fe = engine(SMALL, (MIN, FIVE_MIN))
    fe.backfill(bars[:change])
    fe.on_bar(bars[change])
    assert fe.regime_change is not None
    fe.on_bar(BarClosed(SYM, FIVE_MIN, 0, 100.0, 101.0, 99.0, 100.0, 1.0))
    assert fe.regime_change is None


# --- several timeframes ------------------------------------------------------------------------


def test_two_timeframes_keep_separate_indicators() -> None:
    one_min = regime_bars(n=120, seed=3, interval=MIN)
    five_min = regime_bars(n=60, seed=8, interval=FIVE_MIN)
    fe = engine(SMALL, (MIN, FIVE_MIN))
    out_1m, out_5m = [], []
    # interleave: five 1m bars per 5m bar, as they close
    for i, b in enumerate(one_min):
        out_1m.append(fe.on_bar(b))
        if i % 5 == 4 and i // 5 < len(five_min):
            out_5m.append(fe.on_bar(five_min[i // 5]))
    assert_matches_batch(out_1m, one_min, SMALL)
    assert_matches_batch(out_5m, five_min[: len(out_5m)], SMALL)
    assert all(f.interval_ms == MIN for f in out_1m)
    assert all(f.interval_ms == FIVE_MIN for f in out_5m)
    assert fe.frame(MIN).ema_fast == out_1m[-1].ema_fast != fe.frame(FIVE_MIN).ema_fast == out_5m[-1].ema_fast
    assert fe.frame(FIVE_MIN).last_open_ts == five_min[len(out_5m) - 1].open_ts


def test_books_and_tickers_carry_the_primary_timeframes_indicators() -> None:
    fe = engine(SMALL, (FIVE_MIN, MIN))  # the first interval is the primary one
    for b in regime_bars(n=40, seed=1, interval=MIN):
        fe.on_bar(b)
    for b in regime_bars(n=40, seed=2, interval=FIVE_MIN):
        last_primary = fe.on_bar(b)
    f = fe.on_book(BOOK)
    assert f.interval_ms == FIVE_MIN
    for name in INDICATORS:
        assert same(getattr(f, name), getattr(last_primary, name)), name
    assert f.regime == last_primary.regime == fe.regime
    assert fe.warm == last_primary.warm


def test_only_a_primary_bar_sets_last() -> None:
    fe = engine(SMALL, (MIN, FIVE_MIN))
    fe.on_bar(BarClosed(SYM, MIN, 0, 100.0, 101.0, 99.0, 100.0, 1.0))
    secondary = fe.on_bar(BarClosed(SYM, FIVE_MIN, 0, 200.0, 201.0, 199.0, 200.0, 1.0))
    assert secondary.last == 200.0  # the bar's own snapshot carries its close
    assert fe.on_book(BOOK).last == 100.0  # but the symbol's last price is the primary bar's


def test_the_warm_flag_and_regime_of_the_engine_are_the_primarys() -> None:
    fe = engine(SMALL, (MIN, FIVE_MIN))
    for b in regime_bars(n=60, seed=4, interval=FIVE_MIN):
        fe.on_bar(b)
    assert fe.frame(FIVE_MIN).warm
    assert not fe.warm
    assert fe.regime == Regime.UNKNOWN != fe.frame(FIVE_MIN).regime


def test_backfill_skips_overlap_per_timeframe() -> None:
    one_min = regime_bars(n=50, seed=3, interval=MIN)
    five_min = regime_bars(n=50, seed=8, interval=FIVE_MIN)
    mixed = [b for pair in zip(one_min, five_min, strict=True) for b in pair]
    fe = engine(SMALL, (MIN, FIVE_MIN))
    fe.backfill(mixed[:60])
    fe.backfill(mixed[20:])
    reference = engine(SMALL, (MIN, FIVE_MIN))
    for b in mixed:
        reference.on_bar(b)
    for interval in (MIN, FIVE_MIN):
        for name in INDICATORS:
            assert same(getattr(fe.frame(interval), name), getattr(reference.frame(interval), name))


def test_a_bar_of_an_unknown_interval_is_a_value_error() -> None:
    fe = engine(SMALL, (MIN, FIVE_MIN))
    bar = BarClosed(SYM, 900_000, 0, 100.0, 101.0, 99.0, 100.0, 1.0)
    with pytest.raises(ValueError, match="900000"):
        fe.on_bar(bar)
    with pytest.raises(ValueError, match="900000"):
        fe.backfill([bar])
    assert fe.frame(MIN).last_open_ts is None and fe.frame(FIVE_MIN).last_open_ts is None
