"""RiskGate: sizing, every denial code, reservations and the daily loss halt."""

from __future__ import annotations

import pytest

from engine.core.risk import (
    ALREADY_IN_POSITION,
    DAILY_LOSS,
    HALTED,
    HEAT_CAP,
    INSUFFICIENT_MARGIN,
    INVALID_STOP,
    MAX_POSITIONS,
    NO_PORTFOLIO,
    SIZE_ZERO,
    Approved,
    Denied,
    RiskGate,
    RiskLimits,
)
from engine.messages import (
    EnterPosition,
    ExitPosition,
    PortfolioUpdated,
    PositionView,
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
    *positions: PositionView, equity: float = 10_000.0, day_start: float = 10_000.0, ts: int = NOON
) -> PortfolioUpdated:
    return PortfolioUpdated(ts, equity, equity, day_start, max(equity, day_start), positions)


def intent(symbol: str = "BTCUSDT", side: Side = Side.LONG, price: float = 100.0, stop: float = 98.0) -> EnterPosition:
    return EnterPosition(symbol, NOON, side, price, stop, "ema_cross", "fast above slow")


def gate(*positions: PositionView, limits: RiskLimits | None = None) -> RiskGate:
    """A gate with the default limits unless given, fed one update with ``positions``."""
    g = RiskGate(limits or RiskLimits())
    g.on_portfolio(update(*positions))
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
    g = RiskGate(RiskLimits())
    g.on_portfolio(update(equity=38_684.30, day_start=38_684.30))
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
    g.halt("operator: exchange maintenance")
    d = denied(g.evaluate(intent()))
    assert d == Denied(HALTED, "HALTED: operator: exchange maintenance")


def test_resume_after_a_manual_halt_approves_again() -> None:
    g = gate()
    g.halt("operator")
    assert g.resume() == TradingStateChanged(TradingState.ACTIVE, "")
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


def test_daily_loss_at_the_limit_is_daily_loss() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_600.0))
    d = denied(g.evaluate(intent()))
    assert d.code == DAILY_LOSS
    assert "equity 9600.00 <= 9600.00" in d.detail


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
    assert "capped by the margin budget" in a.note


def test_an_uncapped_size_carries_no_note() -> None:
    assert approved(gate().evaluate(intent())).note == ""


def test_margin_above_equity_is_insufficient_margin() -> None:
    # four open positions of 150 units at 100 lock 4 x 5,000 = 20,000 USDT margin at 3x, more than
    # the 10,000 equity (the price fell after they opened): nothing more may be opened
    held = [view(s, qty=150.0, stop=99.9) for s in ("A", "B", "C", "D")]
    d = denied(gate(*held, limits=RiskLimits(portfolio_heat_cap_pct=1.0)).evaluate(intent()))
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
    g = gate(*others, view("BTCUSDT", Side.SHORT, stop=102.0))  # 500 USDT: the cap is full
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


# --- exits -------------------------------------------------------------------------------------


def test_exit_of_a_long_is_a_reduce_only_sell_of_the_whole_position() -> None:
    order = gate(view("BTCUSDT", qty=50.0)).exit_order(ExitPosition("BTCUSDT", NOON, "stop"))
    assert order == SubmitOrder(f"BTCUSDT-{NOON}-exit", "BTCUSDT", NOON, Side.SHORT, 50.0, 0.0, True, "exit", "stop")


def test_exit_without_a_position_gives_no_order() -> None:
    assert gate(view("ETHUSDT")).exit_order(ExitPosition("BTCUSDT", NOON, "stop")) is None


def test_exit_goes_through_while_halted() -> None:
    g = gate(view("BTCUSDT", Side.SHORT, stop=102.0))
    g.halt("operator")
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
    assert denied(g.evaluate(intent())).code == DAILY_LOSS


def test_daily_loss_halt_lifts_on_the_next_utc_day() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_500.0))
    change = g.on_portfolio(update(equity=9_500.0, day_start=9_500.0, ts=MIDNIGHT + DAY_MS))
    assert change == TradingStateChanged(TradingState.ACTIVE, "")
    assert isinstance(g.evaluate(intent()), Approved)


def test_a_new_utc_day_does_not_lift_a_manual_halt() -> None:
    g = gate()
    g.halt("operator")
    assert g.on_portfolio(update(ts=MIDNIGHT + DAY_MS)) is None
    assert (g.state, g.reason) == (TradingState.HALTED, "operator")


def test_resume_cannot_override_a_daily_loss_still_breached() -> None:
    g = gate()
    g.on_portfolio(update(equity=9_500.0))
    g.resume()
    g.on_portfolio(update(equity=9_500.0, ts=NOON + 60_000))
    assert g.state is TradingState.HALTED


def test_invalid_config_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="leverage"):
        RiskLimits(default_leverage=0.0)
