"""End-to-end tests of the ``engine`` command, run for real in subprocesses.

Every test runs the CLI in its own temporary working directory (so ``data/`` and ``logs/`` land
there) with an environment cleaned of ENGINE_* / TRADING_MODE / venue secrets, plus a small and
fast simulated universe. Engines started in the background are always killed by the ``engines``
fixture, whatever happens to the test. Waits poll for a condition with generous deadlines, because
the machines these run on are slow and noisy.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.journal import EQUITY_COLUMNS, TRADE_COLUMNS

_ENGINE = shutil.which("engine")
ENGINE_CMD = [_ENGINE] if _ENGINE else [sys.executable, "-c", "from engine.cli import main; main()"]

# 12 symbols, one 1-minute bar per wall second, few events per symbol: cheap on two cores.
SMALL_UNIVERSE = {
    "ENGINE_SIM__SYMBOLS": "12",
    "ENGINE_SIM__SPEED": "60",
    "ENGINE_SIM__TICKER_INTERVAL_MS": "1000",
    "ENGINE_SIM__BOOK_INTERVAL_MS": "1000",
    "ENGINE_SIM__TRADE_RATE_PER_S": "1",
}
CLI_TIMEOUT_S = 60  # one short CLI call (import + one HTTP request), with room for a slow machine
STARTUP_TIMEOUT_S = 120  # from spawn to "engine running"
STOP_TIMEOUT_S = 60  # from a stop request to the process having exited
_SECRET_VARS = ("BITGET_API_KEY", "BITGET_SECRET_KEY", "BITGET_PASSPHRASE", "DISCORD_WEBHOOK_URL")


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without engine settings or venue secrets, plus the small universe and ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ENGINE_") and k != "TRADING_MODE" and k not in _SECRET_VARS
    }
    return env | SMALL_UNIVERSE | extra


def run_cli(cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = CLI_TIMEOUT_S):
    """Run ``engine ARGS`` to completion and return the CompletedProcess (text output)."""
    return subprocess.run(
        [*ENGINE_CMD, *args],
        cwd=cwd,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, up to 10 s to exit cleanly, then SIGKILL: no test leaves a process behind."""
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


def wait_for(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@dataclass
class EngineProcess:
    """A background ``engine start`` whose stdout and stderr go to files (no pipe can fill up)."""

    proc: subprocess.Popen[bytes]
    cwd: Path
    stdout_path: Path
    stderr_path: Path

    def output(self) -> str:
        return self.stdout_path.read_text(errors="replace") + self.stderr_path.read_text(errors="replace")

    def wait_running(self, timeout: float = STARTUP_TIMEOUT_S) -> None:
        """Until start-up is complete: every symbol's pipeline exists and the endpoint is published."""

        def running() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"engine exited with {self.proc.returncode} during start-up:\n{self.output()}")
            return "engine running" in self.output() and (self.cwd / "data" / "control.json").exists()

        wait_for(running, timeout, "the engine to report 'engine running'")

    def wait_exit(self, timeout: float = STOP_TIMEOUT_S) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            message = f"engine still running {timeout:.0f}s after being asked to stop:\n{self.output()}"
            raise AssertionError(message) from None


@pytest.fixture
def engines(tmp_path: Path) -> Iterator[Callable[..., EngineProcess]]:
    """Start background engines in tmp_path; every one still alive at teardown is killed."""
    started: list[EngineProcess] = []

    def start(*args: str, env: dict[str, str] | None = None) -> EngineProcess:
        n = len(started)
        out, err = tmp_path / f"engine{n}.stdout", tmp_path / f"engine{n}.stderr"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [*ENGINE_CMD, "start", *args],
                cwd=tmp_path,
                env=clean_env() if env is None else env,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,  # a Ctrl-C at the terminal running pytest is not also sent here
            )
        engine = EngineProcess(proc, tmp_path, out, err)
        started.append(engine)
        return engine

    try:
        yield start
    finally:
        for engine in started:
            if engine.proc.poll() is None:
                engine.proc.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    engine.proc.wait(30)


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


# --- 1. a bounded run leaves its records behind -----------------------------------------------


def test_bounded_run_exits_0_and_leaves_journal_equity_curve_log_and_database(tmp_path: Path) -> None:
    # 24 symbols for 30 s of wall time (30 event-minutes each) in a cross-sectional book that
    # rebalances every 10 event-seconds: round trips close within seconds, whatever the machine's load.
    env = clean_env(ENGINE_SIM__SYMBOLS="24")
    fast_book = (
        "strategy.mode=cross_sectional",
        "cross_sectional.period_s=10",
        "cross_sectional.k=3",
        "cross_sectional.min_symbols=6",
        "engine.top_n_symbols=24",
        "scanner.interval_s=1",
        "risk.max_concurrent_positions=8",
        "risk.portfolio_heat_cap_pct=0.5",
        "risk.max_open_share=1.0",
    )
    settings = [arg for setting in fast_book for arg in ("--set", setting)]
    result = run_cli(tmp_path, "start", "--symbols", "all", "--duration", "30", *settings, env=env, timeout=240)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Traceback" not in output

    logs, data = tmp_path / "logs", tmp_path / "data"
    header, trades = read_csv(logs / "trade_journal.csv")
    assert (
        header
        == list(TRADE_COLUMNS)
        == [
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
        ]
    )
    assert trades, f"no closed trade in 30 s over 24 symbols; engine output:\n{output[-4000:]}"
    for row in trades:
        qty, entry, exit_ = float(row["qty"]), float(row["entry_price"]), float(row["exit_price"])
        pnl, fees = float(row["pnl"]), float(row["fees"])
        assert row["side"] in ("long", "short"), row
        assert row["symbol"].endswith("USDT"), row
        assert qty > 0 and entry > 0 and exit_ > 0, row
        assert math.isfinite(pnl), row
        assert fees > 0 and math.isfinite(fees), row
        assert row["entry_time"] <= row["exit_time"], row  # ISO 8601 UTC strings sort as times
        assert row["strategy"] and row["reason"], row
        sign = 1 if row["side"] == "long" else -1
        gross = (exit_ - entry) * qty * sign
        assert pnl == pytest.approx(gross - fees, rel=1e-6, abs=1e-6), row

    header, points = read_csv(logs / "equity_curve.csv")
    assert header == list(EQUITY_COLUMNS)
    assert points
    assert all(math.isfinite(float(p["equity"])) and float(p["equity"]) > 0 for p in points), points

    log_file = logs / "trading_engine.log"
    assert log_file.is_file()
    assert "engine stopped" in log_file.read_text(encoding="utf-8")

    db = data / "engine.sqlite"
    assert db.is_file()
    with contextlib.closing(sqlite3.connect(db)) as conn:  # journal and database agree on the round trips
        (stored,) = conn.execute("SELECT COUNT(*) FROM trades").fetchone()
    assert stored == len(trades)
    assert not (data / "control.json").exists()

    reported = run_cli(tmp_path, "report", "--out", "run-report", env=env)  # the run's metrics and report.html
    assert reported.returncode == 0, reported.stdout + reported.stderr
    assert re.search(rf"^trades:\s+{len(trades)}$", reported.stdout, re.MULTILINE), reported.stdout
    assert re.search(rf"^fingerprint [0-9a-f]{{16}} \({len(trades)} trades\)$", reported.stdout, re.MULTILINE)
    folder = tmp_path / "run-report"
    assert sorted(p.name for p in folder.iterdir()) == [
        "backtest_trades.csv", "equity_curve.csv", "metrics.csv", "report.html"
    ]  # fmt: skip
    assert read_csv(folder / "backtest_trades.csv")[1] == trades


def test_report_without_a_state_database_says_where_it_looked(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "report")

    assert result.returncode == 1
    assert "no state database at data/engine.sqlite" in result.stderr


# --- 2. talking to a running engine ---------------------------------------------------------


def _listed(result: subprocess.CompletedProcess[str]) -> list[str]:
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_status_and_hot_symbol_commands_work_against_a_running_engine(tmp_path: Path, engines) -> None:
    engine = engines("--symbols", "all", "--duration", "600")
    engine.wait_running()

    status = run_cli(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert re.search(r"^trading: ACTIVE", status.stdout, re.M), status.stdout
    assert re.search(r"^symbols: 12 running, 0 restarting, 0 quarantined", status.stdout, re.M), status.stdout

    as_json = run_cli(tmp_path, "status", "--json")
    assert as_json.returncode == 0, as_json.stderr
    payload = json.loads(as_json.stdout)
    assert {"runtime", "risk", "portfolio"} <= payload.keys()
    assert payload["mode"] == "paper"
    assert payload["runtime"]["symbols"]["running"] == 12

    symbols = _listed(run_cli(tmp_path, "symbols", "list"))
    assert len(symbols) == 12
    assert "BTCUSDT" in symbols and "XRPUSDT" in symbols and "NEWUSDT" not in symbols

    added = run_cli(tmp_path, "symbols", "add", "NEWUSDT")
    assert added.returncode == 0, added.stderr
    assert "NEWUSDT added" in added.stdout
    assert "NEWUSDT" in _listed(run_cli(tmp_path, "symbols", "list"))

    again = run_cli(tmp_path, "symbols", "add", "NEWUSDT")
    assert again.returncode == 1
    assert "already" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1, again.stderr
    assert "Traceback" not in again.stderr

    unlisted = run_cli(tmp_path, "symbols", "add", "FOOUSDT")
    assert unlisted.returncode == 1
    assert "not listed" in unlisted.stderr and "FOOUSDT" in unlisted.stderr
    assert "Traceback" not in unlisted.stderr

    removed = run_cli(tmp_path, "symbols", "remove", "XRPUSDT")
    assert removed.returncode == 0, removed.stderr
    assert "XRPUSDT removed" in removed.stdout
    symbols = _listed(run_cli(tmp_path, "symbols", "list"))
    assert "XRPUSDT" not in symbols and "NEWUSDT" in symbols and len(symbols) == 12

    assert engine.proc.poll() is None, engine.output()
    status = run_cli(tmp_path, "status")
    assert status.returncode == 0, status.stderr
    assert re.search(r"^symbols: 12 running", status.stdout, re.M), status.stdout


# --- 3. a clean stop on Ctrl-C and SIGTERM --------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_a_running_engine_cleanly(tmp_path: Path, engines, signum: signal.Signals) -> None:
    engine = engines("--symbols", "all", "--duration", "600")
    engine.wait_running()
    engine.proc.send_signal(signum)
    code = engine.wait_exit()
    output = engine.output()
    assert code == 0, output
    assert "engine stopped" in output
    assert "Traceback" not in output
    assert not (tmp_path / "data" / "control.json").exists()
    status = run_cli(tmp_path, "status")  # and the CLI now says so instead of timing out
    assert status.returncode == 1
    assert "no running engine" in status.stderr


# --- 4. configuration errors ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "env_extra", "must_name"),
    [
        (["--set", "risk.risk_per_trade_pct=1.5"], {}, ["risk.risk_per_trade_pct", "1.5", "(0, 0.1]"]),
        (
            [],
            {"ENGINE_RISK__MAX_CONCURRENT_POSITIONS": "0"},
            ["risk.max_concurrent_positions", "0", ">= 1", "ENGINE_RISK__MAX_CONCURRENT_POSITIONS"],
        ),
        (["--set", "risk.nope=1"], {}, ["risk.nope", "risk_per_trade_pct"]),
        ([], {"ENGINE_CONTROL__HOST": "0.0.0.0"}, ["control.host", "0.0.0.0", "loopback"]),
        (["--config", "missing.toml"], {}, ["missing.toml"]),
    ],
    ids=["cli-out-of-range", "env-out-of-range", "unknown-key", "non-loopback-host", "missing-config-file"],
)
def test_config_error_exits_2_with_one_line_naming_the_problem(
    tmp_path: Path, args: list[str], env_extra: dict[str, str], must_name: list[str]
) -> None:
    result = run_cli(tmp_path, "start", *args, env=clean_env(**env_extra))
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in must_name:
        assert needle in lines[0], (needle, lines[0])
    assert result.stdout == ""
    assert not (tmp_path / "data").exists() and not (tmp_path / "logs").exists()  # refused before anything


# --- 5. no engine to talk to ----------------------------------------------------------------


def test_status_without_a_running_engine_exits_1_saying_none_was_found(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "status")
    assert result.returncode == 1
    assert "no running engine" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_status_with_a_stale_endpoint_file_exits_1_saying_the_engine_does_not_answer(tmp_path: Path) -> None:
    # What a SIGKILLed engine leaves behind: control.json pointing at a port nobody listens on.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    data = tmp_path / "data"
    data.mkdir()
    (data / "control.json").write_text(json.dumps({"host": "127.0.0.1", "port": port, "pid": 999999}))
    (data / "control.token").write_text("token")
    result = run_cli(tmp_path, "status")
    assert result.returncode == 1
    assert "does not answer" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


# --- 6. secrets ------------------------------------------------------------------------------


def test_secrets_in_the_environment_never_reach_logs_or_output(tmp_path: Path) -> None:
    secrets = {
        "BITGET_API_KEY": "sekrit-key-123",
        "BITGET_SECRET_KEY": "sekrit-sec-456",
        "BITGET_PASSPHRASE": "sekrit-pass",
    }
    result = run_cli(tmp_path, "start", "--symbols", "all", "--duration", "4", env=clean_env(**secrets), timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    log_text = (tmp_path / "logs" / "trading_engine.log").read_text(encoding="utf-8")
    assert "engine stopped" in log_text  # the log was really written
    for value in secrets.values():
        assert value not in log_text
        assert value not in output
    assert "sekrit" not in log_text + output


# --- 7. unknown symbols ---------------------------------------------------------------------


def test_start_with_an_unlisted_symbol_exits_2_naming_it(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "start", "--symbols", "BTCUSDT,NOPEUSDT", "--duration", "5", timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "NOPEUSDT" in output
    assert "Traceback" not in output
    assert "engine running" not in output
