"""Property: the RiskGate's invariants hold over any sequence of intents, fills, rejections,
closes, portfolio updates (equity moves, new UTC days), quotes good and bad, correlation updates
and operator commands.

The test keeps its own model of the world, built from the rules in ``engine.core.risk``'s
docstring rather than from the gate's internals: the true positions, the approved orders in flight,
the last portfolio view the gate was sent, the reservations the gate must hold (approved, neither
shown nor released), the quotes per symbol, the correlation matrix, the approval times, and the
trading state the loss limits and commands call for. After every step the gate must agree with the
model, and every verdict must be the one the model predicts:

- a denial carries a known code and a non-empty detail, and the code is the first rule the intent
  breaks in the gate's order of checks: the intent itself (stop, size), the trading state, the
  portfolio, the symbol already held or pending, its kill-switch, the rate limit, correlation, the
  number of positions; only when none of these is broken may a sizing code (size under one lot,
  heat cap, strategy budget, bot budget, margin) deny it, and then only when it could be true;
- an approval comes only while ACTIVE and while the latest portfolio breaches no loss limit (but
  between an operator's resume and the next update: the docstring's "the next portfolio update
  applies it again"), risks no more than the risk budget, and leaves the open and pending positions
  within ``max_concurrent_positions`` and their heat within ``portfolio_heat_cap_pct`` of equity;
- the gate never counts fewer positions or less heat than the worst case of the world: whatever
  is open, shown, or in flight.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from engine.core.kill_switch import STALE_DATA, THIN_BOOK, WIDE_SPREAD
from engine.core.limits import DAY_MS, HOUR_MS, RiskLimits
from engine.core.risk import (
    ALREADY_IN_POSITION,
    BOT_BUDGET,
    BUDGET,
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
    Exposure,
    RiskGate,
)
from engine.messages import (
    CorrelationUpdated,
    EnterPosition,
    PortfolioUpdated,
    PositionView,
    Quote,
    Regime,
    Side,
    TradingState,
)

SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT")
START_TS = 19_700 * DAY_MS + 8 * HOUR_MS
TOLERANCE = 1e-9
SIZING_CODES = {SIZE_ZERO, HEAT_CAP, BUDGET, BOT_BUDGET, INSUFFICIENT_MARGIN}
KNOWN_CODES = SIZING_CODES | {
    INVALID_STOP, INVALID_SIZE, HALTED, REDUCING, NO_PORTFOLIO, ALREADY_IN_POSITION, MAX_POSITIONS,
    RATE_LIMIT, CORRELATION, STALE_DATA, WIDE_SPREAD, THIN_BOOK,
}  # fmt: skip

# kind -> (bid, ask, bid depth, ask depth, the kill-switch it trips while fresh)
QUOTES: dict[str, tuple[float, float, float, float, str | None]] = {
    "good": (99.99, 100.01, 50_000.0, 50_000.0, None),  # 2 bps
    "no_book": (99.99, 100.01, -1.0, -1.0, None),
    "wide": (99.8, 100.2, 50_000.0, 50_000.0, WIDE_SPREAD),  # 40 bps
    "crossed": (100.1, 99.9, 50_000.0, 50_000.0, WIDE_SPREAD),
    "one_sided": (0.0, 100.01, 50_000.0, 50_000.0, WIDE_SPREAD),
    "nan_bid": (math.nan, 100.01, 50_000.0, 50_000.0, WIDE_SPREAD),
    "thin": (99.99, 100.01, 1_000.0, 50_000.0, THIN_BOOK),
}
RHOS = (0.0, 0.3, -0.5, 0.8, -0.8, 0.85, -0.9, 0.95)  # |rho| 0.8 exactly is allowed
# how strict a state is; a loss limit may only move trading to a stricter one
RANK = {(TradingState.HALTED, DAILY_LOSS): 1, (TradingState.HALTED, DRAWDOWN): 2, (TradingState.HALTED, MANUAL): 2}


def rank(state: TradingState, code: str) -> int:
    if state is TradingState.REDUCING:
        return 3
    return RANK.get((state, code), 0)


def risk_of(side: Side, qty: float, entry: float, stop: float) -> float:
    return qty * max(0.0, side.sign * (entry - stop))


@dataclass(frozen=True)
class Held:
    side: Side
    qty: float
    entry: float
    stop: float
    strategy: str

    @property
    def risk(self) -> float:
        return risk_of(self.side, self.qty, self.entry, self.stop)


class RiskGateWorld(RuleBasedStateMachine):
    gate: RiskGate
    limits: RiskLimits

    def __init__(self) -> None:
        super().__init__()
        self.ts = START_TS
        self.truth: dict[str, Held] = {}
        self.in_flight: dict[str, Held] = {}
        self.view: dict[str, Held] | None = None  # what the last portfolio update showed
        self.reserved: dict[str, Side] = {}
        self.quotes: dict[str, tuple[int, str]] = {}
        self.market_ts = 0
        self.corr: dict[frozenset[str], float] = {}
        self.corr_members: set[str] = set()
        self.approvals: list[int] = []
        self.equity = 10_000.0
        self.day_start = 10_000.0
        self.peak = 10_000.0
        self.day = START_TS // DAY_MS
        self.state, self.code = TradingState.ACTIVE, ""
        self.flattened: set[str] = set()

    @initialize(
        max_positions=st.integers(1, 4),
        heat_cap=st.sampled_from([0.01, 0.02, 0.03, 0.05]),
        open_share=st.sampled_from([0.5, 1.0]),
        symbol_cap=st.sampled_from([0.0, 2_500.0]),
        started=st.sampled_from([True] * 4 + [False]),
    )
    def configure(
        self, max_positions: int, heat_cap: float, open_share: float, symbol_cap: float, started: bool
    ) -> None:
        """The limits, and (unless not ``started``) a first portfolio update and good quotes."""
        self.limits = RiskLimits(
            risk_per_trade_pct=0.01,
            portfolio_heat_cap_pct=heat_cap,
            max_concurrent_positions=max_positions,
            max_daily_loss_pct=0.04,
            max_drawdown_pct=0.15,
            max_total_loss_pct=0.25,
            starting_equity=10_000.0,
            budget_usdt=10_000.0,
            max_open_share=open_share,
            max_entries_per_minute=3,
            max_entries_per_hour=8,
            max_entries_per_day=20,
            strategy_budgets=(("dip", 3_000.0),),
            leverage=(("ETHUSDT", 10.0), ("DOGEUSDT", 1.0)),
            max_symbol_notional_usdt=symbol_cap,
        )
        self.gate = RiskGate(self.limits)
        if started:
            self.refresh_quotes(0)
            self.publish(1.0, 1.0, 0, False, 1.0)

    # --- the model's predictions ----------------------------------------------------------------

    def breaches(self) -> list[tuple[TradingState, str]]:
        """The loss limits the latest portfolio breaches, as (state, code), laxest first."""
        if self.view is None:
            return []
        limits, found = self.limits, []
        if self.day_start > 0.0 and self.equity <= self.day_start * (1.0 - limits.max_daily_loss_pct):
            found.append((TradingState.HALTED, DAILY_LOSS))
        if self.equity <= self.peak * (1.0 - limits.max_drawdown_pct):
            found.append((TradingState.HALTED, DRAWDOWN))
        if self.equity <= limits.starting_equity - limits.max_total_loss_pct * limits.budget_usdt:
            found.append((TradingState.REDUCING, PNL_STOP))
        return found

    def held_symbols(self, exclude: str = "") -> set[str]:
        """Symbols open in the gate's view or reserved: what slots and correlation count."""
        return (set(self.view or ()) | set(self.reserved)) - {exclude}

    def market_block(self, symbol: str, ts: int) -> str | None:
        seen = self.quotes.get(symbol)
        if seen is None:
            return STALE_DATA
        quote_ts, kind = seen
        if max(self.market_ts, ts) - quote_ts > self.limits.kill.stale_s * 1000.0:
            return STALE_DATA
        return QUOTES[kind][4]

    def rate_full(self, ts: int) -> bool:
        return any(
            sum(1 for t in self.approvals if t > ts - window_ms) >= most
            for _, window_ms, most in self.limits.rate_windows()
        )

    def correlated(self, symbol: str) -> bool:
        if symbol not in self.corr_members:
            return False
        others = self.held_symbols(exclude=symbol) & self.corr_members
        return any(abs(self.corr[frozenset((symbol, o))]) > self.limits.max_correlation for o in others)

    def expected_code(self, i: EnterPosition) -> str | None:
        """The first rule ``i`` breaks before sizing, in the gate's order; None if none."""
        valid = math.isfinite(i.price) and math.isfinite(i.stop) and i.price > 0.0 and i.stop > 0.0
        if not valid or i.side.sign * (i.price - i.stop) <= 0.0:
            return INVALID_STOP
        if not 0.0 < i.size_scale <= 1.0 or not 0.0 <= i.notional < math.inf:
            return INVALID_SIZE
        if self.state is not TradingState.ACTIVE:
            return REDUCING if self.state is TradingState.REDUCING else HALTED
        if self.view is None:
            return NO_PORTFOLIO
        shown = self.view.get(i.symbol)
        if i.symbol in self.reserved or (shown is not None and shown.side is i.side):
            return ALREADY_IN_POSITION
        block = self.market_block(i.symbol, i.ts)
        if block is not None:
            return block
        if self.rate_full(i.ts):
            return RATE_LIMIT
        if self.correlated(i.symbol):
            return CORRELATION
        if len(self.held_symbols(exclude=i.symbol)) >= self.limits.max_concurrent_positions:
            return MAX_POSITIONS
        return None

    def set_state(self, state: TradingState, code: str) -> None:
        self.state, self.code = state, code
        if state is not TradingState.REDUCING:
            self.flattened.clear()

    # --- entries --------------------------------------------------------------------------------

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(Side),
        price=st.floats(0.5, 50_000.0),
        stop_frac=st.one_of(st.floats(0.001, 0.2), st.floats(0.0001, 0.005)),  # tight stops hit the caps
        scale=st.sampled_from([1.0, 1.0, 1.0, 0.5]),
        notional=st.sampled_from([0.0, 0.0, 0.0, 500.0, 5_000.0]),
        regime=st.sampled_from(["", *Regime]),
        strategy=st.sampled_from(["ema_cross", "dip"]),
        lot=st.sampled_from([0.0, 0.001, 1.0]),
        dt=st.integers(0, 10_000),
    )
    def enter(
        self,
        symbol: str,
        side: Side,
        price: float,
        stop_frac: float,
        scale: float,
        notional: float,
        regime: str,
        strategy: str,
        lot: float,
        dt: int,
    ) -> None:
        """A well-formed intent: a stop on the right side, a valid size scale and notional."""
        self.ts += dt
        stop = price * (1.0 - side.sign * stop_frac)
        i = EnterPosition(symbol, self.ts, side, price, stop, strategy, "prop", 0.0, regime, scale, notional)
        self.evaluate(i, lot)

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        side=st.sampled_from(Side),
        price=st.floats(0.5, 50_000.0),
        stop_frac=st.sampled_from([0.01, 0.01, 0.01, 0.0, -0.01, math.nan, math.inf]),
        scale=st.sampled_from([1.0, 1.0, 0.3, 0.0, 1.5, math.nan, -1.0]),
        notional=st.sampled_from([0.0, 0.0, 500.0, -1.0, math.inf, math.nan]),
        regime=st.sampled_from(["", *Regime]),
        lot=st.sampled_from([0.0, 0.001, 1.0]),
        dt=st.integers(0, 10_000),
    )
    def enter_odd(
        self,
        symbol: str,
        side: Side,
        price: float,
        stop_frac: float,
        scale: float,
        notional: float,
        regime: str,
        lot: float,
        dt: int,
    ) -> None:
        """An intent with any stop (at the entry, on the wrong side, NaN), size scale and notional."""
        self.ts += dt
        stop = price * (1.0 - side.sign * stop_frac)
        i = EnterPosition(symbol, self.ts, side, price, stop, "dip", "prop", 0.0, regime, scale, notional)
        self.evaluate(i, lot)

    @precondition(lambda self: bool(self.view))
    @rule(data=st.data(), stop_frac=st.floats(0.001, 0.2), dt=st.integers(0, 10_000))
    def reverse(self, data: st.DataObject, stop_frac: float, dt: int) -> None:
        """A strategy flips: an intent on the side opposite to a position the gate was shown."""
        assert self.view is not None
        symbol = data.draw(st.sampled_from(sorted(self.view)))
        side = self.view[symbol].side.opposite
        price = self.view[symbol].entry
        self.ts += dt
        stop = price * (1.0 - side.sign * stop_frac)
        self.evaluate(EnterPosition(symbol, self.ts, side, price, stop, "ema_cross", "flip"), 0.0)

    def evaluate(self, i: EnterPosition, lot: float) -> None:
        expected = self.expected_code(i)
        before = self.gate.exposure()
        others = self.gate.exposure(exclude=i.symbol)
        verdict = self.gate.evaluate(i, lot)
        if isinstance(verdict, Denied):
            self.check_denial(i, verdict, expected, others, lot)
        else:
            self.check_approval(i, verdict, expected, before, others)

    def check_denial(self, i: EnterPosition, d: Denied, expected: str | None, others: Exposure, lot: float) -> None:
        assert d.code in KNOWN_CODES, d
        assert d.detail.strip(), d
        if expected is not None:
            assert d.code == expected, (d, expected)
            return
        assert d.code in SIZING_CODES, d
        equity, limits = self.equity, self.limits
        used_heat, used_margin = others.heat, others.margin
        one_slot_margin = equity / limits.max_concurrent_positions  # the most margin one entry may take
        if d.code == SIZE_ZERO:
            assert lot > 0.0, d
        elif d.code == HEAT_CAP:
            assert used_heat + equity * limits.risk_per_trade_pct > limits.portfolio_heat_cap_pct * equity, d
        elif d.code == BUDGET:
            assert i.strategy == "dip", d
        elif d.code == BOT_BUDGET:
            assert used_margin + one_slot_margin > limits.budget_usdt * limits.max_open_share, d
        else:
            assert used_margin + one_slot_margin > equity, d

    def check_approval(
        self, i: EnterPosition, a: Approved, expected: str | None, before: Exposure, others: Exposure
    ) -> None:
        limits, equity = self.limits, self.equity
        assert expected is None, (a, expected)
        assert self.state is TradingState.ACTIVE
        assert not self.breaches(), (a, self.breaches())
        # the size: positive, never above the risk budget, the notional asked, or a symbol's cap
        scale = min(i.size_scale, 0.5) if i.regime == Regime.HIGH_VOLATILITY else i.size_scale
        assert a.qty > 0.0
        assert a.risk_usdt == risk_of(i.side, a.qty, i.price, i.stop)
        assert a.risk_usdt <= equity * limits.risk_per_trade_pct * scale * (1.0 + TOLERANCE)
        if i.notional > 0.0:
            assert a.qty * i.price <= i.notional * (1.0 + TOLERANCE)
        if limits.max_symbol_notional_usdt > 0.0:
            assert a.qty * i.price <= limits.max_symbol_notional_usdt * (1.0 + TOLERANCE)
        assert a.margin <= equity / limits.max_concurrent_positions * (1.0 + TOLERANCE)
        assert a.margin == a.qty * i.price / limits.leverage_of(i.symbol)
        assert self.view is not None
        shown = self.view.get(i.symbol)
        reversal = shown is not None and shown.side is not i.side
        assert a.reversed_qty == (shown.qty if shown is not None and reversal else 0.0)
        # once filled, the entry and every other open or pending position fit the caps
        cap = limits.portfolio_heat_cap_pct * equity
        assert others.positions + 1 <= limits.max_concurrent_positions
        assert others.heat + a.risk_usdt <= cap * (1.0 + TOLERANCE), (others, a, cap)
        assert others.margin + a.margin <= limits.budget_usdt * limits.max_open_share * (1.0 + TOLERANCE)
        assert others.margin + a.margin <= equity * (1.0 + TOLERANCE)
        # what the gate holds now, with this entry reserved
        after = self.gate.exposure()
        assert after.positions <= limits.max_concurrent_positions
        if reversal:
            # the symbol counts the larger of the old and the new risk: a rejection leaves the old
            assert after.heat <= max(cap, before.heat) * (1.0 + TOLERANCE), (after, cap, before)
        else:
            assert after.heat <= cap * (1.0 + TOLERANCE), (after, cap)
        self.approvals.append(i.ts)
        self.reserved[i.symbol] = i.side
        self.in_flight[i.symbol] = Held(i.side, a.qty, i.price, i.stop, i.strategy)

    # --- orders and positions -------------------------------------------------------------------

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
        self.reserved.pop(symbol, None)
        self.flattened.discard(symbol)  # a rejection on a symbol lets REDUCING try its exit again
        self.gate.release(symbol)

    def closable(self) -> list[str]:
        """Positions shown at least once (Portfolio publishes after every fill) and not reversing."""
        view = self.view or {}
        return sorted(
            s for s, h in self.truth.items() if s not in self.in_flight and s in view and view[s].side is h.side
        )

    @precondition(lambda self: bool(self.closable()))
    @rule(data=st.data())
    def close(self, data: st.DataObject) -> None:
        del self.truth[data.draw(st.sampled_from(self.closable()))]

    # --- portfolio updates and commands ---------------------------------------------------------

    @rule(
        move=st.floats(0.98, 1.02),
        shock=st.sampled_from([1.0] * 12 + [0.95, 0.85, 0.7]),
        dt=st.integers(0, 20_000),
        new_day=st.sampled_from([False] * 4 + [True]),
        mark=st.floats(0.8, 1.2),
    )
    def publish(self, move: float, shock: float, dt: int, new_day: bool, mark: float) -> None:
        """A portfolio update; ``shock`` is a rare large loss, ``new_day`` jumps past midnight UTC."""
        self.ts = (self.ts // DAY_MS + 1) * DAY_MS + dt if new_day else self.ts + dt
        day = self.ts // DAY_MS
        rolled = day > self.day
        if rolled:
            self.day, self.day_start = day, self.equity
        self.equity = max(1.0, self.equity * move * shock)
        self.peak = max(self.peak, self.equity)
        views = tuple(
            PositionView(s, h.side, h.qty, h.entry, h.stop, h.entry * mark, strategy=h.strategy)
            for s, h in sorted(self.truth.items())
        )
        self.gate.on_portfolio(PortfolioUpdated(self.ts, self.equity, self.equity, self.day_start, self.peak, views))
        self.view = dict(self.truth)
        self.reserved = {
            s: side for s, side in self.reserved.items() if not (s in self.view and self.view[s].side is side)
        }
        self.flattened &= set(self.view)
        if rolled and self.code == DAILY_LOSS:
            self.set_state(TradingState.ACTIVE, "")
        self.apply_breaches()
        self.flatten()

    def apply_breaches(self) -> None:
        """A breached loss limit moves trading to its state if that is stricter than the current."""
        for state, code in self.breaches():
            if rank(state, code) > rank(self.state, self.code):
                self.set_state(state, code)

    @rule(state=st.sampled_from([TradingState.ACTIVE] * 3 + [TradingState.HALTED, TradingState.REDUCING]))
    def command(self, state: TradingState) -> None:
        if state is TradingState.ACTIVE:
            if self.code == DRAWDOWN and self.view is not None:
                self.peak = self.equity  # the Risk actor sends Portfolio a ResetPeak
            self.set_state(state, "")
            self.apply_breaches()  # a resume cannot override a limit the latest portfolio breaches
        else:
            self.set_state(state, MANUAL)
        self.gate.command(state, "operator", MANUAL)
        self.flatten()

    def flatten(self) -> None:
        """As the Risk actor does after each update and command: exit what REDUCING closes."""
        exits = self.gate.flatten(self.ts)
        symbols = [e.symbol for e in exits]
        assert len(set(symbols)) == len(symbols), symbols
        if self.state is not TradingState.REDUCING:
            assert exits == []
            return
        view = self.view or {}
        assert set(symbols) <= set(view), (symbols, view)
        assert not set(symbols) & self.flattened, (symbols, self.flattened)  # once per position
        self.flattened |= set(symbols)
        assert set(view) <= self.flattened  # every open position is being closed
        for e in exits:
            order = self.gate.exit_order(e)
            shown = view[e.symbol]
            assert order is not None and order.reduce_only
            assert (order.symbol, order.side, order.qty) == (e.symbol, shown.side.opposite, shown.qty)
            held = self.truth.get(e.symbol)
            if held is not None and held.side is shown.side:
                del self.truth[e.symbol]

    # --- market data ----------------------------------------------------------------------------

    @rule(
        symbol=st.sampled_from(SYMBOLS),
        kind=st.sampled_from(["good"] * 3 + sorted(QUOTES)),
        age=st.sampled_from([0, 0, 0, 10_000, 30_000, 30_001, 60_000]),
        dt=st.integers(0, 20_000),
    )
    def quote(self, symbol: str, kind: str, age: int, dt: int) -> None:
        self.ts += dt
        bid, ask, bid_depth, ask_depth, _ = QUOTES[kind]
        self.gate.on_quotes((Quote(symbol, self.ts - age, bid, ask, 100.0, bid_depth, ask_depth),))
        self.quotes[symbol] = (self.ts - age, kind)
        self.market_ts = max(self.market_ts, self.ts - age)

    @rule(dt=st.integers(0, 5_000))
    def refresh_quotes(self, dt: int) -> None:
        self.ts += dt
        self.gate.on_quotes(tuple(Quote(s, self.ts, 99.99, 100.01, 100.0, 50_000.0, 50_000.0) for s in SYMBOLS))
        self.quotes = dict.fromkeys(SYMBOLS, (self.ts, "good"))
        self.market_ts = max(self.market_ts, self.ts)

    @rule(
        members=st.lists(st.sampled_from(SYMBOLS), unique=True, min_size=2, max_size=len(SYMBOLS)),
        values=st.lists(st.sampled_from(RHOS), min_size=10, max_size=10),
    )
    def correlation(self, members: list[str], values: list[float]) -> None:
        pairs = iter(values)
        corr = {frozenset((a, b)): next(pairs) for k, a in enumerate(members) for b in members[k + 1 :]}
        rho = tuple(1.0 if a == b else corr[frozenset((a, b))] for a in members for b in members)
        self.gate.on_correlation(CorrelationUpdated(self.ts, tuple(members), rho))
        self.corr, self.corr_members = corr, set(members)

    # --- after every step -----------------------------------------------------------------------

    @invariant()
    def state_is_the_one_the_rules_call_for(self) -> None:
        assert (self.gate.state, self.gate.code) == (self.state, self.code)
        assert (self.gate.reason == "") == (self.state is TradingState.ACTIVE)

    @invariant()
    def reservations_are_the_approvals_neither_shown_nor_released(self) -> None:
        assert {s: r.side for s, r in self.gate.pending.items()} == self.reserved

    @invariant()
    def positions_never_exceed_the_limit_and_the_worst_case_is_never_undercounted(self) -> None:
        used = self.gate.exposure()
        assert used.positions <= self.limits.max_concurrent_positions
        worst: dict[str, float] = {}
        for book in (self.truth, self.in_flight, self.view or {}):
            for symbol, h in book.items():
                worst[symbol] = max(worst.get(symbol, 0.0), h.risk)
        assert len(worst) <= used.positions, (worst, used)
        assert sum(worst.values()) <= used.heat * (1.0 + TOLERANCE) + 1e-9, (worst, used)


RiskGateWorld.TestCase.settings = settings(max_examples=200, stateful_step_count=50, deadline=None)
test_risk_gate_invariants_hold_over_any_sequence_of_operations = RiskGateWorld.TestCase
