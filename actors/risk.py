"""Risk: every entry and exit passes here; entries are sized or denied, exits always go through.

Each denial is logged with its code and numbers, counted, and stored as an event. A halt from the
Supervisor (singleton crash loop) or from the daily loss limit stops entries, never exits.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import EXECUTION, RISK, STORE, ActorContext
from engine.core.risk import Approved, RiskGate, RiskLimits
from engine.messages import (
    EnterPosition,
    ExitPosition,
    GetStatus,
    OrderRejected,
    PortfolioUpdated,
    RecordEvent,
    SubmitOrder,
    TradingState,
    TradingStateChanged,
)
from engine.strategy_plan import LONG_DIP


def entry_oid(intent: EnterPosition) -> str:
    """Deterministic client id: the same intent always maps to the same order."""
    return f"{intent.symbol}-{intent.ts}-{intent.side.value}"


class RiskActor(SingletonActor):
    role = RISK

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        r = ctx.config.risk
        self.gate = RiskGate(
            RiskLimits(
                r.risk_per_trade_pct,
                r.portfolio_heat_cap_pct,
                r.max_concurrent_positions,
                r.max_daily_loss_pct,
                float(r.default_leverage),
                ((LONG_DIP, ctx.config.long_dip.budget_usdt * ctx.config.long_dip.max_open_share),),
            )
        )

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, EnterPosition):
            self._enter(message)
        elif isinstance(message, ExitPosition):
            self._exit(message)
        elif isinstance(message, PortfolioUpdated):
            self._announce(self.gate.on_portfolio(message), message.ts)
        elif isinstance(message, OrderRejected):
            self.gate.release(message.symbol)
        elif isinstance(message, TradingStateChanged):
            change = self.gate.halt(message.reason) if message.state is TradingState.HALTED else self.gate.resume()
            self._announce(change, 0)
        elif isinstance(message, GetStatus):
            return {
                "state": self.gate.state.value,
                "reason": self.gate.reason,
                "denials": dict(self.gate.denials),
                "pending": sorted(self.gate.pending),
            }
        return None

    def _enter(self, intent: EnterPosition) -> None:
        lot = self.ctx.source.instrument(intent.symbol).lot_size
        verdict = self.gate.evaluate(intent, lot)
        if not isinstance(verdict, Approved):
            logger.info(
                "{} {} {} entry denied [{}]: {}",
                intent.symbol, intent.side.value, intent.strategy, verdict.code, verdict.detail,
            )  # fmt: skip
            self.router.tell_singleton(
                STORE, RecordEvent(intent.ts, f"denied:{verdict.code}", intent.symbol, verdict.detail)
            )
            return
        qty = verdict.qty + verdict.reversed_qty
        reversing = f", reversing {verdict.reversed_qty:.6g}" if verdict.reversed_qty else ""
        reversing += f"; {verdict.note}" if verdict.note else ""
        target = f", target {intent.target:.6g}" if intent.target > 0.0 else ""
        logger.info(
            "{} {} approved [{} in {}]: {:.6g} @ ~{:.6g}, stop {:.6g}{}, risk {:.2f} USDT, margin {:.2f}{} ({})",
            intent.symbol,
            intent.side.value,
            intent.strategy,
            intent.regime or "-",
            verdict.qty,
            intent.price,
            intent.stop,
            target,
            verdict.risk_usdt,
            verdict.margin,
            reversing,
            intent.reason,
        )
        order = SubmitOrder(
            entry_oid(intent),
            intent.symbol,
            intent.ts,
            intent.side,
            qty,
            intent.stop,
            False,
            intent.strategy,
            intent.reason,
            intent.target,
            intent.regime,
        )
        self.router.tell_singleton(EXECUTION, order)

    def _exit(self, request: ExitPosition) -> None:
        order = self.gate.exit_order(request)
        if order is None:
            return
        self.router.tell_singleton(EXECUTION, order)

    def _announce(self, change: TradingStateChanged | None, ts: int) -> None:
        if change is None:
            return
        log = logger.warning if change.state is not TradingState.ACTIVE else logger.info
        log("trading state {}{}", change.state.value, f": {change.reason}" if change.reason else "")
        self.router.tell_singleton(STORE, RecordEvent(ts, "trading_state", "", f"{change.state.value} {change.reason}"))
