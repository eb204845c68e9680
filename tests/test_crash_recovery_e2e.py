"""End to end: kill -9 the engine at random moments while it trades, restart it, and check the state.

The engine runs a fast cross-sectional book on the simulated market (a rebalance every few wall
seconds), so kills land before, during and after fills, trade closes and state commits. After each
kill the database must already be consistent (``engine audit``: positions equal their fills, no
fill booked twice, no trade lost or doubled, the equity curve's cash moves only along the
ledger), the next start must restore what the state held, and nothing recorded before a kill may
disappear after it. One kill comes right after an operator's halt, which must survive it. And a
saved portfolio that cannot be read is rebuilt from the ledger, never silently reset.
"""

from __future__ import annotations

import os
import random
import re
import signal
import sqlite3
import time
from functools import partial
from pathlib import Path

from engine.app import DB_FILE
from engine.core.portfolio import Portfolio
from engine.store.sqlite_store import StateStore
from tests.test_cli import EngineProcess, clean_env, engines, run_cli, wait_for  # noqa: F401 (fixture)

SYMBOLS = 16
CONFIG = """
[engine]
top_n_symbols = 16
equity_sample_s = 1
[risk]
max_concurrent_positions = 8
portfolio_heat_cap_pct = 0.5
max_open_share = 1.0
max_entries_per_minute = 1000
max_entries_per_hour = 10000
max_entries_per_day = 100000
[strategy]
mode = "cross_sectional"
[scanner]
interval_s = 1
[cross_sectional]
period_s = 10
k = 3
min_symbols = 6
"""
KILLS = 5
HALT_AT = 2  # the kill after which the restarted engine must still be HALTED


def _ledger(tmp_path: Path) -> tuple[list[str], list[str], int]:
    """Fill ids in ledger order, trade fill ids, and the open positions all the fills add up to."""
    store = StateStore(tmp_path / "data" / DB_FILE)
    try:
        fills = store.fills()
        trades = [t.fill_id for t in store.trades()]
    finally:
        store.close()
    book = Portfolio(10_000.0)
    for fill in fills:
        book.apply_fill(fill)
    return [f.fill_id for f in fills], trades, len(book.snapshot(0).positions)


def _has_more_fills(tmp_path: Path, than: int) -> bool:
    return len(_ledger(tmp_path)[0]) > than


def _audit(tmp_path: Path) -> str:
    result = run_cli(tmp_path, "audit", env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _env() -> dict[str, str]:
    return clean_env(ENGINE_SIM__SYMBOLS=str(SYMBOLS), ENGINE_SIM__HISTORY_BARS="300")


def _kill(engine: EngineProcess) -> None:
    os.kill(engine.proc.pid, signal.SIGKILL)
    engine.proc.wait(30)


def test_random_kill_9s_lose_nothing_and_every_restart_carries_on(tmp_path: Path, engines) -> None:  # noqa: F811
    (tmp_path / "xs.toml").write_text(CONFIG)
    rng = random.Random(20261122)
    args = ("--symbols", "all", "--config", "xs.toml")
    kept_fills: list[str] = []
    kept_trades: list[str] = []
    positions_at_kill = None
    for n in range(KILLS):
        engine = engines(*args, env=_env())
        engine.wait_running()
        if positions_at_kill is not None:
            restored = re.search(r"portfolio restored: .*?, (\d+) open positions", engine.output())
            assert restored is not None, engine.output()[-3000:]
            assert int(restored.group(1)) == positions_at_kill
        if n == HALT_AT + 1:
            assert "trading state restored: HALTED (MANUAL): crash test" in engine.output()
            assert run_cli(tmp_path, "resume", env=_env()).stdout.startswith("trading state ACTIVE")
        try:
            wait_for(partial(_has_more_fills, tmp_path, len(kept_fills)), 120, "a new fill")
        except AssertionError as timed_out:
            raise AssertionError(f"{timed_out} after start {n}; engine log:\n{engine.output()[-4000:]}") from None
        if n == HALT_AT:
            halted = run_cli(tmp_path, "halt", "--reason", "crash test", env=_env())
            assert halted.stdout.strip() == "trading state HALTED (crash test)", halted.stdout + halted.stderr
        assert engine.proc.poll() is None, engine.output()[-3000:]
        time.sleep(rng.uniform(0.0, 4.0))
        _kill(engine)

        report = _audit(tmp_path)
        assert "state consistent" in report, report
        fills, trades, positions_at_kill = _ledger(tmp_path)
        assert fills[: len(kept_fills)] == kept_fills, "a fill recorded before a kill disappeared"
        assert set(kept_trades) <= set(trades), "a trade journaled before a kill disappeared"
        assert len(set(trades)) == len(trades)
        kept_fills, kept_trades = fills, trades

    final = engines(*args, "--duration", "15", env=_env())
    assert final.wait_exit(120) == 0, final.output()[-3000:]
    report = _audit(tmp_path)
    assert "state consistent" in report and "(0 not booked yet)" in report, report
    fills, trades, _ = _ledger(tmp_path)
    assert len(fills) > len(kept_fills) >= KILLS
    assert len(trades) >= 1
    assert "Traceback" not in "".join(p.read_text() for p in tmp_path.glob("engine*.std*"))


def test_an_unreadable_portfolio_state_is_rebuilt_from_the_ledger_and_an_unfilled_order_is_closed_out(
    tmp_path: Path,
    engines,  # noqa: F811
) -> None:
    (tmp_path / "xs.toml").write_text(CONFIG)
    first = engines("--symbols", "all", "--config", "xs.toml", env=_env())
    first.wait_running()
    wait_for(partial(_has_more_fills, tmp_path, 3), 120, "some fills")
    _kill(first)
    fills, _, positions = _ledger(tmp_path)
    with sqlite3.connect(tmp_path / "data" / DB_FILE) as db:
        db.execute("UPDATE kv SET value = '{\"version\": 3, trunc' WHERE key = 'portfolio'")
        db.execute(
            "INSERT INTO orders (client_oid, symbol, ts, side, qty, stop, reduce_only, strategy, reason, status) "
            "VALUES ('BTCUSDT-1-long', 'BTCUSDT', 1, 'long', 0.01, 1.0, 0, 'trend', 'then a crash', 'submitted')"
        )

    second = engines("--symbols", "all", "--config", "xs.toml", "--duration", "3", env=_env())
    assert second.wait_exit(120) == 0, second.output()[-3000:]
    output = second.output()
    assert re.search(r"portfolio state unreadable \(.*state 'portfolio' is not valid JSON.*\): rebuilding it", output)
    restored = re.search(r"portfolio restored: .*?, (\d+) open positions; (\d+) fills in the ledger", output)
    assert restored is not None and (int(restored.group(1)), int(restored.group(2))) == (positions, len(fills))
    assert "BTCUSDT order BTCUSDT-1-long (trend long 0.01) was recorded before the last stop but never filled" in output
    with sqlite3.connect(tmp_path / "data" / DB_FILE) as db:
        status = db.execute("SELECT status FROM orders WHERE client_oid = 'BTCUSDT-1-long'").fetchone()
        rebuilt = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'state_rebuilt'").fetchone()
    assert status == ("rejected",) and rebuilt == (1,)
    assert "state consistent" in _audit(tmp_path)
