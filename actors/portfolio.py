"""Portfolio: books fills, marks positions, exits on stops and targets, trails stops on request,
and publishes the state Risk (and the Scanner's cross-sectional book) needs.

Its state is saved to the Store after every fill, and a restarted Portfolio resumes from it
(``LoadState`` is answered after every earlier write), so a crash loses no position.
"""

from __future__ import annotations

import time
from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import PORTFOLIO, RISK, SCANNER, SIGNAL, STORE, ActorContext
from engine.core.portfolio import Portfolio
from engine.messages import (
    GetStatus,
    LoadFills,
    LoadState,
    MoveStop,
    OrderFilled,
    PositionChanged,
    PositionView,
    QuotesUpdated,
    RecordEvent,
    SaveState,
    Tick,
)

STATE_KEY = "portfolio"
LOAD_TIMEOUT_S = 10.0


def _now_ms() -> int:
    return int(time.time() * 1000)


class PortfolioActor(SingletonActor):
    role = PORTFOLIO

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        self.book = Portfolio(ctx.config.risk.starting_equity_usdt)
        self._last_ts = 0

    def on_start(self) -> None:
        """Resume from the saved state, then book any fill the Store has that the state lacks.

        A fill sent while this actor was down (crashed, restarting) reached the Store, which
        Execution writes first; replaying the Store's fills books exactly those, since fills
        already applied are recognised by their id.
        """
        store = self.router.singleton(STORE)
        if store is not None:
            state = store.ask(LoadState(STATE_KEY), block=True, timeout=LOAD_TIMEOUT_S)
            if state is not None:
                self.book = Portfolio.from_state(state)
            missed = [f for f in store.ask(LoadFills(), block=True, timeout=LOAD_TIMEOUT_S) if self._book_fill(f)]
            if state is not None or missed:
                logger.info(
                    "portfolio restored: equity {:.2f} USDT, {} open positions, {} missed fills booked",
                    self.book.equity,
                    len(self.book.snapshot(_now_ms()).positions),
                    len(missed),
                )
            if missed:
                self.router.tell_singleton(STORE, SaveState(STATE_KEY, self.book.to_state()))
        snapshot = self.book.snapshot(_now_ms())
        for position in snapshot.positions:
            self._tell_signal(position.symbol, position)
        self.router.tell_singleton(RISK, snapshot)
        self.router.tell_singleton(SCANNER, snapshot)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, QuotesUpdated):
            self._on_quotes(message)
        elif isinstance(message, OrderFilled):
            self._on_fill(message)
        elif isinstance(message, MoveStop):
            self._move_stop(message)
        elif isinstance(message, Tick):
            ts = self._last_ts or _now_ms()
            self._publish(ts)
            self.router.tell_singleton(STORE, self.book.equity_point(ts))
        elif isinstance(message, GetStatus):
            return self._status()
        return None

    def _on_quotes(self, message: QuotesUpdated) -> None:
        book = self.book
        touched = False
        for quote in message.quotes:
            self._last_ts = max(self._last_ts, quote.ts)
            if book.position(quote.symbol) is not None:
                book.mark(quote)
                touched = True
        for exit_ in book.exits_due() if touched else ():
            position = book.position(exit_.symbol)
            if position is not None:
                level = position.stop if exit_.reason == "stop" else position.target
                logger.info(
                    "{} {} hit: mark {:.6g} crossed {:.6g}; exiting", exit_.symbol, exit_.reason, position.mark, level
                )
            self.router.tell_singleton(RISK, exit_)
        self.router.tell_singleton(RISK, book.snapshot(self._last_ts or _now_ms()))

    def _on_fill(self, fill: OrderFilled) -> None:
        if not self._book_fill(fill):
            return
        self.router.tell_singleton(STORE, SaveState(STATE_KEY, self.book.to_state()))
        self._tell_signal(fill.symbol, self.book.position(fill.symbol))
        self._publish(fill.ts)

    def _move_stop(self, move: MoveStop) -> None:
        """Tighten a stop (trailing); saved before it is relied on, ignored if it would widen."""
        old = self.book.move_stop(move.symbol, move.stop)
        if old is None:
            logger.debug("{} stop move to {:.6g} ignored: no position or not tighter", move.symbol, move.stop)
            return
        logger.info("{} stop {:.6g} -> {:.6g} ({})", move.symbol, old, move.stop, move.reason)
        self.router.tell_singleton(STORE, SaveState(STATE_KEY, self.book.to_state()))
        self.router.tell_singleton(
            STORE, RecordEvent(move.ts, "stop_moved", move.symbol, f"{old:.6g} -> {move.stop:.6g} ({move.reason})")
        )
        self._tell_signal(move.symbol, self.book.position(move.symbol))
        self._publish(move.ts)

    def _tell_signal(self, symbol: str, position: PositionView | None) -> None:
        if position is None:
            self.router.tell(symbol, SIGNAL, PositionChanged(symbol, None))
            return
        self.router.tell(
            symbol,
            SIGNAL,
            PositionChanged(symbol, position.side, position.entry, position.stop, position.target, position.strategy),
        )

    def _book_fill(self, fill: OrderFilled) -> bool:
        """Apply a fill once; closed trades go to the journal. False if it was booked before."""
        book = self.book
        if book.has_fill(fill.fill_id):
            return False
        self._last_ts = max(self._last_ts, fill.ts)
        for trade in book.apply_fill(fill):
            logger.info(
                "{} closed {} {:.6g}: {:.6g} -> {:.6g}, PnL {:+.2f} USDT after {:.2f} fees ({})",
                trade.symbol, trade.side.value, trade.qty, trade.entry_price, trade.exit_price,
                trade.pnl, trade.fees, trade.reason,
            )  # fmt: skip
            self.router.tell_singleton(STORE, trade)
            self.router.tell_singleton(SCANNER, trade)
        position = book.position(fill.symbol)
        if position is not None and not fill.reduce_only:
            target = f", target {position.target:.6g}" if position.target > 0.0 else ""
            logger.info(
                "{} position {} {:.6g} @ {:.6g}, stop {:.6g}{} [{} in {}]",
                fill.symbol, position.side.value, position.qty, position.entry, position.stop, target,
                position.strategy, position.regime or "-",
            )  # fmt: skip
        return True

    def _publish(self, ts: int) -> None:
        snapshot = self.book.snapshot(ts)
        self.router.tell_singleton(STORE, snapshot)
        self.router.tell_singleton(RISK, snapshot)
        self.router.tell_singleton(SCANNER, snapshot)

    def _status(self) -> dict[str, Any]:
        book = self.book
        snapshot = book.snapshot(self._last_ts or _now_ms())
        return {
            "equity": round(book.equity, 2),
            "cash": round(book.cash, 2),
            "unrealized": round(book.unrealized, 2),
            "realised": round(book.realised, 2),
            "fees": round(book.fees, 2),
            "day_pnl": round(snapshot.equity - snapshot.day_start_equity, 2),
            "peak_equity": round(snapshot.peak_equity, 2),
            "positions": [
                {
                    "symbol": p.symbol,
                    "side": p.side.value,
                    "qty": p.qty,
                    "entry": p.entry,
                    "stop": p.stop,
                    "target": p.target,
                    "mark": p.mark,
                    "strategy": p.strategy,
                    "regime": p.regime,
                }
                for p in snapshot.positions
            ],
        }
