"""RiskGate scenarios, one rule each: kill-switches, correlation, rate and margin budget, per-symbol
caps and leverage, size scaling, the drawdown, total-loss and daily-loss states, restore, and the
``repeat`` flag of a denial."""

from __future__ import annotations

import math

import pytest

from engine.core.kill_switch import STALE_DATA, THIN_BOOK, WIDE_SPREAD
from engine.core.limits import RiskLimits
from engine.core.risk import (
    BOT_BUDGET,
    BUDGET,
    CORRELATION,
    DAILY_LOSS,
    DRAWDOWN,
    HALTED,
    INVALID_SIZE,
    INVALID_STOP,
    MANUAL,
    PNL_STOP,
    RATE_LIMIT,
    REDUCING,
    SIZE_ZERO,
    Denied,
    RiskGate,
)
from engine.messages import (
    CorrelationUpdated,
    EnterPosition,
    ExitPosition,
    PortfolioUpdated,
    PositionView,
    Quote,
    Regime,
    Side,
    SubmitOrder,
    TradingState,
    TradingStateChanged,
)
from tests.test_risk import DAY_MS, MIDNIGHT, NOON, approved, denied, view

BTC, ETH, SOL = "BTCUSDT", "ETHUSDT", "SOLUSDT"
SYMBOLS = (BTC, ETH, SOL)


def good(symbol: str, ts: int = NOON, price: float = 100.0) -> Quote:
    """A fit market: 2 bps wide around ``price``, 50,000 USDT deep on each side."""
    return Quote(symbol, ts, price * 0.9999, price * 1.0001, price, 50_000.0, 50_000.0)


def update(
    *positions: PositionView,
    equity: float = 10_000.0,
    day_start: float | None = None,
    peak: float | None = None,
    ts: int = NOON,
) -> PortfolioUpdated:
    day_start = equity if day_start is None else day_start
    peak = max(equity, day_start) if peak is None else peak
    return PortfolioUpdated(ts, equity, equity, day_start, peak, positions)


def intent(
    symbol: str = BTC,
    side: Side = Side.LONG,
    price: float = 100.0,
    stop: float = 98.0,
    ts: int = NOON,
    **kwargs: float | str,
) -> EnterPosition:
    """An entry at 100 with a 2% stop: 1% of 10,000 equity buys 50 units risking 100 USDT."""
    return EnterPosition(symbol, ts, side, price, stop, "ema_cross", "test", **kwargs)  # type: ignore[arg-type]


def gate(*positions: PositionView, limits: RiskLimits | None = None, equity: float = 10_000.0) -> RiskGate:
    """A gate with good quotes on BTC, ETH and SOL at NOON and one portfolio update."""
    g = RiskGate(limits or RiskLimits())
    g.on_quotes(tuple(good(s) for s in SYMBOLS))
    g.on_portfolio(update(*positions, equity=equity))
    return g


def correlation(rho: dict[tuple[str, str], float], symbols: tuple[str, ...] = SYMBOLS) -> CorrelationUpdated:
    """A symmetric matrix over ``symbols``: 1 on the diagonal, ``rho`` for the pairs given, else 0."""
    values = []
    for a in symbols:
        for b in symbols:
            values.append(1.0 if a == b else rho.get((a, b), rho.get((b, a), 0.0)))
    return CorrelationUpdated(NOON, symbols, tuple(values))


# --- kill-switches ------------------------------------------------------------------------------

BAD_QUOTES = {
    STALE_DATA: Quote(BTC, NOON - 31_000, 99.99, 100.01, 100.0, 50_000.0, 50_000.0),
    WIDE_SPREAD: Quote(BTC, NOON, 99.85, 100.15, 100.0, 50_000.0, 50_000.0),  # 30 bps
    THIN_BOOK: Quote(BTC, NOON, 99.99, 100.01, 100.0, 4_000.0, 50_000.0),
}


@pytest.mark.parametrize("code", sorted(BAD_QUOTES))
def test_a_kill_switch_denies_entries_on_its_symbol_only(code: str) -> None:
    g = gate()
    g.on_quotes((BAD_QUOTES[code],))
    assert denied(g.evaluate(intent(BTC))).code == code
    assert approved(g.evaluate(intent(ETH))).qty == 50.0
    assert list(g.blocks()) == [BTC]
    assert g.blocks()[BTC].startswith(f"{code}: ")


@pytest.mark.parametrize("code", sorted(BAD_QUOTES))
def test_a_fresh_good_quote_lifts_the_kill_switch(code: str) -> None:
    g = gate()
    g.on_quotes((BAD_QUOTES[code],))
    assert denied(g.evaluate(intent(BTC))).code == code
    g.on_quotes((good(BTC, ts=NOON + 1_000),))
    assert approved(g.evaluate(intent(BTC, ts=NOON + 1_000))).qty == 50.0
    assert g.blocks() == {}


def test_a_symbol_never_quoted_is_stale_data() -> None:
    d = denied(gate().evaluate(intent("DOGEUSDT")))
    assert d == Denied(STALE_DATA, "no market data received yet")


def test_a_quote_goes_stale_when_the_intent_is_later_than_every_quote() -> None:
    d = denied(gate().evaluate(intent(BTC, ts=NOON + 45_000)))
    assert d == Denied(STALE_DATA, "last update 45.0s old > 30s")


@pytest.mark.parametrize("code", sorted(BAD_QUOTES))
def test_an_exit_goes_through_while_a_kill_switch_blocks_the_symbol(code: str) -> None:
    g = gate(view(BTC, Side.LONG, qty=50.0))
    g.on_quotes((BAD_QUOTES[code],))
    order = g.exit_order(ExitPosition(BTC, NOON, "stop"))
    assert order == SubmitOrder(f"{BTC}-{NOON}-exit", BTC, NOON, Side.SHORT, 50.0, 0.0, True, "exit", "stop")


# --- correlation --------------------------------------------------------------------------------


def test_an_entry_correlated_above_the_limit_with_an_open_position_is_correlation() -> None:
    g = gate(view(BTC))
    g.on_correlation(correlation({(BTC, ETH): 0.85}))
    assert denied(g.evaluate(intent(ETH))) == Denied(CORRELATION, "ETHUSDT/BTCUSDT rho +0.85, |rho| > 0.80")


def test_a_correlation_exactly_at_the_limit_is_allowed() -> None:
    g = gate(view(BTC))
    g.on_correlation(correlation({(BTC, ETH): 0.80}))
    assert approved(g.evaluate(intent(ETH))).qty == 50.0


def test_a_strong_negative_correlation_blocks_too() -> None:
    g = gate(view(BTC, Side.SHORT, stop=102.0))
    g.on_correlation(correlation({(BTC, ETH): -0.9}))
    assert denied(g.evaluate(intent(ETH))) == Denied(CORRELATION, "ETHUSDT/BTCUSDT rho -0.90, |rho| > 0.80")


def test_a_pending_entry_counts_as_open_for_correlation() -> None:
    g = gate()
    g.on_correlation(correlation({(BTC, ETH): 0.85}))
    approved(g.evaluate(intent(BTC)))  # approved, not yet shown by the portfolio
    assert denied(g.evaluate(intent(ETH))).code == CORRELATION


def test_a_released_entry_no_longer_blocks_its_correlated_symbols() -> None:
    g = gate()
    g.on_correlation(correlation({(BTC, ETH): 0.85}))
    approved(g.evaluate(intent(BTC)))
    g.release(BTC)
    assert approved(g.evaluate(intent(ETH))).qty == 50.0


def test_an_intent_on_a_symbol_outside_the_matrix_is_not_blocked() -> None:
    g = gate(view(BTC))
    g.on_correlation(correlation({(BTC, ETH): 0.95}, symbols=(BTC, ETH)))
    assert approved(g.evaluate(intent(SOL))).qty == 50.0


def test_an_open_position_outside_the_matrix_blocks_nothing() -> None:
    g = gate(view(BTC))
    g.on_correlation(correlation({(ETH, SOL): 0.99}, symbols=(ETH, SOL)))
    assert approved(g.evaluate(intent(ETH))).qty == 50.0


def test_the_reversal_of_a_held_symbol_is_not_blocked_by_its_own_correlation() -> None:
    g = gate(view(BTC, Side.SHORT, stop=102.0))
    g.on_correlation(correlation({}))
    assert approved(g.evaluate(intent(BTC))).reversed_qty == 50.0


def test_correlated_pairs_lists_each_held_symbol_and_what_it_blocks_strongest_first() -> None:
    g = gate(view(BTC))
    g.on_correlation(correlation({(BTC, ETH): 0.85, (BTC, SOL): -0.9, (ETH, SOL): 0.95}))
    # ETH/SOL is the strongest pair, but neither is held: it blocks nothing
    assert g.correlated_pairs() == [
        {"open": BTC, "blocks": SOL, "rho": -0.9},
        {"open": BTC, "blocks": ETH, "rho": 0.85},
    ]


def test_a_malformed_correlation_matrix_is_rejected() -> None:
    with pytest.raises(ValueError, match="needs 4 values, got 3"):
        gate().on_correlation(CorrelationUpdated(NOON, (BTC, ETH), (1.0, 0.5, 1.0)))


# --- rate limit and the bot's margin budget -----------------------------------------------------


def test_an_entry_beyond_the_per_minute_limit_is_rate_limit_until_the_minute_passes() -> None:
    g = gate(limits=RiskLimits(max_entries_per_minute=2))
    approved(g.evaluate(intent(BTC)))
    approved(g.evaluate(intent(ETH, ts=NOON + 500)))
    assert denied(g.evaluate(intent(SOL, ts=NOON + 1_000))) == Denied(
        RATE_LIMIT, "2 entries in the last minute, limit 2"
    )
    g.on_quotes(tuple(good(s, ts=NOON + 60_000) for s in SYMBOLS))
    assert approved(g.evaluate(intent(SOL, ts=NOON + 60_000))).qty == 50.0


def test_margin_beyond_the_bots_share_of_its_budget_is_bot_budget_with_the_numbers() -> None:
    # a 0.1% stop is capped at one slot's margin: 10,000 / 5 = 2,000 USDT (60 units at 100, 3x);
    # 50% of the 10,000 budget allows 5,000 of margin: two such entries fit, a third does not
    g = gate()
    for symbol in (BTC, ETH):
        assert approved(g.evaluate(intent(symbol, stop=99.9))).margin == pytest.approx(2_000.0)
    assert denied(g.evaluate(intent(SOL, stop=99.9))) == Denied(
        BOT_BUDGET,
        "margin in use 4000.00 + 2000.00 = 6000.00 USDT > 50% of the 10000.00 USDT budget = 5000.00",
    )


# --- leverage, per-symbol caps and size scaling -------------------------------------------------


def test_per_symbol_leverage_changes_the_margin_but_not_the_size_or_risk() -> None:
    g = gate(limits=RiskLimits(leverage=((ETH, 10.0),)))
    at_default = approved(g.evaluate(intent(BTC)))
    at_ten = approved(g.evaluate(intent(ETH)))
    assert (at_default.qty, at_default.risk_usdt) == (at_ten.qty, at_ten.risk_usdt) == (50.0, 100.0)
    assert at_default.margin == pytest.approx(5_000.0 / 3.0)
    assert at_ten.margin == pytest.approx(500.0)


def test_max_symbol_notional_caps_the_size_with_a_note() -> None:
    a = approved(gate(limits=RiskLimits(max_symbol_notional_usdt=2_000.0)).evaluate(intent()))
    assert a.qty == pytest.approx(20.0)
    assert a.risk_usdt == pytest.approx(40.0)  # below the 100 USDT risk budget, never above
    assert a.note == "size capped at 2000.00 USDT notional by max_symbol_notional_usdt (3x leverage)"


def test_max_symbol_margin_caps_the_size_at_that_margin_times_leverage() -> None:
    a = approved(gate(limits=RiskLimits(max_symbol_margin_usdt=500.0)).evaluate(intent()))
    assert a.qty == pytest.approx(15.0)  # 500 USDT margin x 3 = 1,500 notional at 100
    assert a.margin == pytest.approx(500.0)
    assert a.note == "size capped at 1500.00 USDT notional by max_symbol_margin_usdt (3x leverage)"


def test_a_symbol_cap_above_the_risk_size_changes_nothing() -> None:
    limits = RiskLimits(max_symbol_notional_usdt=5_000.0, max_symbol_margin_usdt=2_000.0)
    a = approved(gate(limits=limits).evaluate(intent()))
    assert (a.qty, a.risk_usdt, a.note) == (50.0, 100.0, "")


def test_a_symbol_cap_denies_only_when_the_capped_size_is_under_one_lot() -> None:
    g = gate(limits=RiskLimits(max_symbol_notional_usdt=500.0))
    g.on_quotes((good(BTC, price=60_000.0),))
    # 1% risk over a 1,000 stop is 0.1 BTC; 500 USDT at 60,000 is 0.0083 BTC, under a 0.01 lot
    assert denied(g.evaluate(intent(BTC, price=60_000.0, stop=59_000.0), lot_size=0.01)).code == SIZE_ZERO
    # the same cap with a lot small enough keeps a (capped) entry
    assert approved(g.evaluate(intent(BTC, price=60_000.0, stop=59_000.0), lot_size=0.001)).qty == 0.008


def test_high_volatility_regime_halves_a_full_size_entry() -> None:
    a = approved(gate().evaluate(intent(regime=Regime.HIGH_VOLATILITY, size_scale=1.0)))
    assert (a.qty, a.risk_usdt) == (25.0, 50.0)
    assert a.note == "size x0.5"


def test_high_volatility_regime_keeps_a_smaller_scale_the_strategy_asked_for() -> None:
    a = approved(gate().evaluate(intent(regime=Regime.HIGH_VOLATILITY, size_scale=0.3)))
    assert a.qty == pytest.approx(15.0)
    assert a.note == "size x0.3"


def test_other_regimes_keep_the_full_size() -> None:
    assert approved(gate().evaluate(intent(regime=Regime.TRENDING))).qty == 50.0


@pytest.mark.parametrize("scale", [0.0, 1.5, math.nan, -0.5])
def test_a_size_scale_outside_zero_to_one_is_invalid_size(scale: float) -> None:
    d = denied(gate().evaluate(intent(size_scale=scale)))
    assert d == Denied(INVALID_SIZE, f"size scale {scale} not in (0, 1] or notional 0.0")


@pytest.mark.parametrize("notional", [-1.0, math.inf, math.nan])
def test_a_negative_or_non_finite_notional_is_invalid_size(notional: float) -> None:
    assert denied(gate().evaluate(intent(notional=notional))).code == INVALID_SIZE


# --- strategy budget ----------------------------------------------------------------------------


def test_a_pending_reversal_counts_the_larger_notional_against_the_strategy_budget() -> None:
    g = RiskGate(RiskLimits(strategy_budgets=(("dip", 5_000.0),)))
    g.on_quotes(tuple(good(s) for s in SYMBOLS))
    held = PositionView(BTC, Side.LONG, 30.0, 100.0, 99.0, 100.0, strategy="dip")  # 3,000 USDT
    g.on_portfolio(update(held))
    reverse = EnterPosition(BTC, NOON, Side.SHORT, 100.0, 101.0, "dip", "flip", notional=1_000.0)
    assert approved(g.evaluate(reverse)).reversed_qty == 30.0
    # if the reversal is rejected the strategy still holds 3,000: 3,500 more would make 6,500 > 5,000
    more = EnterPosition(ETH, NOON, Side.LONG, 100.0, 99.0, "dip", "dip", notional=3_500.0)
    assert denied(g.evaluate(more)).code == BUDGET


# --- drawdown -----------------------------------------------------------------------------------

NO_PNL_STOP = RiskLimits(max_total_loss_pct=0.5)  # keeps the total loss stop out of the way


def test_equity_at_the_drawdown_floor_halts_with_drawdown() -> None:
    g = gate(limits=NO_PNL_STOP)
    change = g.on_portfolio(update(equity=8_500.0, peak=10_000.0, ts=NOON + 1))
    assert change is not None and (change.state, change.code) == (TradingState.HALTED, DRAWDOWN)
    assert g.reason.startswith("max drawdown: equity 8500.00 <= 8500.00 (peak 10000.00 - 15.00%)")
    assert denied(g.evaluate(intent())).code == HALTED


def test_equity_a_cent_above_the_drawdown_floor_keeps_trading() -> None:
    g = gate(limits=NO_PNL_STOP)
    assert g.on_portfolio(update(equity=8_500.01, peak=10_000.0, ts=NOON + 1)) is None
    assert approved(g.evaluate(intent())).qty > 0.0


def test_a_new_utc_day_does_not_lift_a_drawdown_halt() -> None:
    g = gate(limits=NO_PNL_STOP)
    g.on_portfolio(update(equity=8_500.0, peak=10_000.0, ts=NOON + 1))
    assert g.on_portfolio(update(equity=8_600.0, peak=10_000.0, ts=MIDNIGHT + DAY_MS + 1)) is None
    assert (g.state, g.code) == (TradingState.HALTED, DRAWDOWN)


def test_resume_lifts_a_drawdown_halt_and_re_bases_the_peak() -> None:
    g = gate(limits=NO_PNL_STOP)
    g.on_portfolio(update(equity=8_500.0, peak=10_000.0, ts=NOON + 1))
    assert g.command(TradingState.ACTIVE, "operator: loss acknowledged") == TradingStateChanged(
        TradingState.ACTIVE, "", ""
    )
    # the Portfolio may still report the old peak: the gate measures from 8,500 now
    assert g.on_portfolio(update(equity=8_500.0, peak=10_000.0, ts=NOON + 2)) is None
    g.on_quotes(tuple(good(s, ts=NOON + 2) for s in SYMBOLS))
    assert approved(g.evaluate(intent(ts=NOON + 2))).qty > 0.0


def test_after_a_re_base_a_further_fall_of_max_drawdown_halts_again() -> None:
    g = gate(limits=NO_PNL_STOP)
    g.on_portfolio(update(equity=8_500.0, peak=10_000.0, ts=NOON + 1))
    g.command(TradingState.ACTIVE, "operator")
    assert g.on_portfolio(update(equity=7_225.01, peak=10_000.0, ts=NOON + 2)) is None
    change = g.on_portfolio(update(equity=7_225.0, peak=10_000.0, ts=NOON + 3))  # 8,500 x 0.85
    assert change is not None and (change.state, change.code) == (TradingState.HALTED, DRAWDOWN)
    assert "peak 8500.00" in g.reason


# --- total loss stop: REDUCING ------------------------------------------------------------------


def reducing_gate() -> RiskGate:
    """A gate whose equity just hit the total loss stop (10,000 - 25% of 10,000) with two positions."""
    g = gate(view(BTC, Side.LONG, qty=50.0), view(ETH, Side.SHORT, qty=20.0, stop=102.0))
    change = g.on_portfolio(
        update(view(BTC, Side.LONG, qty=50.0), view(ETH, Side.SHORT, qty=20.0, stop=102.0), equity=7_500.0)
    )
    assert change == TradingStateChanged(
        TradingState.REDUCING,
        "total loss stop: equity 7500.00 <= 7500.00 (start 10000.00 - 25% of the 10000.00 budget); "
        "positions are being closed",
        PNL_STOP,
    )
    return g


def test_the_total_loss_stop_puts_trading_into_reducing_and_denies_entries_with_reducing() -> None:
    g = reducing_gate()
    d = denied(g.evaluate(intent(SOL)))
    assert d.code == REDUCING
    assert d.detail.startswith("REDUCING (PNL_STOP): total loss stop: equity 7500.00")


def test_reducing_flattens_each_open_position_once() -> None:
    g = reducing_gate()
    exits = g.flatten(NOON + 5)
    assert sorted(exits, key=lambda e: e.symbol) == [
        ExitPosition(BTC, NOON + 5, f"reducing: {g.reason}"),
        ExitPosition(ETH, NOON + 5, f"reducing: {g.reason}"),
    ]
    assert g.flatten(NOON + 6) == []
    # the next update still shows both (the exits have not filled): no second exit for either
    g.on_portfolio(update(view(BTC), view(ETH, Side.SHORT, qty=20.0, stop=102.0), equity=7_400.0, ts=NOON + 7))
    assert g.flatten(NOON + 7) == []


def test_a_rejected_reducing_exit_is_tried_again_by_the_next_flatten() -> None:
    g = reducing_gate()
    g.flatten(NOON + 5)
    g.release(BTC)  # the BTC exit order was rejected
    assert g.flatten(NOON + 6) == [ExitPosition(BTC, NOON + 6, f"reducing: {g.reason}")]
    assert g.flatten(NOON + 7) == []


def test_reducing_exits_become_reduce_only_orders_for_the_whole_position() -> None:
    g = reducing_gate()
    orders = [g.exit_order(e) for e in g.flatten(NOON + 5)]
    assert sorted((o.symbol, o.side, o.qty, o.reduce_only) for o in orders if o is not None) == [
        (BTC, Side.SHORT, 50.0, True),
        (ETH, Side.LONG, 20.0, True),
    ]


def test_a_position_opened_after_reducing_started_is_flattened_on_the_update_that_shows_it() -> None:
    g = gate()
    approved(g.evaluate(intent(SOL)))  # in flight when the stop hits
    g.on_portfolio(update(equity=7_500.0, ts=NOON + 1))
    assert g.flatten(NOON + 1) == []
    g.on_portfolio(update(view(SOL), equity=7_500.0, ts=NOON + 2))
    assert [e.symbol for e in g.flatten(NOON + 2)] == [SOL]


def test_flatten_does_nothing_unless_reducing() -> None:
    g = gate(view(BTC))
    assert g.flatten(NOON) == []
    g.command(TradingState.HALTED, "operator")
    assert g.flatten(NOON) == []


# --- strictness of the states -------------------------------------------------------------------


def test_reducing_is_not_downgraded_to_halted_by_a_daily_loss() -> None:
    g = gate()
    g.command(TradingState.REDUCING, "operator: wind down")
    assert g.on_portfolio(update(equity=9_500.0, day_start=10_000.0, ts=NOON + 1)) is None
    assert (g.state, g.code, g.reason) == (TradingState.REDUCING, MANUAL, "operator: wind down")


def test_a_drawdown_halt_is_not_replaced_by_the_laxer_daily_loss_halt() -> None:
    g = gate(limits=NO_PNL_STOP)
    g.on_portfolio(update(equity=8_500.0, day_start=8_500.0, peak=10_000.0, ts=NOON + 1))
    g.on_portfolio(update(equity=8_100.0, day_start=8_500.0, peak=10_000.0, ts=NOON + 2))  # -4.7% today
    assert (g.state, g.code) == (TradingState.HALTED, DRAWDOWN)


def test_a_daily_loss_halt_is_replaced_by_the_stricter_total_loss_stop() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_500.0, day_start=10_000.0, ts=NOON + 1))
    assert g.code == DAILY_LOSS
    change = g.on_portfolio(update(equity=7_400.0, day_start=10_000.0, ts=NOON + 2))
    assert change is not None and (change.state, change.code) == (TradingState.REDUCING, PNL_STOP)


def test_an_operators_command_always_applies_even_to_a_laxer_state() -> None:
    g = reducing_gate()
    change = g.command(TradingState.HALTED, "operator: investigating")
    assert change == TradingStateChanged(TradingState.HALTED, "operator: investigating", MANUAL)
    assert g.flatten(NOON + 5) == []
    assert denied(g.evaluate(intent(SOL))).code == HALTED


def test_resume_cannot_override_a_total_loss_still_breached() -> None:
    g = reducing_gate()
    assert g.command(TradingState.ACTIVE, "operator") is None
    assert (g.state, g.code) == (TradingState.REDUCING, PNL_STOP)


# --- restore ------------------------------------------------------------------------------------


def restored(code: str, saved_ts: int) -> RiskGate:
    g = RiskGate(RiskLimits())
    g.restore(TradingState.HALTED, code, "saved before the restart", saved_ts)
    g.on_quotes(tuple(good(s, ts=NOON + DAY_MS) for s in SYMBOLS))
    return g


def test_a_restored_daily_loss_halt_lifts_on_the_first_update_of_a_new_utc_day() -> None:
    g = restored(DAILY_LOSS, saved_ts=NOON)
    assert denied(g.evaluate(intent(ts=NOON + DAY_MS))).code == HALTED  # before any portfolio update
    change = g.on_portfolio(update(equity=9_500.0, ts=MIDNIGHT + DAY_MS + 60_000))
    assert change == TradingStateChanged(TradingState.ACTIVE, "", "")
    assert approved(g.evaluate(intent(ts=NOON + DAY_MS))).qty > 0.0


def test_a_restored_daily_loss_halt_holds_for_the_rest_of_its_own_day() -> None:
    g = restored(DAILY_LOSS, saved_ts=MIDNIGHT + DAY_MS + 1)
    assert g.on_portfolio(update(equity=9_900.0, ts=NOON + DAY_MS)) is None
    assert denied(g.evaluate(intent(ts=NOON + DAY_MS))) == Denied(
        HALTED, "HALTED (DAILY_LOSS): saved before the restart"
    )


def test_a_restored_drawdown_halt_does_not_lift_on_a_new_day() -> None:
    g = restored(DRAWDOWN, saved_ts=NOON)
    assert g.on_portfolio(update(equity=9_900.0, ts=NOON + DAY_MS)) is None
    assert (g.state, g.code) == (TradingState.HALTED, DRAWDOWN)


# --- repeat -------------------------------------------------------------------------------------


def test_a_denial_is_a_repeat_only_when_the_symbols_previous_verdict_was_the_same_denial() -> None:
    g = gate()
    bad = intent(BTC, stop=101.0)
    assert denied(g.evaluate(bad)).repeat is False
    assert denied(g.evaluate(bad)) == Denied(INVALID_STOP, "long entry 100.0 needs a stop below: 101.0", True)
    assert denied(g.evaluate(intent(ETH, stop=101.0))).repeat is False  # another symbol
    assert denied(g.evaluate(intent(BTC, size_scale=2.0))).repeat is False  # another code
    assert denied(g.evaluate(intent(BTC, size_scale=2.0))).repeat is True


def test_an_approval_resets_the_repeat_of_its_symbol() -> None:
    g = gate()
    g.evaluate(intent(BTC, stop=101.0))
    approved(g.evaluate(intent(BTC)))
    g.release(BTC)
    assert denied(g.evaluate(intent(BTC, stop=101.0))).repeat is False
