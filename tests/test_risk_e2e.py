"""End to end through the CLI: the risk gate's denials, the trading state commands, and refusing
state that cannot be trusted.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from pathlib import Path

from engine.app import DB_FILE
from tests.test_cli import clean_env, engines, run_cli, wait_for  # noqa: F401 (fixture)

XS_CONFIG = """
[engine]
top_n_symbols = 12
[scanner]
interval_s = 1
[strategy]
mode = "cross_sectional"
[cross_sectional]
period_s = 10
k = 3
min_symbols = 6
"""


def _status(tmp_path: Path) -> dict:
    result = run_cli(tmp_path, "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def test_a_wide_spread_kill_switch_denies_every_entry_logs_each_symbol_once_and_counts_all(
    tmp_path: Path,
    engines,  # noqa: F811
) -> None:
    (tmp_path / "xs.toml").write_text(XS_CONFIG)
    engine = engines("--config", "xs.toml", "--set", "risk.max_spread_bps=0.5")  # most sim symbols quote ~2 bps
    engine.wait_running()
    log = tmp_path / "logs" / "trading_engine.log"

    def denied_twice_somewhere() -> bool:
        status = _status(tmp_path)
        logged = len(re.findall(r"denied \[WIDE_SPREAD\]", log.read_text()))
        return status["risk"]["denials"].get("WIDE_SPREAD", 0) > logged > 0

    wait_for(denied_twice_somewhere, 120, "a WIDE_SPREAD denial counted more often than logged")
    status = _status(tmp_path)
    text = log.read_text()
    per_symbol = Counter(re.findall(r"([A-Z0-9]+USDT) \w+ \w+ entry denied \[WIDE_SPREAD\]: spread", text))
    assert per_symbol and set(per_symbol.values()) == {1}, per_symbol
    assert status["risk"]["kill_switch_count"] >= 1
    assert all(why.startswith("WIDE_SPREAD: spread") for why in status["risk"]["kill_switches"].values())
    rendered = run_cli(tmp_path, "status").stdout
    assert "kill-switches on:" in rendered and "WIDE_SPREAD: spread" in rendered


def test_halt_and_resume_change_the_trading_state_and_status_says_why(tmp_path: Path, engines) -> None:  # noqa: F811
    engine = engines()
    engine.wait_running()
    halted = run_cli(tmp_path, "halt", "--reason", "scheduled maintenance")
    assert halted.returncode == 0 and halted.stdout.strip() == "trading state HALTED (scheduled maintenance)"
    assert "trading: HALTED [MANUAL] scheduled maintenance" in run_cli(tmp_path, "status").stdout
    reducing = run_cli(tmp_path, "reduce")
    assert reducing.stdout.strip() == "trading state REDUCING (reducing by the operator)"
    resumed = run_cli(tmp_path, "resume")
    assert resumed.stdout.strip() == "trading state ACTIVE"
    assert _status(tmp_path)["risk"]["state"] == "ACTIVE"
    log = (tmp_path / "logs" / "trading_engine.log").read_text()
    assert "trading state HALTED [MANUAL]: scheduled maintenance" in log
    assert "trading state REDUCING [MANUAL]" in log


def test_a_damaged_database_is_refused_and_start_flat_moves_it_aside(tmp_path: Path) -> None:
    db = tmp_path / "data" / DB_FILE
    db.parent.mkdir()
    db.write_bytes(b"not a database, a crash left this")
    refused = run_cli(tmp_path, "start", "--duration", "1")
    assert refused.returncode == 2
    assert "--start-flat" in refused.stderr + refused.stdout
    assert db.read_bytes() == b"not a database, a crash left this"

    flat = run_cli(tmp_path, "start", "--start-flat", "--duration", "1", timeout=120)
    assert flat.returncode == 0, flat.stdout + flat.stderr
    (aside,) = [p for p in db.parent.glob(f"{DB_FILE}.bad-*") if not p.name.endswith(("-wal", "-shm"))]
    assert aside.read_bytes() == b"not a database, a crash left this"
    assert f"started flat: the unusable state database was moved to data/{aside.name}" in flat.stderr + flat.stdout
    assert run_cli(tmp_path, "audit").returncode == 0


def test_a_database_missing_from_a_used_data_folder_is_refused(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "start", "--duration", "1", timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    (tmp_path / "data" / DB_FILE).unlink()
    refused = run_cli(tmp_path, "start", "--duration", "1")
    assert refused.returncode == 2
    assert "is missing" in refused.stderr + refused.stdout
    assert not (tmp_path / "data" / DB_FILE).exists()


def test_audit_reports_a_journal_trade_no_fill_closed(tmp_path: Path) -> None:
    first = run_cli(tmp_path, "start", "--duration", "1", timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    with sqlite3.connect(tmp_path / "data" / DB_FILE) as db:
        db.execute(
            "INSERT INTO trades (symbol, side, qty, entry_ts, entry_price, exit_ts, exit_price, pnl, fees, "
            "strategy, regime, reason, risk, fill_id) VALUES "
            "('BTCUSDT', 'long', 1, 0, 100, 1, 101, 1, 0, 'trend', '', 'target', 1, 'ghost-1')"
        )
    audit = run_cli(tmp_path, "audit")
    assert audit.returncode == 1
    assert "PROBLEM: 1 journal trades were closed by no booked fill, e.g. ghost-1" in audit.stdout
