"""CSV journals: header once across runs, rows flushed as written, exact values."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from engine.journal import (
    EQUITY_COLUMNS,
    TRADE_COLUMNS,
    CsvJournal,
    EquityCurve,
    JournalError,
    TradeJournal,
    iso_utc,
)
from engine.messages import EquitySampled, Side, TradeClosed

TRADE = TradeClosed(
    symbol="ETHUSDT",
    side=Side.SHORT,
    qty=1.25,
    entry_ts=1_700_000_000_123,
    entry_price=2_050.4,
    exit_ts=1_700_003_600_000,
    exit_price=2_010.1,
    pnl=50.375,
    fees=3.06,
    strategy="mean_reversion",
    regime="range",
    reason="take profit, half size",
)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_iso_utc_is_exact_to_the_millisecond() -> None:
    assert iso_utc(1_700_000_000_123) == "2023-11-14T22:13:20.123+00:00"
    assert iso_utc(0) == "1970-01-01T00:00:00.000+00:00"


def test_header_is_written_once_across_two_journals_on_the_same_file(tmp_path: Path) -> None:
    first = TradeJournal(tmp_path)
    first.record(TRADE)
    first.close()
    second = TradeJournal(tmp_path)
    second.record(TRADE)
    second.close()
    rows = read_rows(tmp_path / "trade_journal.csv")
    assert rows[0] == list(TRADE_COLUMNS)
    assert len(rows) == 3
    assert rows.count(list(TRADE_COLUMNS)) == 1


def test_trade_row_holds_iso_times_and_exact_values(tmp_path: Path) -> None:
    journal = TradeJournal(tmp_path / "logs")
    journal.record(TRADE)
    with (tmp_path / "logs" / "trade_journal.csv").open(newline="", encoding="utf-8") as f:
        (row,) = list(csv.DictReader(f))
    journal.close()
    assert row == {
        "entry_time": "2023-11-14T22:13:20.123+00:00",
        "exit_time": "2023-11-14T23:13:20.000+00:00",
        "symbol": "ETHUSDT",
        "side": "short",
        "qty": "1.25",
        "entry_price": "2050.4",
        "exit_price": "2010.1",
        "pnl": "50.375",
        "fees": "3.06",
        "strategy": "mean_reversion",
        "regime": "range",
        "reason": "take profit, half size",
    }


def test_equity_rows_are_on_disk_before_close(tmp_path: Path) -> None:
    curve = EquityCurve(tmp_path)
    curve.record(EquitySampled(1_700_000_000_000, 10_050.25, 9_000.0, 50.25, 2))
    curve.record(EquitySampled(1_700_000_060_000, 10_040.0, 9_000.0, 40.0, 1))
    assert read_rows(tmp_path / "equity_curve.csv") == [
        list(EQUITY_COLUMNS),
        ["2023-11-14T22:13:20.000+00:00", "10050.25", "9000.0", "50.25", "2"],
        ["2023-11-14T22:14:20.000+00:00", "10040.0", "9000.0", "40.0", "1"],
    ]
    curve.close()


def test_empty_existing_file_gets_the_header(tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    path.touch()
    CsvJournal(path, ("a", "b")).close()
    assert read_rows(path) == [["a", "b"]]


def test_file_with_other_columns_raises_journal_error(tmp_path: Path) -> None:
    path = tmp_path / "equity_curve.csv"
    path.write_text("time,equity\n2023-11-14T22:13:20.000+00:00,10000.0\n", encoding="utf-8")
    with pytest.raises(JournalError, match=r"equity_curve\.csv has columns"):
        EquityCurve(tmp_path)
    assert path.read_text(encoding="utf-8").count("\n") == 2


def test_line_cut_short_by_a_crash_is_ended_before_appending(tmp_path: Path) -> None:
    path = tmp_path / "j.csv"
    path.write_text("a,b\n1,2\n3,", encoding="utf-8")
    journal = CsvJournal(path, ("a", "b"))
    journal.append((5, 6))
    journal.close()
    assert read_rows(path) == [["a", "b"], ["1", "2"], ["3", ""], ["5", "6"]]


def test_row_of_wrong_length_is_refused(tmp_path: Path) -> None:
    journal = CsvJournal(tmp_path / "j.csv", ("a", "b"))
    with pytest.raises(ValueError, match="row has 3 values, header 2"):
        journal.append((1, 2, 3))
    journal.close()
