"""Append-only CSV journals for people and spreadsheets: closed trades and the equity curve.

The state database is the engine's record; these files are the operator's. Invariants:

- The header is written once, when the file is new or empty. A file left by an earlier run is
  appended to; if its header differs from the expected one, ``JournalError`` is raised instead of
  mixing two layouts in one file (move the old file aside).
- Every row is flushed to the OS as soon as it is written, so killing the process loses nothing
  (no fsync: a power cut may lose the last rows, which the state database still holds).
- A last line cut short by an earlier crash is ended before appending, so rows never merge.
- One writer per file (the actor that owns the journal); nothing here locks.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from engine.messages import EquitySampled, TradeClosed

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

TRADE_COLUMNS = (
    "entry_time",
    "exit_time",
    "symbol",
    "side",
    "qty",
    "entry_price",
    "exit_price",
    "pnl",
    "fees",
    "strategy",
    "regime",
    "reason",
)
EQUITY_COLUMNS = ("time", "equity", "cash", "unrealized", "open_positions")


class JournalError(Exception):
    """A journal file cannot be appended to as it is; the message names the file."""


def iso_utc(ts_ms: int) -> str:
    """Event time in milliseconds as ISO 8601 UTC, exact to the millisecond."""
    return (_EPOCH + timedelta(milliseconds=ts_ms)).isoformat(timespec="milliseconds")


def trade_row(trade: TradeClosed) -> tuple[object, ...]:
    """One trade as a row of ``TRADE_COLUMNS``: the journal's and a backtest's trades files agree."""
    return (
        iso_utc(trade.entry_ts),
        iso_utc(trade.exit_ts),
        trade.symbol,
        trade.side.value,
        trade.qty,
        trade.entry_price,
        trade.exit_price,
        trade.pnl,
        trade.fees,
        trade.strategy,
        trade.regime,
        trade.reason,
    )


class CsvJournal:
    """A CSV file that rows are appended to, with its header written exactly once."""

    def __init__(self, path: Path, header: Sequence[str]) -> None:
        self.path = path
        self.header = tuple(header)
        path.parent.mkdir(parents=True, exist_ok=True)
        is_new = not path.exists() or path.stat().st_size == 0
        cut_short = False if is_new else self._check_existing()
        self._file = path.open("a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file, lineterminator="\n")
        if is_new:
            self._writer.writerow(self.header)
        elif cut_short:
            self._file.write("\n")
        self._file.flush()

    def _check_existing(self) -> bool:
        """Check an old file's header; True if its last line was cut short by a crash."""
        with self.path.open("rb") as old:
            first = old.readline().decode("utf-8")
            old.seek(-1, 2)
            cut_short = old.read(1) != b"\n"
        found = tuple(next(csv.reader([first])))
        if found != self.header:
            raise JournalError(f"{self.path} has columns {found}, expected {self.header}: move the file aside")
        return cut_short

    def append(self, row: Sequence[object]) -> None:
        """Write one row and flush it to the OS."""
        if len(row) != len(self.header):
            raise ValueError(f"{self.path}: row has {len(row)} values, header {len(self.header)}")
        self._writer.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


class TradeJournal(CsvJournal):
    """``trade_journal.csv``: one row per round trip."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir / "trade_journal.csv", TRADE_COLUMNS)

    def record(self, trade: TradeClosed) -> None:
        self.append(trade_row(trade))


class EquityCurve(CsvJournal):
    """``equity_curve.csv``: one row per equity sample."""

    def __init__(self, log_dir: Path) -> None:
        super().__init__(log_dir / "equity_curve.csv", EQUITY_COLUMNS)

    def record(self, sample: EquitySampled) -> None:
        self.append((iso_utc(sample.ts), sample.equity, sample.cash, sample.unrealized, sample.open_positions))
