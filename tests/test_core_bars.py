"""BarAggregator: bars close on event time, never half-finished, never double counted."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.bars import BarAggregator
from engine.messages import BarClosed, TradesReceived

MIN = 60_000
SYM = "BTCUSDT"


def trade(ts: int, price: float, volume: float = 1.0, recv_ns: int = 0) -> TradesReceived:
    return TradesReceived(SYM, ts, price, price, price, price, volume, 1, recv_ns)


def bar(open_ts: int, o: float, h: float, lo: float, c: float, v: float, recv_ns: int = 0) -> BarClosed:
    return BarClosed(SYM, MIN, open_ts, o, h, lo, c, v, recv_ns)


def test_trades_within_a_minute_make_one_bar_closed_by_the_first_trade_of_the_next() -> None:
    agg = BarAggregator(SYM, MIN)
    assert agg.on_trade(trade(1_000, 100.0, 1.0)) == []
    assert agg.on_trade(trade(20_000, 103.0, 2.0)) == []
    assert agg.on_trade(trade(40_000, 99.0, 0.5)) == []
    assert agg.on_trade(trade(59_999, 101.0, 1.5)) == []
    closed = agg.on_trade(trade(60_000, 102.0, 1.0, recv_ns=777))
    assert closed == [bar(0, 100.0, 103.0, 99.0, 101.0, 5.0, recv_ns=777)]
    assert closed[0].ts == MIN


def test_the_next_bar_starts_from_the_trade_that_closed_the_previous_one() -> None:
    agg = BarAggregator(SYM, MIN)
    agg.on_trade(trade(1_000, 100.0))
    agg.on_trade(trade(60_000, 102.0, 2.0))
    agg.on_trade(trade(90_000, 104.0, 1.0))
    assert agg.on_time(120_000, recv_ns=5) == [bar(MIN, 102.0, 104.0, 102.0, 104.0, 3.0, 5)]


def test_minutes_without_trades_are_not_emitted() -> None:
    agg = BarAggregator(SYM, MIN)
    agg.on_trade(trade(10_000, 100.0))
    assert agg.on_trade(trade(3 * MIN + 5, 110.0)) == [bar(0, 100.0, 100.0, 100.0, 100.0, 1.0)]
    assert agg.on_time(4 * MIN) == [bar(3 * MIN, 110.0, 110.0, 110.0, 110.0, 1.0)]
    assert agg.on_time(9 * MIN) == []


def test_a_ticker_or_book_time_at_the_bar_end_closes_it_and_earlier_times_do_not() -> None:
    agg = BarAggregator(SYM, MIN)
    agg.on_trade(trade(30_000, 100.0))
    assert agg.on_time(59_999) == []
    assert agg.on_time(MIN, recv_ns=42) == [bar(0, 100.0, 100.0, 100.0, 100.0, 1.0, 42)]
    assert agg.on_time(MIN + 1) == []


def test_late_trades_are_ignored_and_counted() -> None:
    agg = BarAggregator(SYM, MIN)
    agg.on_trade(trade(30_000, 100.0))
    agg.on_time(MIN + 10)  # closes bar 0
    assert agg.on_trade(trade(59_000, 1.0)) == []
    assert agg.late_trades == 1
    agg.on_trade(trade(MIN + 20, 105.0))
    assert agg.on_time(2 * MIN) == [bar(MIN, 105.0, 105.0, 105.0, 105.0, 1.0)]


def test_event_time_entering_a_new_minute_makes_older_trades_late_even_with_no_open_bar() -> None:
    agg = BarAggregator(SYM, MIN)
    agg.on_time(2 * MIN + 1)
    agg.on_trade(trade(MIN + 30_000, 100.0))
    assert agg.late_trades == 1
    assert agg.on_time(10 * MIN) == []


def test_out_of_order_trades_within_the_current_bar_are_kept() -> None:
    agg = BarAggregator(SYM, MIN)
    agg.on_trade(trade(50_000, 100.0))
    agg.on_trade(trade(10_000, 90.0))
    assert agg.late_trades == 0
    assert agg.on_time(MIN) == [bar(0, 100.0, 100.0, 90.0, 90.0, 2.0)]


def test_seeding_ignores_trades_inside_or_before_the_last_backfilled_bar() -> None:
    agg = BarAggregator(SYM, MIN)
    agg.seed(bar(4 * MIN, 100.0, 101.0, 99.0, 100.5, 10.0))
    agg.on_trade(trade(4 * MIN + 59_999, 120.0))
    agg.on_trade(trade(3 * MIN, 130.0))
    assert agg.late_trades == 2
    agg.on_trade(trade(5 * MIN, 101.0))  # the first trade of the bar after the backfill
    assert agg.on_time(6 * MIN) == [bar(5 * MIN, 101.0, 101.0, 101.0, 101.0, 1.0)]


def test_seeding_drops_a_partial_bar_that_the_backfill_already_covers() -> None:
    agg = BarAggregator(SYM, MIN)
    agg.on_trade(trade(4 * MIN + 1, 100.0))
    agg.seed(bar(4 * MIN, 100.0, 101.0, 99.0, 100.5, 10.0))
    assert agg.on_time(5 * MIN) == []


def test_seed_with_another_interval_is_rejected() -> None:
    agg = BarAggregator(SYM, MIN)
    with pytest.raises(ValueError):
        agg.seed(BarClosed(SYM, 5 * MIN, 0, 1.0, 1.0, 1.0, 1.0, 1.0))


def merge(run: list[TradesReceived]) -> TradesReceived:
    """Conflation's merge: first open, extremes, last close, summed volume, newest ts."""
    return TradesReceived(
        SYM,
        run[-1].ts,
        run[0].open,
        max(t.high for t in run),
        min(t.low for t in run),
        run[-1].close,
        sum(t.volume for t in run),
        sum(t.count for t in run),
        run[-1].recv_ns,
    )


# Whole-number volumes keep sums exact whatever the grouping, so bars can be compared with ==.
trade_steps = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=50_000),  # time since the previous trade
        st.floats(min_value=1.0, max_value=1000.0, allow_nan=False),
        st.integers(min_value=1, max_value=100),
        st.booleans(),  # merge this trade into the previous one if they share a bar
    ),
    min_size=1,
    max_size=80,
)


@given(trade_steps)
def test_merged_trades_give_the_same_bars_as_single_trades(
    steps: list[tuple[int, float, int, bool]],
) -> None:
    singles: list[TradesReceived] = []
    runs: list[list[TradesReceived]] = []
    ts = 0
    for gap, price, volume, join in steps:
        ts += gap
        t = trade(ts, price, float(volume), recv_ns=ts)
        singles.append(t)
        if join and runs and runs[-1][-1].ts // MIN == ts // MIN:
            runs[-1].append(t)
        else:
            runs.append([t])
    end = ts + MIN

    one = BarAggregator(SYM, MIN)
    by_single = [b for t in singles for b in one.on_trade(t)] + one.on_time(end, recv_ns=end)
    many = BarAggregator(SYM, MIN)
    by_merged = [b for r in runs for b in many.on_trade(merge(r))] + many.on_time(end, recv_ns=end)

    # Only recv_ns may differ: a merged run arrives with the recv_ns of its newest trade.
    assert [replace(b, recv_ns=0) for b in by_single] == [replace(b, recv_ns=0) for b in by_merged]
    assert sum(b.volume for b in by_single) == sum(t.volume for t in singles)
    assert [b.open_ts for b in by_single] == sorted({t.ts // MIN * MIN for t in singles})
