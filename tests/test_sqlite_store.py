"""The state database: schema and migrations, WAL, idempotent fills and trades, funding, the trading
lock, round trips, batches, refusal of bad files."""

from __future__ import annotations

import math
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.messages import (
    EquitySampled,
    FundingPaid,
    OrderFilled,
    PositionView,
    SaveLock,
    Side,
    SubmitOrder,
    TradeClosed,
    TradingState,
)
from engine.store import SCHEMA_VERSION, StateStore, StoreError
from engine.store.sqlite_store import MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]

ORDER = SubmitOrder(
    client_oid="e-BTCUSDT-1700000000000-1",
    symbol="BTCUSDT",
    ts=1_700_000_000_000,
    side=Side.LONG,
    qty=0.015,
    stop=36_500.5,
    reduce_only=False,
    strategy="trend_breakout",
    reason="donchian high 20",
)
FILL = OrderFilled(
    fill_id="f-1",
    client_oid=ORDER.client_oid,
    symbol="BTCUSDT",
    ts=1_700_000_000_120,
    side=Side.LONG,
    qty=0.015,
    price=37_012.3,
    fee=0.33311,
    reduce_only=False,
    stop=36_500.5,
    strategy="trend_breakout",
    reason="donchian high 20",
)
TRADE = TradeClosed(
    symbol="ETHUSDT",
    side=Side.SHORT,
    qty=1.25,
    entry_ts=1_700_000_000_000,
    entry_price=2_050.4,
    exit_ts=1_700_003_600_000,
    exit_price=2_010.1,
    pnl=50.375,
    fees=3.06,
    strategy="mean_reversion",
    regime="range",
    reason="take profit",
)
PAYMENT = FundingPaid("BTCUSDT", 1_700_006_400_000, Side.LONG, 0.015, 37_100.0, 0.0001, -0.05565)
BTC = PositionView("BTCUSDT", Side.LONG, 0.015, 37_012.3, 36_500.5, 37_100.0)
ETH = PositionView("ETHUSDT", Side.SHORT, 1.25, 2_050.4, 2_090.0, 2_040.0)
SOL = PositionView("SOLUSDT", Side.LONG, 40.0, 61.2, 59.9, 61.0)


def sql(db_path: Path, statement: str) -> list[tuple[Any, ...]]:
    """Run one statement on a separate connection, as another process would."""
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            return conn.execute(statement).fetchall()
    finally:
        conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state" / "engine.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[StateStore]:
    s = StateStore(db_path)
    yield s
    s.close()


def test_new_store_creates_every_table(store: StateStore, db_path: Path) -> None:
    tables = ("orders", "fills", "positions", "trades", "equity", "events", "kv", "funding", "locks")
    names = {r[0] for r in sql(db_path, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert names >= {"schema_version", *tables}
    assert store.counts() == dict.fromkeys(tables, 0)


def test_database_file_is_in_wal_mode(store: StateStore, db_path: Path) -> None:
    assert sql(db_path, "PRAGMA journal_mode") == [("wal",)]


def test_migrations_are_recorded_once_across_reopen(store: StateStore, db_path: Path) -> None:
    store.close()
    reopened = StateStore(db_path)
    assert reopened.schema_version() == SCHEMA_VERSION
    reopened.close()
    versions = sql(db_path, "SELECT version FROM schema_version")
    assert versions == [(v,) for v in range(1, SCHEMA_VERSION + 1)]
    assert SCHEMA_VERSION == 3


def test_a_version_2_database_is_migrated_keeping_its_rows(db_path: Path) -> None:
    # a database the previous release wrote: migrations 1 and 2 only, with a trade without fill_id
    db_path.parent.mkdir(parents=True)
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)")
    for version, statements in enumerate(MIGRATIONS[:2], start=1):
        for statement in statements:
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
    columns = [f.name for f in fields(TRADE) if f.name != "fill_id"]
    values = [TRADE.side.value if c == "side" else getattr(TRADE, c) for c in columns]
    conn.execute(f"INSERT INTO trades ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", values)
    conn.commit()
    conn.close()
    store = StateStore(db_path)
    assert store.schema_version() == 3
    assert store.trades() == [TRADE]
    assert store.record_trade(replace(TRADE, fill_id="f-9")) is True
    assert store.record_trade(replace(TRADE, fill_id="f-9")) is False
    assert (store.counts()["trades"], store.funding(), store.load_lock()) == (2, [], None)
    store.close()


def test_order_status_is_updated_and_resubmit_keeps_fields(store: StateStore, db_path: Path) -> None:
    store.record_order(ORDER, "submitted")
    assert store.update_order_status(ORDER.client_oid, "filled") is True
    assert store.update_order_status("unknown-oid", "filled") is False
    store.record_order(ORDER, "resubmitted")
    rows = sql(db_path, "SELECT client_oid, side, qty, reduce_only, status FROM orders")
    assert rows == [(ORDER.client_oid, "long", 0.015, 0, "resubmitted")]


def test_duplicate_fill_is_ignored(store: StateStore) -> None:
    assert store.record_fill(FILL) is True
    assert store.record_fill(FILL) is False
    assert store.counts()["fills"] == 1
    assert store.fills() == [FILL]


def test_save_positions_replaces_the_whole_set(store: StateStore) -> None:
    store.save_positions([BTC, ETH], ts=1_700_000_000_000)
    store.save_positions([SOL, ETH], ts=1_700_000_060_000)
    assert store.load_positions() == [ETH, SOL]
    store.save_positions([], ts=1_700_000_120_000)
    assert store.load_positions() == []


def test_state_round_trips_and_is_replaced(store: StateStore) -> None:
    state = {"cash": 10_000.0, "peak_equity": 10_250.5, "day": "2023-11-14", "open": ["BTCUSDT"]}
    assert store.get_state("portfolio") is None
    store.put_state("portfolio", state)
    assert store.get_state("portfolio") == state
    store.put_state("portfolio", {"cash": 9_000.0})
    assert store.get_state("portfolio") == {"cash": 9_000.0}
    assert store.counts()["kv"] == 1


def test_state_that_is_not_json_raises_store_error(store: StateStore) -> None:
    with pytest.raises(StoreError, match="'risk' is not JSON-encodable"):
        store.put_state("risk", {"lock": object()})


def test_a_trade_is_kept_once_per_closing_fill(store: StateStore) -> None:
    first = replace(TRADE, fill_id="f-7")
    assert store.record_trade(first) is True
    assert store.record_trade(first) is False
    assert store.record_trade(replace(first, pnl=1.0)) is False  # the same fill booked again after a crash
    assert store.trades() == [first]


@pytest.mark.parametrize("field", ["pnl", "fees", "exit_price"])
def test_a_trade_that_cannot_be_stored_fails_loudly_rather_than_pass_for_a_replay(
    store: StateStore, field: str
) -> None:
    # SQLite stores a NaN as NULL, which NOT NULL refuses: only a true duplicate may be skipped
    broken = replace(TRADE, fill_id="f-7", **{field: math.nan})
    with pytest.raises(sqlite3.IntegrityError):
        store.record_trade(broken)
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_state("portfolio", {"cash": 1.0}, [broken])
    assert (store.trades(), store.get_state("portfolio")) == ([], None)


def test_a_fill_or_payment_that_cannot_be_stored_fails_loudly(store: StateStore) -> None:
    with pytest.raises(sqlite3.IntegrityError):
        store.record_fill(replace(FILL, price=math.nan))
    with pytest.raises(sqlite3.IntegrityError):
        store.record_funding(replace(PAYMENT, amount=math.nan))
    assert (store.fills(), store.funding()) == ([], [])


def test_trades_without_a_fill_id_are_all_kept(store: StateStore) -> None:
    assert store.record_trade(TRADE) is True
    assert store.record_trade(TRADE) is True
    assert store.counts()["trades"] == 2


def test_trades_round_trip_equal_to_the_dataclass(store: StateStore) -> None:
    second = replace(TRADE, symbol="SOLUSDT", pnl=-12.5, regime="trend")
    store.record_trade(TRADE)
    store.record_trade(second)
    assert store.trades() == [TRADE, second]


@settings(max_examples=50, deadline=None)
@given(
    qty=st.floats(min_value=1e-9, max_value=1e9),
    price=st.floats(min_value=1e-9, max_value=1e9),
    pnl=st.floats(allow_nan=False),
    text=st.text(),
)
def test_any_trade_round_trips_exactly(
    tmp_path_factory: pytest.TempPathFactory, qty: float, price: float, pnl: float, text: str
) -> None:
    trade = TradeClosed(text, Side.LONG, qty, 1, price, 2, price, pnl, abs(pnl), text, text, text)
    store = StateStore(tmp_path_factory.mktemp("prop") / "engine.db")
    store.record_trade(trade)
    assert store.trades() == [trade]
    store.close()


def test_funding_is_kept_once_per_symbol_and_time(store: StateStore) -> None:
    later = replace(PAYMENT, ts=PAYMENT.ts + 28_800_000)
    other = replace(PAYMENT, symbol="ETHUSDT", side=Side.SHORT, amount=0.2)
    assert store.record_funding(later) is True
    assert store.record_funding(other) is True
    assert store.record_funding(PAYMENT) is True
    assert store.record_funding(PAYMENT) is False
    assert store.funding() == [PAYMENT, other, later]  # by time, then symbol


def test_commit_state_keeps_the_state_its_trades_and_funding_at_once(store: StateStore) -> None:
    trade = replace(TRADE, fill_id="f-7")
    assert store.commit_state("portfolio", {"cash": 1.0}, [trade, PAYMENT]) == [trade]
    assert store.commit_state("portfolio", {"cash": 2.0}, [trade, PAYMENT]) == []  # replayed: nothing new
    assert store.get_state("portfolio") == {"cash": 2.0}
    assert (store.trades(), store.funding()) == ([trade], [PAYMENT])


def test_a_failing_commit_state_keeps_none_of_it(store: StateStore) -> None:
    with pytest.raises(StoreError):
        store.commit_state("portfolio", {"lock": object()}, [replace(TRADE, fill_id="f-7"), PAYMENT])
    assert (store.get_state("portfolio"), store.trades(), store.funding()) == (None, [], [])


def test_the_trading_lock_is_saved_and_replaced(store: StateStore) -> None:
    assert store.load_lock() is None
    halted = SaveLock(TradingState.HALTED, "DAILY_LOSS", "daily loss limit", 1_700_000_000_000)
    store.save_lock(halted)
    assert store.load_lock() == halted
    active = SaveLock(TradingState.ACTIVE, "", "", 1_700_086_400_000)
    store.save_lock(active)
    assert store.load_lock() == active
    assert store.counts()["locks"] == 1


def test_entry_times_are_those_of_entries_not_rejected(store: StateStore) -> None:
    exit_order = replace(ORDER, client_oid="x-1", ts=ORDER.ts + 2, reduce_only=True)
    store.record_order(ORDER, "submitted")
    store.record_order(replace(ORDER, client_oid="e-2", ts=ORDER.ts + 1), "rejected")
    store.record_order(exit_order, "submitted")
    store.record_order(replace(ORDER, client_oid="e-3", ts=ORDER.ts + 3), "filled")
    store.record_order(replace(ORDER, client_oid="e-0", ts=ORDER.ts - 1), "filled")
    assert store.entry_times(ORDER.ts) == [ORDER.ts, ORDER.ts + 3]


def test_equity_and_events_are_counted(store: StateStore) -> None:
    store.record_equity(EquitySampled(1_700_000_000_000, 10_050.0, 9_000.0, 50.0, 2))
    store.record_event(1_700_000_000_001, "risk_denied", "BTCUSDT", "HEAT_CAP heat=0.061 > 0.06")
    store.record_event(1_700_000_000_002, "restart", None, "engine started")
    assert store.counts()["equity"] == 1
    assert store.counts()["events"] == 2


def test_transaction_commits_the_batch_at_once(store: StateStore, db_path: Path) -> None:
    reader = sqlite3.connect(db_path)
    with store.transaction():
        store.record_order(ORDER, "submitted")
        store.record_fill(FILL)
        assert reader.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 0
    assert reader.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 1
    reader.close()


def test_exception_leaving_the_batch_rolls_all_of_it_back(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.record_order(ORDER, "submitted")
        store.record_fill(FILL)
        raise RuntimeError("Store actor failed mid-batch")
    assert store.counts()["orders"] == 0
    assert store.counts()["fills"] == 0
    store.record_fill(FILL)
    assert store.counts()["fills"] == 1


def test_failed_call_in_a_batch_leaves_no_partial_rows(store: StateStore) -> None:
    store.save_positions([BTC], ts=1)
    with store.transaction():
        with pytest.raises(sqlite3.IntegrityError):
            store.save_positions([ETH, ETH], ts=2)
        store.record_fill(FILL)
    assert store.load_positions() == [BTC]
    assert store.fills() == [FILL]


def test_committed_rows_survive_a_killed_process(db_path: Path) -> None:
    script = (
        "import os, sys; from pathlib import Path; from engine.store import StateStore;"
        "from tests.test_sqlite_store import FILL;"
        "s = StateStore(Path(sys.argv[1])); s.record_fill(FILL); os._exit(9)"
    )
    command = [sys.executable, "-c", script, str(db_path)]
    done = subprocess.run(command, check=False, cwd=ROOT, timeout=60)
    assert done.returncode == 9
    store = StateStore(db_path)
    assert store.fills() == [FILL]
    store.close()


def test_non_sqlite_file_raises_store_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "engine.db"
    garbage = b"this is not a database\n" * 300
    path.write_bytes(garbage)
    with pytest.raises(StoreError, match=re.escape(str(path))):
        StateStore(path)
    assert path.read_bytes() == garbage


def test_damaged_database_raises_store_error(store: StateStore, db_path: Path) -> None:
    for i in range(200):
        store.record_event(i, "restart", None, "x" * 200)
    store.close()
    data = bytearray(db_path.read_bytes())
    page = 4096
    data[page : page * 4] = b"\xa5" * (page * 3)
    db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=re.escape(str(db_path))):
        StateStore(db_path)


def test_other_applications_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    sql(path, "CREATE TABLE notes (body TEXT)")
    with pytest.raises(StoreError, match="not an engine state database"):
        StateStore(path)


def test_newer_schema_version_raises_store_error(store: StateStore, db_path: Path) -> None:
    store.close()
    sql(db_path, "INSERT INTO schema_version (version, applied_ms) VALUES (99, 0)")
    expected = f"{db_path} has schema version 99, newer than {SCHEMA_VERSION} known"
    with pytest.raises(StoreError, match=re.escape(expected)):
        StateStore(db_path)
