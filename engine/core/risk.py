"""The risk gate: every entry intent is sized here, or denied with a stable code; exits pass.

Invariants, over any interleaving of intents, portfolio updates, rejections and halts:

- An approval never takes the open-or-pending positions above ``max_concurrent_positions``, nor
  the open-or-pending risk to the stops above ``portfolio_heat_cap_pct`` of equity, nor the margin
  in use above equity. Each approval is *reserved* (``pending``) until a portfolio update shows the
  position or ``release`` drops it, so two intents approved before the fill reaches the portfolio
  are counted together. The portfolio view may be stale, but only ever in the safe direction: a
  filled order is a reservation until shown, a closed position counts until the update arrives.
- A symbol holds at most one position or one pending entry. An intent on the side already held or
  pending is denied; an intent on the opposite side of an open position is a reversal, and its
  new risk, margin and slot *replace* those of the position it closes. While a reversal is pending,
  its symbol counts the larger of the old and new risk and margin: a rejection leaves the old one.
- The loss at a stop is ``risk_per_trade_pct`` of equity whatever the leverage (see ``sizing``),
  unless that size would need more margin than one position's share of equity
  (``equity / max_concurrent_positions``): then the size is capped to that margin, so a tight stop
  can never make one position take the margin every other slot needs. The loss at the stop is
  then smaller than the risk budget, never larger.
- The size is the risk-budget size times the intent's ``size_scale`` (0.5 in high volatility), or
  the intent's ``notional`` / price when the strategy sizes by value (long dip), whichever is
  smaller: a notional never buys more risk than ``risk_per_trade_pct``.
- A strategy with a budget (``strategy_budgets``: name -> most USDT of notional it may hold open)
  never exceeds it, counting its open positions at entry and its pending entries.
- A daily loss of ``max_daily_loss_pct`` from the UTC day's starting equity halts entries until the
  next UTC day (detected from the portfolio's event time). A manual ``halt`` is only lifted by
  ``resume``; the day change never lifts it. ``resume`` cannot override the daily loss limit: the
  next update that still breaches it halts again.

Caps are compared with a relative tolerance of 1e-9 so that float rounding never denies the fifth
1% trade under a 5% cap (five stop losses of exactly 100 USDT can sum to 500.00000000000006).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.core.portfolio import utc_day
from engine.core.sizing import loss_at_stop, margin_required, position_size, truncate_to_lot
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

INVALID_STOP = "INVALID_STOP"
HALTED = "HALTED"
DAILY_LOSS = "DAILY_LOSS"
NO_PORTFOLIO = "NO_PORTFOLIO"
ALREADY_IN_POSITION = "ALREADY_IN_POSITION"
MAX_POSITIONS = "MAX_POSITIONS"
SIZE_ZERO = "SIZE_ZERO"
HEAT_CAP = "HEAT_CAP"
INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
BUDGET = "BUDGET"

_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class RiskLimits:
    """The [risk] settings the gate enforces; fractions of equity, not percents (0.01 = 1%)."""

    risk_per_trade_pct: float = 0.01
    portfolio_heat_cap_pct: float = 0.05
    max_concurrent_positions: int = 5
    max_daily_loss_pct: float = 0.04
    default_leverage: float = 3.0
    strategy_budgets: tuple[tuple[str, float], ...] = ()

    def __post_init__(self) -> None:
        """Fail at start-up on a nonsensical config rather than size trades with it."""
        fractions = (self.risk_per_trade_pct, self.portfolio_heat_cap_pct, self.max_daily_loss_pct)
        if not all(0.0 <= f <= 1.0 for f in fractions):
            raise ValueError(f"risk fractions must lie in [0, 1]: {self}")
        if self.max_concurrent_positions < 0 or self.default_leverage <= 0.0:
            raise ValueError(f"positions must be >= 0 and leverage > 0: {self}")
        if any(cap <= 0.0 for _, cap in self.strategy_budgets):
            raise ValueError(f"strategy budgets must be positive: {self.strategy_budgets}")


@dataclass(frozen=True, slots=True)
class Approved:
    """An entry to place: ``qty`` base units, locking ``margin`` and risking ``risk_usdt``.

    ``reversed_qty`` is the opposite position this entry closes (0 if none): on a one-way account a
    single market order of ``qty + reversed_qty`` closes it and opens the new one. ``note`` says
    when the size was capped below the risk budget.
    """

    qty: float
    margin: float
    risk_usdt: float
    reversed_qty: float = 0.0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Denied:
    """A refused entry: a stable ``code`` to count and alert on, and the numbers behind it."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Reservation:
    """An approved entry not yet shown by the portfolio: it holds a slot, heat and margin."""

    side: Side
    qty: float
    risk_usdt: float
    margin: float
    strategy: str = ""
    notional: float = 0.0


@dataclass(frozen=True, slots=True)
class Exposure:
    """What open and pending positions use: slots (symbols), heat and margin, in USDT."""

    positions: int
    heat: float
    margin: float


class RiskGate:
    """Sizes and approves or denies entries against the latest portfolio and the reservations."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.denials: dict[str, int] = {}
        self._portfolio: PortfolioUpdated | None = None
        self._pending: dict[str, Reservation] = {}
        self._state = TradingState.ACTIVE
        self._reason = ""
        self._halt_code = ""
        self._day: int | None = None

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def reason(self) -> str:
        """Why the state is what it is ('' while ACTIVE)."""
        return self._reason

    @property
    def pending(self) -> dict[str, Reservation]:
        """A copy of the reservations by symbol."""
        return dict(self._pending)

    def halt(self, reason: str) -> TradingStateChanged | None:
        """Stop new entries until ``resume``; returns the change to publish, if any."""
        return self._set_state(TradingState.HALTED, reason, HALTED)

    def resume(self) -> TradingStateChanged | None:
        """Allow new entries again, whatever halted them."""
        return self._set_state(TradingState.ACTIVE, "", "")

    def on_new_day(self) -> TradingStateChanged | None:
        """A new UTC day lifts a daily-loss halt (and only that kind of halt)."""
        if self._halt_code != DAILY_LOSS:
            return None
        return self.resume()

    def on_portfolio(self, p: PortfolioUpdated) -> TradingStateChanged | None:
        """Take the newest portfolio: roll the day, clear shown reservations, check daily loss."""
        before = (self._state, self._reason)
        day = utc_day(p.ts)
        if self._day is not None and day > self._day:
            self.on_new_day()
        self._day = day if self._day is None else max(day, self._day)
        self._portfolio = p
        shown = {(v.symbol, v.side) for v in p.positions}
        self._pending = {s: r for s, r in self._pending.items() if (s, r.side) not in shown}
        breach = self._daily_loss(p)
        if breach and self._state is TradingState.ACTIVE:
            self._set_state(TradingState.HALTED, breach, DAILY_LOSS)
        if (self._state, self._reason) == before:
            return None
        return TradingStateChanged(self._state, self._reason)

    def release(self, symbol: str) -> None:
        """Drop the reservation of ``symbol``: its order was rejected or cancelled."""
        self._pending.pop(symbol, None)

    def exposure(self, exclude: str = "") -> Exposure:
        """Slots, heat and margin of the open and pending positions, ``exclude`` left out.

        A symbol with an open position and a pending reversal counts the larger of the two: until
        a portfolio update shows the fill, either may be the live one (a rejected reversal leaves
        the old position), so the worst case is the one capped.
        """
        leverage = self.limits.default_leverage
        heat: dict[str, float] = {}
        margin: dict[str, float] = {}
        for v in self._positions():
            if v.symbol != exclude:
                heat[v.symbol] = loss_at_stop(v.side, v.qty, v.entry, v.stop)
                margin[v.symbol] = margin_required(v.qty, v.entry, leverage)
        for symbol, r in self._pending.items():
            if symbol != exclude:
                heat[symbol] = max(heat.get(symbol, 0.0), r.risk_usdt)
                margin[symbol] = max(margin.get(symbol, 0.0), r.margin)
        return Exposure(len(heat), sum(heat.values()), sum(margin.values()))

    def evaluate(self, intent: EnterPosition, lot_size: float = 0.0) -> Approved | Denied:
        """Size ``intent`` (truncated to ``lot_size``) and approve and reserve it, or deny it."""
        verdict = self._check(intent, lot_size)
        if isinstance(verdict, Denied):
            self.denials[verdict.code] = self.denials.get(verdict.code, 0) + 1
        else:
            self._pending[intent.symbol] = Reservation(
                intent.side, verdict.qty, verdict.risk_usdt, verdict.margin, intent.strategy, verdict.qty * intent.price
            )
        return verdict

    def exit_order(self, request: ExitPosition) -> SubmitOrder | None:
        """The reduce-only order that closes the symbol's position, or None if none is shown.

        Exits are never denied, halted or not. The size comes from the latest portfolio view; if
        that is stale and the position is already smaller, the portfolio books only what is left.
        """
        held = next((v for v in self._positions() if v.symbol == request.symbol), None)
        if held is None:
            return None
        return SubmitOrder(
            f"{request.symbol}-{request.ts}-exit", request.symbol, request.ts, held.side.opposite,
            held.qty, 0.0, True, "exit", request.reason,
        )  # fmt: skip

    def _positions(self) -> tuple[PositionView, ...]:
        return self._portfolio.positions if self._portfolio else ()

    def _check(self, intent: EnterPosition, lot_size: float) -> Approved | Denied:
        limits = self.limits
        price, stop, side = intent.price, intent.stop, intent.side
        valid = math.isfinite(price) and math.isfinite(stop) and price > 0.0 and stop > 0.0
        if not valid or side.sign * (price - stop) <= 0.0:
            where = "below" if side is Side.LONG else "above"
            return Denied(INVALID_STOP, f"{side.value} entry {price} needs a stop {where}: {stop}")
        if self._state is not TradingState.ACTIVE:
            return Denied(self._halt_code or HALTED, f"{self._state.value}: {self._reason}")
        p = self._portfolio
        if p is None:
            return Denied(NO_PORTFOLIO, "no portfolio update received yet")
        pending = self._pending.get(intent.symbol)
        if pending is not None:
            detail = f"{pending.side.value} entry pending on {intent.symbol}"
            return Denied(ALREADY_IN_POSITION, detail)
        held = next((v for v in self._positions() if v.symbol == intent.symbol), None)
        if held is not None and held.side is side:
            return Denied(ALREADY_IN_POSITION, f"{side.value} {held.qty} open on {intent.symbol}")
        used = self.exposure(exclude=intent.symbol)
        if used.positions >= limits.max_concurrent_positions:
            return Denied(
                MAX_POSITIONS,
                f"{used.positions} open or pending, limit {limits.max_concurrent_positions}",
            )
        qty = position_size(p.equity, limits.risk_per_trade_pct, price, stop) * intent.size_scale
        notes = []
        if intent.size_scale != 1.0:
            notes.append(f"size x{intent.size_scale:g}")
        if intent.notional > 0.0:
            if intent.notional / price <= qty:
                qty = intent.notional / price
            else:
                notes.append(f"notional {intent.notional:.2f} USDT capped by the risk budget")
        qty = qty if lot_size == 0.0 else truncate_to_lot(qty, lot_size)
        slot_margin = p.equity / max(1, limits.max_concurrent_positions)
        cap_qty = slot_margin * limits.default_leverage / price
        capped = qty > cap_qty
        if capped:
            qty = cap_qty if lot_size == 0.0 else truncate_to_lot(cap_qty, lot_size)
        if qty <= 0.0:
            budget = p.equity * limits.risk_per_trade_pct
            return Denied(
                SIZE_ZERO,
                f"risk {budget:.2f} USDT / stop distance {abs(price - stop)} is under lot {lot_size}",
            )
        risk = loss_at_stop(side, qty, price, stop)
        cap = limits.portfolio_heat_cap_pct * p.equity
        if used.heat + risk > cap * (1.0 + _TOLERANCE):
            return Denied(
                HEAT_CAP,
                f"open risk {used.heat:.2f} + {risk:.2f} = {used.heat + risk:.2f} USDT > cap "
                f"{limits.portfolio_heat_cap_pct:.2%} x equity {p.equity:.2f} = {cap:.2f}",
            )
        over_budget = self._budget_breach(intent, qty * price)
        if over_budget:
            return Denied(BUDGET, over_budget)
        margin = margin_required(qty, price, limits.default_leverage)
        if used.margin + margin > p.equity * (1.0 + _TOLERANCE):
            return Denied(
                INSUFFICIENT_MARGIN,
                f"margin in use {used.margin:.2f} + {margin:.2f} = {used.margin + margin:.2f} "
                f"USDT > equity {p.equity:.2f}",
            )
        if capped:
            notes.append(
                f"size capped by the margin budget of one slot: equity {p.equity:.2f} / "
                f"{limits.max_concurrent_positions} positions x {limits.default_leverage:g}x leverage"
            )
        return Approved(qty, margin, risk, held.qty if held is not None else 0.0, "; ".join(notes))

    def _budget_breach(self, intent: EnterPosition, notional: float) -> str:
        """Why ``notional`` more would take its strategy over its budget, or '' if it fits."""
        cap = dict(self.limits.strategy_budgets).get(intent.strategy)
        if cap is None:
            return ""
        held = {v.symbol: v.qty * v.entry for v in self._positions() if v.strategy == intent.strategy}
        held |= {s: r.notional for s, r in self._pending.items() if r.strategy == intent.strategy}
        held.pop(intent.symbol, None)
        used = sum(held.values())
        if used + notional <= cap * (1.0 + _TOLERANCE):
            return ""
        return (
            f"{intent.strategy} holds {used:.2f} USDT open or pending + {notional:.2f} = "
            f"{used + notional:.2f} > its budget cap {cap:.2f}"
        )

    def _daily_loss(self, p: PortfolioUpdated) -> str:
        """Why ``p`` breaches the daily loss limit, or '' if it does not."""
        floor = p.day_start_equity * (1.0 - self.limits.max_daily_loss_pct)
        if p.day_start_equity <= 0.0 or p.equity > floor:
            return ""
        return (
            f"daily loss limit: equity {p.equity:.2f} <= {floor:.2f} (day start "
            f"{p.day_start_equity:.2f} - {self.limits.max_daily_loss_pct:.2%})"
        )

    def _set_state(self, state: TradingState, reason: str, code: str) -> TradingStateChanged | None:
        if (state, reason, code) == (self._state, self._reason, self._halt_code):
            return None
        self._state, self._reason, self._halt_code = state, reason, code
        return TradingStateChanged(state, reason)
