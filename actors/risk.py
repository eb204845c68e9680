"""Risk: every entry and exit passes here; entries are sized or denied, exits always go through.

Each denial is counted, and logged and stored as an event unless it repeats the symbol's previous
one. The trading state (ACTIVE, HALTED, REDUCING) is saved to the Store before it takes effect and
restored on start, with the entry times of the last day for the rate limits, so neither a restart
nor a kill -9 lifts a halt or resets a limit.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import EXECUTION, PORTFOLIO, RISK, STORE, ActorContext
from engine.core.limits import DAY_MS
from engine.core.risk import DRAWDOWN, MANUAL, Approved, RiskGate, entry_orders
from engine.messages import (
    CorrelationUpdated,
    EnterPosition,
    ExitPosition,
    GetStatus,
    LoadEntryTimes,
    LoadLock,
    OrderRejected,
    PortfolioUpdated,
    QuotesUpdated,
    RecordEvent,
    ResetPeak,
    SaveLock,
    TradingState,
    TradingStateChanged,
)
from engine.strategy_plan import risk_limits

STORE_TIMEOUT_S = 10.0
STATUS_BLOCKS = 20


class RiskActor(SingletonActor):
    role = RISK

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.gate = RiskGate(risk_limits(ctx.config))

    def on_start(self) -> None:
        store = self.router.singleton(STORE)
        if store is None:
            return
        lock: SaveLock | None = store.ask(LoadLock(), block=True, timeout=STORE_TIMEOUT_S)
        if lock is not None and lock.state is not TradingState.ACTIVE:
            self.gate.restore(lock.state, lock.code, lock.reason, lock.ts)
            logger.warning("trading state restored: {} ({}): {}", lock.state.value, lock.code, lock.reason)
        since = self.ctx.clock() - DAY_MS
        times: list[int] = store.ask(LoadEntryTimes(since), block=True, timeout=STORE_TIMEOUT_S)
        self.gate.rate.restore(times)

    def on_receive(self, message: Any) -> Any:
        gate = self.gate
        if isinstance(message, EnterPosition):
            self._enter(message)
        elif isinstance(message, ExitPosition):
            self._exit(message)
        elif isinstance(message, QuotesUpdated):
            gate.on_quotes(message.quotes)
        elif isinstance(message, PortfolioUpdated):
            self._announce(gate.on_portfolio(message), message.ts)
            for exit_ in gate.flatten(message.ts):
                self._exit(exit_)
        elif isinstance(message, CorrelationUpdated):
            gate.on_correlation(message)
        elif isinstance(message, OrderRejected):
            gate.release(message.symbol)
        elif isinstance(message, TradingStateChanged):
            self._command(message)
        elif isinstance(message, GetStatus):
            return self._status()
        return None

    def _command(self, command: TradingStateChanged) -> None:
        """An operator's halt, reduce or resume (or the Supervisor's halt): always applied."""
        if command.state is TradingState.ACTIVE and self.gate.code == DRAWDOWN:
            self.router.tell_singleton(PORTFOLIO, ResetPeak(self.gate.market_ts))
        ts = self.gate.market_ts
        self._announce(self.gate.command(command.state, command.reason, command.code or MANUAL), ts)
        for exit_ in self.gate.flatten(ts):
            self._exit(exit_)

    def _enter(self, intent: EnterPosition) -> None:
        lot = self.ctx.source.instrument(intent.symbol).lot_size
        verdict = self.gate.evaluate(intent, lot)
        if not isinstance(verdict, Approved):
            if not verdict.repeat:
                logger.info(
                    "{} {} {} entry denied [{}]: {}",
                    intent.symbol, intent.side.value, intent.strategy, verdict.code, verdict.detail,
                )  # fmt: skip
                self.router.tell_singleton(
                    STORE, RecordEvent(intent.ts, f"denied:{verdict.code}", intent.symbol, verdict.detail)
                )
            return
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
        for order in entry_orders(intent, verdict):
            self.router.tell_singleton(EXECUTION, order)

    def _exit(self, request: ExitPosition) -> None:
        order = self.gate.exit_order(request)
        if order is None:
            return
        self.router.tell_singleton(EXECUTION, order)

    def _announce(self, change: TradingStateChanged | None, ts: int) -> None:
        """Make a state change durable, then say it: a halt must survive a crash the moment after."""
        if change is None:
            return
        store = self.router.singleton(STORE)
        if store is not None:
            store.ask(SaveLock(change.state, change.code, change.reason, ts), block=True, timeout=STORE_TIMEOUT_S)
        log = logger.warning if change.state is not TradingState.ACTIVE else logger.info
        log("trading state {}{}", change.state.value, f" [{change.code}]: {change.reason}" if change.reason else "")
        self.router.tell_singleton(
            STORE, RecordEvent(ts, "trading_state", "", f"{change.state.value} {change.code} {change.reason}".strip())
        )

    def _status(self) -> dict[str, Any]:
        gate = self.gate
        blocks = gate.blocks()
        now = gate.market_ts
        age = (now - gate.correlation_ts) / 1000.0 if gate.correlation_ts else None
        return {
            "state": gate.state.value,
            "code": gate.code,
            "reason": gate.reason,
            "denials": dict(gate.denials),
            "pending": sorted(gate.pending),
            "entries": gate.rate.counts(now),
            "kill_switches": dict(list(blocks.items())[:STATUS_BLOCKS]),
            "kill_switch_count": len(blocks),
            "correlation_age_s": age,
            "blocked_pairs": gate.correlated_pairs(),
            "open_correlations": gate.held_correlations(),
        }
