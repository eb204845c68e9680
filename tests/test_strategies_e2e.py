"""End to end: every strategy mode trades in one engine on the simulated market, through the CLI.

One bounded run of 24 simulated symbols at 60x: six on the long dip (on 1m candles here, so it
sees enough bars in a minute of wall time), eight in the cross-sectional book, the rest on the
default regime strategies. The run must log regime changes, the scanner's selection, approved
entries of each mode tagged with strategy and regime, persist regime events and the bandit's
state, and show regimes and the ranking in ``engine status``.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from engine.app import DB_FILE
from tests.test_cli import clean_env, run_cli

LONG_DIP = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT"]
CROSS_SECTIONAL = ["ADAUSDT", "SUIUSDT", "LINKUSDT", "AVAXUSDT", "PEPEUSDT", "LTCUSDT", "TRXUSDT", "HYPEUSDT"]
CONFIG = f"""
[engine]
top_n_symbols = 12
[risk]
max_concurrent_positions = 12
portfolio_heat_cap_pct = 0.2
[strategy]
per_symbol = {json.dumps([f"{s}:long_dip" for s in LONG_DIP] + [f"{s}:cross_sectional" for s in CROSS_SECTIONAL])}
[long_dip]
timeframe = "1m"
[scanner]
interval_s = 1
[cross_sectional]
period_s = 120
k = 2
"""


def test_every_strategy_mode_trades_and_reports_in_one_engine(tmp_path: Path) -> None:
    (tmp_path / "modes.toml").write_text(CONFIG)
    env = clean_env(ENGINE_SIM__SYMBOLS="24")
    result = run_cli(
        tmp_path, "start", "--symbols", "all", "--config", "modes.toml", "--duration", "100", env=env, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Traceback" not in output

    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    approved = set(re.findall(r"approved \[([a-z_]+) in ([A-Z_]+)\]", log))
    strategies = {strategy for strategy, _ in approved}
    assert "long_dip" in strategies, sorted(approved)
    assert any(s.startswith("xs_") for s in strategies), sorted(approved)
    assert strategies & {"trend", "range", "high_vol"}, sorted(approved)
    assert all(regime != "UNKNOWN" for _, regime in approved), sorted(approved)
    assert re.search(r"[A-Z0-9]+USDT regime [A-Z_]+ -> [A-Z_]+ \(ADX [0-9.]+, ATR/median [0-9.]+\)", log)
    assert re.search(r"scanner: top \d+ of \d+ now [A-Z0-9]+USDT [0-9.]+ \([A-Z_]+\)", log)
    assert re.search(r"cross-sectional \((momentum|imbalance|blend)\): longs ", log)

    with sqlite3.connect(tmp_path / "data" / DB_FILE) as db:
        kinds = dict(db.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall())
        bandit = db.execute("SELECT value FROM kv WHERE key = 'bandit'").fetchone()
    assert kinds.get("regime", 0) > 0, kinds
    assert bandit is not None
    pulls = sum(arm["pulls"] for arm in json.loads(bandit[0])["arms"].values())
    assert pulls >= 1
