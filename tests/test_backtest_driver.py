"""The fast backtest: the live engine's cores driven over synthetic 1m bars on event time.

Every scenario is built so that its decisions are known in advance: a falling then rising close
makes EMA 9 cross above EMA 21 at a bar the test finds with its own EMA, the ATR stop is computed
here with Wilder's smoothing, and every fill price and fee is worked out by hand from the paper
model: a buy at mid ``P`` pays ``P * (1 + half_spread + slippage)``, a sell gets
``P * (1 - half_spread - slippage)``, and the fee is ``qty * price * taker_fee``.

The regime rules are forced with config overrides (``regime.adx_trend`` tiny, ``high_vol_ratio``
huge: every warm bar is TRENDING), so ``strategy.mode = regime`` trades the EMA cross.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from engine.backtest.data import Candles
from engine.backtest.driver import Backtest, BacktestError, Costs, Result, Series
from engine.backtest.report import fingerprint
from engine.config import Config, load_config
from engine.core.risk import CORRELATION, HALTED, MAX_POSITIONS
from engine.core.strategies.long_dip import dip_share
from engine.messages import OrderFilled, Side

T0 = 1_700_006_400_000  # 2023-11-15 00:00:00 UTC, a UTC day (and funding) boundary
MINUTE = 60_000
FUNDING_INTERVAL = 8 * 3_600_000

FEE = 0.0005
SPREAD_BPS = 4.0
SLIPPAGE_BPS = 3.0
HALF = SPREAD_BPS / 2 / 1e4  # 2 bps: half the spread
SLIP = SLIPPAGE_BPS / 1e4  # 3 bps
COSTS = Costs(taker_fee=FEE, spread_bps=SPREAD_BPS, slippage_bps=SLIPPAGE_BPS, funding_rate=0.0)

EQUITY = 10_000.0
SLOT_NOTIONAL = EQUITY / 5 * 3  # the one-slot margin cap: equity / max_concurrent_positions * leverage

TRENDING_EVERYWHERE = {
    "regime.adx_trend": 0.01,
    "regime.high_vol_ratio": 1_000.0,
    "regime.atr_median_window": 5,
}


# --- helpers: data, config, and the reference computations ---------------------------------------


def make_config(**overrides: Any) -> Config:
    """Shipped defaults, every bar TRENDING, plus ``overrides`` given as section__key=value."""
    cli = dict(TRENDING_EVERYWHERE)
    cli.update({key.replace("__", "."): value for key, value in overrides.items()})
    return load_config(cli=cli, env={})


def make_candles(
    closes: Sequence[float],
    symbol: str = "AAAUSDT",
    *,
    opens: dict[int, float] | None = None,
    highs: dict[int, float] | None = None,
    lows: dict[int, float] | None = None,
    wick: float = 0.05,
) -> Candles:
    """1m bars from T0: each opens 0.02 above the previous close (so a fill at the next open is
    never the signal bar's close), with ``wick`` above and below the body, unless overridden."""
    close = np.asarray(closes, dtype=np.float64)
    open_ = np.empty_like(close)
    open_[0] = close[0]
    open_[1:] = close[:-1] + 0.02
    for i, value in (opens or {}).items():
        open_[i] = value
    high = np.maximum(open_, close) + wick
    low = np.minimum(open_, close) - wick
    for i, value in (highs or {}).items():
        high[i] = value
    for i, value in (lows or {}).items():
        low[i] = value
    ts = T0 + MINUTE * np.arange(close.size, dtype=np.int64)
    return Candles(symbol, MINUTE, ts, open_, high, low, close, np.full(close.size, 1_000.0))


def falling_then_rising(rising: int = 15) -> list[float]:
    """80 closes falling 0.1 a bar from 100, then ``rising`` closes rising 0.3 a bar: one up-cross."""
    return [100.0 - 0.1 * i for i in range(80)] + [92.1 + 0.3 * (k + 1) for k in range(rising)]


def ema(values: Sequence[float], period: int) -> list[float | None]:
    """EMA seeded with the SMA of the first ``period`` values (None before)."""
    out: list[float | None] = []
    value: float | None = None
    k = 2.0 / (period + 1)
    for i, x in enumerate(values):
        if value is None and i + 1 == period:
            value = sum(values[:period]) / period
        elif value is not None:
            value = (x - value) * k + value
        out.append(value)
    return out


def wilder_atr(c: Candles, period: int) -> list[float | None]:
    """ATR with Wilder's smoothing, first value the mean of the true ranges of bars 1..period."""
    out: list[float | None] = [None]
    ranges: list[float] = []
    value: float | None = None
    for i in range(1, len(c)):
        h, lo, prev = float(c.high[i]), float(c.low[i]), float(c.close[i - 1])
        tr = max(h - lo, abs(h - prev), abs(lo - prev))
        if value is None:
            ranges.append(tr)
            if len(ranges) == period:
                value = sum(ranges) / period
        else:
            value = (value * (period - 1) + tr) / period
        out.append(value)
    return out


def first_up_cross(closes: Sequence[float]) -> int:
    """Index of the first bar whose close makes EMA 9 cross strictly above EMA 21."""
    fast, slow = ema(closes, 9), ema(closes, 21)
    for i in range(1, len(closes)):
        f, s, pf, ps = fast[i], slow[i], fast[i - 1], slow[i - 1]
        if None not in (f, s, pf, ps) and f > s and pf <= ps:  # type: ignore[operator]
            return i
    raise AssertionError("no up-cross in the data")


def buy_price(mid: float) -> float:
    return mid * (1.0 + HALF) + mid * SLIP


def sell_price(mid: float) -> float:
    return mid * (1.0 - HALF) - mid * SLIP


def run(
    candles: Candles | Sequence[Candles],
    config: Config | None = None,
    costs: Costs = COSTS,
    *,
    start_ms: int | None = None,
    funding: tuple[np.ndarray, np.ndarray] | None = None,
) -> Result:
    many = [candles] if isinstance(candles, Candles) else list(candles)
    series = [Series(c, funding) for c in many]
    return Backtest(config or make_config(), costs).run(series, start_ms)


def entries(result: Result) -> list[OrderFilled]:
    return [f for f in result.fills if not f.reduce_only]


def stop_scenario(*, gap: bool) -> tuple[Candles, int, int]:
    """The up-cross, then a bar ``j`` whose low (or, with ``gap``, whose open) lies far below the
    stop; it closes back up, so nothing else happens. Returns (candles, signal bar k, bar j)."""
    closes = falling_then_rising()
    j = len(closes)
    closes += [closes[-1] + 0.02] + [closes[-1] + 0.3 * k for k in range(1, 4)]
    bar = {"opens": {j: 80.0}, "lows": {j: 79.9}} if gap else {"lows": {j: 85.0}}
    candles = make_candles(closes, **bar)
    return candles, first_up_cross(closes), j


# --- entries ---------------------------------------------------------------------------------------


def test_the_entry_fills_at_the_next_bars_open_plus_half_the_spread_and_slippage() -> None:
    closes = falling_then_rising()
    candles = make_candles(closes)
    k = first_up_cross(closes)

    result = run(candles)

    [entry] = entries(result)
    next_open = float(candles.open[k + 1])
    assert entry.side is Side.LONG
    assert entry.ts == int(candles.ts[k + 1])  # the signal bar's close time
    assert entry.price == pytest.approx(buy_price(next_open), rel=1e-12)
    assert entry.price != pytest.approx(buy_price(closes[k]), rel=1e-9)  # not the signal bar's close
    assert entry.reason == "ema 9 crossed above ema 21"


def test_a_short_entry_sells_at_the_next_bars_open_less_half_the_spread_and_slippage() -> None:
    closes = [200.0 - c for c in falling_then_rising()]  # the mirror image: one down-cross
    candles = make_candles(closes)
    k = first_up_cross([200.0 - c for c in closes])

    [entry] = entries(run(candles))

    assert entry.side is Side.SHORT
    assert entry.ts == int(candles.ts[k + 1])
    assert entry.price == pytest.approx(sell_price(float(candles.open[k + 1])), rel=1e-12)
    assert entry.reason == "ema 9 crossed below ema 21"


def test_the_entry_is_sized_by_the_one_slot_margin_cap_and_pays_the_taker_fee_on_its_notional() -> None:
    closes = falling_then_rising()
    k = first_up_cross(closes)

    [entry] = entries(run(make_candles(closes)))

    # 1% risk over a 2-ATR stop would be ~160 units: capped at equity / 5 slots * 3x leverage
    # of notional at the decision price (the signal bar's close)
    assert entry.qty == pytest.approx(SLOT_NOTIONAL / closes[k], rel=1e-12)
    assert entry.fee == pytest.approx(entry.qty * entry.price * FEE, rel=1e-12)


def test_the_trend_stop_sits_two_atrs_below_the_signal_close() -> None:
    closes = falling_then_rising()
    candles = make_candles(closes)
    k = first_up_cross(closes)
    atr = wilder_atr(candles, 14)[k]
    assert atr is not None

    [entry] = entries(run(candles))

    assert entry.stop == pytest.approx(closes[k] - 2.0 * atr, rel=1e-12)


def test_a_signal_on_the_last_bar_fills_at_that_bars_close() -> None:
    closes = falling_then_rising()
    k = first_up_cross(closes)
    candles = make_candles(closes[: k + 1])

    [entry] = entries(run(candles))

    assert entry.ts == int(candles.ts[k]) + MINUTE
    assert entry.price == pytest.approx(buy_price(closes[k]), rel=1e-12)


def test_a_position_still_open_at_the_end_is_reported_marked_at_the_last_close() -> None:
    closes = falling_then_rising()

    result = run(make_candles(closes))

    [entry] = entries(result)
    [held] = result.open_positions
    assert (held.symbol, held.side, held.qty, held.entry) == ("AAAUSDT", Side.LONG, entry.qty, entry.price)
    assert held.mark == pytest.approx(closes[-1], rel=1e-12)
    assert result.trades == []


# --- intrabar exits --------------------------------------------------------------------------------


def test_an_intrabar_stop_fills_at_the_stop_level_less_half_spread_and_slippage() -> None:
    candles, _, j = stop_scenario(gap=False)

    result = run(candles)

    [entry] = entries(result)
    [trade] = result.trades
    assert float(candles.open[j]) > entry.stop > float(candles.low[j])  # touched inside the bar
    assert trade.reason == "stop"
    assert trade.exit_price == pytest.approx(sell_price(entry.stop), rel=1e-12)
    assert trade.exit_ts == int(candles.ts[j]) + MINUTE // 2  # mid-bar
    assert result.open_positions == ()


def test_a_bar_gapping_through_the_stop_exits_at_its_open() -> None:
    candles, _, j = stop_scenario(gap=True)

    result = run(candles)

    [entry] = entries(result)
    [trade] = result.trades
    assert float(candles.open[j]) == 80.0 < entry.stop
    assert trade.reason == "stop"
    assert trade.exit_price == pytest.approx(sell_price(80.0), rel=1e-12)


def test_a_closed_trades_pnl_is_its_price_move_less_the_entry_and_exit_fees() -> None:
    candles, _, _ = stop_scenario(gap=False)

    result = run(candles)

    [entry, exit_] = result.fills
    [trade] = result.trades
    assert exit_.reduce_only and exit_.side is Side.SHORT and exit_.qty == entry.qty
    assert exit_.fee == pytest.approx(exit_.qty * exit_.price * FEE, rel=1e-12)
    assert trade.fees == pytest.approx(entry.fee + exit_.fee, rel=1e-12)
    assert trade.pnl == pytest.approx((exit_.price - entry.price) * entry.qty - entry.fee - exit_.fee, rel=1e-12)
    assert trade.risk == pytest.approx(entry.qty * (entry.price - entry.stop), rel=1e-12)


def long_dip_scenario(exit_bar: dict[str, float]) -> tuple[Candles, int]:
    """60 flat bars (close 100, range 99.5..100.5: ATR(10) exactly 1), a dip bar closing at 98
    (true range 3: ATR 1.2), then the entry bar shaped by ``exit_bar`` (its high below the old
    high of 100.5, so it makes no new dip to buy) and a flat tail."""
    closes = [100.0] * 60 + [98.0, 98.1] + [98.1] * 3
    k = 60
    opens = {i: 100.0 for i in range(1, 60)} | {k: 100.0, k + 1: 98.1}
    highs = {i: 100.5 for i in range(60)} | {k: 100.5}
    lows = {i: 99.5 for i in range(60)} | {k: 97.5}
    highs[k + 1] = exit_bar["high"]
    lows[k + 1] = exit_bar["low"]
    return make_candles(closes, opens=opens, highs=highs, lows=lows), k


def long_dip_config() -> Config:
    return make_config(strategy__mode="long_dip", long_dip__timeframe="1m")


def test_a_long_dip_bar_touching_both_stop_and_target_exits_at_the_stop() -> None:
    candles, k = long_dip_scenario({"high": 99.3, "low": 94.0})
    atr = 1.2  # (9 * 1.0 + 3.0) / 10
    stop, target = 98.0 - 1.5 * atr, 98.0 + 1.0 * atr

    result = run(candles, long_dip_config())

    [entry] = entries(result)
    [trade] = result.trades
    assert entry.ts == int(candles.ts[k + 1])
    assert entry.price == pytest.approx(buy_price(98.1), rel=1e-12)
    assert (entry.stop, entry.target) == (pytest.approx(stop, rel=1e-12), pytest.approx(target, rel=1e-12))
    depth = (100.5 - 98.0) / atr
    assert entry.qty == pytest.approx(dip_share(depth) * 5_000.0 / 98.0, rel=1e-12)  # the strategy's notional
    assert trade.reason == "stop"
    assert trade.exit_price == pytest.approx(sell_price(stop), rel=1e-12)
    assert trade.exit_ts == int(candles.ts[k + 1]) + MINUTE // 2


def test_a_long_dip_bar_touching_only_the_target_exits_at_the_target() -> None:
    candles, k = long_dip_scenario({"high": 99.3, "low": 98.0})
    target = 98.0 + 1.2

    result = run(candles, long_dip_config())

    [trade] = result.trades
    assert trade.reason == "target"
    assert trade.exit_price == pytest.approx(sell_price(target), rel=1e-12)
    assert trade.exit_ts == int(candles.ts[k + 1]) + MINUTE // 2


# --- funding ---------------------------------------------------------------------------------------


def funding_scenario(*, short: bool = False) -> tuple[Candles, int]:
    """The up-cross (or its mirror image, a down-cross), then a slow trend held past 08:00 UTC with
    the closes on either side of the boundary equal, so the mark at the boundary is unambiguous.
    Returns (candles, index of the bar closing at the boundary)."""
    closes = falling_then_rising(20)
    while len(closes) < 520:
        closes.append(closes[-1] + 0.02)
    b = FUNDING_INTERVAL // MINUTE - 1  # bar 479 closes at 08:00
    for i in range(b - 1, len(closes)):
        closes[i] = closes[b - 2] if i <= b + 1 else closes[i - 1] + 0.02
    if short:
        closes = [200.0 - c for c in closes]
    return make_candles(closes), b


@pytest.mark.parametrize("where", ["series", "costs"])
def test_a_long_held_across_an_8h_boundary_pays_qty_times_mark_times_rate(where: str) -> None:
    candles, b = funding_scenario()
    rate = 0.0003
    constant = (np.zeros(1, np.int64), np.array([rate]))
    if where == "series":  # the data's rate wins over the configured one
        result = run(candles, costs=COSTS, funding=constant)
    else:  # no rates in the data: the configured rate
        result = run(candles, costs=Costs(FEE, SPREAD_BPS, SLIPPAGE_BPS, funding_rate=rate))

    [entry] = entries(result)
    mark = float(candles.close[b])
    assert entry.ts < T0 + FUNDING_INTERVAL < int(candles.ts[-1])
    assert result.funding == pytest.approx(-entry.qty * mark * rate, rel=1e-12)  # a long pays
    assert result.funding < 0.0


def test_a_short_held_across_an_8h_boundary_receives_a_positive_rate() -> None:
    candles, b = funding_scenario(short=True)
    rate = 0.0003

    result = run(candles, funding=(np.zeros(1, np.int64), np.array([rate])))

    [entry] = entries(result)
    assert entry.side is Side.SHORT
    assert result.funding == pytest.approx(entry.qty * float(candles.close[b]) * rate, rel=1e-12)


def test_no_funding_is_settled_on_a_position_opened_after_the_last_boundary() -> None:
    closes = falling_then_rising()

    result = run(make_candles(closes), funding=(np.zeros(1, np.int64), np.array([0.01])))

    assert len(entries(result)) == 1
    assert result.funding == 0.0


# --- the books balance ---------------------------------------------------------------------------


def wave(n: int = 600, symbol: str = "AAAUSDT") -> Candles:
    """A slow sine with a drift: several crosses each way, reversals, some stops."""
    i = np.arange(n)
    closes = 100.0 + 3.0 * np.sin(2 * math.pi * i / 90) + 0.002 * i + 0.4 * np.sin(2 * math.pi * i / 7)
    return make_candles(closes.tolist(), symbol, wick=0.15)


def test_end_equity_is_start_plus_closed_pnl_plus_funding_plus_the_open_positions_value() -> None:
    candles = wave()
    rate = 0.0002

    result = run(candles, costs=Costs(FEE, SPREAD_BPS, SLIPPAGE_BPS, funding_rate=rate))

    assert len(result.trades) >= 5
    assert result.funding != 0.0
    assert len(result.open_positions) == 1
    [held] = result.open_positions
    # the open position's entry fee is paid, but belongs to no closed trade yet
    open_entry_fee = next(f.fee for f in reversed(result.fills) if not f.reduce_only and f.symbol == held.symbol)
    unrealised = (held.mark - held.entry) * held.qty * held.side.sign
    expected = result.start_equity + sum(t.pnl for t in result.trades) + result.funding + unrealised - open_entry_fee
    assert result.equity[-1] == pytest.approx(expected, rel=1e-12)
    assert held.mark == pytest.approx(float(candles.close[-1]), rel=1e-12)


def test_a_reversal_closes_the_old_position_and_opens_the_new_one_at_the_same_next_open() -> None:
    candles = wave()

    result = run(candles)

    first, second = result.trades[0], result.trades[1]
    assert first.side is not second.side
    assert first.exit_ts == second.entry_ts
    close, opening = (f for f in result.fills if f.ts == first.exit_ts)
    assert close.reduce_only and not opening.reduce_only
    assert close.side is opening.side is second.side  # both trade the new direction
    assert close.price == opening.price == first.exit_price == second.entry_price
    i = int(np.searchsorted(candles.ts, first.exit_ts))  # the bar opening when the signal bar closed
    price = buy_price if second.side is Side.LONG else sell_price
    assert first.exit_price == pytest.approx(price(float(candles.open[i])), rel=1e-12)


def test_fees_are_the_sum_of_the_fill_fees_and_each_fill_pays_the_taker_fee() -> None:
    result = run(wave())

    assert len(result.fills) >= 10
    for fill in result.fills:
        assert fill.fee == pytest.approx(fill.qty * fill.price * FEE, rel=1e-12)
    assert result.fees == pytest.approx(sum(f.fee for f in result.fills), rel=1e-12)
    assert result.fees == pytest.approx(
        sum(t.fees for t in result.trades) + next(f.fee for f in reversed(result.fills) if not f.reduce_only),
        rel=1e-12,
    )


def test_spread_and_slippage_costs_are_half_the_spread_and_the_slippage_on_every_fill() -> None:
    result = run(wave())

    # every fill is at mid * (1 +/- (half + slip)): its half-spread part and its slippage part
    mids = [
        f.price / (1.0 + HALF + SLIP) if f.side is Side.LONG else f.price / (1.0 - HALF - SLIP) for f in result.fills
    ]
    assert result.spread_cost == pytest.approx(
        sum(m * HALF * f.qty for m, f in zip(mids, result.fills, strict=True)), rel=1e-9
    )
    assert result.slippage == pytest.approx(
        sum(m * SLIP * f.qty for m, f in zip(mids, result.fills, strict=True)), rel=1e-9
    )


def test_the_equity_curve_has_one_sample_per_bar_close_starting_at_the_start_equity() -> None:
    candles = wave(300)

    result = run(candles)

    assert result.bars == 300
    assert result.equity_ts.tolist() == (candles.ts + MINUTE).tolist()
    assert result.equity[0] == result.start_equity == EQUITY


def test_two_runs_on_the_same_data_give_the_same_fingerprint() -> None:
    first, second = run(wave()), run(wave())

    assert len(first.trades) >= 5
    assert fingerprint(first.trades) == fingerprint(second.trades)
    assert first.equity.tolist() == second.equity.tolist()
    assert fingerprint(first.trades) != fingerprint(first.trades[:-1])


def test_bars_before_start_only_warm_the_indicators_and_trade_nothing() -> None:
    candles = wave()
    start = int(candles.ts[200])

    unrestricted = run(candles)
    result = run(candles, start_ms=start)

    assert any(f.ts < start for f in unrestricted.fills)  # this data would trade before the start
    assert result.fills
    assert min(f.ts for f in result.fills) >= start + MINUTE  # the first bar traded closes a minute after
    assert result.equity_ts[0] == start + MINUTE
    assert result.equity[0] == EQUITY
    assert result.bars == len(candles)  # warm-up bars are replayed too


# --- refusals --------------------------------------------------------------------------------------


def test_a_cross_sectional_symbol_is_refused_with_a_clear_message() -> None:
    config = make_config(strategy__per_symbol=["AAAUSDT:cross_sectional"])

    with pytest.raises(BacktestError, match="AAAUSDT: strategy mode cross_sectional is not backtested"):
        run(wave(50), config)


def test_data_at_another_interval_than_the_strategy_timeframe_is_refused() -> None:
    five = Candles("AAAUSDT", 5 * MINUTE, T0 + 5 * MINUTE * np.arange(3), *(np.ones(3),) * 5)

    with pytest.raises(BacktestError, match=r"AAAUSDT: bars of 300000 ms but strategy.timeframe is 1m"):
        run(five)


def test_no_series_is_refused() -> None:
    with pytest.raises(BacktestError, match="no data to backtest"):
        Backtest(make_config(), COSTS).run([])


def test_a_symbol_given_twice_is_refused() -> None:
    with pytest.raises(BacktestError, match="a symbol appears twice"):
        run([wave(50), wave(50)])


@pytest.mark.parametrize("field", ["taker_fee", "spread_bps", "slippage_bps"])
def test_negative_costs_are_refused(field: str) -> None:
    with pytest.raises(BacktestError, match="costs must not be negative"):
        Costs(**{field: -0.1})


def test_a_non_finite_funding_rate_is_refused() -> None:
    with pytest.raises(BacktestError):
        Costs(funding_rate=math.nan)


# --- portfolio risk in force -----------------------------------------------------------------------
# Fewer slots make each slot's margin share larger: 5x leverage and max_open_share = 1 keep the
# margin caps (BOT_BUDGET, INSUFFICIENT_MARGIN) out of these scenarios, so only the slot count and
# the correlation block can refuse the second symbol.


def test_with_one_slot_two_identical_crossing_symbols_open_only_one_position() -> None:
    closes = falling_then_rising()
    twins = [make_candles(closes, "AAAUSDT"), make_candles(closes, "BBBUSDT")]

    result = run(
        twins, make_config(risk__max_concurrent_positions=1, risk__max_open_share=1.0, risk__default_leverage=5)
    )

    assert [f.symbol for f in result.fills] == ["AAAUSDT"]  # name order: AAA decides first
    assert [p.symbol for p in result.open_positions] == ["AAAUSDT"]
    # identical returns: rho = 1 blocks BBB first; without the correlation block, the slot would
    assert result.denials.get(CORRELATION, 0) + result.denials.get(MAX_POSITIONS, 0) == 1


def test_with_one_slot_and_no_correlation_block_the_second_symbol_is_refused_for_max_positions() -> None:
    closes = falling_then_rising()
    twins = [make_candles(closes, "AAAUSDT"), make_candles(closes, "BBBUSDT")]

    result = run(
        twins,
        make_config(
            risk__max_concurrent_positions=1,
            risk__max_correlation=1.0,
            risk__max_open_share=1.0,
            risk__default_leverage=5,
        ),
    )

    assert [f.symbol for f in result.fills] == ["AAAUSDT"]
    assert result.denials == {MAX_POSITIONS: 1}


def test_with_two_slots_and_no_correlation_block_both_identical_symbols_open() -> None:
    closes = falling_then_rising()
    twins = [make_candles(closes, "AAAUSDT"), make_candles(closes, "BBBUSDT")]

    result = run(
        twins,
        make_config(
            risk__max_concurrent_positions=2,
            risk__max_correlation=1.0,
            risk__max_open_share=1.0,
            risk__default_leverage=5,
        ),
    )

    assert sorted(f.symbol for f in result.fills) == ["AAAUSDT", "BBBUSDT"]
    assert result.denials == {}


def test_a_loss_beyond_the_daily_limit_halts_trading_and_is_reported() -> None:
    candles, _, _ = stop_scenario(gap=False)

    result = run(candles, make_config(risk__max_daily_loss_pct=0.001))

    [trade] = result.trades
    assert trade.pnl < -EQUITY * 0.001
    [change] = result.state_changes
    assert change.startswith("2023-11-15 01:35:30 trading HALTED [DAILY_LOSS] daily loss limit:")
    assert trade.exit_ts == T0 + 95 * MINUTE + MINUTE // 2  # the halt comes with the stop's fill


def test_entries_after_a_daily_loss_halt_are_denied_as_halted_for_the_rest_of_the_day() -> None:
    result = run(wave(), make_config(risk__max_daily_loss_pct=0.001))

    # the first entry's costs and first adverse bars already lose more than 10 USDT
    [change] = result.state_changes
    assert "trading HALTED [DAILY_LOSS]" in change
    [entry] = entries(result)  # no entry after the halt (the data ends the same UTC day) ...
    halted_at = datetime.strptime(change[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp() * 1000
    assert entry.ts < halted_at
    assert result.denials.get(HALTED, 0) >= 1  # ... although the strategy kept asking
    assert result.trades[0].reason == "stop"  # exits still work while halted


def test_a_total_loss_stop_puts_trading_into_reducing_and_the_position_is_closed_once() -> None:
    candles, _, _ = stop_scenario(gap=False)

    result = run(candles, make_config(risk__max_total_loss_pct=0.001))

    [change] = result.state_changes
    assert "trading REDUCING [PNL_STOP] total loss stop:" in change
    [trade] = result.trades
    assert trade.reason == "stop"
    assert result.open_positions == ()


def test_a_stop_exit_that_triggers_reducing_is_filled_and_costed_once() -> None:
    candles, _, _ = stop_scenario(gap=False)

    result = run(candles, make_config(risk__max_total_loss_pct=0.001))

    assert "REDUCING [PNL_STOP]" in result.state_changes[0]
    assert [f.reason for f in result.fills] == ["ema 9 crossed above ema 21", "stop"]
    entry, exit_ = result.fills
    assert result.fees == pytest.approx(entry.fee + exit_.fee, rel=1e-12)
    mid_in, mid_out = entry.price / (1.0 + HALF + SLIP), exit_.price / (1.0 - HALF - SLIP)
    assert result.spread_cost == pytest.approx((mid_in + mid_out) * HALF * entry.qty, rel=1e-9)
