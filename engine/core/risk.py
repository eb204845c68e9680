"""The risk gate: every entry intent is sized here, or denied with a stable code; exits pass.

Invariants, over any interleaving of intents, portfolio updates, quotes, rejections and halts:

- An approval never takes the open-or-pending positions above ``max_concurrent_positions``, nor
  the open-or-pending risk to the stops above ``portfolio_heat_cap_pct`` of equity, nor the margin
  in use above ``max_open_share`` of the budget or above equity. Each approval is *reserved*
  (``pending``) until a portfolio update shows the position or ``release`` drops it, so two intents
  approved before the fill reaches the portfolio are counted together. The portfolio view may be
  stale, but only ever in the safe direction: a filled order is a reservation until shown, a
  closed position counts until the update arrives.
- A symbol holds at most one position or one pending entry. An intent on the side already held or
  pending is denied; an intent on the opposite side of an open position is a reversal, and its
  new risk, margin and slot *replace* those of the position it closes. While a reversal is pending,
  its symbol counts the larger of the old and new risk and margin: a rejection leaves the old one.
- The loss at a stop is ``risk_per_trade_pct`` of equity whatever the leverage (see ``sizing``),
  unless that size would need more margin than one position's share of equity
  (``equity / max_concurrent_positions``) or break the symbol's notional or margin cap: then the
  size is capped, and the loss at the stop is smaller than the risk budget, never larger.
- The size is the risk-budget size times the intent's ``size_scale`` (never above
  ``high_vol_size_scale`` in the HIGH_VOLATILITY regime), or the intent's ``notional`` / price when
  the strategy sizes by value (long dip), whichever is smaller.
- A strategy with a budget (``strategy_budgets``: name -> most USDT of notional it may hold open)
  never exceeds it, counting its open positions at entry and its pending entries.
- No entry while a kill-switch blocks its symbol (stale data, wide spread, thin book), beyond the
  entry rate limits, or with |rho| > ``max_correlation`` to an open or pending position.
- Trading states: ACTIVE; HALTED (no entries; exits and stops work); REDUCING (no entries, and
  every open position is closed). A loss of ``max_daily_loss_pct`` from the UTC day's starting
  equity halts until the next UTC day; a drawdown of ``max_drawdown_pct`` from the peak halts until
  ``resume``, which re-bases the peak; a total loss of ``max_total_loss_pct`` of the budget puts
  trading into REDUCING. A stricter state replaces a laxer one, never the reverse, except by an
  operator's command. ``resume`` cannot override a limit still breached: the next portfolio
  update applies it again.

Caps are compared with a relative tolerance of 1e-9 so that float rounding never denies the fifth
1% trade under a 5% cap (five stop losses of exactly 100 USDT can sum to 500.00000000000006).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.core.kill_switch import market_block
from engine.core.limits import RiskLimits
from engine.core.portfolio import utc_day
from engine.core.rate_limit import EntryRate
from engine.core.sizing import loss_at_stop, margin_required, position_size, truncate_to_lot
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

INVALID_STOP = "INVALID_STOP"
INVALID_SIZE = "INVALID_SIZE"
HALTED = "HALTED"
REDUCING = "REDUCING"
NO_PORTFOLIO = "NO_PORTFOLIO"
ALREADY_IN_POSITION = "ALREADY_IN_POSITION"
MAX_POSITIONS = "MAX_POSITIONS"
SIZE_ZERO = "SIZE_ZERO"
HEAT_CAP = "HEAT_CAP"
INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
BUDGET = "BUDGET"
BOT_BUDGET = "BOT_BUDGET"
RATE_LIMIT = "RATE_LIMIT"
CORRELATION = "CORRELATION"

# Why the trading state is not ACTIVE: the rule, or the operator.
DAILY_LOSS = "DAILY_LOSS"
DRAWDOWN = "DRAWDOWN"
PNL_STOP = "PNL_STOP"
MANUAL = "MANUAL"
CRASH_LOOP = "CRASH_LOOP"

_TOLERANCE = 1e-9


@dataclass(frozen=True, slots=True)
class Approved:
    """An entry to place: ``qty`` base units, locking ``margin`` and risking ``risk_usdt``.

    ``reversed_qty`` is the opposite position this entry closes first (0 if none), by a separate
    reduce-only order: if that position is already gone (its stop filled first), the close books
    nothing and the entry still opens only ``qty``, the size approved. ``note`` says
    when the size was scaled or capped below the risk budget.
    """

    qty: float
    margin: float
    risk_usdt: float
    reversed_qty: float = 0.0
    note: str = ""


@dataclass(frozen=True, slots=True)
class Denied:
    """A refused entry: a stable ``code`` to count and alert on, and the numbers behind it.

    ``repeat`` is True when the symbol's previous verdict was the same denial: counted, but not
    worth another log line.
    """

    code: str
    detail: str
    repeat: bool = False


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


def _rank(state: TradingState, code: str) -> int:
    """How strict a state is: a rule may only move trading to a stricter one."""
    if state is TradingState.REDUCING:
        return 3
    if state is TradingState.HALTED:
        return 1 if code == DAILY_LOSS else 2
    return 0


class RiskGate:
    """Sizes and approves or denies entries against the latest portfolio, market and reservations."""

    def __init__(self, limits: RiskLimits) -> None:
        self.limits = limits
        self.denials: dict[str, int] = {}
        self.rate = EntryRate(limits.rate_windows())
        self._portfolio: PortfolioUpdated | None = None
        self._pending: dict[str, Reservation] = {}
        self._quotes: dict[str, Quote] = {}
        self._market_ts = 0
        self._corr_index: dict[str, int] = {}
        self._corr: npt.NDArray[np.float64] = np.empty((0, 0))
        self._corr_ts = 0
        self._last_denial: dict[str, str] = {}
        self._flattening: set[str] = set()
        self._state = TradingState.ACTIVE
        self._reason = ""
        self._code = ""
        self._day: int | None = None
        self._peak_base: float | None = None

    @property
    def state(self) -> TradingState:
        return self._state

    @property
    def reason(self) -> str:
        """Why the state is what it is ('' while ACTIVE)."""
        return self._reason

    @property
    def code(self) -> str:
        """The rule or command behind the state ('' while ACTIVE)."""
        return self._code

    @property
    def pending(self) -> dict[str, Reservation]:
        """A copy of the reservations by symbol."""
        return dict(self._pending)

    def command(self, state: TradingState, reason: str, code: str = MANUAL) -> TradingStateChanged | None:
        """An operator's (or the Supervisor's) order: applied whatever the current state.

        Resuming from a drawdown halt acknowledges the loss: drawdown is measured from the equity
        at that moment from then on. A resume cannot override a loss limit the latest portfolio
        still breaches: that limit applies again at once.
        """
        before = (self._state, self._reason, self._code)
        if state is not TradingState.ACTIVE:
            self._set_state(state, reason, code)
        else:
            if self._code == DRAWDOWN and self._portfolio is not None:
                self._peak_base = self._portfolio.equity
            self._set_state(TradingState.ACTIVE, "", "")
            if self._portfolio is not None:
                self._apply_breaches(self._portfolio)
        if (self._state, self._reason, self._code) == before:
            return None
        return TradingStateChanged(self._state, self._reason, self._code)

    def restore(self, state: TradingState, code: str, reason: str, ts: int) -> None:
        """Take the trading state saved before a restart; a daily-loss halt still ends with its day."""
        self._state, self._code, self._reason = state, code, reason
        self._day = utc_day(ts) if ts > 0 else None

    def on_portfolio(self, p: PortfolioUpdated) -> TradingStateChanged | None:
        """Take the newest portfolio: roll the day, clear shown reservations, apply the loss limits."""
        before = (self._state, self._reason)
        day = utc_day(p.ts)
        if self._day is not None and day > self._day and self._code == DAILY_LOSS:
            self._set_state(TradingState.ACTIVE, "", "")
        self._day = day if self._day is None else max(day, self._day)
        self._portfolio = p
        shown = {(v.symbol, v.side) for v in p.positions}
        self._pending = {s: r for s, r in self._pending.items() if (s, r.side) not in shown}
        self._flattening &= {v.symbol for v in p.positions}
        self._apply_breaches(p)
        if (self._state, self._reason) == before:
            return None
        return TradingStateChanged(self._state, self._reason, self._code)

    def on_quotes(self, quotes: tuple[Quote, ...]) -> None:
        """Keep the newest quote per symbol for the kill-switches; the market clock is the newest."""
        for quote in quotes:
            self._quotes[quote.symbol] = quote
            self._market_ts = max(self._market_ts, quote.ts)

    def on_correlation(self, update: CorrelationUpdated) -> None:
        """Take the newest correlation matrix."""
        n = len(update.symbols)
        if len(update.rho) != n * n:
            raise ValueError(f"correlation matrix of {n} symbols needs {n * n} values, got {len(update.rho)}")
        self._corr_index = {s: i for i, s in enumerate(update.symbols)}
        self._corr = np.array(update.rho, dtype=np.float64).reshape(n, n)
        self._corr_ts = update.ts

    def release(self, symbol: str) -> None:
        """An order of ``symbol`` was rejected or cancelled: drop its reservation, and if it was
        a REDUCING exit, let the next ``flatten`` try again."""
        self._pending.pop(symbol, None)
        self._flattening.discard(symbol)

    def exposure(self, exclude: str = "") -> Exposure:
        """Slots, heat and margin of the open and pending positions, ``exclude`` left out.

        A symbol with an open position and a pending reversal counts the larger of the two: until
        a portfolio update shows the fill, either may be the live one (a rejected reversal leaves
        the old position), so the worst case is the one capped.
        """
        heat: dict[str, float] = {}
        margin: dict[str, float] = {}
        for v in self._positions():
            if v.symbol != exclude:
                heat[v.symbol] = loss_at_stop(v.side, v.qty, v.entry, v.stop)
                margin[v.symbol] = margin_required(v.qty, v.entry, self.limits.leverage_of(v.symbol))
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
            repeat = self._last_denial.get(intent.symbol) == verdict.code
            self._last_denial[intent.symbol] = verdict.code
            return Denied(verdict.code, verdict.detail, repeat)
        self._last_denial.pop(intent.symbol, None)
        self.rate.record(intent.ts)
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

    def flatten(self, ts: int) -> list[ExitPosition]:
        """While REDUCING: an exit for each open position not already being closed."""
        if self._state is not TradingState.REDUCING:
            return []
        due = [v.symbol for v in self._positions() if v.symbol not in self._flattening]
        self._flattening.update(due)
        return [ExitPosition(symbol, ts, f"reducing: {self._reason}") for symbol in due]

    def blocks(self) -> dict[str, str]:
        """Symbols whose kill-switch is on now, with why (for status)."""
        now = self._market_ts
        blocked = {s: market_block(q, now, self.limits.kill) for s, q in self._quotes.items()}
        return {s: f"{b[0]}: {b[1]}" for s, b in sorted(blocked.items()) if b is not None}

    def correlated_pairs(self, limit: int = 10) -> list[dict[str, Any]]:
        """Pairs of an open or pending symbol and another above ``max_correlation``, strongest first."""
        held = {v.symbol for v in self._positions()} | set(self._pending)
        pairs: list[dict[str, Any]] = []
        for symbol in sorted(held):
            i = self._corr_index.get(symbol)
            if i is None:
                continue
            for other, j in self._corr_index.items():
                rho = float(self._corr[i, j])
                if other != symbol and abs(rho) > self.limits.max_correlation:
                    pairs.append({"open": symbol, "blocks": other, "rho": round(rho, 3)})
        pairs.sort(key=lambda pair: -abs(pair["rho"]))
        return pairs[:limit]

    def held_correlations(self) -> dict[str, dict[str, float]]:
        """The correlation matrix among the open and pending symbols (for status)."""
        held = sorted(s for s in {v.symbol for v in self._positions()} | set(self._pending) if s in self._corr_index)
        index = self._corr_index
        return {a: {b: round(float(self._corr[index[a], index[b]]), 3) for b in held} for a in held}

    @property
    def correlation_ts(self) -> int:
        """Event time of the newest bar in the correlation matrix (0 before the first)."""
        return self._corr_ts

    @property
    def market_ts(self) -> int:
        """The market clock: event time of the newest quote seen."""
        return self._market_ts

    def _positions(self) -> tuple[PositionView, ...]:
        return self._portfolio.positions if self._portfolio else ()

    def _check(self, intent: EnterPosition, lot_size: float) -> Approved | Denied:
        limits = self.limits
        price, stop, side, symbol = intent.price, intent.stop, intent.side, intent.symbol
        valid = math.isfinite(price) and math.isfinite(stop) and price > 0.0 and stop > 0.0
        if not valid or side.sign * (price - stop) <= 0.0:
            where = "below" if side is Side.LONG else "above"
            return Denied(INVALID_STOP, f"{side.value} entry {price} needs a stop {where}: {stop}")
        if not 0.0 < intent.size_scale <= 1.0 or not 0.0 <= intent.notional < math.inf:
            return Denied(INVALID_SIZE, f"size scale {intent.size_scale} not in (0, 1] or notional {intent.notional}")
        if self._state is not TradingState.ACTIVE:
            code = REDUCING if self._state is TradingState.REDUCING else HALTED
            return Denied(code, f"{self._state.value} ({self._code}): {self._reason}")
        p = self._portfolio
        if p is None:
            return Denied(NO_PORTFOLIO, "no portfolio update received yet")
        pending = self._pending.get(symbol)
        if pending is not None:
            return Denied(ALREADY_IN_POSITION, f"{pending.side.value} entry pending on {symbol}")
        held = next((v for v in self._positions() if v.symbol == symbol), None)
        if held is not None and held.side is side:
            return Denied(ALREADY_IN_POSITION, f"{side.value} {held.qty} open on {symbol}")
        block = market_block(self._quotes.get(symbol), max(self._market_ts, intent.ts), limits.kill)
        if block is not None:
            return Denied(*block)
        too_fast = self.rate.breach(intent.ts)
        if too_fast:
            return Denied(RATE_LIMIT, too_fast)
        correlated = self._correlated(symbol)
        if correlated:
            return Denied(CORRELATION, correlated)
        used = self.exposure(exclude=symbol)
        if used.positions >= limits.max_concurrent_positions:
            return Denied(
                MAX_POSITIONS,
                f"{used.positions} open or pending, limit {limits.max_concurrent_positions}",
            )
        return self._size(intent, lot_size, p, used, held)

    def _size(
        self, intent: EnterPosition, lot_size: float, p: PortfolioUpdated, used: Exposure, held: PositionView | None
    ) -> Approved | Denied:
        limits = self.limits
        price, stop, side = intent.price, intent.stop, intent.side
        leverage = limits.leverage_of(intent.symbol)
        scale = intent.size_scale
        notes = []
        if intent.regime == Regime.HIGH_VOLATILITY and scale > limits.high_vol_size_scale:
            scale = limits.high_vol_size_scale
        if scale != 1.0:
            notes.append(f"size x{scale:g}")
        qty = position_size(p.equity, limits.risk_per_trade_pct, price, stop) * scale
        if intent.notional > 0.0:
            if intent.notional / price <= qty:
                qty = intent.notional / price
            else:
                notes.append(f"notional {intent.notional:.2f} USDT capped by the risk budget")
        qty = qty if lot_size == 0.0 else truncate_to_lot(qty, lot_size)
        caps = [(p.equity / max(1, limits.max_concurrent_positions) * leverage, "the margin share of one slot")]
        if limits.max_symbol_notional_usdt > 0.0:
            caps.append((limits.max_symbol_notional_usdt, "max_symbol_notional_usdt"))
        if limits.max_symbol_margin_usdt > 0.0:
            caps.append((limits.max_symbol_margin_usdt * leverage, "max_symbol_margin_usdt"))
        cap_notional, cap_name = min(caps)
        capped = qty * price > cap_notional
        if capped:
            qty = cap_notional / price if lot_size == 0.0 else truncate_to_lot(cap_notional / price, lot_size)
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
        margin = margin_required(qty, price, leverage)
        bot_cap = limits.budget_usdt * limits.max_open_share
        if used.margin + margin > bot_cap * (1.0 + _TOLERANCE):
            return Denied(
                BOT_BUDGET,
                f"margin in use {used.margin:.2f} + {margin:.2f} = {used.margin + margin:.2f} USDT > "
                f"{limits.max_open_share:.0%} of the {limits.budget_usdt:.2f} USDT budget = {bot_cap:.2f}",
            )
        if used.margin + margin > p.equity * (1.0 + _TOLERANCE):
            return Denied(
                INSUFFICIENT_MARGIN,
                f"margin in use {used.margin:.2f} + {margin:.2f} = {used.margin + margin:.2f} "
                f"USDT > equity {p.equity:.2f}",
            )
        if capped:
            notes.append(f"size capped at {cap_notional:.2f} USDT notional by {cap_name} ({leverage:g}x leverage)")
        return Approved(qty, margin, risk, held.qty if held is not None else 0.0, "; ".join(notes))

    def _correlated(self, symbol: str) -> str:
        """Why ``symbol`` is too correlated with an open or pending position, or '' if it is not."""
        i = self._corr_index.get(symbol)
        if i is None:
            return ""
        held = ({v.symbol for v in self._positions()} | set(self._pending)) - {symbol}
        worst = max(
            ((abs(float(self._corr[i, j])), other) for other in held if (j := self._corr_index.get(other)) is not None),
            default=None,
        )
        if worst is None or worst[0] <= self.limits.max_correlation:
            return ""
        rho = float(self._corr[i, self._corr_index[worst[1]]])
        return f"{symbol}/{worst[1]} rho {rho:+.2f}, |rho| > {self.limits.max_correlation:.2f}"

    def _budget_breach(self, intent: EnterPosition, notional: float) -> str:
        """Why ``notional`` more would take its strategy over its budget, or '' if it fits."""
        cap = dict(self.limits.strategy_budgets).get(intent.strategy)
        if cap is None:
            return ""
        held = {v.symbol: v.qty * v.entry for v in self._positions() if v.strategy == intent.strategy}
        for symbol, r in self._pending.items():
            if r.strategy == intent.strategy:  # a pending reversal may still be rejected: count the larger
                held[symbol] = max(held.get(symbol, 0.0), r.notional)
        held.pop(intent.symbol, None)
        used = sum(held.values())
        if used + notional <= cap * (1.0 + _TOLERANCE):
            return ""
        return (
            f"{intent.strategy} holds {used:.2f} USDT open or pending + {notional:.2f} = "
            f"{used + notional:.2f} > its budget cap {cap:.2f}"
        )

    def _apply_breaches(self, p: PortfolioUpdated) -> None:
        """Move to the state each breached loss limit calls for, if it is stricter than the current."""
        for state, code, why in self._breaches(p):
            if _rank(state, code) > _rank(self._state, self._code):
                self._set_state(state, why, code)

    def _breaches(self, p: PortfolioUpdated) -> list[tuple[TradingState, str, str]]:
        """The loss limits ``p`` breaches: (state it calls for, code, why)."""
        limits = self.limits
        found = []
        floor = p.day_start_equity * (1.0 - limits.max_daily_loss_pct)
        if p.day_start_equity > 0.0 and p.equity <= floor:
            found.append((
                TradingState.HALTED, DAILY_LOSS,
                f"daily loss limit: equity {p.equity:.2f} <= {floor:.2f} (day start "
                f"{p.day_start_equity:.2f} - {limits.max_daily_loss_pct:.2%})",
            ))  # fmt: skip
        peak = p.peak_equity if self._peak_base is None else self._peak_base
        if self._peak_base is not None:
            self._peak_base = peak = max(self._peak_base, p.equity)
        dd_floor = peak * (1.0 - limits.max_drawdown_pct)
        if peak > 0.0 and p.equity <= dd_floor:
            found.append((
                TradingState.HALTED, DRAWDOWN,
                f"max drawdown: equity {p.equity:.2f} <= {dd_floor:.2f} (peak {peak:.2f} - "
                f"{limits.max_drawdown_pct:.2%}); resume re-bases the peak",
            ))  # fmt: skip
        loss_floor = limits.starting_equity - limits.max_total_loss_pct * limits.budget_usdt
        if p.equity <= loss_floor:
            found.append((
                TradingState.REDUCING, PNL_STOP,
                f"total loss stop: equity {p.equity:.2f} <= {loss_floor:.2f} (start "
                f"{limits.starting_equity:.2f} - {limits.max_total_loss_pct:.0%} of the "
                f"{limits.budget_usdt:.2f} budget); positions are being closed",
            ))  # fmt: skip
        return found

    def _set_state(self, state: TradingState, reason: str, code: str) -> TradingStateChanged | None:
        if (state, reason, code) == (self._state, self._reason, self._code):
            return None
        self._state, self._reason, self._code = state, reason, code
        if state is not TradingState.REDUCING:
            self._flattening.clear()
        return TradingStateChanged(state, reason, code)


def entry_oid(intent: EnterPosition) -> str:
    """Deterministic client id: the same intent always maps to the same order."""
    return f"{intent.symbol}-{intent.ts}-{intent.side.value}"


def entry_orders(intent: EnterPosition, verdict: Approved) -> list[SubmitOrder]:
    """The orders an approved entry sends: for a reversal, first a reduce-only close of the old
    position, then the entry of exactly the approved size.

    Two orders, not one of ``qty + reversed_qty``: if the old position is gone by the time they
    fill (its stop filled first), the close books nothing and the position opened is still the
    size whose risk was approved.
    """
    oid = entry_oid(intent)
    entry = SubmitOrder(
        oid, intent.symbol, intent.ts, intent.side, verdict.qty, intent.stop, False, intent.strategy, intent.reason,
        intent.target, intent.regime,
    )  # fmt: skip
    if verdict.reversed_qty <= 0.0:
        return [entry]
    close = SubmitOrder(
        f"{oid}-close", intent.symbol, intent.ts, intent.side, verdict.reversed_qty, 0.0, True, "exit", intent.reason
    )
    return [close, entry]
