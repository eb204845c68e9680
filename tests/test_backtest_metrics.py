"""Performance metrics: hand-computed values on small series, the undefined cases, and invariants."""

from __future__ import annotations

import math
import warnings
from dataclasses import fields

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.backtest import metrics
from engine.backtest.metrics import DAY_MS, HOUR_MS, Metrics, compute
from engine.messages import EquitySampled, Side, TradeClosed

T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC: a day boundary


def trade(
    pnl: float, entry_ts: int = T0, exit_ts: int = T0 + HOUR_MS, risk: float = 0.0, fees: float = 0.0
) -> TradeClosed:
    return TradeClosed("BTCUSDT", Side.LONG, 1.0, entry_ts, 100.0, exit_ts, 100.0 + pnl, pnl, fees, "s", "r", "x", risk)


def daily(*equities: float) -> list[tuple[int, float]]:
    """A curve with one sample per UTC day, starting at a day boundary."""
    return [(T0 + i * DAY_MS, e) for i, e in enumerate(equities)]


def arrays(curve: list[tuple[int, float]]) -> tuple[metrics.IntArray, metrics.FloatArray]:
    return np.array([t for t, _ in curve], dtype=np.int64), np.array([e for _, e in curve], dtype=np.float64)


# --- Equity curve ---------------------------------------------------------------------------


def test_max_drawdown_is_peak_to_trough_fraction() -> None:
    # 100 -> 110 -> 99 -> 120: the peak 110 falls to 99, 11/110 = 10%.
    depth, _ = metrics.max_drawdown(*arrays(daily(100.0, 110.0, 99.0, 120.0)))
    assert depth == pytest.approx(0.10)


def test_max_drawdown_duration_runs_from_peak_sample_to_recovery() -> None:
    # Peak 110 at day 1, back above it (120) at day 3: two days underwater.
    _, duration = metrics.max_drawdown(*arrays(daily(100.0, 110.0, 99.0, 120.0)))
    assert duration == 2 * DAY_MS


def test_max_drawdown_duration_unrecovered_runs_to_last_sample() -> None:
    _, duration = metrics.max_drawdown(*arrays(daily(100.0, 110.0, 99.0, 105.0, 108.0)))
    assert duration == 3 * DAY_MS


def test_max_drawdown_duration_is_longest_stretch_not_deepest() -> None:
    # Deep but short: 100 -> 50 -> 100 (2 days). Shallow but long: 100 -> 99 x3 -> 100 (4 days).
    depth, duration = metrics.max_drawdown(*arrays(daily(100.0, 50.0, 100.0, 99.0, 99.0, 99.0, 100.0)))
    assert depth == pytest.approx(0.5)
    assert duration == 4 * DAY_MS


def test_max_drawdown_of_empty_curve_is_nan() -> None:
    depth, duration = metrics.max_drawdown(np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
    assert math.isnan(depth)
    assert duration == 0


def test_total_return_is_end_over_start() -> None:
    m = compute([], daily(100.0, 110.0, 99.0, 120.0), start_equity=100.0)
    assert m.total_return == pytest.approx(0.20)
    assert (m.start_equity, m.end_equity) == (100.0, 120.0)


def test_cagr_over_exactly_365_days_equals_total_return() -> None:
    m = compute([], [(T0, 100.0), (T0 + 365 * DAY_MS, 120.0)], start_equity=100.0)
    assert m.cagr == pytest.approx(m.total_return)
    assert m.cagr == pytest.approx(0.20)


def test_cagr_compounds_over_two_years() -> None:
    # 100 -> 121 in 730 days: 10% a year.
    assert metrics.cagr(100.0, 121.0, 730 * DAY_MS) == pytest.approx(0.10)


def test_cagr_under_one_day_is_nan() -> None:
    assert math.isnan(metrics.cagr(100.0, 101.0, DAY_MS - 1))


def test_cagr_of_a_blown_account_is_minus_one() -> None:
    assert metrics.cagr(100.0, 0.0, 30 * DAY_MS) == -1.0


def test_cagr_that_overflows_is_inf_without_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert metrics.cagr(100.0, 1e300, DAY_MS) == math.inf


def test_daily_returns_sharpe_and_sortino_by_hand() -> None:
    # Closes 100, 110, 99, 118.8 at four midnights: returns r = +0.10, -0.10, +0.20.
    # mean = 0.20 / 3 = 1/15.
    # deviations from the mean: 1/30, -1/6, 2/15 -> squares 1/900, 25/900, 16/900, sum 42/900 = 7/150.
    # std (ddof=1) = sqrt((7/150) / 2) = sqrt(7/300) ~= 0.152753.
    # Sharpe = (1/15) / sqrt(7/300) * sqrt(365) ~= 0.436436 * 19.104973 ~= 8.3381.
    # downside: min(r, 0) = 0, -0.10, 0 -> mean of squares over ALL 3 periods = 0.01 / 3 = 1/300.
    # Sortino = (1/15) / sqrt(1/300) * sqrt(365) ~= 1.154701 * 19.104973 ~= 22.0605.
    curve = daily(100.0, 110.0, 99.0, 118.8)
    returns = metrics.period_returns(*arrays(curve))
    assert returns == pytest.approx([0.10, -0.10, 0.20])
    m = compute([], curve, start_equity=100.0)
    assert m.periods == 3
    assert m.sharpe == pytest.approx((1 / 15) / math.sqrt(7 / 300) * math.sqrt(365))
    assert m.sharpe == pytest.approx(8.3381, abs=1e-4)
    assert m.sortino == pytest.approx((1 / 15) / math.sqrt(1 / 300) * math.sqrt(365))
    assert m.sortino == pytest.approx(22.0605, abs=1e-4)


def test_hourly_period_annualises_with_sqrt_8760() -> None:
    curve = [(T0 + i * HOUR_MS, e) for i, e in enumerate((100.0, 110.0, 99.0, 118.8))]
    m = compute([], curve, start_equity=100.0, period_ms=HOUR_MS)
    assert m.periods == 3
    assert m.sharpe == pytest.approx((1 / 15) / math.sqrt(7 / 300) * math.sqrt(365 * 24))


def test_period_close_is_last_sample_at_or_before_boundary_forward_filled() -> None:
    # Samples at 00:00, 06:00, 23:00 of day 0, then 12:00 of day 2 (nothing in day 1).
    ts = np.array([T0, T0 + 6 * HOUR_MS, T0 + 23 * HOUR_MS, T0 + 2 * DAY_MS + 12 * HOUR_MS], dtype=np.int64)
    eq = np.array([100.0, 90.0, 105.0, 120.0])
    points, closes = metrics.period_closes(ts, eq)
    # Day 1's close is the 23:00 sample, day 2's is forward-filled; the run ends mid-day 2 (partial).
    assert points.tolist() == [T0, T0 + DAY_MS, T0 + 2 * DAY_MS, T0 + 2 * DAY_MS + 12 * HOUR_MS]
    assert closes.tolist() == [100.0, 105.0, 105.0, 120.0]
    assert metrics.period_returns(ts, eq) == pytest.approx([0.05, 0.0, 120.0 / 105.0 - 1.0])


def test_partial_first_period_starts_at_first_sample() -> None:
    ts = np.array([T0 + 13 * HOUR_MS, T0 + DAY_MS + 1], dtype=np.int64)
    points, closes = metrics.period_closes(ts, np.array([100.0, 110.0]))
    assert points.tolist() == [T0 + 13 * HOUR_MS, T0 + DAY_MS, T0 + DAY_MS + 1]
    assert closes.tolist() == [100.0, 100.0, 110.0]


def test_opening_value_is_first_sample_even_with_same_time_samples() -> None:
    # A start sample and a mark at the same millisecond: the run's base is the start sample.
    ts = np.array([T0, T0, T0 + DAY_MS], dtype=np.int64)
    assert metrics.period_returns(ts, np.array([100.0, 90.0, 99.0])) == pytest.approx([-0.01])


def test_flat_curve_has_nan_sharpe_and_sortino_and_no_drawdown() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compute([], daily(100.0, 100.0, 100.0, 100.0), start_equity=100.0)
    assert math.isnan(m.sharpe)
    assert math.isnan(m.sortino)
    assert m.max_drawdown == 0.0
    assert m.max_drawdown_duration_ms == 0


def test_steady_growth_has_nan_sharpe_not_astronomical() -> None:
    # Equal returns: the deviation is rounding residue at most, not risk.
    m = compute([], daily(100.0, 101.0, 102.01, 103.0301), start_equity=100.0)
    assert math.isnan(m.sharpe)


def test_no_losing_period_has_nan_sortino() -> None:
    m = compute([], daily(100.0, 101.0, 103.0), start_equity=100.0)
    assert not math.isnan(m.sharpe)
    assert math.isnan(m.sortino)


def test_one_period_has_nan_sharpe() -> None:
    m = compute([], daily(100.0, 110.0), start_equity=100.0)
    assert m.periods == 1
    assert math.isnan(m.sharpe)
    assert math.isnan(m.sortino)


def test_return_after_a_blown_account_is_nan() -> None:
    returns = metrics.period_returns(*arrays(daily(100.0, 0.0, 10.0)))
    assert returns[0] == -1.0
    assert math.isnan(returns[1])


# --- Trades ---------------------------------------------------------------------------------

FOUR = [trade(30.0, risk=10.0), trade(-10.0, risk=10.0), trade(20.0, risk=10.0), trade(-20.0)]


def test_profit_factor_is_gross_profit_over_gross_loss() -> None:
    m = compute(FOUR, daily(100.0, 120.0), start_equity=100.0)
    assert m.profit_factor == pytest.approx(50.0 / 30.0)


def test_win_rate_counts_wins_over_all_trades() -> None:
    assert compute(FOUR, daily(100.0, 120.0), start_equity=100.0).win_rate == 0.5


def test_break_even_trade_counts_as_trade_not_win() -> None:
    assert compute([trade(10.0), trade(0.0)], [], start_equity=100.0).win_rate == 0.5


def test_expectancy_is_mean_net_pnl() -> None:
    m = compute(FOUR, daily(100.0, 120.0), start_equity=100.0)
    assert m.expectancy == 5.0
    assert (m.avg_win, m.avg_loss) == (25.0, -15.0)


def test_expectancy_r_uses_only_trades_with_risk() -> None:
    # R-multiples 3, -1, 2; the fourth trade had no stop (risk 0) and is left out: 4/3.
    assert compute(FOUR, [], start_equity=100.0).expectancy_r == pytest.approx(4.0 / 3.0)


def test_profit_factor_without_losses_is_inf() -> None:
    assert compute([trade(5.0), trade(0.0)], [], start_equity=100.0).profit_factor == math.inf


def test_profit_factor_of_break_even_trades_is_nan() -> None:
    assert math.isnan(compute([trade(0.0)], [], start_equity=100.0).profit_factor)


def test_avg_duration_is_mean_holding_time() -> None:
    trades = [trade(1.0, T0, T0 + HOUR_MS), trade(1.0, T0, T0 + 3 * HOUR_MS)]
    assert compute(trades, [], start_equity=100.0).avg_duration_ms == 2 * HOUR_MS


def test_fees_default_to_the_trades_and_totals_pass_through() -> None:
    trades = [trade(1.0, fees=0.25), trade(-1.0, fees=0.5)]
    assert compute(trades, [], start_equity=100.0).total_fees == 0.75
    m = compute(trades, [], start_equity=100.0, fees=2.0, slippage=1.5, funding=-0.5)
    assert (m.total_fees, m.total_slippage, m.total_funding) == (2.0, 1.5, -0.5)


def test_no_curve_end_equity_is_start_plus_pnl_and_funding() -> None:
    m = compute([trade(30.0), trade(-10.0)], [], start_equity=100.0, funding=-2.0)
    assert m.end_equity == 118.0
    assert m.total_return == pytest.approx(0.18)
    assert math.isnan(m.max_drawdown)
    assert math.isnan(m.exposure)
    assert m.samples == m.periods == 0


def test_no_trades_gives_nan_trade_metrics_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compute([], daily(100.0, 100.0), start_equity=100.0)
        rows = m.as_rows()
    assert m.trades == 0
    for value in (m.win_rate, m.profit_factor, m.expectancy, m.expectancy_r, m.avg_win, m.avg_loss, m.avg_duration_ms):
        assert math.isnan(value)
    assert m.exposure == 0.0
    assert m.total_fees == 0.0
    assert dict(rows)["profit factor"] == "nan"


def test_nothing_at_all_gives_nan_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compute([], [], start_equity=100.0)
        m.as_rows()
    assert m.total_return == 0.0
    for value in (m.cagr, m.sharpe, m.sortino, m.max_drawdown, m.exposure):
        assert math.isnan(value)


# --- Exposure -------------------------------------------------------------------------------


def test_exposure_counts_overlapping_trades_once() -> None:
    # [0, 10] and [5, 15] cover [0, 15]: 15 of 20.
    assert metrics.exposure([(0, 10), (5, 15)], (0, 20)) == 0.75


def test_exposure_of_overlapping_trades_through_compute() -> None:
    trades = [trade(1.0, T0, T0 + 10 * HOUR_MS), trade(1.0, T0 + 5 * HOUR_MS, T0 + 15 * HOUR_MS)]
    m = compute(trades, [(T0, 100.0), (T0 + 20 * HOUR_MS, 102.0)], start_equity=100.0)
    assert m.exposure == 0.75


def test_exposure_handles_nested_and_unsorted_intervals() -> None:
    # [2, 8] inside [0, 10]; [12, 14] apart: 10 + 2 of 20.
    assert metrics.exposure([(12, 14), (2, 8), (0, 10)], (0, 20)) == 0.6


def test_exposure_clips_intervals_to_the_span() -> None:
    assert metrics.exposure([(-10, 5), (15, 30)], (0, 20)) == 0.5


def test_exposure_rejects_trade_that_exits_before_entry() -> None:
    with pytest.raises(ValueError):
        metrics.exposure([(10, 5)], (0, 20))


# --- Input and output -----------------------------------------------------------------------


def test_curve_forms_give_the_same_metrics() -> None:
    curve = daily(100.0, 110.0, 99.0, 118.8)
    samples = [EquitySampled(t, e, e, 0.0, 0) for t, e in curve]
    expected = compute(FOUR, curve, start_equity=100.0)
    assert compute(FOUR, samples, start_equity=100.0) == expected
    assert compute(FOUR, arrays(curve), start_equity=100.0) == expected


def test_curve_with_decreasing_times_is_rejected() -> None:
    with pytest.raises(ValueError, match="decrease"):
        compute([], [(T0 + 1, 100.0), (T0, 101.0)], start_equity=100.0)


def test_curve_with_nan_equity_is_rejected() -> None:
    with pytest.raises(ValueError, match="finite"):
        compute([], [(T0, 100.0), (T0 + 1, math.nan)], start_equity=100.0)


def test_non_positive_start_equity_is_rejected() -> None:
    with pytest.raises(ValueError, match="start_equity"):
        compute([], [], start_equity=0.0)


def test_as_rows_has_one_row_per_metric_with_units_in_names() -> None:
    m = compute(FOUR, daily(100.0, 110.0, 99.0, 120.0), start_equity=100.0)
    rows = dict(m.as_rows())
    assert len(rows) == len(fields(Metrics))
    assert rows["total return %"] == "20.00"
    assert rows["max drawdown %"] == "10.00"
    assert rows["max drawdown duration (days)"] == "2.00"
    assert rows["profit factor"] == "1.667"
    assert rows["win rate %"] == "50.00"
    assert rows["trades"] == "4"


def test_format_value_renders_inf_and_nan_readably() -> None:
    assert metrics.format_value(math.inf, "ratio") == "inf"
    assert metrics.format_value(math.nan, "pct") == "nan"


# --- Properties -----------------------------------------------------------------------------

equities = st.floats(min_value=1.0, max_value=1e6, allow_nan=False, allow_infinity=False)
gaps = st.integers(min_value=0, max_value=3 * DAY_MS)


@st.composite
def curves(draw: st.DrawFn, values: st.SearchStrategy[list[float]] | None = None) -> list[tuple[int, float]]:
    """A curve of positive equities at non-decreasing times."""
    eq = draw(values if values is not None else st.lists(equities, min_size=1, max_size=40))
    ts = np.cumsum([T0, *draw(st.lists(gaps, min_size=len(eq) - 1, max_size=len(eq) - 1))]).tolist()
    return list(zip(ts, eq, strict=True))


@given(curves())
def test_max_drawdown_of_positive_curve_is_in_unit_interval(curve: list[tuple[int, float]]) -> None:
    depth, duration = metrics.max_drawdown(*arrays(curve))
    assert 0.0 <= depth < 1.0
    assert 0 <= duration <= curve[-1][0] - curve[0][0]


@given(curves(st.lists(equities, min_size=1, max_size=40).map(sorted)))
def test_max_drawdown_of_non_decreasing_curve_is_zero(curve: list[tuple[int, float]]) -> None:
    assert metrics.max_drawdown(*arrays(curve)) == (0.0, 0)


@given(curves(), equities)
def test_total_return_is_end_over_start_minus_one(curve: list[tuple[int, float]], start: float) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = compute([], curve, start_equity=start)
    assert m.total_return == pytest.approx(curve[-1][1] / start - 1.0)


@given(curves())
def test_period_returns_compound_to_the_curve_return(curve: list[tuple[int, float]]) -> None:
    returns = metrics.period_returns(*arrays(curve))
    if curve[-1][0] == curve[0][0]:
        assert returns.size == 0  # no time passed: no period
        return
    assert float(np.prod(1.0 + returns)) == pytest.approx(curve[-1][1] / curve[0][1], rel=1e-9)


interval = st.tuples(st.integers(-50, 150), st.integers(0, 100)).map(lambda p: (p[0], p[0] + p[1]))


@given(st.lists(interval, max_size=20), st.integers(0, 100), st.integers(1, 100))
def test_exposure_is_in_unit_interval(intervals: list[tuple[int, int]], lo: int, length: int) -> None:
    value = metrics.exposure(intervals, (lo, lo + length))
    assert 0.0 <= value <= 1.0


@given(st.lists(interval, max_size=20))
def test_exposure_equals_brute_force_union(intervals: list[tuple[int, int]]) -> None:
    covered = {t for start, end in intervals for t in range(max(start, 0), min(end, 100))}
    assert metrics.exposure(intervals, (0, 100)) == pytest.approx(len(covered) / 100)
