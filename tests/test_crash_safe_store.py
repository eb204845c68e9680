"""Crash safety of the state database: schema 3, one-transaction state commits, idempotent trades,
funding and fills, open orders and entry times for a restart, the trading lock, reopening."""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.messages import FundingPaid, OrderFilled, SaveLock, Side, SubmitOrder, TradeClosed, TradingState
from engine.store import SCHEMA_VERSION, StateStore, StoreError
from engine.store.sqlite_store import MIGRATIONS
from tests.test_sqlite_store import FILL as BASE_FILL
from tests.test_sqlite_store import ORDER as BASE_ORDER

T0 = 1_700_000_000_000
HOUR = 3_600_000

ORDER = replace(BASE_ORDER, client_oid="e-BTCUSDT-1", target=38_000.0, regime="TRENDING")
FILL = replace(BASE_FILL, client_oid=ORDER.client_oid, ts=T0 + 120)
TRADE = TradeClosed(
    symbol="BTCUSDT",
    side=Side.LONG,
    qty=0.015,
    entry_ts=T0 + 120,
    entry_price=37_012.3,
    exit_ts=T0 + HOUR,
    exit_price=37_500.0,
    pnl=6.65,
    fees=0.66,
    strategy="trend_breakout",
    regime="TRENDING",
    reason="target",
    risk=7.68,
    fill_id="f-2",
)
TRADE_2 = replace(TRADE, symbol="ETHUSDT", pnl=-3.5, fill_id="f-7")
TRADE_3 = replace(TRADE, symbol="SOLUSDT", pnl=12.25, fill_id="f-9")
PAYMENT = FundingPaid("BTCUSDT", T0 + 8 * HOUR, Side.LONG, 0.015, 37_100.0, 0.0001, -0.05565)
PAYMENT_2 = FundingPaid("ETHUSDT", T0 + 8 * HOUR, Side.SHORT, 1.25, 2_040.0, 0.0001, 0.255)
STATE = {"version": 3, "cash": 10_006.65, "funding": -0.05565}


def sql(db_path: Path, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement on a separate connection, as another process would."""
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            return conn.execute(statement, params).fetchall()
    finally:
        conn.close()


def order(client_oid: str, ts: int, *, reduce_only: bool = False) -> SubmitOrder:
    return replace(ORDER, client_oid=client_oid, ts=ts, reduce_only=reduce_only)


def fill_of(o: SubmitOrder, fill_id: str) -> OrderFilled:
    return replace(FILL, fill_id=fill_id, client_oid=o.client_oid, ts=o.ts + 50)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "engine.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[StateStore]:
    s = StateStore(db_path)
    yield s
    s.close()


def build_version_2_database(path: Path) -> None:
    """A database as the engine left it before migration 3: one order, one trade and one state."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)")
        for version, statements in enumerate(MIGRATIONS[:2], start=1):
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, applied_ms) VALUES (?, 0)", (version,))
        conn.execute(
            "INSERT INTO orders (client_oid, symbol, ts, side, qty, stop, reduce_only, strategy, reason, status,"
            " target, regime) VALUES ('old-1', 'BTCUSDT', ?, 'long', 0.015, 36500.5, 0, 'trend_breakout',"
            " 'donchian high 20', 'filled', 38000.0, 'TRENDING')",
            (T0,),
        )
        conn.execute(
            "INSERT INTO trades (symbol, side, qty, entry_ts, entry_price, exit_ts, exit_price, pnl, fees,"
            " strategy, regime, reason, risk) VALUES ('ETHUSDT', 'short', 1.25, ?, 2050.4, ?, 2010.1, 50.375,"
            " 3.06, 'mean_reversion', 'RANGING', 'take profit', 49.5)",
            (T0, T0 + HOUR),
        )
        conn.execute("INSERT INTO kv (key, value) VALUES ('portfolio', '{\"version\": 2}')")
    conn.close()


# --- schema -------------------------------------------------------------------------------------


def test_new_database_is_at_schema_3_with_funding_and_locks_tables(store: StateStore, db_path: Path) -> None:
    assert SCHEMA_VERSION == 3
    assert store.schema_version() == 3
    names = {r[0] for r in sql(db_path, "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"funding", "locks"} <= names
    assert (store.counts()["funding"], store.counts()["locks"]) == (0, 0)
    assert sql(db_path, "SELECT version FROM schema_version ORDER BY version") == [(1,), (2,), (3,)]


def test_version_2_database_upgrades_to_3_keeping_its_rows(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    build_version_2_database(db_path)
    store = StateStore(db_path)
    try:
        assert store.schema_version() == 3
        (trade,) = store.trades()
        assert (trade.symbol, trade.side, trade.pnl, trade.risk, trade.fill_id) == (
            "ETHUSDT",
            Side.SHORT,
            50.375,
            49.5,
            "",
        )
        assert sql(db_path, "SELECT client_oid, status, target FROM orders") == [("old-1", "filled", 38_000.0)]
        assert store.get_state("portfolio") == {"version": 2}
        assert (store.funding(), store.load_lock()) == ([], None)
    finally:
        store.close()


def test_trades_without_a_fill_id_are_never_merged(store: StateStore) -> None:
    legacy = replace(TRADE, fill_id="")
    assert store.record_trade(legacy) is True
    assert store.record_trade(legacy) is True
    assert store.trades() == [legacy, legacy]


# --- commit_state -------------------------------------------------------------------------------


def test_commit_state_writes_the_state_its_trades_and_its_funding(store: StateStore) -> None:
    new = store.commit_state("portfolio", STATE, [TRADE, PAYMENT, TRADE_2])
    assert new == [TRADE, TRADE_2]
    assert store.get_state("portfolio") == STATE
    assert store.trades() == [TRADE, TRADE_2]
    assert store.funding() == [PAYMENT]


def test_commit_state_that_fails_midway_leaves_none_of_its_writes(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_state("portfolio", {"cash": 10_000.0})

    def broken(payment: FundingPaid) -> bool:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "record_funding", broken)
    with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
        store.commit_state("portfolio", STATE, [TRADE, PAYMENT])
    assert store.get_state("portfolio") == {"cash": 10_000.0}
    assert (store.trades(), store.funding()) == ([], [])


def test_commit_state_failing_inside_a_batch_leaves_the_rest_of_the_batch(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(payment: FundingPaid) -> bool:
        raise sqlite3.OperationalError("disk I/O error")

    with store.transaction():
        store.record_order(ORDER, "submitted")
        monkeypatch.setattr(store, "record_funding", broken)
        with pytest.raises(sqlite3.OperationalError):
            store.commit_state("portfolio", STATE, [TRADE, PAYMENT])
        monkeypatch.undo()
        store.record_fill(FILL)
    assert (store.get_state("portfolio"), store.trades()) == (None, [])
    assert store.open_orders() == []
    assert store.fills() == [FILL]


def test_commit_state_twice_keeps_each_trade_once_and_returns_only_new_ones(store: StateStore) -> None:
    assert store.commit_state("portfolio", {"step": 1}, [TRADE, TRADE_2]) == [TRADE, TRADE_2]
    assert store.commit_state("portfolio", {"step": 2}, [TRADE, TRADE_2, TRADE_3]) == [TRADE_3]
    assert store.trades() == [TRADE, TRADE_2, TRADE_3]
    assert store.get_state("portfolio") == {"step": 2}


def test_a_trade_repeated_in_one_commit_is_kept_and_returned_once(store: StateStore) -> None:
    assert store.commit_state("portfolio", STATE, [TRADE, TRADE]) == [TRADE]
    assert store.trades() == [TRADE]


def test_a_trade_is_identified_by_its_closing_fill_not_its_contents(store: StateStore) -> None:
    assert store.record_trade(TRADE) is True
    assert store.record_trade(replace(TRADE, pnl=999.0)) is False
    assert store.trades() == [TRADE]


def test_commit_state_with_a_record_the_table_cannot_hold_raises_and_keeps_nothing(store: StateStore) -> None:
    unstorable = replace(PAYMENT, rate=math.nan, amount=math.nan)
    with pytest.raises((sqlite3.IntegrityError, StoreError)):
        store.commit_state("portfolio", STATE, [TRADE, unstorable])
    assert (store.get_state("portfolio"), store.trades(), store.funding()) == (None, [], [])


# --- funding ------------------------------------------------------------------------------------


def test_funding_payment_is_kept_once_per_symbol_and_time(store: StateStore) -> None:
    assert store.record_funding(PAYMENT) is True
    assert store.record_funding(replace(PAYMENT, amount=-1.0, rate=0.002)) is False
    assert store.funding() == [PAYMENT]


def test_funding_payments_of_other_symbols_or_times_are_all_kept_in_time_order(store: StateStore) -> None:
    later = replace(PAYMENT, ts=PAYMENT.ts + 8 * HOUR, mark=37_400.0, amount=-0.0561)
    for payment in (later, PAYMENT_2, PAYMENT):
        assert store.record_funding(payment) is True
    assert store.funding() == [PAYMENT, PAYMENT_2, later]


def test_commit_state_keeps_a_funding_payment_seen_before_once(store: StateStore) -> None:
    store.commit_state("portfolio", {"step": 1}, [PAYMENT])
    store.commit_state("portfolio", {"step": 2}, [PAYMENT, PAYMENT_2])
    assert store.funding() == [PAYMENT, PAYMENT_2]


# --- fills and orders ---------------------------------------------------------------------------


def test_record_fill_marks_its_order_filled(store: StateStore, db_path: Path) -> None:
    store.record_order(ORDER, "submitted")
    assert store.record_fill(FILL) is True
    assert sql(db_path, "SELECT client_oid, status FROM orders") == [(ORDER.client_oid, "filled")]


def test_duplicate_fill_returns_false_and_the_order_stays_filled_once(store: StateStore, db_path: Path) -> None:
    store.record_order(ORDER, "submitted")
    assert store.record_fill(FILL) is True
    assert store.record_fill(replace(FILL, price=1.0)) is False
    assert store.fills() == [FILL]
    assert sql(db_path, "SELECT client_oid, status FROM orders") == [(ORDER.client_oid, "filled")]


def test_fill_of_an_unrecorded_order_is_kept_without_inventing_the_order(store: StateStore) -> None:
    assert store.record_fill(FILL) is True
    assert store.fills() == [FILL]
    assert store.counts()["orders"] == 0


def test_fill_the_table_cannot_hold_is_refused_and_leaves_its_order_open(store: StateStore) -> None:
    store.record_order(ORDER, "submitted")
    with pytest.raises((sqlite3.IntegrityError, StoreError)):
        store.record_fill(replace(FILL, fee=math.nan))
    assert store.open_orders() == [ORDER]


def test_open_orders_are_submitted_orders_without_a_fill(store: StateStore) -> None:
    waiting_1 = order("w-1", T0 + 2_000)
    waiting_2 = order("w-2", T0 + 1_000, reduce_only=True)
    filled = order("filled", T0 + 500)
    rejected = order("rejected", T0 + 700)
    for o in (waiting_1, waiting_2, filled, rejected):
        store.record_order(o, "submitted")
    store.record_fill(fill_of(filled, "f-filled"))
    store.update_order_status(rejected.client_oid, "rejected")
    assert store.open_orders() == [waiting_2, waiting_1]


def test_order_resubmitted_after_its_fill_is_not_open(store: StateStore) -> None:
    store.record_order(ORDER, "submitted")
    store.record_fill(FILL)
    store.record_order(ORDER, "submitted")
    assert store.open_orders() == []


def test_order_recorded_after_its_fill_arrived_is_not_open(store: StateStore) -> None:
    store.record_fill(FILL)
    store.record_order(ORDER, "submitted")
    assert store.open_orders() == []


def test_entry_times_are_entries_not_rejected_at_or_after_since(store: StateStore) -> None:
    store.record_order(order("too-old", T0 - 1), "submitted")
    store.record_order(order("at-since", T0), "submitted")
    store.record_order(order("exit", T0 + 100, reduce_only=True), "submitted")
    store.record_order(order("rejected", T0 + 200), "submitted")
    store.update_order_status("rejected", "rejected")
    filled = order("filled", T0 + 300)
    store.record_order(filled, "submitted")
    store.record_fill(fill_of(filled, "f-entry"))
    store.record_order(order("open", T0 + 50), "submitted")
    assert store.entry_times(T0) == [T0, T0 + 50, T0 + 300]


def test_entry_times_after_every_order_are_empty(store: StateStore) -> None:
    store.record_order(ORDER, "submitted")
    assert store.entry_times(ORDER.ts + 1) == []


# --- trading lock -------------------------------------------------------------------------------


def test_no_lock_is_loaded_before_one_is_saved(store: StateStore) -> None:
    assert store.load_lock() is None


def test_lock_round_trips(store: StateStore) -> None:
    lock = SaveLock(TradingState.HALTED, "DRAWDOWN", "drawdown 12.0% > 10.0%", T0)
    store.save_lock(lock)
    assert store.load_lock() == lock


def test_saving_a_lock_replaces_the_previous_one(store: StateStore) -> None:
    store.save_lock(SaveLock(TradingState.HALTED, "DRAWDOWN", "drawdown 12.0% > 10.0%", T0))
    resumed = SaveLock(TradingState.ACTIVE, "", "operator resumed", T0 + HOUR)
    store.save_lock(resumed)
    assert store.load_lock() == resumed
    assert store.counts()["locks"] == 1


# --- state blobs --------------------------------------------------------------------------------


def test_malformed_state_json_raises_store_error_naming_the_key(store: StateStore, db_path: Path) -> None:
    store.put_state("portfolio", STATE)
    sql(db_path, "UPDATE kv SET value = ? WHERE key = 'portfolio'", ('{"cash": 10006.6',))
    with pytest.raises(StoreError, match=re.escape(f"{db_path}: state 'portfolio' is not valid JSON")):
        store.get_state("portfolio")


def test_state_json_that_is_not_an_object_raises_store_error(store: StateStore, db_path: Path) -> None:
    sql(db_path, "INSERT INTO kv (key, value) VALUES ('risk', '[1, 2]')")
    with pytest.raises(StoreError, match="state 'risk' is not a JSON object"):
        store.get_state("risk")


# --- durability ---------------------------------------------------------------------------------


def test_everything_survives_closing_and_reopening_the_file(db_path: Path) -> None:
    lock = SaveLock(TradingState.REDUCING, "LOSS_STREAK", "5 losses in a row", T0 + 2 * HOUR)
    waiting = order("w-1", T0 + 3 * HOUR)
    store = StateStore(db_path)
    store.record_order(ORDER, "submitted")
    store.record_fill(FILL)
    store.record_order(waiting, "submitted")
    store.commit_state("portfolio", STATE, [TRADE, PAYMENT])
    store.save_lock(lock)
    store.close()

    reopened = StateStore(db_path)
    try:
        assert reopened.schema_version() == 3
        assert reopened.get_state("portfolio") == STATE
        assert (reopened.trades(), reopened.funding(), reopened.fills()) == ([TRADE], [PAYMENT], [FILL])
        assert reopened.open_orders() == [waiting]
        assert reopened.entry_times(T0) == [T0, T0 + 3 * HOUR]
        assert reopened.load_lock() == lock
        assert reopened.commit_state("portfolio", STATE, [TRADE]) == []
    finally:
        reopened.close()
