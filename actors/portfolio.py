"""Portfolio: books fills, marks positions, exits on stops, and publishes the state Risk needs.

Its state is saved to the Store after every fill, and a restarted Portfolio resumes from it
(``LoadState`` is answered after every earlier write), so a crash loses no position.
"""

from __future__ import annotations

import time
from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import PORTFOLIO, RISK, SIGNAL, STORE, ActorContext
from engine.core.portfolio import Portfolio
from engine.messages import (
    GetStatus,
    LoadFills,
    LoadState,
    OrderFilled,
    PositionChanged,
    QuotesUpdated,
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
            self.router.tell(position.symbol, SIGNAL, PositionChanged(position.symbol, position.side))
        self.router.tell_singleton(RISK, snapshot)

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, QuotesUpdated):
            self._on_quotes(message)
        elif isinstance(message, OrderFilled):
            self._on_fill(message)
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
        for exit_ in book.stops_hit() if touched else ():
            position = book.position(exit_.symbol)
            logger.info(
                "{} stop hit: mark {:.6g} crossed stop {:.6g}; exiting",
                exit_.symbol,
                position.mark if position else 0.0,
                position.stop if position else 0.0,
            )
            self.router.tell_singleton(RISK, exit_)
        self.router.tell_singleton(RISK, book.snapshot(self._last_ts or _now_ms()))

    def _on_fill(self, fill: OrderFilled) -> None:
        if not self._book_fill(fill):
            return
        position = self.book.position(fill.symbol)
        self.router.tell_singleton(STORE, SaveState(STATE_KEY, self.book.to_state()))
        self.router.tell(fill.symbol, SIGNAL, PositionChanged(fill.symbol, position.side if position else None))
        self._publish(fill.ts)

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
        position = book.position(fill.symbol)
        if position is not None and not fill.reduce_only:
            logger.info(
                "{} position {} {:.6g} @ {:.6g}, stop {:.6g}",
                fill.symbol, position.side.value, position.qty, position.entry, position.stop,
            )  # fmt: skip
        return True

    def _publish(self, ts: int) -> None:
        snapshot = self.book.snapshot(ts)
        self.router.tell_singleton(STORE, snapshot)
        self.router.tell_singleton(RISK, snapshot)

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
                    "mark": p.mark,
                }
                for p in snapshot.positions
            ],
        }
