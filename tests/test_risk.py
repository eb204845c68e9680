"""RiskGate: sizing, every denial code, reservations, kill-switches, trading states and loss limits."""

from __future__ import annotations

import pytest

from engine.core.kill_switch import STALE_DATA, THIN_BOOK, WIDE_SPREAD
from engine.core.limits import KillSwitchLimits
from engine.core.risk import (
    ALREADY_IN_POSITION,
    BOT_BUDGET,
    CORRELATION,
    DAILY_LOSS,
    DRAWDOWN,
    HALTED,
    HEAT_CAP,
    INSUFFICIENT_MARGIN,
    INVALID_SIZE,
    INVALID_STOP,
    MANUAL,
    MAX_POSITIONS,
    NO_PORTFOLIO,
    PNL_STOP,
    RATE_LIMIT,
    REDUCING,
    SIZE_ZERO,
    Approved,
    Denied,
    RiskGate,
    RiskLimits,
)
from engine.messages import (
    CorrelationUpdated,
    EnterPosition,
    ExitPosition,
    PortfolioUpdated,
    PositionView,
    Quote,
    Side,
    SubmitOrder,
    TradingState,
    TradingStateChanged,
)

DAY_MS = 86_400_000
MIDNIGHT = 19_700 * DAY_MS  # 2023-12-09 00:00 UTC
NOON = MIDNIGHT + DAY_MS // 2


def view(symbol: str, side: Side = Side.LONG, qty: float = 50.0, stop: float = 98.0) -> PositionView:
    """A position entered at 100; with the defaults it risks 100 USDT."""
    return PositionView(symbol, side, qty, 100.0, stop, 100.0)


def update(
    *positions: PositionView, equity: float = 10_000.0, day_start: float = 10_000.0, ts: int = NOON,
    peak: float = 0.0,
) -> PortfolioUpdated:  # fmt: skip
    """The portfolio at ``ts``; its peak is the higher of the equity and the day start unless given."""
    return PortfolioUpdated(ts, equity, equity, day_start, peak or max(equity, day_start), positions)


def intent(
    symbol: str = "BTCUSDT", side: Side = Side.LONG, price: float = 100.0, stop: float = 98.0, *,
    ts: int = NOON, size_scale: float = 1.0,
) -> EnterPosition:  # fmt: skip
    return EnterPosition(symbol, ts, side, price, stop, "ema_cross", "fast above slow", size_scale=size_scale)


def quote(
    symbol: str = "BTCUSDT", ts: int = NOON, bid: float = 99.99, ask: float = 100.01, depth: float = 1e6
) -> Quote:
    """A quote fit for trading unless told otherwise: current, 2 bps wide, 1M USDT deep per side."""
    return Quote(symbol, ts, bid, ask, (bid + ask) / 2, bid_depth_usdt=depth, ask_depth_usdt=depth)


# every symbol the tests trade; a symbol without a quote is STALE_DATA
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", *(f"S{i}" for i in range(5)), *(f"S{i}USDT" for i in range(5)))


def market(ts: int = NOON) -> tuple[Quote, ...]:
    """A fresh, tight, deep quote of every symbol at ``ts``."""
    return tuple(quote(s, ts) for s in SYMBOLS)


def gate(*positions: PositionView, limits: RiskLimits | None = None, equity: float = 10_000.0) -> RiskGate:
    """A gate with the default limits unless given, fed the market at NOON and one update with
    ``positions``."""
    g = RiskGate(limits or RiskLimits())
    g.on_quotes(market())
    g.on_portfolio(update(*positions, equity=equity, day_start=equity))
    return g


def denied(verdict: Approved | Denied) -> Denied:
    assert isinstance(verdict, Denied), verdict
    return verdict


def approved(verdict: Approved | Denied) -> Approved:
    assert isinstance(verdict, Approved), verdict
    return verdict


# --- sizing -------------------------------------------------------------------------------------


def test_approves_one_percent_risk_with_margin_at_default_leverage() -> None:
    a = approved(gate().evaluate(intent()))
    assert (a.qty, a.risk_usdt, a.reversed_qty) == (50.0, 100.0, 0.0)
    assert a.margin == pytest.approx(1666.67, abs=0.005)


def test_lot_size_truncates_the_approved_qty() -> None:
    assert approved(gate().evaluate(intent(stop=97.0), lot_size=0.1)).qty == 33.3


def test_five_one_percent_trades_fill_a_five_percent_cap_despite_float_rounding() -> None:
    # these five risks sum to 1934.2150000000004 in floats, one ulp above 5% of equity
    entries = [(570.9741, 535.5408), (284.7634, 259.3357), (807.7415, 736.4091),
               (747.518, 713.1198), (964.9804, 941.1893)]  # fmt: skip
    # the budget is the equity here, and all of it may be in use as margin: only the heat cap binds
    g = gate(limits=RiskLimits(budget_usdt=38_684.30, max_open_share=1.0), equity=38_684.30)
    verdicts = [g.evaluate(intent(f"S{i}", price=p, stop=s)) for i, (p, s) in enumerate(entries)]
    assert all(isinstance(v, Approved) for v in verdicts)


# --- every denial code --------------------------------------------------------------------------


def test_long_with_stop_above_entry_is_invalid_stop() -> None:
    d = denied(gate().evaluate(intent(stop=101.0)))
    assert d.code == INVALID_STOP
    assert "below" in d.detail


def test_short_with_stop_below_entry_is_invalid_stop() -> None:
    assert denied(gate().evaluate(intent(side=Side.SHORT, stop=98.0))).code == INVALID_STOP


def test_stop_at_entry_is_invalid_stop() -> None:
    assert denied(gate().evaluate(intent(stop=100.0))).code == INVALID_STOP


def test_manual_halt_denies_with_halted_and_the_reason() -> None:
    g = gate()
    g.command(TradingState.HALTED, "operator: exchange maintenance")
    d = denied(g.evaluate(intent()))
    assert d == Denied(HALTED, "HALTED (MANUAL): operator: exchange maintenance")


def test_resume_after_a_manual_halt_approves_again() -> None:
    g = gate()
    assert g.command(TradingState.HALTED, "operator") == TradingStateChanged(TradingState.HALTED, "operator", MANUAL)
    assert g.command(TradingState.ACTIVE, "") == TradingStateChanged(TradingState.ACTIVE, "", "")
    assert isinstance(g.evaluate(intent()), Approved)


def test_no_portfolio_yet_is_no_portfolio() -> None:
    assert denied(RiskGate(RiskLimits()).evaluate(intent())).code == NO_PORTFOLIO


def test_same_side_already_open_is_already_in_position() -> None:
    d = denied(gate(view("BTCUSDT")).evaluate(intent()))
    assert d == Denied(ALREADY_IN_POSITION, "long 50.0 open on BTCUSDT")


def test_same_symbol_already_pending_is_already_in_position() -> None:
    g = gate()
    g.evaluate(intent())
    assert denied(g.evaluate(intent())).code == ALREADY_IN_POSITION


def test_sixth_position_is_max_positions_with_count_and_limit() -> None:
    g = gate(*(view(f"S{i}USDT", qty=10.0) for i in range(5)))
    assert denied(g.evaluate(intent())) == Denied(MAX_POSITIONS, "5 open or pending, limit 5")


def test_risk_over_the_heat_cap_is_heat_cap_with_the_numbers() -> None:
    g = gate(*(view(f"S{i}USDT", qty=75.0) for i in range(3)))  # 3 x 150 USDT at risk
    d = denied(g.evaluate(intent()))
    assert d.code == HEAT_CAP
    assert d.detail == ("open risk 450.00 + 100.00 = 550.00 USDT > cap 5.00% x equity 10000.00 = 500.00")


def test_daily_loss_at_the_limit_halts_with_daily_loss_as_the_cause() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_600.0))
    d = denied(g.evaluate(intent()))
    assert d.code == HALTED
    assert d.detail.startswith("HALTED (DAILY_LOSS): daily loss limit: equity 9600.00 <= 9600.00")


def test_size_under_one_lot_is_size_zero() -> None:
    d = denied(gate().evaluate(intent(price=60_000.0, stop=50_000.0), lot_size=0.1))
    assert d.code == SIZE_ZERO


def test_a_tight_stop_is_capped_to_one_slots_margin_budget() -> None:
    # a 0.1 USDT stop would buy 1,000 units (100,000 USDT notional, 33,333 margin at 3x); one of 5
    # slots may use 10,000 / 5 = 2,000 USDT of margin, i.e. 6,000 notional = 60 units at 100
    a = approved(gate().evaluate(intent(stop=99.9)))
    assert a.qty == pytest.approx(60.0)
    assert a.margin == pytest.approx(2000.0)
    assert a.risk_usdt == pytest.approx(6.0)
    assert a.note == "size capped at 6000.00 USDT notional by the margin share of one slot (3x leverage)"


def test_an_uncapped_size_carries_no_note() -> None:
    assert approved(gate().evaluate(intent())).note == ""


def test_margin_above_equity_is_insufficient_margin() -> None:
    # four open positions of 150 units at 100 lock 4 x 5,000 = 20,000 USDT margin at 3x, more than
    # the 10,000 equity (the price fell after they opened): nothing more may be opened. The bot's
    # budget is set far above equity, so equity is the margin limit that binds
    held = [view(s, qty=150.0, stop=99.9) for s in ("S0", "S1", "S2", "S3")]
    limits = RiskLimits(portfolio_heat_cap_pct=1.0, budget_usdt=100_000.0)
    d = denied(gate(*held, limits=limits).evaluate(intent()))
    assert d.code == INSUFFICIENT_MARGIN
    assert "margin in use 20000.00 + 1666.67 = 21666.67 USDT > equity 10000.00" in d.detail


def test_denials_are_counted_by_code() -> None:
    g = gate()
    g.evaluate(intent(stop=101.0))
    g.evaluate(intent(stop=100.0))
    g.evaluate(intent())
    g.evaluate(intent())
    assert g.denials == {INVALID_STOP: 2, ALREADY_IN_POSITION: 1}


# --- reversals ----------------------------------------------------------------------------------


def test_opposite_side_on_the_same_symbol_is_a_reversal_with_the_qty_to_close() -> None:
    a = approved(gate(view("BTCUSDT", Side.SHORT, qty=30.0, stop=102.0)).evaluate(intent()))
    assert (a.qty, a.reversed_qty) == (50.0, 30.0)


def test_reversal_takes_the_slot_of_the_position_it_closes() -> None:
    g = gate(view("BTCUSDT", Side.SHORT, stop=102.0), limits=RiskLimits(max_concurrent_positions=1))
    assert isinstance(g.evaluate(intent()), Approved)


def test_reversal_replaces_the_risk_of_the_position_it_closes() -> None:
    others = [view(f"S{i}USDT") for i in range(4)]
    # 500 USDT at risk: the heat cap is full; all of the budget may be in use as margin
    g = gate(*others, view("BTCUSDT", Side.SHORT, stop=102.0), limits=RiskLimits(max_open_share=1.0))
    assert isinstance(g.evaluate(intent()), Approved)


# --- reservations -------------------------------------------------------------------------------


def test_two_approvals_before_the_update_count_against_max_positions() -> None:
    g = gate(view("S0USDT"), limits=RiskLimits(max_concurrent_positions=2))
    assert isinstance(g.evaluate(intent("BTCUSDT")), Approved)
    assert denied(g.evaluate(intent("ETHUSDT"))).code == MAX_POSITIONS


def test_approvals_before_the_update_count_against_the_heat_cap() -> None:
    g = gate(limits=RiskLimits(portfolio_heat_cap_pct=0.02))
    assert isinstance(g.evaluate(intent("BTCUSDT")), Approved)
    assert isinstance(g.evaluate(intent("ETHUSDT")), Approved)
    assert denied(g.evaluate(intent("SOLUSDT"))).code == HEAT_CAP


def test_release_after_a_rejected_order_frees_the_slot() -> None:
    g = gate(limits=RiskLimits(max_concurrent_positions=1))
    g.evaluate(intent("BTCUSDT"))
    g.release("BTCUSDT")
    assert isinstance(g.evaluate(intent("ETHUSDT")), Approved)


def test_update_that_shows_the_position_clears_the_reservation() -> None:
    g = gate()
    g.evaluate(intent("BTCUSDT"))
    g.on_portfolio(update(view("BTCUSDT")))
    assert g.pending == {}
    assert g.exposure().positions == 1


def test_update_that_does_not_show_the_position_yet_keeps_the_reservation() -> None:
    g = gate()
    g.evaluate(intent("BTCUSDT"))
    g.on_portfolio(update(view("ETHUSDT")))
    assert list(g.pending) == ["BTCUSDT"]
    assert g.exposure().positions == 2


def test_pending_reversal_counts_the_larger_of_its_risk_and_the_old_positions() -> None:
    g = gate(view("BTCUSDT", Side.SHORT, qty=200.0, stop=102.0))  # 400 USDT at risk
    g.evaluate(intent("BTCUSDT"))  # 100 USDT; a rejection would leave the 400
    assert (g.exposure().positions, g.exposure().heat) == (1, 400.0)


# --- kill-switches, entry rate, correlation -----------------------------------------------------


def test_a_symbol_without_a_quote_is_stale_data() -> None:
    assert denied(gate().evaluate(intent("XRPUSDT"))) == Denied(STALE_DATA, "no market data received yet")


def test_a_quote_older_than_stale_s_against_the_market_clock_is_stale_data() -> None:
    g = gate()
    g.on_quotes((quote("ETHUSDT", NOON + 31_000),))  # the market moved on; BTCUSDT's quote is 31 s old
    assert denied(g.evaluate(intent("BTCUSDT", ts=NOON + 31_000))) == Denied(STALE_DATA, "last update 31.0s old > 30s")
    assert isinstance(g.evaluate(intent("ETHUSDT", ts=NOON + 31_000)), Approved)


def test_a_quote_older_than_stale_s_against_the_intent_is_stale_data() -> None:
    assert denied(gate().evaluate(intent(ts=NOON + 31_000))).code == STALE_DATA


def test_a_quote_exactly_stale_s_old_is_still_fresh() -> None:
    assert isinstance(gate().evaluate(intent(ts=NOON + 30_000)), Approved)


def test_a_spread_wider_than_max_spread_bps_is_wide_spread() -> None:
    g = gate()
    g.on_quotes((quote(bid=99.8, ask=100.2),))
    assert denied(g.evaluate(intent())) == Denied(WIDE_SPREAD, "spread 40.0 bps > 25 bps")


def test_a_crossed_or_one_sided_quote_is_wide_spread() -> None:
    g = gate()
    g.on_quotes((quote("BTCUSDT", bid=100.2, ask=99.8), quote("ETHUSDT", bid=0.0, ask=100.0)))
    assert denied(g.evaluate(intent("BTCUSDT"))).code == WIDE_SPREAD
    assert denied(g.evaluate(intent("ETHUSDT"))).code == WIDE_SPREAD


def test_a_book_thinner_than_min_depth_usdt_is_thin_book() -> None:
    g = gate()
    g.on_quotes((quote(depth=4_000.0),))
    d = denied(g.evaluate(intent()))
    assert d == Denied(THIN_BOOK, "depth within 10 bps: bids 4,000 / asks 4,000 USDT < 5,000")


def test_a_symbol_whose_book_was_not_seen_yet_is_not_judged_thin() -> None:
    g = gate()
    g.on_quotes((quote(depth=-1.0),))
    assert isinstance(g.evaluate(intent()), Approved)


def test_the_kill_switch_limits_are_configurable() -> None:
    limits = RiskLimits(kill=KillSwitchLimits(stale_s=5.0, max_spread_bps=50.0, min_depth_usdt=0.0))
    g = gate(limits=limits)
    g.on_quotes((quote("BTCUSDT", bid=99.8, ask=100.2, depth=0.0),))
    assert isinstance(g.evaluate(intent("BTCUSDT")), Approved)
    assert denied(g.evaluate(intent("ETHUSDT", ts=NOON + 6_000))).code == STALE_DATA


def test_a_fresh_tight_quote_lifts_the_kill_switch() -> None:
    g = gate()
    g.on_quotes((quote(bid=99.8, ask=100.2),))
    assert denied(g.evaluate(intent())).code == WIDE_SPREAD
    g.on_quotes((quote(ts=NOON + 1_000),))
    assert isinstance(g.evaluate(intent(ts=NOON + 1_000)), Approved)


def test_blocks_lists_the_symbols_a_kill_switch_blocks_now() -> None:
    g = gate()
    g.on_quotes((quote("BTCUSDT", bid=99.8, ask=100.2), quote("ETHUSDT", depth=1_000.0)))
    assert g.blocks() == {
        "BTCUSDT": "WIDE_SPREAD: spread 40.0 bps > 25 bps",
        "ETHUSDT": "THIN_BOOK: depth within 10 bps: bids 1,000 / asks 1,000 USDT < 5,000",
    }


def test_entries_beyond_the_rate_limit_are_rate_limit_until_the_window_passes() -> None:
    g = gate(limits=RiskLimits(max_entries_per_minute=2))
    assert isinstance(g.evaluate(intent("BTCUSDT")), Approved)
    assert isinstance(g.evaluate(intent("ETHUSDT")), Approved)
    assert denied(g.evaluate(intent("SOLUSDT"))) == Denied(RATE_LIMIT, "2 entries in the last minute, limit 2")
    g.on_quotes(market(NOON + 60_000))
    assert isinstance(g.evaluate(intent("SOLUSDT", ts=NOON + 60_000)), Approved)


def test_a_denied_entry_does_not_count_against_the_rate_limit() -> None:
    g = gate(limits=RiskLimits(max_entries_per_minute=1))
    denied(g.evaluate(intent(stop=101.0)))
    assert isinstance(g.evaluate(intent()), Approved)


def correlation(rho: float) -> CorrelationUpdated:
    return CorrelationUpdated(NOON, ("BTCUSDT", "ETHUSDT"), (1.0, rho, rho, 1.0))


def test_an_entry_too_correlated_with_an_open_position_is_correlation() -> None:
    g = gate(view("BTCUSDT"))
    g.on_correlation(correlation(0.9))
    assert denied(g.evaluate(intent("ETHUSDT"))) == Denied(CORRELATION, "ETHUSDT/BTCUSDT rho +0.90, |rho| > 0.80")


def test_a_strong_negative_correlation_is_correlation_too() -> None:
    g = gate(view("BTCUSDT"))
    g.on_correlation(correlation(-0.85))
    assert denied(g.evaluate(intent("ETHUSDT"))).code == CORRELATION


def test_a_pending_entry_blocks_a_correlated_one() -> None:
    g = gate()
    g.on_correlation(correlation(0.9))
    assert isinstance(g.evaluate(intent("BTCUSDT")), Approved)
    assert denied(g.evaluate(intent("ETHUSDT"))).code == CORRELATION


def test_a_correlation_at_the_limit_is_allowed() -> None:
    g = gate(view("BTCUSDT"))
    g.on_correlation(correlation(0.8))
    assert isinstance(g.evaluate(intent("ETHUSDT")), Approved)


def test_a_reversal_is_not_blocked_by_its_own_correlation() -> None:
    g = gate(view("BTCUSDT", Side.SHORT, stop=102.0))
    g.on_correlation(correlation(0.9))
    assert isinstance(g.evaluate(intent("BTCUSDT")), Approved)


# --- bot budget, symbol caps, leverage, size scale ----------------------------------------------


def test_margin_over_the_open_share_of_the_bot_budget_is_bot_budget() -> None:
    g = gate(*(view(s, qty=40.0) for s in ("S0", "S1", "S2")))  # 3 x 4,000 notional = 4,000 margin at 3x
    assert denied(g.evaluate(intent())) == Denied(
        BOT_BUDGET, "margin in use 4000.00 + 1666.67 = 5666.67 USDT > 50% of the 10000.00 USDT budget = 5000.00"
    )


def test_the_symbol_notional_cap_caps_the_size_with_a_note() -> None:
    a = approved(gate(limits=RiskLimits(max_symbol_notional_usdt=3_000.0)).evaluate(intent()))
    assert (a.qty, a.risk_usdt) == (pytest.approx(30.0), pytest.approx(60.0))
    assert a.note == "size capped at 3000.00 USDT notional by max_symbol_notional_usdt (3x leverage)"


def test_the_symbol_margin_cap_caps_the_size_at_its_leverage() -> None:
    a = approved(gate(limits=RiskLimits(max_symbol_margin_usdt=500.0)).evaluate(intent()))
    assert (a.qty, a.margin) == (pytest.approx(15.0), pytest.approx(500.0))
    assert a.note == "size capped at 1500.00 USDT notional by max_symbol_margin_usdt (3x leverage)"


def test_a_symbols_own_leverage_sets_its_margin_not_its_risk() -> None:
    a = approved(gate(limits=RiskLimits(leverage=(("BTCUSDT", 10.0),))).evaluate(intent()))
    assert (a.qty, a.risk_usdt, a.margin) == (50.0, 100.0, pytest.approx(500.0))


@pytest.mark.parametrize("scale", [0.0, -0.5, 1.5, float("nan")])
def test_a_size_scale_outside_zero_to_one_is_invalid_size(scale: float) -> None:
    assert denied(gate().evaluate(intent(size_scale=scale))).code == INVALID_SIZE


# --- repeated denials ---------------------------------------------------------------------------


def test_the_same_denial_again_on_a_symbol_is_a_repeat() -> None:
    g = gate(view("BTCUSDT"))
    assert denied(g.evaluate(intent())).repeat is False
    assert denied(g.evaluate(intent())).repeat is True
    assert g.denials == {ALREADY_IN_POSITION: 2}


def test_another_code_or_an_approval_in_between_is_not_a_repeat() -> None:
    g = gate()
    assert denied(g.evaluate(intent(stop=101.0))).repeat is False
    assert denied(g.evaluate(intent(size_scale=2.0))).repeat is False
    approved(g.evaluate(intent()))
    g.release("BTCUSDT")
    assert denied(g.evaluate(intent(size_scale=2.0))).repeat is False


def test_a_repeat_is_counted_per_symbol() -> None:
    g = gate()
    assert denied(g.evaluate(intent("BTCUSDT", stop=101.0))).repeat is False
    assert denied(g.evaluate(intent("ETHUSDT", stop=101.0))).repeat is False


# --- exits -------------------------------------------------------------------------------------


def test_exit_of_a_long_is_a_reduce_only_sell_of_the_whole_position() -> None:
    order = gate(view("BTCUSDT", qty=50.0)).exit_order(ExitPosition("BTCUSDT", NOON, "stop"))
    assert order == SubmitOrder(f"BTCUSDT-{NOON}-exit", "BTCUSDT", NOON, Side.SHORT, 50.0, 0.0, True, "exit", "stop")


def test_exit_without_a_position_gives_no_order() -> None:
    assert gate(view("ETHUSDT")).exit_order(ExitPosition("BTCUSDT", NOON, "stop")) is None


def test_exit_goes_through_while_halted() -> None:
    g = gate(view("BTCUSDT", Side.SHORT, stop=102.0))
    g.command(TradingState.HALTED, "operator")
    order = g.exit_order(ExitPosition("BTCUSDT", NOON, "symbol removed"))
    assert order is not None and (order.side, order.reduce_only) == (Side.LONG, True)


# --- trading state and the daily loss -----------------------------------------------------------


def test_daily_loss_halts_with_the_reason_on_the_update() -> None:
    g = gate()
    change = g.on_portfolio(update(equity=9_550.0))
    assert change is not None and change.state is TradingState.HALTED
    assert g.state is TradingState.HALTED
    assert g.reason.startswith("daily loss limit: equity 9550.00 <= 9600.00")


def test_loss_just_inside_the_limit_keeps_trading() -> None:
    g = gate()
    assert g.on_portfolio(update(equity=9_600.01)) is None
    assert g.state is TradingState.ACTIVE


def test_daily_loss_halt_stays_for_the_rest_of_the_day_after_a_recovery() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_500.0))
    g.on_portfolio(update(equity=9_900.0, ts=NOON + 3_600_000))
    assert (g.state, g.code) == (TradingState.HALTED, DAILY_LOSS)
    assert denied(g.evaluate(intent())).code == HALTED


def test_daily_loss_halt_lifts_on_the_next_utc_day() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_500.0))
    change = g.on_portfolio(update(equity=9_500.0, day_start=9_500.0, ts=MIDNIGHT + DAY_MS))
    assert change == TradingStateChanged(TradingState.ACTIVE, "")
    assert isinstance(g.evaluate(intent()), Approved)


def test_a_new_utc_day_does_not_lift_a_manual_halt() -> None:
    g = gate()
    g.command(TradingState.HALTED, "operator")
    assert g.on_portfolio(update(ts=MIDNIGHT + DAY_MS)) is None
    assert (g.state, g.reason, g.code) == (TradingState.HALTED, "operator", MANUAL)


def test_resume_cannot_override_a_daily_loss_still_breached() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_500.0))
    g.command(TradingState.ACTIVE, "operator")
    g.on_portfolio(update(equity=9_500.0, ts=NOON + 60_000))
    assert g.state is TradingState.HALTED


# --- drawdown, total loss and the operator ------------------------------------------------------


def test_a_drawdown_to_the_limit_halts_and_a_new_day_does_not_lift_it() -> None:
    g = gate()
    change = g.on_portfolio(update(equity=8_500.0, day_start=8_500.0, peak=10_000.0))
    assert change is not None and (change.state, change.code) == (TradingState.HALTED, DRAWDOWN)
    assert g.reason.startswith("max drawdown: equity 8500.00 <= 8500.00 (peak 10000.00 - 15.00%)")
    assert g.on_portfolio(update(equity=8_500.0, day_start=8_500.0, peak=10_000.0, ts=MIDNIGHT + DAY_MS)) is None
    assert denied(g.evaluate(intent())).detail.startswith("HALTED (DRAWDOWN): max drawdown")


def test_resuming_from_a_drawdown_halt_measures_drawdown_from_the_equity_then() -> None:
    g = gate(limits=RiskLimits(max_total_loss_pct=0.5))  # a total-loss stop that stays out of the way
    g.on_portfolio(update(equity=8_500.0, day_start=8_500.0, peak=10_000.0))
    g.command(TradingState.ACTIVE, "")
    assert g.on_portfolio(update(equity=8_500.0, day_start=8_500.0, peak=10_000.0, ts=NOON + 1_000)) is None
    assert g.state is TradingState.ACTIVE
    assert g.on_portfolio(update(equity=7_225.01, day_start=7_225.01, peak=10_000.0, ts=NOON + 2_000)) is None
    change = g.on_portfolio(update(equity=7_225.0, day_start=7_225.0, peak=10_000.0, ts=NOON + 3_000))
    assert change is not None and change.code == DRAWDOWN  # 15% below the 8,500 resumed at


def test_a_total_loss_of_the_budget_share_puts_trading_into_reducing_and_flattens() -> None:
    # 25% of the 10,000 budget lost since the 10,000 start
    held = (view("BTCUSDT"), view("ETHUSDT", Side.SHORT, stop=102.0))
    g = gate(*held)
    change = g.on_portfolio(update(*held, equity=7_500.0, day_start=7_500.0))
    assert change is not None and (change.state, change.code) == (TradingState.REDUCING, PNL_STOP)
    assert denied(g.evaluate(intent("SOLUSDT"))).detail.startswith("REDUCING (PNL_STOP): total loss stop")
    exits = g.flatten(NOON)
    assert [(e.symbol, e.ts) for e in exits] == [("BTCUSDT", NOON), ("ETHUSDT", NOON)]
    assert exits[0].reason.startswith("reducing: total loss stop: equity 7500.00 <= 7500.00")
    assert g.flatten(NOON + 1) == []  # each position is closed once
    assert g.exit_order(exits[0]) is not None


def test_a_rejected_exit_is_tried_again_while_reducing() -> None:
    held = view("BTCUSDT")
    g = gate(held)
    g.on_portfolio(update(held, equity=7_500.0, day_start=7_500.0))
    assert [e.symbol for e in g.flatten(NOON)] == ["BTCUSDT"]
    g.release("BTCUSDT")  # what the Risk actor does on OrderRejected, for exits too
    g.on_portfolio(update(held, equity=7_500.0, day_start=7_500.0, ts=NOON + 1_000))  # still open
    assert [e.symbol for e in g.flatten(NOON + 1_000)] == ["BTCUSDT"]


def test_flatten_does_nothing_unless_reducing() -> None:
    g = gate(view("BTCUSDT"))
    g.command(TradingState.HALTED, "operator")
    assert g.flatten(NOON) == []


def test_a_stricter_state_replaces_a_laxer_one_but_not_the_reverse() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_500.0))
    assert g.code == DAILY_LOSS
    g.on_portfolio(update(equity=7_000.0, ts=NOON + 1_000))
    assert (g.state, g.code) == (TradingState.REDUCING, PNL_STOP)
    g.on_portfolio(update(equity=7_000.0, day_start=7_000.0, ts=MIDNIGHT + DAY_MS))
    assert (g.state, g.code) == (TradingState.REDUCING, PNL_STOP)


def test_the_operator_may_order_any_state() -> None:
    g = gate()
    change = g.command(TradingState.REDUCING, "operator: wind down")
    assert change == TradingStateChanged(TradingState.REDUCING, "operator: wind down", MANUAL)
    assert denied(g.evaluate(intent())) == Denied(REDUCING, "REDUCING (MANUAL): operator: wind down")
    assert g.command(TradingState.REDUCING, "operator: wind down") is None  # no change


def test_invalid_config_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="leverage"):
        RiskLimits(default_leverage=0.0)
