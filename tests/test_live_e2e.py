"""End to end: live mode, run for real against the simulated exchange.

- Start-up refusals: live mode needs ``--confirm-live``, the three BITGET_* keys, and a key that
  cannot withdraw; with all of them it starts, reconciles with the venue and stops cleanly.
- Faults: a live engine trades against a standalone ``engine sim serve`` while the venue drops its
  WebSockets, duplicates and garbles pushes, goes silent, answers 5xx and 429, accepts an order but
  never answers (longer than the engine's REST timeout) and slows down. Afterwards every fill the
  exchange made is in the engine's store exactly once, the store holds no other, no order the
  engine gave up on was filled, the books agree and ``engine audit`` finds the state consistent.
- Kill -9: a live engine holding positions is killed at random moments (one while orders are slow),
  restarted on the same data, and after its start-up reconciliation its positions are the venue's
  and the venue's fills are in its store exactly once.

What the exchange really did is read from it with the real client (``BitgetRest``, signed), never
from the engine's own view. Waits poll with deadlines; random choices use a seeded generator.
"""

from __future__ import annotations

import contextlib
import math
import os
import random
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from actors.context import EXECUTION
from adapters.bitget import constants as c
from adapters.bitget.auth import Credentials
from adapters.bitget.parsing import venue_position
from adapters.bitget.rest import BitgetRest, RetryPolicy, order_body
from adapters.sim.bitget_server import BitgetSimServer
from adapters.sim.signature_check import SimKey
from engine.app import DB_FILE, Engine, EngineStartError, build_sim_feed
from engine.config import load_config
from engine.control.client import call
from engine.messages import Side, SubmitOrder
from engine.store.audit import audit
from engine.store.sqlite_store import StateStore
from tests.test_cli import (  # noqa: F401 (fixture)
    ENGINE_CMD,
    EngineProcess,
    clean_env,
    engines,
    run_cli,
    stop_process,
    wait_for,
)
from tests.test_crash_recovery_e2e import CONFIG, SYMBOLS

# At least 8 characters each: the log masks every secret value wherever it appears.
KEYS = {
    "BITGET_API_KEY": "live-e2e-key-7f3a9c",
    "BITGET_SECRET_KEY": "live-e2e-secret-91c2b4",
    "BITGET_PASSPHRASE": "live-e2e-pass-4d8e61",
}
CREDENTIALS = Credentials(KEYS["BITGET_API_KEY"], KEYS["BITGET_SECRET_KEY"], KEYS["BITGET_PASSPHRASE"])
SIM_SPEED = 25  # event time 25x wall time: a cross-sectional rebalance every couple of wall seconds
ENGINE_TIMEOUT_S = 1.0  # the engine's REST timeout; the held order is held longer than this
LOG = Path("logs") / "trading_engine.log"
URL = re.compile(r"^(REST|WebSocket|WebSocket-private) (\S+)$", re.MULTILINE)
REL = 1e-9


def _env(**extra: str) -> dict[str, str]:
    return clean_env(**KEYS, **extra)


def _log(tmp_path: Path) -> str:
    path = tmp_path / LOG
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _rows(tmp_path: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(tmp_path / "data" / DB_FILE, timeout=10)) as db:
        return db.execute(sql).fetchall()


def _count(tmp_path: Path, table: str) -> int:
    if not (tmp_path / "data" / DB_FILE).exists():
        return 0
    return int(_rows(tmp_path, f"SELECT COUNT(*) FROM {table}")[0][0])


def _wait_more(tmp_path: Path, table: str, than: int, timeout: float, what: str) -> int:
    wait_for(lambda: _count(tmp_path, table) > than, timeout, what, interval=0.25)
    return _count(tmp_path, table)


def _audit(tmp_path: Path) -> str:
    result = run_cli(tmp_path, "audit", env=_env())
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _audit_problems(tmp_path: Path) -> list[str]:
    """What ``engine audit`` checks, in this process (a subprocess start costs seconds here)."""
    store = StateStore(tmp_path / "data" / DB_FILE)
    try:
        return list(audit(store, load_config(env={}).risk.starting_equity_usdt).problems)
    finally:
        store.close()


# --- the standalone venue -------------------------------------------------------------------------


@dataclass
class Venue:
    """A running ``engine sim serve``: its URLs, its fault switch, and its account's truth."""

    rest_url: str
    ws_url: str
    ws_private_url: str

    def __post_init__(self) -> None:
        self.client = BitgetRest(self.rest_url, CREDENTIALS, retry=RetryPolicy(attempts=8, backoff_s=0.1))

    def fault(self, **command: Any) -> dict[str, Any]:
        answer = requests.post(f"{self.rest_url}/sim/faults", json=command, timeout=10)
        assert answer.status_code == 200, answer.text
        state: dict[str, Any] = answer.json()["data"]
        return state

    def fault_state(self) -> dict[str, Any]:
        answer = requests.get(f"{self.rest_url}/sim/faults", timeout=10)
        assert answer.status_code == 200, answer.text
        state: dict[str, Any] = answer.json()["data"]
        return state

    def fills(self) -> list[dict[str, Any]]:
        return self.client.fills(since_ms=0)

    def fill_ids(self) -> set[str]:
        return {str(f["tradeId"]) for f in self.fills()}

    def positions(self) -> dict[tuple[str, str], float]:
        book: dict[tuple[str, str], float] = {}
        for item in self.client.positions():
            p = venue_position(item)
            if p.qty > 0:
                book[(p.symbol, p.side.value)] = book.get((p.symbol, p.side.value), 0.0) + p.qty
        return book

    def engine_args(self, symbols: str = "all") -> tuple[str, ...]:
        return (
            "--venue", "bitget", "--mode", "live", "--confirm-live", "--symbols", symbols, "--config", "xs.toml",
            "--set", f"bitget.rest_url={self.rest_url}", "--set", f"bitget.ws_public_url={self.ws_url}",
            "--set", f"bitget.ws_private_url={self.ws_private_url}", "--set", f"bitget.timeout_s={ENGINE_TIMEOUT_S}",
        )  # fmt: skip


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[Venue]:
    """``engine sim serve`` with 16 symbols at speed 25 and the test's keys, in its own folder."""
    folder = tmp_path / "venue"
    folder.mkdir()
    out = folder / "venue.stdout"
    settings = ("--set", f"sim.symbols={SYMBOLS}", "--set", f"sim.speed={SIM_SPEED}", "--set", "sim.history_bars=300")
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [*ENGINE_CMD, "sim", "serve", *settings],
            cwd=folder,
            env=_env(),
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(lambda: len(URL.findall(out.read_text())) == 3 or proc.poll() is not None, 60, "the venue's URLs")
        urls = dict(URL.findall(out.read_text()))
        assert set(urls) == {"REST", "WebSocket", "WebSocket-private"}, out.read_text()
        assert "BITGET_API_KEY=" not in out.read_text()  # it took the keys from the environment
        yield Venue(urls["REST"], urls["WebSocket"], urls["WebSocket-private"])
    finally:
        stop_process(proc)


def _start_live(tmp_path: Path, venue: Venue, engines: Any, *extra: str) -> EngineProcess:  # noqa: F811
    (tmp_path / "xs.toml").write_text(CONFIG)
    engine: EngineProcess = engines(*venue.engine_args(), *extra, env=_env())
    engine.wait_running()
    return engine


def _engine_positions(tmp_path: Path) -> dict[tuple[str, str], float]:
    status = call(tmp_path / "data", "GET", "/status")
    return {(p["symbol"], p["side"]): float(p["qty"]) for p in status["portfolio"]["positions"]}


def _same_book(ours: dict[tuple[str, str], float], theirs: dict[tuple[str, str], float]) -> bool:
    return ours.keys() == theirs.keys() and all(math.isclose(ours[k], theirs[k], rel_tol=REL) for k in ours)


def _store_fill_ids(tmp_path: Path) -> list[str]:
    return [str(row[0]) for row in _rows(tmp_path, "SELECT fill_id FROM fills")]


def _check_no_foreign_fill(tmp_path: Path, venue: Venue) -> None:
    """Strict at any moment: the store never holds a fill twice, nor one the venue did not make."""
    stored = _store_fill_ids(tmp_path)
    made = venue.fill_ids()  # read after the store: every fill stored by then has been made
    assert len(stored) == len(set(stored)), "a fill is in the store twice"
    assert set(stored) <= made, f"fills in the store the venue never made: {sorted(set(stored) - made)}"


def _wait_ledger_agrees(tmp_path: Path, venue: Venue, timeout: float) -> None:
    """While the engine trades: until a moment when no fill happened between two reads of the
    venue and the store holds exactly the venue's fills."""
    last = ""

    def agrees() -> bool:
        nonlocal last
        before = venue.fill_ids()
        stored = _store_fill_ids(tmp_path)
        after = venue.fill_ids()
        assert len(stored) == len(set(stored)), "a fill is in the store twice"
        assert set(stored) <= after, f"fills in the store the venue never made: {sorted(set(stored) - after)}"
        last = f"venue made {len(after)} fills, store has {len(stored)}; missing {sorted(after - set(stored))[:10]}"
        return before == after == set(stored)

    try:
        wait_for(agrees, timeout, "the store to hold exactly the venue's fills", interval=0.3)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last}") from None


def _wait_books_agree(tmp_path: Path, venue: Venue, timeout: float) -> None:
    """While the engine trades: until the engine's positions, read twice around a read of the
    venue's, are the same both times and equal the venue's (relative 1e-9)."""
    last = ""

    def agrees() -> bool:
        nonlocal last
        first = _engine_positions(tmp_path)
        theirs = venue.positions()
        second = _engine_positions(tmp_path)
        last = f"engine {sorted(second.items())} venue {sorted(theirs.items())}"
        return first == second and _same_book(second, theirs)

    try:
        wait_for(agrees, timeout, "the engine's positions to equal the venue's", interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {last}") from None


def _check_final_state(tmp_path: Path, venue: Venue) -> None:
    """Nothing moves: exact comparisons of fills, orders and positions, and the audit."""
    made = venue.fills()
    made_ids = [str(f["tradeId"]) for f in made]
    stored = _store_fill_ids(tmp_path)
    assert len(stored) == len(set(stored)), "a fill is in the store twice"
    assert len(made_ids) == len(set(made_ids))
    assert sorted(set(made_ids) - set(stored)) == [], "venue fills missing from the store"
    assert sorted(set(stored) - set(made_ids)) == [], "store fills the venue never made"

    orders = dict(_rows(tmp_path, "SELECT client_oid, status FROM orders"))
    filled_oids = {str(f["clientOid"]) for f in made}
    assert sorted(filled_oids - orders.keys()) == [], "venue fills of orders the engine never recorded"
    given_up = {oid for oid, status in orders.items() if status == "rejected"}
    assert sorted(given_up & filled_oids) == [], "orders the engine gave up on were filled on the venue"
    assert {str(row[0]) for row in _rows(tmp_path, "SELECT client_oid FROM fills")} == filled_oids

    rows = _rows(tmp_path, "SELECT symbol, side, qty FROM positions")
    ours = {(str(symbol), str(side)): float(qty) for symbol, side, qty in rows}
    theirs = venue.positions()
    assert _same_book(ours, theirs), (sorted(ours.items()), sorted(theirs.items()))

    report = _audit(tmp_path)
    assert "state consistent" in report and "(0 not booked yet)" in report, report


RECONCILED = re.compile(r"reconciled with the venue \(start\): (\d+) positions there, (\d+) corrected")


def _corrections_at_start(output: str) -> int:
    found = RECONCILED.search(output)
    assert found is not None, output[-3000:]
    return int(found.group(2))


def _settle_and_check(tmp_path: Path, venue: Venue, engines: Any) -> None:  # noqa: F811
    """After a clean stop, one more start that trades nothing (two symbols nobody holds: fewer than
    the cross-section needs) reconciles with the venue, booking the fills of any order that was
    still in flight at the stop, and stops again; then everything is compared exactly."""
    held = {symbol for symbol, _ in venue.positions()}
    held |= {str(row[0]) for row in _rows(tmp_path, "SELECT symbol FROM positions")}
    quiet = [s for s in sorted(str(i["symbol"]) for i in venue.client.contracts()) if s not in held][:2]
    settle = engines(*venue.engine_args(",".join(quiet)), "--duration", "3", env=_env())
    assert settle.wait_exit(120) == 0, settle.output()[-3000:]
    output = settle.output()
    assert _corrections_at_start(output) == 0, output[-3000:]  # the ledger explains every venue position
    assert not re.search(r" order \S+ sent: ", output), output[-3000:]  # it really traded nothing
    assert "Traceback" not in output
    _check_final_state(tmp_path, venue)


def _for_a_while(tmp_path: Path, venue: Venue, seconds: float, fills: int, **command: float) -> int:
    """Set a fault for at least ``seconds`` and until two more fills were booked, then clear it."""
    venue.fault(**command)
    started = time.monotonic()
    try:
        _wait_more(tmp_path, "fills", fills + 1, 60, f"fills under the fault {command}")
        time.sleep(max(0.0, started + seconds - time.monotonic()))  # the fault's duration, not a wait
    finally:
        venue.fault(**dict.fromkeys(command, 0))
    return _count(tmp_path, "fills")


# --- 1. start-up refusals -------------------------------------------------------------------------


def test_live_mode_without_confirm_live_exits_2_and_says_to_confirm(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "start", "--mode", "live", "--duration", "5", env=_env())
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "confirm with --confirm-live" in output and "nothing was started" in output, output
    assert "Traceback" not in output
    assert "engine running" not in output
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize(
    "given",
    [(), ("BITGET_API_KEY",), ("BITGET_API_KEY", "BITGET_SECRET_KEY")],
    ids=["no-keys", "no-secret-no-passphrase", "no-passphrase"],
)
def test_live_mode_without_keys_exits_2_naming_the_missing_variables(tmp_path: Path, given: tuple[str, ...]) -> None:
    env = clean_env(**{name: KEYS[name] for name in given})
    result = run_cli(tmp_path, "start", "--mode", "live", "--confirm-live", "--duration", "5", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    for name in KEYS:
        assert (name in output) is (name not in given), (name, output)
    assert "Traceback" not in output
    assert "engine running" not in output
    assert not (tmp_path / "data").exists()
    for name in given:
        assert KEYS[name] not in output + _log(tmp_path)


def test_live_mode_on_the_embedded_venue_starts_reconciles_and_stops_cleanly(tmp_path: Path) -> None:
    args = ("start", "--venue", "sim", "--mode", "live", "--confirm-live", "--symbols", "all", "--duration", "5")
    result = run_cli(tmp_path, *args, env=_env(), timeout=180)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    log = _log(tmp_path)
    assert "starting: mode live, venue sim" in log
    assert "reconciling with the venue" in log
    assert "reconciled with the venue (start)" in log
    assert "engine running" in log and "engine stopped" in log
    assert log.index("reconciled with the venue (start)") < log.index("engine stopped")
    assert "Traceback" not in output + log
    for value in KEYS.values():
        assert value not in output + log
    assert not (tmp_path / "data" / "control.json").exists()
    assert "state consistent" in _audit(tmp_path)


# --- 2. a key that can withdraw -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorities", "refused"),
    [(("readonly", "trade", "withdraw"), True), (("readonly", "trade"), False)],
    ids=["can-withdraw", "trade-only"],
)
def test_a_key_that_can_withdraw_is_refused_before_anything_trades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, authorities: tuple[str, ...], refused: bool
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout is read
    key = SimKey(*(KEYS[name] for name in KEYS), authorities=authorities)
    feed = build_sim_feed(load_config(cli={"sim.symbols": 4, "sim.history_bars": 60}, env={}))
    server = BitgetSimServer(feed, key=key)
    server.start()
    try:
        cli = {
            "engine.venue": "bitget",
            "engine.mode": "live",
            "live.confirm": True,
            "bitget.rest_url": server.rest_url,
            "bitget.ws_public_url": server.ws_url,
            "bitget.ws_private_url": server.ws_private_url,
            "engine.data_dir": str(tmp_path / "data"),
            "engine.log_dir": str(tmp_path / "logs"),
        }
        config = load_config(cli=cli, env=KEYS)
        if refused:
            with pytest.raises(EngineStartError, match="withdraw") as caught:
                Engine(config)
            message = str(caught.value)
            assert "cannot be used for live trading" in message
            assert all(value not in message for value in KEYS.values())
        else:
            engine = Engine(config)
            assert engine.venue.account is not None
            engine.venue.stop()
        assert server.requests.get(c.ACCOUNT_INFO, 0) >= 1  # the key's rights were read ...
        for path in (c.PLACE_ORDER, c.SET_LEVERAGE, c.SET_MARGIN_MODE):  # ... and nothing was changed
            assert server.requests.get(path, 0) == 0, path
        assert not (tmp_path / "data").exists()
    finally:
        server.stop()


# --- 3. live trading through venue faults ---------------------------------------------------------


def test_live_trading_through_venue_faults_books_every_fill_exactly_once(
    tmp_path: Path,
    venue: Venue,
    engines,  # noqa: F811
) -> None:
    engine = _start_live(tmp_path, venue, engines)
    status = call(tmp_path / "data", "GET", "/status")
    assert (status["mode"], status["venue"]) == ("live", "bitget")
    fills = _wait_more(tmp_path, "fills", 4, 120, "the first live fills")

    # The WebSockets are cut: the private stream reconnects, logs in and re-syncs fills over REST.
    resyncs = _log(tmp_path).count("bitget private stream re-synced")
    assert venue.fault(drop_ws=True)["dropped"] >= 2  # public and private
    wait_for(lambda: _log(tmp_path).count("bitget private stream re-synced") > resyncs, 60, "a re-sync")
    fills = _wait_more(tmp_path, "fills", fills, 60, "fills after the reconnect")

    # Half the pushes arrive twice, then a fifth are preceded by a frame that is not JSON.
    fills = _for_a_while(tmp_path, venue, 4.0, fills, duplicate_rate=0.5)
    venue.fault(malformed_rate=0.2)  # kept until a garbled frame has reached the private stream too
    try:
        wait_for(lambda: "/v2/ws/private: malformed frame #1 skipped" in _log(tmp_path), 90, "a garbled private frame")
        fills = _wait_more(tmp_path, "fills", fills + 1, 60, "fills under malformed frames")
    finally:
        venue.fault(malformed_rate=0)

    # Silence, shorter than the stream's silence detection (60 s, which no setting shortens):
    # pushes made meanwhile are lost for good, and orders in flight are looked up instead.
    venue.fault(silent_s=3)
    time.sleep(3)  # the silence itself: nothing to poll for
    fills = _wait_more(tmp_path, "fills", fills, 60, "fills after the silence")

    # Counted REST faults hit the next requests, whichever they are; each must be used up.
    for fault in ("rest_5xx", "rest_429"):
        venue.fault(**{fault: 3})
        wait_for(lambda f=fault: venue.fault_state()[f] == 0, 60, f"the engine to run into {fault}")
    orders = _count(tmp_path, "orders")
    venue.fault(hold_after_accept=1, hold_s=2 * ENGINE_TIMEOUT_S)  # accepted, filled, never answered
    wait_for(lambda: venue.fault_state()["hold_after_accept"] == 0, 60, "an order accepted but never answered")
    orders = _wait_more(tmp_path, "orders", orders, 60, "an order after the held one")
    _for_a_while(tmp_path, venue, 3.0, fills, latency_ms=300)
    orders = _count(tmp_path, "orders")

    # Trading goes on after the faults, and the engine's view is the venue's.
    _wait_more(tmp_path, "orders", orders + 4, 90, "five more orders after the faults")
    _check_no_foreign_fill(tmp_path, venue)
    _wait_ledger_agrees(tmp_path, venue, 60)
    _wait_books_agree(tmp_path, venue, 60)

    engine.proc.send_signal(signal.SIGTERM)
    assert engine.wait_exit() == 0, engine.output()[-3000:]
    log = _log(tmp_path)
    assert "engine stopped" in log
    assert "stream lost" in log  # the drop was seen ...
    assert "Traceback" not in log + engine.output()  # ... and nothing crashed
    _check_no_foreign_fill(tmp_path, venue)
    _settle_and_check(tmp_path, venue, engines)


# --- 4. kill -9 of a live engine with open positions ----------------------------------------------

KILLS = 3


def test_kill_9_of_a_live_engine_then_restart_reconciles_positions_and_fills_with_the_venue(
    tmp_path: Path,
    venue: Venue,
    engines,  # noqa: F811
) -> None:
    rng = random.Random(20261122)
    slow_kill = rng.randrange(KILLS)  # this kill comes while every REST answer takes 0.6 s
    for n in range(KILLS + 1):
        engine = _start_live(tmp_path, venue, engines)
        if n:
            assert _corrections_at_start(engine.output()) == 0, engine.output()[-3000:]
            _wait_books_agree(tmp_path, venue, 60)
            _wait_ledger_agrees(tmp_path, venue, 60)
        if n == KILLS:
            break
        before = _count(tmp_path, "fills")
        wait_for(lambda b=before: _count(tmp_path, "fills") > b, 120, "new fills", interval=0.25)
        wait_for(lambda: len(_engine_positions(tmp_path)) > 0, 120, "an open position")
        if n == slow_kill:
            venue.fault(latency_ms=600)
        time.sleep(rng.uniform(0.0, 3.0))
        os.kill(engine.proc.pid, signal.SIGKILL)
        engine.proc.wait(30)
        venue.fault(latency_ms=0)
        _check_no_foreign_fill(tmp_path, venue)
        assert _audit_problems(tmp_path) == []

    engine.proc.send_signal(signal.SIGTERM)
    assert engine.wait_exit() == 0, engine.output()[-3000:]
    outputs = "".join(p.read_text(errors="replace") for p in tmp_path.glob("engine*.std*"))
    assert "Traceback" not in outputs + _log(tmp_path)
    _settle_and_check(tmp_path, venue, engines)
    assert _log(tmp_path).count("reconciled with the venue (start)") == KILLS + 2


# --- production bugs found by these tests -----------------------------------------------------------


def test_the_exit_of_a_position_built_from_several_fills_sends_its_whole_size() -> None:
    held = 0.0
    for part in (4.54, 2.56, 1.12):  # a market order filled at three book levels, as the venue does
        held += part
    exit_ = order_body("BCHUSDT", Side.SHORT, held, 0.01, "BCHUSDT-1-exit", reduce_only=True)
    assert exit_["size"] == "8.22"


def test_a_clean_stop_books_the_fill_of_an_order_sent_just_before_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    cli = {
        "engine.mode": "live",
        "live.confirm": True,
        "engine.venue": "sim",
        "engine.symbols": "BTCUSDT,ETHUSDT",
        "engine.data_dir": str(tmp_path / "data"),
        "engine.log_dir": str(tmp_path / "logs"),
        "sim.symbols": 4,
        "sim.history_bars": 300,
        "bitget.timeout_s": 10,
    }
    engine = Engine(load_config(cli=cli, env=KEYS))
    server = engine.venue.server
    assert server is not None

    def order(n: int, side: Side, qty: float, stop: float, reduce_only: bool) -> SubmitOrder:
        return SubmitOrder(f"BTCUSDT-{n}-test", "BTCUSDT", server.feed.market.now_ms, side, qty, stop, reduce_only,
                           "trend", "a test order")  # fmt: skip

    def precondition(check: Any, what: str) -> None:  # not the bug: fails the test outright
        try:
            wait_for(check, 30, what)
        except AssertionError as exc:
            pytest.fail(f"precondition: {exc}")

    def booked(client_oid: str) -> set[str]:
        return {str(r[0]) for r in _rows(tmp_path, f"SELECT fill_id FROM fills WHERE client_oid = '{client_oid}'")}

    try:
        engine.start()
        assert engine.ctx is not None
        precondition(lambda: server.exchange.mark("BTCUSDT") > 0, "a BTCUSDT book")
        instrument = engine.source.instrument("BTCUSDT")
        qty = max(instrument.min_qty, instrument.lot_size) * 2
        mark = server.exchange.mark("BTCUSDT")
        entry = order(1, Side.LONG, qty, mark * 0.9, False)  # sets BTCUSDT up, fills and is booked
        engine.ctx.router.tell_singleton(EXECUTION, entry)
        precondition(lambda: booked(entry.client_oid), "the entry to be booked")
        exit_ = order(2, Side.SHORT, qty, mark * 0.9, True)
        server.faults.update({"latency_ms": 3000})  # the venue takes 3 s to take the exit ...
        placed = server.requests.get(c.PLACE_ORDER, 0)
        engine.ctx.router.tell_singleton(EXECUTION, exit_)
        precondition(lambda: server.requests.get(c.PLACE_ORDER, 0) > placed, "the exit to reach the venue")
    finally:
        engine.stop()  # ... and the stop begins while it is on its way
    made = {f.trade_id for f in server.exchange.fills() if f.order.client_oid == exit_.client_oid}
    status = _rows(tmp_path, f"SELECT status FROM orders WHERE client_oid = '{exit_.client_oid}'")
    if not made or not status:
        pytest.fail(f"precondition: the venue filled the exit ({sorted(made)}) and the store recorded it ({status})")
    assert booked(exit_.client_oid) == made, f"exit {status}: venue fills {sorted(made)} not booked"
