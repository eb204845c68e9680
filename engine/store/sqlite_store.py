"""The engine's state database: SQLite in WAL mode, written by one thread (the Store actor).

Invariants a caller may rely on:

- **Durability.** The database runs with ``journal_mode=WAL`` and ``synchronous=NORMAL``: a
  committed transaction survives a crash or ``kill -9`` of the process (the WAL is in the OS page
  cache as soon as COMMIT returns), while an OS crash or power cut may lose the last few commits
  but never corrupts the file. That is the trade the design asks for: no fsync per batch on the hot
  path, nothing lost when only the engine dies. WAL also lets a status reader in another process
  read while the Store writes.
- **One writer.** The connection is opened with ``check_same_thread=False`` so the Store actor may
  be built in one thread and run in another, but calls must never overlap: the Store actor owns
  the object. No lock is taken here.
- **Atomic writes.** Every method is atomic. ``with store.transaction():`` groups many calls into
  one commit (the Store actor commits a batch of messages at once); inside it each call runs in a
  savepoint, so a call that fails leaves no partial rows, and the batch goes on if the caller
  catches the error. An exception that escapes the outermost block rolls the whole batch back.
- **Never recreated.** A file that is not SQLite, is damaged, belongs to another application, or
  has a newer schema than this code knows raises ``StoreError`` naming the path. State is never
  thrown away silently: the operator moves the file aside or restores a backup.
- **Versioned schema.** ``MIGRATIONS[i]`` upgrades version ``i`` to ``i + 1``; each runs in its own
  transaction together with its row in ``schema_version``. Migrations are frozen SQL: to change a
  table, append a migration. Column lists for writing and reading come from the message
  dataclasses, so a message field without a migration fails loudly on the first write (and in the
  round-trip tests), never by silently dropping data.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

import orjson

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

T = TypeVar("T")

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE orders (
            client_oid TEXT PRIMARY KEY, symbol TEXT NOT NULL, ts INTEGER NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('long', 'short')), qty REAL NOT NULL,
            stop REAL NOT NULL, reduce_only INTEGER NOT NULL, strategy TEXT NOT NULL,
            reason TEXT NOT NULL, status TEXT NOT NULL)""",
        """CREATE TABLE fills (
            fill_id TEXT PRIMARY KEY, client_oid TEXT NOT NULL, symbol TEXT NOT NULL,
            ts INTEGER NOT NULL, side TEXT NOT NULL CHECK (side IN ('long', 'short')),
            qty REAL NOT NULL, price REAL NOT NULL, fee REAL NOT NULL,
            reduce_only INTEGER NOT NULL, stop REAL NOT NULL, strategy TEXT NOT NULL,
            reason TEXT NOT NULL)""",
        """CREATE TABLE positions (
            symbol TEXT PRIMARY KEY, side TEXT NOT NULL CHECK (side IN ('long', 'short')),
            qty REAL NOT NULL, entry REAL NOT NULL, stop REAL NOT NULL, mark REAL NOT NULL,
            updated_ts INTEGER NOT NULL)""",
        """CREATE TABLE trades (
            id INTEGER PRIMARY KEY AUTOINCREMENT, symbol TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('long', 'short')), qty REAL NOT NULL,
            entry_ts INTEGER NOT NULL, entry_price REAL NOT NULL, exit_ts INTEGER NOT NULL,
            exit_price REAL NOT NULL, pnl REAL NOT NULL, fees REAL NOT NULL,
            strategy TEXT NOT NULL, regime TEXT NOT NULL, reason TEXT NOT NULL)""",
        """CREATE TABLE equity (
            ts INTEGER NOT NULL, equity REAL NOT NULL, cash REAL NOT NULL,
            unrealized REAL NOT NULL, open_positions INTEGER NOT NULL)""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, kind TEXT NOT NULL,
            symbol TEXT, detail TEXT NOT NULL)""",
        "CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    ),
    (
        # Strategies with targets, regimes and R-multiples (the signals work).
        "ALTER TABLE orders ADD COLUMN target REAL NOT NULL DEFAULT 0",
        "ALTER TABLE orders ADD COLUMN regime TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE fills ADD COLUMN target REAL NOT NULL DEFAULT 0",
        "ALTER TABLE fills ADD COLUMN regime TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE positions ADD COLUMN target REAL NOT NULL DEFAULT 0",
        "ALTER TABLE positions ADD COLUMN strategy TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE positions ADD COLUMN regime TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE trades ADD COLUMN risk REAL NOT NULL DEFAULT 0",
    ),
    (
        # Crash safety: a trade kept once per closing fill, funding payments, the trading lock.
        "ALTER TABLE trades ADD COLUMN fill_id TEXT NOT NULL DEFAULT ''",
        "CREATE UNIQUE INDEX trades_by_fill ON trades (fill_id) WHERE fill_id != ''",
        """CREATE TABLE funding (
            symbol TEXT NOT NULL, ts INTEGER NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('long', 'short')), qty REAL NOT NULL,
            mark REAL NOT NULL, rate REAL NOT NULL, amount REAL NOT NULL,
            PRIMARY KEY (symbol, ts))""",
        """CREATE TABLE locks (
            scope TEXT PRIMARY KEY, state TEXT NOT NULL, code TEXT NOT NULL,
            reason TEXT NOT NULL, ts INTEGER NOT NULL)""",
        "CREATE INDEX orders_by_ts ON orders (ts)",
    ),
)
"""Schema migrations in order; ``MIGRATIONS[i]`` takes the database from version i to i + 1."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this code writes and the newest it can open."""

TABLES = ("orders", "fills", "positions", "trades", "equity", "events", "kv", "funding", "locks")
"""The data tables, as reported by ``StateStore.counts``."""


class StoreError(Exception):
    """The state database cannot be used as it is; the message names the file and the cause."""


def _columns(message_type: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in fields(message_type))


def _insert_sql(table: str, columns: Sequence[str], verb: str = "INSERT") -> str:
    return f"{verb} INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_ORDER_COLUMNS = (*_columns(SubmitOrder), "status")
_FILL_COLUMNS = _columns(OrderFilled)
_POSITION_COLUMNS = _columns(PositionView)
_TRADE_COLUMNS = _columns(TradeClosed)
_EQUITY_COLUMNS = _columns(EquitySampled)
_FUNDING_COLUMNS = _columns(FundingPaid)

_UPSERT_ORDER = (
    _insert_sql("orders", _ORDER_COLUMNS) + " ON CONFLICT(client_oid) DO UPDATE SET status = excluded.status"
)
# ON CONFLICT skips only a true duplicate; "INSERT OR IGNORE" would also swallow a NOT NULL or
# CHECK violation (a NaN is stored as NULL) and report lost data as a replay.
_INSERT_FILL = _insert_sql("fills", _FILL_COLUMNS) + " ON CONFLICT(fill_id) DO NOTHING"
_INSERT_POSITION = _insert_sql("positions", (*_POSITION_COLUMNS, "updated_ts"))
_INSERT_TRADE = _insert_sql("trades", _TRADE_COLUMNS) + " ON CONFLICT(fill_id) WHERE fill_id != '' DO NOTHING"
_INSERT_FUNDING = _insert_sql("funding", _FUNDING_COLUMNS) + " ON CONFLICT(symbol, ts) DO NOTHING"
_UPSERT_LOCK = (
    _insert_sql("locks", ("scope", "state", "code", "reason", "ts"))
    + " ON CONFLICT(scope) DO UPDATE SET state = excluded.state, code = excluded.code,"
    + " reason = excluded.reason, ts = excluded.ts"
)
ENGINE_LOCK = "engine"
"""The scope of the engine-wide trading state in ``locks``."""

OPEN = "submitted"
"""Status of an order recorded but not yet known to be filled, rejected or cancelled."""
_INSERT_EQUITY = _insert_sql("equity", _EQUITY_COLUMNS)
_UPSERT_STATE = _insert_sql("kv", ("key", "value")) + " ON CONFLICT(key) DO UPDATE SET value = excluded.value"


def _values(message: Any, columns: Sequence[str]) -> tuple[Any, ...]:
    """Row values of a message; a ``Side`` is stored as its text value."""
    return tuple(
        value.value if isinstance(value, Side) else value for value in (getattr(message, column) for column in columns)
    )


def _schema_version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
    if exists is None:
        return 0
    version = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0]
    return int(version or 0)


def _message(build: Callable[..., T], row: sqlite3.Row) -> T:
    """Rebuild a message from a row whose columns are exactly the message's fields."""
    values = dict(zip(row.keys(), row, strict=True))
    values["side"] = Side(values["side"])
    if "reduce_only" in values:
        values["reduce_only"] = bool(values["reduce_only"])
    return build(**values)


class StateStore:
    """Orders, fills, positions, trades, equity, events and actor state of one engine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._depth = 0
        if path.exists():
            self._inspect()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open state database {path}: {exc}") from exc
        try:
            self._conn.row_factory = sqlite3.Row
            mode = self._conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(f"{self.path} cannot use WAL journaling (got {mode!r})")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._unusable(exc) from exc
        except StoreError:
            self._conn.close()
            raise

    def _unusable(self, exc: Exception) -> StoreError:
        return StoreError(
            f"{self.path} is not a usable SQLite state database ({exc}); it is never recreated "
            "automatically: move it aside or restore a backup"
        )

    def _inspect(self) -> None:
        """Refuse damaged, foreign or too-new files before changing anything in them.

        The checks run on a read-only connection: closing a read-write one would checkpoint the
        write-ahead log into a damaged file and delete the log, destroying what a recovery needs.
        """
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        try:
            problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            if problems != ["ok"]:
                raise StoreError(f"{self.path} is damaged: {'; '.join(problems[:5])}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if tables and "schema_version" not in tables:
                raise StoreError(
                    f"{self.path} is an SQLite database but not an engine state database "
                    f"(tables: {', '.join(sorted(tables))})"
                )
            version = _schema_version(conn)
        except sqlite3.Error as exc:
            raise self._unusable(exc) from exc
        finally:
            conn.close()
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than {SCHEMA_VERSION} known "
                "to this engine: upgrade the engine or use another state file"
            )

    def _migrate(self) -> None:
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)"
        )
        for version in range(self.schema_version() + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in MIGRATIONS[version - 1]:
                    self._conn.execute(statement)
                self._conn.execute(
                    "INSERT INTO schema_version (version, applied_ms) VALUES (?, ?)",
                    (version, time.time_ns() // 1_000_000),
                )

    def schema_version(self) -> int:
        """The newest migration applied to the file; 0 for a new, empty file."""
        return _schema_version(self._conn)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit everything inside the block at once; nested blocks are savepoints."""
        outermost = self._depth == 0
        name = f"batch_{self._depth}"
        self._conn.execute("BEGIN IMMEDIATE" if outermost else f"SAVEPOINT {name}")
        self._depth += 1
        try:
            yield
            self._conn.execute("COMMIT" if outermost else f"RELEASE {name}")
        except BaseException:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK" if outermost else f"ROLLBACK TO {name}")
                if not outermost:
                    self._conn.execute(f"RELEASE {name}")
            raise
        finally:
            self._depth -= 1

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.transaction():
            return self._conn.execute(sql, params).rowcount

    def record_order(self, order: SubmitOrder, status: str) -> None:
        """Store an order; a retried submit of the same ``client_oid`` only updates its status."""
        self._execute(_UPSERT_ORDER, (*_values(order, _ORDER_COLUMNS[:-1]), status))

    def update_order_status(self, client_oid: str, status: str) -> bool:
        """Set an order's status; False if no such order was recorded."""
        sql = "UPDATE orders SET status = ? WHERE client_oid = ?"
        return self._execute(sql, (status, client_oid)) == 1

    def record_fill(self, fill: OrderFilled) -> bool:
        """Store a fill once and mark its order filled, atomically; False for a ``fill_id`` already
        stored (a replayed venue fill)."""
        with self.transaction():
            added = self._conn.execute(_INSERT_FILL, _values(fill, _FILL_COLUMNS)).rowcount == 1
            self._conn.execute("UPDATE orders SET status = 'filled' WHERE client_oid = ?", (fill.client_oid,))
        return added

    def open_orders(self) -> list[SubmitOrder]:
        """Orders recorded as submitted with no fill: sent, but with no known outcome."""
        columns = ", ".join(f"o.{c}" for c in _ORDER_COLUMNS[:-1])
        sql = (
            f"SELECT {columns} FROM orders o WHERE o.status = ? AND NOT EXISTS "
            "(SELECT 1 FROM fills f WHERE f.client_oid = o.client_oid) ORDER BY o.ts, o.rowid"
        )
        return [_message(SubmitOrder, row) for row in self._conn.execute(sql, (OPEN,))]

    def orders_since(self, since_ts: int) -> list[SubmitOrder]:
        """Every order recorded at or after ``since_ts``, oldest first."""
        columns = ", ".join(_ORDER_COLUMNS[:-1])
        sql = f"SELECT {columns} FROM orders WHERE ts >= ? ORDER BY ts, rowid"
        return [_message(SubmitOrder, row) for row in self._conn.execute(sql, (since_ts,))]

    def entry_times(self, since_ts: int) -> list[int]:
        """Event times of the entry (not reduce-only) orders not rejected since ``since_ts``."""
        sql = "SELECT ts FROM orders WHERE ts >= ? AND reduce_only = 0 AND status != 'rejected' ORDER BY ts"
        return [int(row[0]) for row in self._conn.execute(sql, (since_ts,))]

    def save_lock(self, lock: SaveLock) -> None:
        """Keep the engine-wide trading state."""
        self._execute(_UPSERT_LOCK, (ENGINE_LOCK, lock.state.value, lock.code, lock.reason, lock.ts))

    def load_lock(self) -> SaveLock | None:
        """The engine-wide trading state last saved, if any."""
        row = self._conn.execute("SELECT state, code, reason, ts FROM locks WHERE scope = ?", (ENGINE_LOCK,)).fetchone()
        return None if row is None else SaveLock(TradingState(row[0]), row[1], row[2], int(row[3]))

    def save_positions(self, positions: Sequence[PositionView], ts: int) -> None:
        """Replace the stored open positions with ``positions`` as of event time ``ts``."""
        rows = [(*_values(p, _POSITION_COLUMNS), ts) for p in positions]
        with self.transaction():
            self._conn.execute("DELETE FROM positions")
            self._conn.executemany(_INSERT_POSITION, rows)

    def record_trade(self, trade: TradeClosed) -> bool:
        """Keep a closed trade; False if the trade of its closing fill is kept already."""
        return self._execute(_INSERT_TRADE, _values(trade, _TRADE_COLUMNS)) == 1

    def record_funding(self, payment: FundingPaid) -> bool:
        """Keep a funding payment; False if that symbol's payment at that time is kept already."""
        return self._execute(_INSERT_FUNDING, _values(payment, _FUNDING_COLUMNS)) == 1

    def funding(self) -> list[FundingPaid]:
        """Every funding payment, by time."""
        sql = f"SELECT {', '.join(_FUNDING_COLUMNS)} FROM funding ORDER BY ts, symbol"
        return [_message(FundingPaid, row) for row in self._conn.execute(sql)]

    def commit_state(
        self, key: str, value: dict[str, Any], records: Sequence[TradeClosed | FundingPaid]
    ) -> list[TradeClosed]:
        """Save a state blob and the trades and funding payments it produced in one transaction.

        Returns the trades that were new (not kept already), for the CSV journal.
        """
        with self.transaction():
            self.put_state(key, value)
            new = [r for r in records if isinstance(r, TradeClosed) and self.record_trade(r)]
            for record in records:
                if isinstance(record, FundingPaid):
                    self.record_funding(record)
        return new

    def record_equity(self, sample: EquitySampled) -> None:
        self._execute(_INSERT_EQUITY, _values(sample, _EQUITY_COLUMNS))

    def record_event(self, ts: int, kind: str, symbol: str | None, detail: str) -> None:
        """Keep an operational event: risk denial, restart, quarantine, trading-state change."""
        sql = "INSERT INTO events (ts, kind, symbol, detail) VALUES (?, ?, ?, ?)"
        self._execute(sql, (ts, kind, symbol, detail))

    def put_state(self, key: str, value: dict[str, Any]) -> None:
        """Save an actor's state blob as JSON, replacing the previous one.

        orjson writes NaN and infinities as ``null``: keep them out of state that must round-trip.
        """
        try:
            blob = orjson.dumps(value).decode()
        except TypeError as exc:
            raise StoreError(f"state {key!r} is not JSON-encodable: {exc}") from exc
        self._execute(_UPSERT_STATE, (key, blob))

    def get_state(self, key: str) -> dict[str, Any] | None:
        """The state blob saved under ``key``, or None if there is none."""
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        try:
            value = orjson.loads(row[0])
        except orjson.JSONDecodeError as exc:
            raise StoreError(f"{self.path}: state {key!r} is not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise StoreError(f"{self.path}: state {key!r} is not a JSON object")
        return value

    def load_positions(self) -> list[PositionView]:
        """The open positions last saved, by symbol."""
        sql = f"SELECT {', '.join(_POSITION_COLUMNS)} FROM positions ORDER BY symbol"
        return [_message(PositionView, row) for row in self._conn.execute(sql)]

    def trades(self) -> list[TradeClosed]:
        """Every closed trade, in the order recorded."""
        sql = f"SELECT {', '.join(_TRADE_COLUMNS)} FROM trades ORDER BY id"
        return [_message(TradeClosed, row) for row in self._conn.execute(sql)]

    def fills(self) -> list[OrderFilled]:
        """Every fill, in the order recorded."""
        sql = f"SELECT {', '.join(_FILL_COLUMNS)} FROM fills ORDER BY rowid"
        return [_message(OrderFilled, row) for row in self._conn.execute(sql)]

    def equity_samples(self) -> list[EquitySampled]:
        """The equity curve, in the order sampled."""
        sql = f"SELECT {', '.join(_EQUITY_COLUMNS)} FROM equity ORDER BY rowid"
        return [EquitySampled(*row) for row in self._conn.execute(sql)]

    def counts(self) -> dict[str, int]:
        """Rows per data table, for status and tests."""
        return {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in TABLES}

    def close(self) -> None:
        """Close the connection; SQLite checkpoints the WAL into the main file."""
        self._conn.close()
