"""``engine backtest``: data in (the simulated market, a file, real history), files and summary out,
and every usage error as exit code 2 with one ``error:`` line and no traceback.

The command runs in-process through click's CliRunner (stdout and stderr kept apart), in a
temporary working directory and without ENGINE_* variables, so no local .env or shell setting
leaks in. Simulated runs use ``sim.symbols=20``: generating the default 500-symbol market takes
seconds even for half a day.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from loguru import logger

from engine.backtest.data import Candles
from engine.backtest.driver import Backtest, Costs, Series
from engine.backtest.report import EQUITY_CSV, METRICS_CSV, REPORT_HTML, TRADES_CSV, fingerprint
from engine.cli import main
from engine.config import load_config
from engine.journal import iso_utc

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "binance_usdm_freqtrade"
SMALL_SIM = ("--set", "sim.symbols=20")
# every warm bar TRENDING, so the EMA-cross rules trade the synthetic wave
TRENDING = (
    "--set",
    "regime.adx_trend=0.01",
    "--set",
    "regime.high_vol_ratio=1000",
    "--set",
    "regime.atr_median_window=5",
)
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC
MINUTE = 60_000
FINGERPRINT_LINE = re.compile(r"^fingerprint ([0-9a-f]{16}) \((\d+) trades\)$", re.MULTILINE)


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith("ENGINE_") or name == "TRADING_MODE":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield
    restore_logging()


def restore_logging() -> None:
    """The command re-points loguru at the (in-process, captured) stderr; give later tests back
    loguru's default sink rather than one writing into a closed capture."""
    logger.remove()
    logger.add(sys.stderr)


def backtest(*args: str) -> Result:
    return CliRunner().invoke(main, ["backtest", *args])


def printed_fingerprint(result: Result) -> tuple[str, int]:
    match = FINGERPRINT_LINE.search(result.stdout)
    assert match is not None, result.stdout
    return match[1], int(match[2])


def trade_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / TRADES_CSV).open(newline="") as f:
        return list(csv.DictReader(f))


def metrics_of(folder: Path) -> dict[str, str]:
    with (folder / METRICS_CSV).open(newline="") as f:
        return {row["metric"]: row["value"] for row in csv.DictReader(f)}


def wave(n: int = 600) -> Candles:
    """1m bars from T0 of a slow sine with a drift: several EMA crosses each way."""
    i = np.arange(n)
    close = 100.0 + 3.0 * np.sin(2 * np.pi * i / 90) + 0.002 * i + 0.4 * np.sin(2 * np.pi * i / 7)
    open_ = np.concatenate([[close[0]], close[:-1] + 0.02])
    high, low = np.maximum(open_, close) + 0.15, np.minimum(open_, close) - 0.15
    return Candles("TESTUSDT", MINUTE, T0 + MINUTE * i, open_, high, low, close, np.full(n, 1_000.0))


def write_csv(path: Path, candles: Candles) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["open_time", "open", "high", "low", "close", "volume"])
        for row in zip(
            candles.ts.tolist(),
            *(getattr(candles, name).tolist() for name in ("open", "high", "low", "close", "volume")),
            strict=True,
        ):
            writer.writerow([repr(v) for v in row])
    return path


def assert_usage_error(result: Result, message: str) -> None:
    """Exit 2, nothing on stdout, and exactly one line on stderr saying what was wrong."""
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert message in errors[0]
    assert "Traceback" not in result.output


# --- a simulated portfolio run -------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Result, Path]]:
    out = tmp_path_factory.mktemp("sim") / "run"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("ENGINE_") or name == "TRADING_MODE":
                mp.delenv(name)
        mp.chdir(out.parent)
        result = backtest(
            "--symbols", "BTCUSDT,ETHUSDT", "--source", "sim", "--sim-days", "0.5", "--out", str(out), *SMALL_SIM
        )
    yield result, out


def test_a_sim_portfolio_run_exits_0_and_prints_the_summary(sim_run: tuple[Result, Path]) -> None:
    result, out = sim_run

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("start equity (USDT):") and lines[0].endswith("10000.00")
    assert any(line.startswith("costs: fees ") for line in lines)
    assert "1,440 bars in " in result.stdout  # 2 symbols x 720 one-minute bars
    assert FINGERPRINT_LINE.search(result.stdout)
    assert lines[-1] == f"written: {out / REPORT_HTML} and its CSVs in {out}"
    assert "loading BTCUSDT, ETHUSDT" in result.stderr


def test_a_sim_run_writes_the_four_files(sim_run: tuple[Result, Path]) -> None:
    _, out = sim_run

    assert sorted(p.name for p in out.iterdir()) == sorted([TRADES_CSV, METRICS_CSV, EQUITY_CSV, REPORT_HTML])


def test_the_written_trades_match_the_printed_count_and_fingerprint(sim_run: tuple[Result, Path]) -> None:
    result, out = sim_run
    mark, count = printed_fingerprint(result)

    rows = trade_rows(out)

    assert count > 0
    assert len(rows) == count
    assert {row["symbol"] for row in rows} <= {"BTCUSDT", "ETHUSDT"}
    assert metrics_of(out)["trades"] == str(count)
    assert mark in (out / REPORT_HTML).read_text()
    assert re.search(rf"^trades:\s+{count}$", result.stdout, re.MULTILINE)


def test_the_equity_curve_has_a_sample_per_minute_of_the_run(sim_run: tuple[Result, Path]) -> None:
    _, out = sim_run

    with (out / EQUITY_CSV).open(newline="") as f:
        rows = list(csv.DictReader(f))

    assert len(rows) == 720
    assert metrics_of(out)["equity samples"] == "720"
    assert float(rows[0]["equity"]) == 10_000.0


# --- a CSV file given with --data ----------------------------------------------------------------


def test_a_csv_file_given_with_data_is_backtested_with_the_default_costs(tmp_path: Path) -> None:
    candles = wave()
    path = write_csv(tmp_path / "bars.csv", candles)
    config = load_config(
        cli={"regime.adx_trend": 0.01, "regime.high_vol_ratio": 1000.0, "regime.atr_median_window": 5}, env={}
    )
    costs = Costs(config.paper.taker_fee, 2.0, config.paper.slippage_bps, 0.0001)  # the command's defaults
    expected = Backtest(config, costs).run([Series(candles)])

    result = backtest("--symbol", "TESTUSDT", "--data", str(path), "--out", str(tmp_path / "out"), *TRENDING)

    assert result.exit_code == 0, result.output
    mark, count = printed_fingerprint(result)
    assert count == len(expected.trades) > 0
    assert mark == fingerprint(expected.trades)
    assert len(trade_rows(tmp_path / "out")) == count
    assert "600 bars in " in result.stdout


def test_the_cost_flags_reach_the_fills(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", wave())

    result = backtest(
        "--symbol", "TESTUSDT", "--data", str(path), "--out", str(tmp_path / "out"), *TRENDING,
        "--fee", "0", "--spread-bps", "0", "--slippage-bps", "0", "--funding-rate", "0",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "costs: fees 0.00, half spread 0.00, slippage 0.00, funding +0.00 USDT" in result.stdout
    rows = trade_rows(tmp_path / "out")
    assert rows
    assert all(float(row["fees"]) == 0.0 for row in rows)


def test_from_and_to_limit_the_traded_bars_to_the_window(tmp_path: Path) -> None:
    candles = wave()
    path = write_csv(tmp_path / "bars.csv", candles)
    start, end = T0 + 300 * MINUTE, T0 + 500 * MINUTE  # 05:00 to 08:20 UTC

    result = backtest(
        "--symbol", "TESTUSDT", "--data", str(path), "--out", str(tmp_path / "out"), *TRENDING,
        "--from", "2023-11-15T05:00", "--to", "2023-11-15T08:20",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "400 bars in " in result.stdout  # 200 warm-up bars from 01:40, then 200 traded from 05:00 to 08:20
    with (tmp_path / "out" / EQUITY_CSV).open(newline="") as f:
        times = [row["time"] for row in csv.DictReader(f)]
    assert times[0] == iso_utc(start + MINUTE)
    assert times[-1] == iso_utc(end)
    rows = trade_rows(tmp_path / "out")
    assert rows
    assert all(iso_utc(start) < row["entry_time"] <= iso_utc(end) for row in rows)


# --- usage errors --------------------------------------------------------------------------------


def test_an_unknown_sim_symbol_is_a_usage_error() -> None:
    result = backtest("--symbol", "NOPEUSDT", "--source", "sim", "--sim-days", "0.1", *SMALL_SIM)

    assert_usage_error(result, "not in the simulated market: NOPEUSDT")


def test_data_and_source_together_are_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", wave(50))

    result = backtest("--symbol", "TESTUSDT", "--data", str(path), "--source", "sim")

    assert_usage_error(result, "pass --data PATH or --source sim, not both")


@pytest.mark.parametrize("symbols", [(), ("--symbol", "BTCUSDT", "--symbols", "BTCUSDT,ETHUSDT")])
def test_not_exactly_one_of_symbol_and_symbols_is_a_usage_error(symbols: tuple[str, ...]) -> None:
    result = backtest(*symbols, "--source", "sim", "--sim-days", "0.1", *SMALL_SIM)

    assert_usage_error(result, "pass exactly one of --symbol X or --symbols A,B,C")


def test_a_missing_data_path_is_a_usage_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "BTCUSDT-1m.csv"

    result = backtest("--symbol", "BTCUSDT", "--data", str(missing))

    assert_usage_error(result, f"{missing}: no such file or folder")


def test_an_unknown_timeframe_is_a_usage_error() -> None:
    result = backtest("--symbol", "BTCUSDT", "--source", "sim", "--timeframe", "bogus")

    assert_usage_error(result, "strategy.timeframe = 'bogus' is not allowed")


def test_a_cross_sectional_symbol_is_a_usage_error() -> None:
    result = backtest(
        "--symbol", "BTCUSDT", "--source", "sim", "--sim-days", "0.1", *SMALL_SIM,
        "--set", "strategy.per_symbol=BTCUSDT:cross_sectional",
    )  # fmt: skip

    assert_usage_error(result, "BTCUSDT: strategy mode cross_sectional is not backtested")


def test_a_malformed_set_is_a_usage_error() -> None:
    result = backtest("--symbol", "BTCUSDT", "--source", "sim", "--set", "no_equals_sign")

    assert_usage_error(result, "--set expects SECTION.KEY=VALUE")


def test_dates_with_no_bars_in_a_file_are_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", wave(50))

    result = backtest("--symbol", "TESTUSDT", "--data", str(path), "--from", "2030-01-01")

    assert_usage_error(result, "no TESTUSDT bars between the dates asked for")


# --- production bugs -----------------------------------------------------------------------------


def test_set_strategy_mode_is_honoured_by_backtest() -> None:
    result = backtest(
        "--symbol", "BTCUSDT", "--source", "sim", "--sim-days", "0.1", *SMALL_SIM,
        "--set", "strategy.mode=cross_sectional",
    )  # fmt: skip

    assert_usage_error(result, "BTCUSDT: strategy mode cross_sectional is not backtested")


def test_set_strategy_timeframe_is_honoured_by_backtest(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", wave())

    result = backtest("--symbol", "TESTUSDT", "--data", str(path), "--set", "strategy.timeframe=5m")

    assert result.exit_code == 0, result.output
    assert "120 bars in " in result.stdout  # 600 one-minute bars are 120 five-minute bars


def test_sim_dates_with_no_bars_are_a_usage_error() -> None:
    result = backtest("--symbol", "BTCUSDT", "--source", "sim", "--sim-days", "0.1", *SMALL_SIM, "--from", "2099-01-01")

    assert_usage_error(result, "no BTCUSDT bars between the dates asked for")


def test_to_before_from_is_a_usage_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bars.csv", wave())

    result = backtest(
        "--symbol", "TESTUSDT", "--data", str(path), "--from", "2023-11-15T09:00", "--to", "2023-11-15T08:00"
    )

    assert result.exit_code == 2, result.output


def test_python_dash_m_engine_cli_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "backtest", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )

    assert done.returncode == 0
    assert "Usage:" in done.stdout


# --- real history --------------------------------------------------------------------------------


def test_a_week_of_real_btcusdt_runs_and_its_fingerprint_is_reproducible(tmp_path: Path) -> None:
    if not REAL.is_dir():
        pytest.skip(f"real Binance USD-M history not found at {REAL} (the shared data folder is absent)")
    args = ("--symbol", "BTCUSDT", "--data", str(REAL), "--from", "2025-05-10", "--to", "2025-05-17")

    first = backtest(*args, "--out", str(tmp_path / "first"))
    second = backtest(*args, "--out", str(tmp_path / "second"))

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "10,280 bars in " in first.stdout  # 7 days of 1m bars and 200 warm-up bars
    mark, count = printed_fingerprint(first)
    assert count > 0
    assert printed_fingerprint(second) == (mark, count)
    assert (tmp_path / "first" / TRADES_CSV).read_bytes() == (tmp_path / "second" / TRADES_CSV).read_bytes()
    assert len(trade_rows(tmp_path / "first")) == count
