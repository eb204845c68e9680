"""RiskGate sizing modes: size_scale and the high-volatility cap, notional sizing capped by the risk
budget, per-strategy budgets."""

from __future__ import annotations

import pytest

from engine.core.risk import BUDGET, HEAT_CAP, Approved, Denied, RiskGate, RiskLimits
from engine.messages import EnterPosition, PortfolioUpdated, PositionView, Quote, Regime, Side

DAY_MS = 86_400_000
NOON = 19_700 * DAY_MS + DAY_MS // 2


def update(*positions: PositionView, equity: float = 10_000.0, ts: int = NOON) -> PortfolioUpdated:
    return PortfolioUpdated(ts, equity, equity, equity, equity, positions)


def view(
    symbol: str, qty: float, entry: float = 100.0, *, strategy: str = "long_dip", side: Side = Side.LONG
) -> PositionView:
    stop = entry * 0.98 if side is Side.LONG else entry * 1.02
    return PositionView(symbol, side, qty, entry, stop, entry, strategy=strategy)


def intent(
    symbol: str = "BTCUSDT", *, price: float = 100.0, stop: float = 98.0, side: Side = Side.LONG,
    strategy: str = "trend", size_scale: float = 1.0, notional: float = 0.0, regime: str = "",
) -> EnterPosition:  # fmt: skip
    return EnterPosition(
        symbol, NOON, side, price, stop, strategy, "test", regime=regime, size_scale=size_scale, notional=notional
    )  # fmt: skip


# every symbol the tests trade, each given a fresh, tight, deep quote so no kill-switch blocks it
SYMBOLS = ("BTCUSDT", "ETHUSDT", *(f"{c}USDT" for c in "ABCDE"), *(f"S{i}USDT" for i in range(5)))


def gate(*positions: PositionView, limits: RiskLimits | None = None) -> RiskGate:
    g = RiskGate(limits or RiskLimits())
    g.on_quotes(tuple(Quote(s, NOON, 99.99, 100.01, 100.0, bid_depth_usdt=1e6, ask_depth_usdt=1e6) for s in SYMBOLS))
    g.on_portfolio(update(*positions))
    return g


def approved(verdict: Approved | Denied) -> Approved:
    assert isinstance(verdict, Approved), verdict
    return verdict


def denied(verdict: Approved | Denied) -> Denied:
    assert isinstance(verdict, Denied), verdict
    return verdict


# --- size_scale ---------------------------------------------------------------------------------


def test_full_scale_is_the_risk_based_size_without_a_note() -> None:
    a = approved(gate().evaluate(intent()))
    assert (a.qty, a.risk_usdt, a.note) == (50.0, 100.0, "")


def test_half_scale_halves_the_risk_based_size_and_its_risk() -> None:
    a = approved(gate().evaluate(intent(size_scale=0.5)))
    assert a.qty == pytest.approx(25.0)
    assert a.risk_usdt == pytest.approx(50.0)
    assert a.margin == pytest.approx(25.0 * 100.0 / 3.0)
    assert a.note == "size x0.5"


def test_a_scaled_short_is_scaled_too() -> None:
    a = approved(gate().evaluate(intent(side=Side.SHORT, stop=104.0, size_scale=0.25)))
    assert a.qty == pytest.approx(25.0 * 0.25)
    assert a.risk_usdt == pytest.approx(25.0)


def test_a_scaled_size_is_truncated_to_the_lot_after_scaling() -> None:
    # 10,000 x 1% / 3 = 33.33 units, x 0.5 = 16.67, truncated to 16.6
    assert approved(gate().evaluate(intent(stop=97.0, size_scale=0.5), lot_size=0.1)).qty == 16.6


def test_a_half_scale_takes_half_the_heat_so_twice_as_many_fit_under_the_cap() -> None:
    g = gate(limits=RiskLimits(portfolio_heat_cap_pct=0.02, max_concurrent_positions=10))
    verdicts = [g.evaluate(intent(f"S{i}USDT", size_scale=0.5)) for i in range(5)]
    assert [isinstance(v, Approved) for v in verdicts] == [True, True, True, True, False]
    assert denied(verdicts[-1]).code == HEAT_CAP


def test_a_scaled_size_is_still_capped_by_the_margin_of_one_slot() -> None:
    # a 0.1 stop buys 1,000 units, x 0.5 = 500 > the 60 one slot's margin allows
    a = approved(gate().evaluate(intent(stop=99.9, size_scale=0.5)))
    assert a.qty == pytest.approx(60.0)
    assert a.note == "size x0.5; size capped at 6000.00 USDT notional by the margin share of one slot (3x leverage)"


def test_high_volatility_caps_the_scale_at_high_vol_size_scale() -> None:
    a = approved(gate().evaluate(intent(regime=Regime.HIGH_VOLATILITY)))
    assert (a.qty, a.risk_usdt, a.note) == (pytest.approx(25.0), pytest.approx(50.0), "size x0.5")


def test_high_volatility_keeps_a_smaller_scale_asked_for() -> None:
    a = approved(gate().evaluate(intent(regime=Regime.HIGH_VOLATILITY, size_scale=0.25)))
    assert (a.qty, a.note) == (pytest.approx(12.5), "size x0.25")


def test_the_high_vol_cap_is_configurable() -> None:
    g = gate(limits=RiskLimits(high_vol_size_scale=1.0))
    assert approved(g.evaluate(intent(regime=Regime.HIGH_VOLATILITY))).qty == 50.0


def test_other_regimes_are_not_scaled_down() -> None:
    assert approved(gate().evaluate(intent(regime=Regime.TRENDING))).qty == 50.0


# --- notional sizing ----------------------------------------------------------------------------


def test_a_notional_below_the_risk_budget_buys_that_value() -> None:
    a = approved(gate().evaluate(intent(strategy="long_dip", notional=2_500.0)))
    assert a.qty == pytest.approx(25.0)  # 2,500 / 100, the risk budget would allow 50
    assert a.risk_usdt == pytest.approx(50.0)
    assert a.note == ""


def test_a_notional_above_the_risk_budget_is_capped_to_it_with_a_note() -> None:
    a = approved(gate().evaluate(intent(strategy="long_dip", notional=8_000.0)))
    assert a.qty == pytest.approx(50.0)  # the risk-based size: 1% of equity at the stop
    assert a.risk_usdt == pytest.approx(100.0)
    assert a.note == "notional 8000.00 USDT capped by the risk budget"


def test_a_notional_exactly_at_the_risk_budget_is_taken_without_a_note() -> None:
    a = approved(gate().evaluate(intent(notional=5_000.0)))
    assert (a.qty, a.note) == (50.0, "")


def test_a_notional_is_compared_with_the_scaled_risk_size() -> None:
    a = approved(gate().evaluate(intent(notional=4_000.0, size_scale=0.5)))
    assert a.qty == pytest.approx(25.0)
    assert a.note == "size x0.5; notional 4000.00 USDT capped by the risk budget"
    b = approved(gate().evaluate(intent("ETHUSDT", notional=1_000.0, size_scale=0.5)))
    assert b.qty == pytest.approx(10.0)


def test_a_notional_size_is_truncated_to_the_lot() -> None:
    assert approved(gate().evaluate(intent(price=30.0, stop=29.0, notional=1_000.0), lot_size=0.5)).qty == 33.0


def test_no_notional_means_the_risk_based_size() -> None:
    assert approved(gate().evaluate(intent(notional=0.0))).qty == 50.0


# --- strategy budgets ---------------------------------------------------------------------------

# a heat cap and a bot-level margin cap that never bind, so only the strategy budget can deny; one
# slot may hold 6,000 USDT (60 units at 100)
BUDGETS = RiskLimits(strategy_budgets=(("long_dip", 5_000.0),), portfolio_heat_cap_pct=1.0, max_open_share=1.0)


def test_an_entry_within_the_strategy_budget_is_approved() -> None:
    g = gate(view("AUSDT", 20.0), limits=BUDGETS)  # 2,000 USDT open
    a = approved(g.evaluate(intent(strategy="long_dip", notional=3_000.0)))
    assert a.qty == pytest.approx(30.0)


def test_an_entry_over_the_strategy_budget_is_denied_with_the_numbers() -> None:
    g = gate(view("AUSDT", 20.0), view("BUSDT", 10.0, entry=150.0), limits=BUDGETS)  # 2,000 + 1,500 open
    d = denied(g.evaluate(intent(strategy="long_dip", notional=2_000.0)))
    assert d == Denied(
        BUDGET, "long_dip holds 3500.00 USDT open or pending + 2000.00 = 5500.00 > its budget cap 5000.00"
    )
    assert g.denials == {BUDGET: 1}
    assert g.pending == {}


def test_pending_entries_of_the_strategy_count_against_its_budget() -> None:
    g = gate(limits=BUDGETS)
    approved(g.evaluate(intent("AUSDT", strategy="long_dip", notional=3_000.0)))
    d = denied(g.evaluate(intent("BUSDT", strategy="long_dip", notional=2_500.0)))
    assert d.detail == "long_dip holds 3000.00 USDT open or pending + 2500.00 = 5500.00 > its budget cap 5000.00"
    approved(g.evaluate(intent("CUSDT", strategy="long_dip", notional=2_000.0)))


def test_a_shown_pending_entry_is_counted_once_at_its_entry_notional() -> None:
    g = gate(limits=BUDGETS)
    approved(g.evaluate(intent("AUSDT", strategy="long_dip", notional=3_000.0)))
    g.on_portfolio(update(view("AUSDT", 30.0, entry=110.0)))  # filled higher: 3,300 open
    d = denied(g.evaluate(intent("BUSDT", strategy="long_dip", notional=2_000.0)))
    assert "holds 3300.00 USDT" in d.detail


def test_an_entry_filling_the_budget_exactly_is_approved() -> None:
    g = gate(view("AUSDT", 30.0), limits=BUDGETS)
    assert approved(g.evaluate(intent(strategy="long_dip", notional=2_000.0))).qty == pytest.approx(20.0)


def test_the_budget_counts_the_final_size_not_the_requested_notional() -> None:
    # 8,000 asked, capped by the risk budget to 50 units = 5,000 USDT: exactly the budget
    g = gate(limits=BUDGETS)
    a = approved(g.evaluate(intent(strategy="long_dip", notional=8_000.0)))
    assert a.qty == pytest.approx(50.0)


def test_a_risk_sized_entry_is_checked_against_the_budget_too() -> None:
    g = gate(view("AUSDT", 10.0), limits=BUDGETS)  # 1,000 open + 50 x 100 = 6,000
    d = denied(g.evaluate(intent(strategy="long_dip")))
    assert d.code == BUDGET


def test_other_strategies_positions_do_not_count_against_a_budget() -> None:
    g = gate(view("AUSDT", 40.0, strategy="trend"), view("BUSDT", 10.0), limits=BUDGETS)
    assert approved(g.evaluate(intent(strategy="long_dip", notional=4_000.0))).qty == pytest.approx(40.0)


def test_a_strategy_without_a_budget_is_not_capped() -> None:
    g = gate(view("AUSDT", 100.0, strategy="trend"), limits=BUDGETS)  # 10,000 of trend open
    approved(g.evaluate(intent(strategy="trend")))


def test_a_reversal_replaces_the_budget_its_old_position_used() -> None:
    g = gate(view("AUSDT", 10.0), view("BTCUSDT", 40.0, side=Side.SHORT), limits=BUDGETS)
    # 1,000 + 4,000 open; reversing BTCUSDT frees its 4,000
    a = approved(g.evaluate(intent(strategy="long_dip", notional=4_000.0)))
    assert (a.qty, a.reversed_qty) == (pytest.approx(40.0), 40.0)


def test_several_budgets_are_kept_apart() -> None:
    limits = RiskLimits(
        strategy_budgets=(("long_dip", 5_000.0), ("xs_momentum", 1_000.0)),
        portfolio_heat_cap_pct=1.0,
        max_open_share=1.0,
    )
    g = gate(view("AUSDT", 45.0), view("BUSDT", 5.0, strategy="xs_momentum"), limits=limits)
    assert approved(g.evaluate(intent("CUSDT", strategy="xs_momentum", notional=500.0))).qty == pytest.approx(5.0)
    d = denied(g.evaluate(intent("DUSDT", strategy="xs_momentum", notional=500.0)))
    assert d.detail.startswith("xs_momentum holds 1000.00 USDT")
    assert approved(g.evaluate(intent("EUSDT", strategy="long_dip", notional=500.0))).qty == pytest.approx(5.0)


def test_a_released_reservation_frees_its_budget() -> None:
    g = gate(limits=BUDGETS)
    approved(g.evaluate(intent("AUSDT", strategy="long_dip", notional=4_000.0)))
    denied(g.evaluate(intent("BUSDT", strategy="long_dip", notional=2_000.0)))
    g.release("AUSDT")
    approved(g.evaluate(intent("BUSDT", strategy="long_dip", notional=2_000.0)))


@pytest.mark.parametrize("cap", [0.0, -100.0])
def test_a_non_positive_budget_is_refused(cap: float) -> None:
    with pytest.raises(ValueError, match="budgets must be positive"):
        RiskLimits(strategy_budgets=(("long_dip", cap),))


def test_no_budgets_by_default() -> None:
    assert RiskLimits().strategy_budgets == ()
    g = gate(view("AUSDT", 60.0))  # 6,000 USDT of long_dip open, more than BUDGETS would allow
    assert approved(g.evaluate(intent("BUSDT", strategy="long_dip"))).qty == 50.0
