"""Higher-timeframe candles from 1m candles (``adapters.sim.feed.resample``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.sim.feed import MINUTE_MS, resample
from engine.messages import BarClosed

FIVE_MIN_MS = 5 * MINUTE_MS
FIFTEEN_MIN_MS = 15 * MINUTE_MS
T0 = 1_700_000_100_000
"""The start of a 5-minute (and 15-minute) bucket, in ms."""
assert T0 % FIVE_MIN_MS == 0
assert T0 % FIFTEEN_MIN_MS == 0


def minute_bar(
    minute: int, open_: float, high: float, low: float, close: float, volume: float, symbol: str = "BTCUSDT"
) -> BarClosed:
    return BarClosed(symbol, MINUTE_MS, T0 + minute * MINUTE_MS, open_, high, low, close, volume)


def flat_bars(minutes: range | list[int], symbol: str = "BTCUSDT") -> list[BarClosed]:
    return [minute_bar(m, 100.0 + m, 101.0 + m, 99.0 + m, 100.5 + m, 1.0 + m, symbol) for m in minutes]


# --- 1m passthrough --------------------------------------------------------------------------------


def test_one_minute_interval_returns_the_input_unchanged() -> None:
    bars = flat_bars(range(7))
    assert resample(bars, MINUTE_MS) == bars


def test_one_minute_interval_keeps_gaps_and_partial_runs() -> None:
    bars = flat_bars([0, 1, 3, 8])
    assert resample(bars, MINUTE_MS) == bars


def test_empty_input_gives_no_bars() -> None:
    assert resample([], FIVE_MIN_MS) == []
    assert resample([], MINUTE_MS) == []


# --- 5m buckets ------------------------------------------------------------------------------------


def test_five_one_minute_bars_make_one_five_minute_bar() -> None:
    bars = [
        minute_bar(0, 100.0, 102.0, 99.5, 101.0, 1.0),
        minute_bar(1, 101.0, 101.5, 98.0, 99.0, 2.0),
        minute_bar(2, 99.0, 105.0, 98.5, 104.0, 3.0),
        minute_bar(3, 104.0, 104.5, 97.0, 98.0, 4.0),
        minute_bar(4, 98.0, 100.0, 97.5, 99.5, 5.0),
    ]
    assert resample(bars, FIVE_MIN_MS) == [BarClosed("BTCUSDT", FIVE_MIN_MS, T0, 100.0, 105.0, 97.0, 99.5, 15.0)]


def test_resampled_bar_takes_the_open_of_the_first_minute() -> None:
    (bar,) = resample(flat_bars(range(5)), FIVE_MIN_MS)
    assert bar.open == 100.0


def test_resampled_bar_takes_the_highest_high() -> None:
    bars = flat_bars(range(5))
    bars[2] = minute_bar(2, 102.0, 250.0, 101.0, 102.5, 3.0)
    (bar,) = resample(bars, FIVE_MIN_MS)
    assert bar.high == 250.0


def test_resampled_bar_takes_the_lowest_low() -> None:
    bars = flat_bars(range(5))
    bars[3] = minute_bar(3, 103.0, 104.0, 10.0, 103.5, 4.0)
    (bar,) = resample(bars, FIVE_MIN_MS)
    assert bar.low == 10.0


def test_resampled_bar_takes_the_close_of_the_last_minute() -> None:
    (bar,) = resample(flat_bars(range(5)), FIVE_MIN_MS)
    assert bar.close == 104.5


def test_resampled_bar_sums_the_volumes() -> None:
    (bar,) = resample(flat_bars(range(5)), FIVE_MIN_MS)
    assert bar.volume == pytest.approx(1.0 + 2.0 + 3.0 + 4.0 + 5.0)


def test_resampled_bar_carries_symbol_and_interval_and_closes_at_the_bucket_end() -> None:
    (bar,) = resample(flat_bars(range(5), symbol="ETHUSDT"), FIVE_MIN_MS)
    assert bar.symbol == "ETHUSDT"
    assert bar.interval_ms == FIVE_MIN_MS
    assert bar.open_ts == T0
    assert bar.ts == T0 + FIVE_MIN_MS


def test_consecutive_buckets_come_out_oldest_first() -> None:
    out = resample(flat_bars(range(15)), FIVE_MIN_MS)
    assert [b.open_ts for b in out] == [T0, T0 + FIVE_MIN_MS, T0 + 2 * FIVE_MIN_MS]
    assert [b.open for b in out] == [100.0, 105.0, 110.0]
    assert [b.close for b in out] == [104.5, 109.5, 114.5]


def test_open_ts_is_aligned_to_the_interval_even_when_input_starts_mid_bucket() -> None:
    out = resample(flat_bars(range(2, 12)), FIVE_MIN_MS)  # minutes 2..11
    assert [b.open_ts for b in out] == [T0 + FIVE_MIN_MS]
    assert all(b.open_ts % FIVE_MIN_MS == 0 for b in out)
    assert out[0].open == 105.0


def test_fifteen_minute_bucket_from_fifteen_one_minute_bars() -> None:
    bars = flat_bars(range(15))
    assert resample(bars, FIFTEEN_MIN_MS) == [
        BarClosed("BTCUSDT", FIFTEEN_MIN_MS, T0, 100.0, 115.0, 99.0, 114.5, sum(1.0 + m for m in range(15)))
    ]


# --- Incomplete buckets ----------------------------------------------------------------------------


def test_leading_partial_bucket_is_dropped() -> None:
    out = resample(flat_bars(range(3, 10)), FIVE_MIN_MS)  # minutes 3,4 | 5..9
    assert [b.open_ts for b in out] == [T0 + FIVE_MIN_MS]


def test_trailing_partial_bucket_is_dropped() -> None:
    out = resample(flat_bars(range(9)), FIVE_MIN_MS)  # 0..4 | 5..8
    assert [b.open_ts for b in out] == [T0]


def test_bucket_with_a_missing_minute_in_the_middle_is_dropped() -> None:
    out = resample(flat_bars([0, 1, 3, 4, 5, 6, 7, 8, 9]), FIVE_MIN_MS)
    assert [b.open_ts for b in out] == [T0 + FIVE_MIN_MS]


def test_fewer_minutes_than_one_interval_give_nothing() -> None:
    assert resample(flat_bars(range(4)), FIVE_MIN_MS) == []


# --- Property: agrees with a reference over random gappy minute series -----------------------------


@st.composite
def gappy_minutes(draw: st.DrawFn) -> list[BarClosed]:
    present = draw(st.lists(st.booleans(), min_size=0, max_size=40))
    bars = []
    for minute, keep in enumerate(present):
        prices = draw(st.lists(st.floats(1.0, 1000.0), min_size=4, max_size=4))
        open_, close = prices[0], prices[1]
        high = max(prices)
        low = min(prices)
        volume = draw(st.floats(0.0, 100.0))
        if keep:
            bars.append(minute_bar(minute, open_, high, low, close, volume))
    return bars


@given(bars=gappy_minutes(), minutes_per_bar=st.sampled_from([2, 3, 5, 15]))
def test_resample_matches_a_reference_aggregation(bars: list[BarClosed], minutes_per_bar: int) -> None:
    interval = minutes_per_bar * MINUTE_MS
    out = resample(bars, interval)

    by_start: dict[int, list[BarClosed]] = {}
    for bar in bars:
        by_start.setdefault(bar.open_ts // interval * interval, []).append(bar)
    complete = {
        start: group
        for start, group in by_start.items()
        if [b.open_ts for b in group] == [start + i * MINUTE_MS for i in range(minutes_per_bar)]
    }

    assert [b.open_ts for b in out] == sorted(complete)
    for bar in out:
        group = complete[bar.open_ts]
        assert bar.interval_ms == interval
        assert bar.open == group[0].open
        assert bar.high == max(b.high for b in group)
        assert bar.low == min(b.low for b in group)
        assert bar.close == group[-1].close
        assert bar.volume == pytest.approx(sum(b.volume for b in group))
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
