"""Portfolio: books fills and funding, marks positions, exits on stops and targets, trails stops on
request, and publishes the state Risk (and the Scanner's cross-sectional book) needs.

Its state is saved to the Store after every change, in one transaction with the trades and funding
payments that change produced, and a restarted Portfolio resumes from it (``LoadState`` is answered
after every earlier write), then books the fills the Store has that the state lacks. So a crash at
any instant loses no position and journals no trade twice. A saved state that cannot be read is
never silently replaced by a fresh one: the portfolio is rebuilt from the ledger (every fill and
funding payment in the Store), and the log says so.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import PORTFOLIO, RISK, SCANNER, SIGNAL, STORE, ActorContext
from engine.core.portfolio import Portfolio, position_changed
from engine.messages import (
    FundingPaid,
    GetStatus,
    LoadFills,
    LoadFunding,
    LoadState,
    MoveStop,
    OrderFilled,
    PositionView,
    QuotesUpdated,
    ReconcilePositions,
    RecordEvent,
    ResetPeak,
    SaveState,
    Tick,
    TradeClosed,
)
from engine.store.sqlite_store import StoreError

STATE_KEY = "portfolio"
LOAD_TIMEOUT_S = 10.0


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
            fills: list[OrderFilled] = store.ask(LoadFills(), block=True, timeout=LOAD_TIMEOUT_S)
            self.book, restored = self._restore(store)
            missed = [f for f in fills if not self.book.has_fill(f.fill_id)]
            trades = [t for f in missed for t in self._book_fill(f, learn=False)]
            if restored or fills:
                logger.info(
                    "portfolio restored: equity {:.2f} USDT, cash {:.2f}, {} open positions; {} fills in the "
                    "ledger, {} of them booked now",
                    self.book.equity, self.book.cash, len(self.book.peek(self.ctx.clock()).positions), len(fills),
                    len(missed),
                )  # fmt: skip
            self._commit(tuple(trades))
        snapshot = self.book.snapshot(self.ctx.clock())
        for position in snapshot.positions:
            self._tell_signal(position.symbol, position)
        self.router.tell_singleton(RISK, snapshot)
        self.router.tell_singleton(SCANNER, snapshot)

    def _restore(self, store: Any) -> tuple[Portfolio, bool]:
        """The saved portfolio; with none, or one that cannot be read, a fresh book holding the
        ledger's funding payments (the caller books the fills). Also whether a state was found.
        """
        try:
            state = store.ask(LoadState(STATE_KEY), block=True, timeout=LOAD_TIMEOUT_S)
            if state is not None:
                return Portfolio.from_state(state), True
            found = False
        except (StoreError, ValueError, KeyError, TypeError) as exc:
            logger.error(
                "portfolio state unreadable ({}): rebuilding it from the ledger of fills and funding "
                "payments; stops moved by trailing revert to those of the fills",
                exc,
            )
            self.router.tell_singleton(STORE, RecordEvent(self.ctx.clock(), "state_rebuilt", "", str(exc)))
            found = True
        book = Portfolio(self.ctx.config.risk.starting_equity_usdt)
        payments: list[FundingPaid] = store.ask(LoadFunding(), block=True, timeout=LOAD_TIMEOUT_S)
        for payment in payments:
            book.book_funding(payment)
        return book, found

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, QuotesUpdated):
            self._on_quotes(message)
        elif isinstance(message, OrderFilled):
            self._on_fill(message)
        elif isinstance(message, MoveStop):
            self._move_stop(message)
        elif isinstance(message, ReconcilePositions):
            self._reconcile(message)
        elif isinstance(message, ResetPeak):
            self.book.reset_peak()
            logger.info("drawdown now measured from equity {:.2f} USDT", self.book.equity)
            self._commit(())
            self._publish(self._last_ts or message.ts)
        elif isinstance(message, Tick):
            ts = self._last_ts or self.ctx.clock()
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
        payments = book.settle_funding(self._last_ts) if self._last_ts else []
        for payment in payments:
            logger.info(
                "{} funding {:+.4f} USDT ({} {:.6g} @ {:.6g}, rate {:.4%})",
                payment.symbol, payment.amount, payment.side.value, payment.qty, payment.mark, payment.rate,
            )  # fmt: skip
        if payments:
            self._commit(tuple(payments))
        for exit_ in book.exits_due() if touched else ():
            position = book.position(exit_.symbol)
            if position is not None:
                level = position.stop if exit_.reason == "stop" else position.target
                logger.info(
                    "{} {} hit: mark {:.6g} crossed {:.6g}; exiting", exit_.symbol, exit_.reason, position.mark, level
                )
            self.router.tell_singleton(RISK, exit_)
        self.router.tell_singleton(RISK, book.snapshot(self._last_ts or self.ctx.clock()))

    def _on_fill(self, fill: OrderFilled) -> None:
        if self.book.has_fill(fill.fill_id):
            return
        self._commit(tuple(self._book_fill(fill)))
        self._tell_signal(fill.symbol, self.book.position(fill.symbol))
        self._publish(fill.ts)

    def _move_stop(self, move: MoveStop) -> None:
        """Tighten a stop (trailing); saved before it is relied on, ignored if it would widen."""
        old = self.book.move_stop(move.symbol, move.stop)
        if old is None:
            logger.debug("{} stop move to {:.6g} ignored: no position or not tighter", move.symbol, move.stop)
            return
        logger.info("{} stop {:.6g} -> {:.6g} ({})", move.symbol, old, move.stop, move.reason)
        self._commit(())
        self.router.tell_singleton(
            STORE, RecordEvent(move.ts, "stop_moved", move.symbol, f"{old:.6g} -> {move.stop:.6g} ({move.reason})")
        )
        self._tell_signal(move.symbol, self.book.position(move.symbol))
        self._publish(move.ts)

    def _reconcile(self, message: ReconcilePositions) -> None:
        """Make every position the venue's; each correction is logged and stored as an event."""
        venue = {p.symbol: p for p in message.positions}
        local = {p.symbol for p in self.book.peek(message.ts).positions}
        corrections = []
        for symbol in sorted(local | set(venue)):
            change = self.book.correct(venue.get(symbol), symbol, message.ts, self.ctx.config.live.adopted_stop_pct)
            if change:
                corrections.append(symbol)
                logger.warning("{} position corrected to the venue's ({}): {}", symbol, message.why, change)
                self.router.tell_singleton(STORE, RecordEvent(message.ts, "position_corrected", symbol, change))
                self._tell_signal(symbol, self.book.position(symbol))
        if corrections:
            self._commit(())
            self._publish(message.ts)
        logger.info(
            "reconciled with the venue ({}): {} positions there, {} corrected",
            message.why, len(venue), len(corrections),
        )  # fmt: skip

    def _tell_signal(self, symbol: str, position: PositionView | None) -> None:
        self.router.tell(symbol, SIGNAL, position_changed(symbol, position))

    def _commit(self, records: tuple[TradeClosed | FundingPaid, ...]) -> None:
        """Save the state with the trades and payments it produced, in one Store transaction."""
        self.router.tell_singleton(STORE, SaveState(STATE_KEY, self.book.to_state(), records))

    def _book_fill(self, fill: OrderFilled, learn: bool = True) -> list[TradeClosed]:
        """Apply a new fill; the trades it closed, for the journal.

        The Scanner's bandit learns from them unless ``learn`` is False: fills replayed from the
        ledger at start may be outcomes it learned before the restart.
        """
        book = self.book
        self._last_ts = max(self._last_ts, fill.ts)
        trades = book.apply_fill(fill)
        for trade in trades:
            logger.info(
                "{} closed {} {:.6g}: {:.6g} -> {:.6g}, PnL {:+.2f} USDT after {:.2f} fees ({})",
                trade.symbol, trade.side.value, trade.qty, trade.entry_price, trade.exit_price,
                trade.pnl, trade.fees, trade.reason,
            )  # fmt: skip
            if learn:
                self.router.tell_singleton(SCANNER, trade)
        position = book.position(fill.symbol)
        if position is not None and not fill.reduce_only:
            target = f", target {position.target:.6g}" if position.target > 0.0 else ""
            logger.info(
                "{} position {} {:.6g} @ {:.6g}, stop {:.6g}{} [{} in {}]",
                fill.symbol, position.side.value, position.qty, position.entry, position.stop, target,
                position.strategy, position.regime or "-",
            )  # fmt: skip
        return trades

    def _publish(self, ts: int) -> None:
        snapshot = self.book.snapshot(ts)
        self.router.tell_singleton(STORE, snapshot)
        self.router.tell_singleton(RISK, snapshot)
        self.router.tell_singleton(SCANNER, snapshot)

    def _status(self) -> dict[str, Any]:
        book = self.book
        snapshot = book.peek(self._last_ts or self.ctx.clock())
        return {
            "equity": round(book.equity, 2),
            "cash": round(book.cash, 2),
            "unrealized": round(book.unrealized, 2),
            "realised": round(book.realised, 2),
            "fees": round(book.fees, 2),
            "funding": round(book.funding, 4),
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
