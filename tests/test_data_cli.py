"""`engine data download` through the CLI against the simulated exchange: files a backtest loads,
a rerun that adds nothing, and a clear error for an unknown symbol while the others still download."""

from __future__ import annotations

import re
from pathlib import Path

from engine.backtest.data import load
from tests.test_cli import clean_env, run_cli

ARGS = ("data", "download", "--venue", "sim", "--days", "0.2", "--set", "sim.symbols=5")


def test_a_download_writes_loadable_history_and_a_rerun_adds_nothing(tmp_path: Path) -> None:
    first = run_cli(tmp_path, *ARGS, "--symbols", "BTCUSDT,ETHUSDT", env=clean_env(), timeout=120)
    again = run_cli(tmp_path, *ARGS, "--symbols", "BTCUSDT", env=clean_env(), timeout=120)

    assert first.returncode == 0, first.stdout + first.stderr
    added = dict(re.findall(r"^(\w+) 1m: \+(\d+) candles", first.stdout, re.MULTILINE))
    assert added == {"BTCUSDT": "288", "ETHUSDT": "288"}
    candles = load(tmp_path / "data" / "history" / "sim" / "BTCUSDT-1m.csv")
    assert (candles.symbol, candles.interval_ms, len(candles)) == ("BTCUSDT", 60_000, 288)
    assert again.returncode == 0 and "BTCUSDT 1m: +0 candles, 288 in" in again.stdout, again.stdout + again.stderr


def test_an_unknown_symbol_fails_with_the_reason_and_the_others_still_download(tmp_path: Path) -> None:
    result = run_cli(tmp_path, *ARGS, "--symbols", "NOPEUSDT,BTCUSDT", env=clean_env(), timeout=120)

    assert result.returncode == 1
    assert "error: NOPEUSDT:" in result.stderr and "not listed" in result.stderr
    assert "error: 1 of 2 downloads failed" in result.stderr
    assert "BTCUSDT 1m: +288 candles" in result.stdout
    assert "Traceback" not in result.stderr
