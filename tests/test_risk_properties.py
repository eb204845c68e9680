"""Property: over any interleaving of intents, fills, rejections, closes and stale portfolio
updates, an approval never pushes the worst-case open positions above the limit, nor the
worst-case heat above the cap, nor the worst-case margin above the bot's open share of its budget
or above equity.

The test keeps its own model of the world: the true positions, and the approved orders in flight
(each of which may still fill or be rejected). Risk only sees the portfolio updates published
from the truth, which lag it. The market is always fit to trade (fresh, tight, deep quotes) and the
entry rate and total-loss limits never bind, so that the limits under test are the ones that deny.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from engine.core.risk import Approved, RiskGate, RiskLimits
from engine.messages import EnterPosition, PortfolioUpdated, PositionView, Quote, Side

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "ADAUSDT", "BNBUSDT")
TOLERANCE = 1e-9


@dataclass(frozen=True)
class Held:
    side: Side
    qty: float
    entry: float
    stop: float
    risk: float
    margin: float


class RiskWorld(RuleBasedStateMachine):
    gate: RiskGate
    limits: RiskLimits

    def __init__(self) -> None:
        super().__init__()
        self.truth: dict[str, Held] = {}
        self.in_flight: dict[str, Held] = {}
        self.equity = 10_000.0
        self.ts = 1_700_000_000_000

    @initialize(
        max_positions=st.integers(0, 6),
        heat_cap=st.floats(0.0, 0.1),
        risk=st.floats(0.001, 0.04),
        leverage=st.sampled_from([1.0, 3.0, 10.0]),
        budget=st.floats(1_000.0, 100_000.0),
        open_share=st.floats(0.1, 1.0),
    )
    def configure(
        self, max_positions: int, heat_cap: float, risk: float, leverage: float, budget: float, open_share: float
    ) -> None:
        self.limits = RiskLimits(
            risk, heat_cap, max_positions, 0.04, leverage,
            starting_equity=budget, budget_usdt=budget, max_open_share=open_share, max_total_loss_pct=1.0,
            max_entries_per_minute=1_000, max_entries_per_hour=1_000, max_entries_per_day=1_000,
        )  # fmt: skip
        self.gate = RiskGate(self.limits)
        self.publish(self.equity, 0)

    def worst_case(
        self, extra: str = "", extra_risk: float = 0.0, extra_margin: float = 0.0
    ) -> tuple[int, float, float]:
        """Slots, heat and margin if every in-flight order fills or is rejected, whichever is worse."""
        risks: dict[str, float] = {}
        margins: dict[str, float] = {}
        for book in (self.truth, self.in_flight):
            for symbol, h in book.items():
                risks[symbol] = max(risks.get(symbol, 0.0), h.risk)
                margins[symbol] = max(margins.get(symbol, 0.0), h.margin)
        if extra:
            risks[extra] = max(risks.get(extra, 0.0), extra_risk)
            margins[extra] = max(margins.get(extra, 0.0), extra_margin)
        return len(risks), sum(risks.values()), sum(margins.values())

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(Side),
        price=st.floats(0.01, 100_000.0),
        stop_frac=st.floats(0.002, 0.3),
        lot=st.sampled_from([0.0, 0.001, 1.0]),
    )
    def enter(self, symbol: str, side: Side, price: float, stop_frac: float, lot: float) -> None:
        stop = price * (1.0 - side.sign * stop_frac)
        intent = EnterPosition(symbol, self.ts, side, price, stop, "s", "r")
        slots_before, heat_before, margin_before = self.worst_case()
        verdict = self.gate.evaluate(intent, lot_size=lot)
        if not isinstance(verdict, Approved):
            return
        assert symbol not in self.in_flight
        slots, heat, margin = self.worst_case(symbol, verdict.risk_usdt, verdict.margin)
        assert slots <= max(self.limits.max_concurrent_positions, slots_before)
        cap = self.limits.portfolio_heat_cap_pct * self.equity * (1.0 + TOLERANCE)
        assert heat <= max(cap, heat_before * (1.0 + TOLERANCE))
        margin_cap = min(self.limits.budget_usdt * self.limits.max_open_share, self.equity) * (1.0 + TOLERANCE)
        assert margin <= max(margin_cap, margin_before * (1.0 + TOLERANCE))
        self.in_flight[symbol] = Held(side, verdict.qty, price, stop, verdict.risk_usdt, verdict.margin)

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data())
    def fill(self, data: st.DataObject) -> None:
        symbol = data.draw(st.sampled_from(sorted(self.in_flight)))
        self.truth[symbol] = self.in_flight.pop(symbol)

    @precondition(lambda self: bool(self.in_flight))
    @rule(data=st.data())
    def reject(self, data: st.DataObject) -> None:
        symbol = data.draw(st.sampled_from(sorted(self.in_flight)))
        del self.in_flight[symbol]
        self.gate.release(symbol)

    @precondition(lambda self: bool(set(self.truth) - set(self.in_flight)))
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        symbol = data.draw(st.sampled_from(sorted(set(self.truth) - set(self.in_flight))))
        del self.truth[symbol]

    @rule(equity=st.floats(1_000.0, 50_000.0), minutes=st.integers(0, 24 * 60))
    def publish(self, equity: float, minutes: int) -> None:
        self.equity = equity
        self.ts += minutes * 60_000
        views = tuple(PositionView(s, h.side, h.qty, h.entry, h.stop, h.entry) for s, h in self.truth.items())
        self.gate.on_quotes(tuple(Quote(s, self.ts, 99.99, 100.01, 100.0, 1e6, 1e6) for s in SYMBOLS))
        self.gate.on_portfolio(PortfolioUpdated(self.ts, equity, equity, equity, equity, views))


RiskWorld.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
test_approvals_never_exceed_max_positions_or_heat_cap = RiskWorld.TestCase
