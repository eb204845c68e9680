"""Store: the one writer of the state database and of the CSV journals.

Every state change other actors make durable comes here as a message; the Store applies them in
arrival order, so an ``ask(LoadState)`` is answered only after every write sent before it. A change
that must be on disk before its sender acts on it (an order before it is sent, a trading lock
before it takes effect) is an ``ask``: the answer comes after the commit.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import STORE, ActorContext
from engine.journal import EquityCurve, TradeJournal
from engine.messages import (
    EquitySampled,
    GetStatus,
    LoadEntryTimes,
    LoadFills,
    LoadFunding,
    LoadLock,
    LoadOpenOrders,
    LoadOrders,
    LoadState,
    OrderFilled,
    OrderRejected,
    PortfolioUpdated,
    RecordEvent,
    RecordOrder,
    SaveLock,
    SaveState,
)
from engine.store.sqlite_store import OPEN, StateStore, StoreError

_READS = (LoadState, LoadFills, LoadFunding, LoadOpenOrders, LoadOrders, LoadEntryTimes, LoadLock, GetStatus)


class StoreActor(SingletonActor):
    role = STORE

    def __init__(self, ctx: ActorContext, db_path: Path, log_dir: Path) -> None:
        super().__init__(ctx)
        self._db_path = db_path
        self._log_dir = log_dir
        self.db: StateStore | None = None
        self.trades: TradeJournal | None = None
        self.equity: EquityCurve | None = None

    def on_start(self) -> None:
        self.db = StateStore(self._db_path)
        self.trades = TradeJournal(self._log_dir)
        self.equity = EquityCurve(self._log_dir)

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, *_exc: Any) -> None:
        self._close()

    def _close(self) -> None:
        for closable in (self.db, self.trades, self.equity):
            if closable is not None:
                closable.close()

    def on_receive(self, message: Any) -> Any:
        """Apply one message. A write the database refuses is logged and answered with None (an
        ask) rather than crashing the Store, which would drop every write queued behind it. A read
        that fails raises to its asker (pykka hands an ask's exception to the caller and the Store
        keeps running), so the reader knows the state is unreadable rather than absent."""
        if isinstance(message, _READS):
            return self._apply(message)
        try:
            return self._apply(message)
        except (sqlite3.Error, StoreError) as exc:
            logger.error("store: could not apply {}: {}", type(message).__name__, exc)
            return None

    def _apply(self, message: Any) -> Any:
        db, trades, equity = self.db, self.trades, self.equity
        assert db is not None and trades is not None and equity is not None
        if isinstance(message, PortfolioUpdated):
            db.save_positions(message.positions, message.ts)
        elif isinstance(message, SaveState):
            for trade in db.commit_state(message.key, message.value, message.records):
                trades.record(trade)
        elif isinstance(message, OrderFilled):
            if not db.record_fill(message):
                logger.warning("{} duplicate fill {} ignored", message.symbol, message.fill_id)
        elif isinstance(message, RecordOrder):
            db.record_order(message.order, OPEN)
            return True
        elif isinstance(message, OrderRejected):
            db.update_order_status(message.client_oid, "rejected")
        elif isinstance(message, SaveLock):
            db.save_lock(message)
            return True
        elif isinstance(message, EquitySampled):
            db.record_equity(message)
            equity.record(message)
        elif isinstance(message, RecordEvent):
            db.record_event(message.ts, message.kind, message.symbol, message.detail)
        elif isinstance(message, LoadState):
            return db.get_state(message.key)
        elif isinstance(message, LoadFills):
            return db.fills()
        elif isinstance(message, LoadFunding):
            return db.funding()
        elif isinstance(message, LoadOpenOrders):
            return db.open_orders()
        elif isinstance(message, LoadOrders):
            return db.orders_since(message.since_ts)
        elif isinstance(message, LoadEntryTimes):
            return db.entry_times(message.since_ts)
        elif isinstance(message, LoadLock):
            return db.load_lock()
        elif isinstance(message, GetStatus):
            return db.counts()
        return None
