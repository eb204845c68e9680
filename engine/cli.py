"""The ``engine`` command: start the engine, and talk to a running one.

Exit codes: 0 done; 1 the engine failed or could not be reached; 2 bad usage or configuration
(one line naming the key, the value and what is allowed; never a traceback).
"""

from __future__ import annotations

import signal
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
import orjson

from engine.config import Config, ConfigError, load_config
from engine.control.client import ControlError, call
from engine.control.endpoint import EngineNotRunning

if TYPE_CHECKING:
    from engine.store.sqlite_store import StateStore

USAGE_ERROR = 2


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load(config_file: Path | None, cli: dict[str, Any]) -> Config:
    try:
        return load_config(cli={k: v for k, v in cli.items() if v is not None}, config_file=config_file)
    except ConfigError as exc:
        _fail(str(exc), USAGE_ERROR)


def _overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or "." not in key:
            _fail(
                f"--set expects SECTION.KEY=VALUE, e.g. --set risk.risk_per_trade_pct=0.005; got {pair!r}", USAGE_ERROR
            )
        out[key.strip()] = value.strip()
    return out


config_option = click.option(
    "--config", "config_file", type=click.Path(path_type=Path), help="A TOML file overriding the shipped defaults."
)
data_dir_option = click.option(
    "--data-dir", type=click.Path(path_type=Path), help="The engine's data folder (default: engine.data_dir)."
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Actor-based engine for USDT-margined crypto perpetual futures."""


@main.command()
@click.option("--symbols", help='"all" (every listed symbol above min_volume_24h_usdt) or A,B,C.')
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), help="Stop after this many seconds.")
@click.option("--mode", type=click.Choice(["paper", "live", "backtest"]), help="Trading mode (default paper).")
@click.option("--venue", help="Venue (default sim, the built-in simulated market).")
@data_dir_option
@click.option("--log-dir", type=click.Path(path_type=Path), help="Where logs and journals go (default logs).")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE", help="Override any setting.")
@click.option("--confirm-live", is_flag=True, help="Confirm that live mode may send real orders (live.confirm).")
@click.option(
    "--start-flat",
    is_flag=True,
    help="If the state database is damaged or missing, move it aside and start with no positions.",
)
@config_option
def start(
    symbols: str | None,
    duration: float | None,
    mode: str | None,
    venue: str | None,
    data_dir: Path | None,
    log_dir: Path | None,
    settings: tuple[str, ...],
    confirm_live: bool,
    start_flat: bool,
    config_file: Path | None,
) -> None:
    """Run the engine until Ctrl-C, SIGTERM or --duration."""
    cli = _overrides(settings) | {
        "live.confirm": True if confirm_live else None,
        "engine.symbols": symbols,
        "engine.mode": mode,
        "engine.venue": venue,
        "engine.data_dir": str(data_dir) if data_dir else None,
        "engine.log_dir": str(log_dir) if log_dir else None,
    }
    config = _load(config_file, cli)
    from engine.runner import run

    sys.exit(run(config, duration, start_flat))


def _config_and_folder(data_dir: Path | None, config_file: Path | None) -> tuple[Config, Path]:
    config = _load(config_file, {})
    return config, data_dir if data_dir is not None else Path(config.engine.data_dir)


def _open_store(folder: Path) -> StateStore:
    """The state database of ``folder``, opened for reading; a missing or unusable one is one line."""
    from engine.app import DB_FILE
    from engine.store.sqlite_store import StateStore, StoreError

    path = folder / DB_FILE
    if not path.exists():
        _fail(f"no state database at {path}")
    try:
        return StateStore(path)
    except StoreError as exc:
        _fail(str(exc))


def _data_dir(data_dir: Path | None, config_file: Path | None) -> Path:
    return data_dir if data_dir is not None else Path(_load(config_file, {}).engine.data_dir)


def _call(data_dir: Path, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    try:
        return call(data_dir, method, path, body)
    except (EngineNotRunning, ControlError) as exc:
        _fail(str(exc))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print the full status as JSON.")
@data_dir_option
@config_option
def status(as_json: bool, data_dir: Path | None, config_file: Path | None) -> None:
    """Show the running engine's state: trading state, equity, positions, symbols, runtime."""
    from engine.status_view import render

    payload = _call(_data_dir(data_dir, config_file), "GET", "/status")
    click.echo(orjson.dumps(payload, option=orjson.OPT_INDENT_2).decode() if as_json else render(payload))


@main.group()
def symbols() -> None:
    """List, add or remove the running engine's symbols."""


@symbols.command("list")
@data_dir_option
@config_option
def list_symbols(data_dir: Path | None, config_file: Path | None) -> None:
    """Print the symbols being traded, then any quarantined ones."""
    payload = _call(_data_dir(data_dir, config_file), "GET", "/symbols")
    for symbol in payload["symbols"]:
        click.echo(symbol)
    for entry in payload["quarantined"]:
        click.echo(f"{entry['symbol']} (quarantined: {entry['error']})")
    click.echo(f"{len(payload['symbols'])} symbols, {len(payload['quarantined'])} quarantined", err=True)


@symbols.command("add")
@click.argument("symbol")
@data_dir_option
@config_option
def add_symbol(symbol: str, data_dir: Path | None, config_file: Path | None) -> None:
    """Subscribe SYMBOL, backfill its history, warm up, then trade it."""
    click.echo(_call(_data_dir(data_dir, config_file), "POST", "/symbols/add", {"symbol": symbol})["message"])


@symbols.command("remove")
@click.argument("symbol")
@click.option(
    "--keep-position",
    is_flag=True,
    help="Keep SYMBOL's open position instead of closing it (its stop is no longer watched until it is added back).",
)
@data_dir_option
@config_option
def remove_symbol(symbol: str, keep_position: bool, data_dir: Path | None, config_file: Path | None) -> None:
    """Stop trading SYMBOL: close its position (unless --keep-position), stop its actors, unsubscribe."""
    body = {"symbol": symbol, "close_positions": not keep_position}
    click.echo(_call(_data_dir(data_dir, config_file), "POST", "/symbols/remove", body)["message"])


def _trading(state: str, reason: str, data_dir: Path | None, config_file: Path | None) -> None:
    result = _call(_data_dir(data_dir, config_file), "POST", "/trading", {"state": state, "reason": reason})
    click.echo(f"trading state {result['state']}" + (f" ({result['reason']})" if result["reason"] else ""))


@main.command()
@click.option("--reason", default="halted by the operator", show_default=True, help="Why, for the log and status.")
@data_dir_option
@config_option
def halt(reason: str, data_dir: Path | None, config_file: Path | None) -> None:
    """Stop new entries; open positions keep their stops and targets."""
    _trading("HALTED", reason, data_dir, config_file)


@main.command()
@click.option("--reason", default="reducing by the operator", show_default=True, help="Why, for the log and status.")
@data_dir_option
@config_option
def reduce(reason: str, data_dir: Path | None, config_file: Path | None) -> None:
    """Exits only: close every open position and open no new one."""
    _trading("REDUCING", reason, data_dir, config_file)


@main.command()
@data_dir_option
@config_option
def resume(data_dir: Path | None, config_file: Path | None) -> None:
    """Allow new entries again (a limit still breached halts again at once; a drawdown halt re-bases the peak)."""
    _trading("ACTIVE", "", data_dir, config_file)


@main.command()
@data_dir_option
@config_option
def audit(data_dir: Path | None, config_file: Path | None) -> None:
    """Check the state database against its own ledger of fills (safe while the engine runs)."""
    from engine.store.audit import audit as run_audit

    config, folder = _config_and_folder(data_dir, config_file)
    store = _open_store(folder)
    try:
        report = run_audit(store, config.risk.starting_equity_usdt)
    finally:
        store.close()
    click.echo(
        f"{report.fills} fills ({report.unbooked_fills} not booked yet), {report.trades} trades, "
        f"{report.positions} open positions, {report.equity_samples} equity samples"
    )
    for problem in report.problems:
        click.echo(f"PROBLEM: {problem}")
    if report.problems:
        sys.exit(1)
    click.echo("state consistent: positions equal their fills, each fill booked once, no trade lost")


@main.command()
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: LOG_DIR/report-<UTC time>).")
@data_dir_option
@config_option
def report(out: Path | None, data_dir: Path | None, config_file: Path | None) -> None:
    """Metrics, journals and report.html of a paper or live run, from its state database.

    Safe while the engine runs (the database is only read). Writes backtest_trades.csv, metrics.csv,
    equity_curve.csv and report.html, the same files a backtest writes, and prints the summary.
    """
    import time

    from engine.backtest.metrics import compute
    from engine.backtest.report import fingerprint, summary_table, write_run
    from engine.store.sqlite_store import StoreError

    config, folder = _config_and_folder(data_dir, config_file)
    store = _open_store(folder)
    try:
        trades, samples, funding = store.trades(), store.equity_samples(), store.funding()
    except StoreError as exc:
        _fail(str(exc))
    finally:
        store.close()
    path = store.path
    try:
        metrics = compute(
            trades, samples, start_equity=config.risk.starting_equity_usdt, funding=sum(p.amount for p in funding)
        )
    except ValueError as exc:
        _fail(f"{path}: the run's records cannot be measured: {exc}")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target = out if out is not None else Path(config.engine.log_dir) / f"report-{stamp}"
    mark = fingerprint(trades)
    written = write_run(target, trades, samples, metrics, title=f"run in {folder.resolve()}", fingerprint=mark)
    click.echo(summary_table(metrics))
    click.echo(f"fingerprint {mark} ({len(trades)} trades)")
    click.echo(f"written: {written['report']} and its CSVs in {target}")


_DATES = click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"])


def _utc_ms(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.replace(tzinfo=UTC).timestamp() * 1000)


@main.command()
@click.option("--symbol", help="One symbol, e.g. BTCUSDT.")
@click.option("--symbols", help="A,B,C: a portfolio run, with the scanner, risk gate and correlation block in force.")
@click.option("--data", type=click.Path(path_type=Path), help="A CSV/Feather/Parquet file or a folder of them.")
@click.option("--source", type=click.Choice(["sim"]), help="sim: the simulated market instead of files.")
@click.option("--timeframe", help="Bar size the strategies run on (default strategy.timeframe): 1m, 5m, 15m, 1h.")
@click.option("--strategy", type=click.Choice(["regime", "long_dip"]), help="Strategy mode (default strategy.mode).")
@click.option("--from", "start", type=_DATES, help="First bar traded (UTC); earlier bars only warm the indicators.")
@click.option("--to", "end", type=_DATES, help="Bars opening before this time (UTC) are used.")
@click.option("--fee", type=click.FloatRange(min=0), help="Taker fee per fill, fraction (default paper.taker_fee).")
@click.option("--spread-bps", type=click.FloatRange(min=0), default=2.0, show_default=True,
              help="Bid-ask spread; each fill pays half of it.")  # fmt: skip
@click.option(
    "--slippage-bps", type=click.FloatRange(min=0), help="Beyond half the spread (default paper.slippage_bps)."
)
@click.option("--funding-rate", type=float, default=0.0001, show_default=True,
              help="Per 8 hours, where the data has no funding rates.")  # fmt: skip
@click.option("--sim-days", type=click.FloatRange(min=0, min_open=True), default=7.0, show_default=True,
              help="--source sim: days of 1m bars to generate.")  # fmt: skip
@click.option("--out", type=click.Path(path_type=Path), help="Run folder (default: LOG_DIR/backtest-<UTC time>).")
@click.option("--parity", is_flag=True,
              help="Also replay through the engine's actors and check they make the same trades (slow).")  # fmt: skip
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE", help="Override any setting.")
@config_option
def backtest(
    symbol: str | None, symbols: str | None, data: Path | None, source: str | None, timeframe: str | None,
    strategy: str | None, start: datetime | None, end: datetime | None, fee: float | None, spread_bps: float,
    slippage_bps: float | None, funding_rate: float, sim_days: float, out: Path | None, parity: bool,
    settings: tuple[str, ...], config_file: Path | None,
) -> None:  # fmt: skip
    """Test a strategy on history with the live engine's own decisions and honest costs.

    Writes backtest_trades.csv, metrics.csv, equity_curve.csv and report.html into the run folder
    and prints the summary and the run's fingerprint (a hash of every closed trade).
    """
    import time

    from loguru import logger

    from engine.backtest import command
    from engine.backtest.data import DataError
    from engine.backtest.driver import BacktestError, Costs

    flags = {"strategy.timeframe": timeframe, "strategy.mode": strategy}
    config = _load(config_file, _overrides(settings) | {k: v for k, v in flags.items() if v is not None})
    logger.remove()  # the summary tells the story; the actors of --parity log only what went wrong
    logger.add(sys.stderr, level="WARNING")
    if data is not None and source is not None:
        _fail("pass --data PATH or --source sim, not both", USAGE_ERROR)
    if start is not None and end is not None and end <= start:
        _fail(f"--to {end:%Y-%m-%d %H:%M} is not after --from {start:%Y-%m-%d %H:%M}", USAGE_ERROR)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    try:
        request = command.Request(
            symbols=command.parse_symbols(symbol, symbols),
            data=data,
            source=source,
            start_ms=_utc_ms(start),
            end_ms=_utc_ms(end),
            costs=Costs(
                config.paper.taker_fee if fee is None else fee,
                spread_bps,
                config.paper.slippage_bps if slippage_bps is None else slippage_bps,
                funding_rate,
            ),
            out=out if out is not None else Path(config.engine.log_dir) / f"backtest-{stamp}",
            sim_days=sim_days,
            parity=parity,
        )
        click.echo(f"loading {', '.join(request.symbols[:8])}{' ...' if len(request.symbols) > 8 else ''}", err=True)
        series = command.load_series(request, config)
        total = sum(len(s.candles) for s in series)
        with click.progressbar(length=total, label="backtest", file=sys.stderr) as bar:
            outcome = command.run(request, config, series, lambda done: bar.update(done - bar.pos))
    except (DataError, BacktestError) as exc:
        _fail(str(exc), USAGE_ERROR)
    for line in command.summary(outcome):
        click.echo(line)
    if outcome.replayed is not None and outcome.replayed != outcome.fingerprint:
        sys.exit(1)


@main.command("config")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE", help="Override any setting.")
@config_option
def show_config(settings: tuple[str, ...], config_file: Path | None) -> None:
    """Print every setting with the value the engine would use (secrets hidden)."""
    config = _load(config_file, _overrides(settings))
    for key, value in config.as_table():
        click.echo(f"{key} = {value!r}")


@main.group()
def data() -> None:
    """Market history for backtests."""


@data.command("download")
@click.option("--symbols", required=True, help="A,B,C: the symbols to download.")
@click.option("--timeframe", default="1m", show_default=True, help="Candle size: 1m, 5m, 15m, 1h, 4h, ...")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=30.0, show_default=True,
              help="How far back from now.")  # fmt: skip
@click.option("--venue", type=click.Choice(["bitget", "sim"]), default="bitget", show_default=True,
              help="bitget (bitget.rest_url) or the simulated exchange, started for the download.")  # fmt: skip
@data_dir_option
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE", help="Override any setting.")
@config_option
def data_download(
    symbols: str, timeframe: str, days: float, venue: str, data_dir: Path | None, settings: tuple[str, ...],
    config_file: Path | None,
) -> None:  # fmt: skip
    """Download candles into DATA_DIR/history/VENUE/SYMBOL-TIMEFRAME.csv, resuming what is there.

    Closed candles only; an interrupted download keeps every complete page and the next run goes on
    from the last one. `engine backtest --data` and `engine.backtest.data.load` read these files.
    """
    from adapters.bitget.rest import BitgetRest
    from engine.backtest.download import DownloadError, download, history_path

    config = _load(config_file, _overrides(settings))
    folder = data_dir if data_dir is not None else Path(config.engine.data_dir)
    wanted = [s.strip().upper() for s in symbols.split(",") if s.strip()]
    server = None
    if venue == "sim":
        from adapters.sim.bitget_server import BitgetSimServer
        from engine.app import build_sim_feed

        server = BitgetSimServer(build_sim_feed(config))
        server.start()
    rest = BitgetRest(server.rest_url if server is not None else config.bitget.rest_url)
    failed = 0
    try:
        for symbol in wanted:
            try:
                dest = history_path(folder, venue, symbol, timeframe)
                with click.progressbar(length=1, label=f"{symbol} {timeframe}", file=sys.stderr) as bar:

                    def show(done: int, total: int, bar: Any = bar) -> None:
                        bar.length = max(total, 1)
                        bar.update(done - bar.pos)

                    result = download(rest, symbol, timeframe, days, dest, progress=show)
            except (DownloadError, ValueError) as exc:
                failed += 1
                click.echo(f"error: {symbol}: {exc}", err=True)
                continue
            note = ""
            if result.first_ts is not None and result.first_ts > result.start_ms:
                note = " (the venue's history starts later than asked)"
            click.echo(
                f"{symbol} {timeframe}: +{result.added} candles, {result.total} in {result.path} "
                f"({result.requests} requests){note}"
            )
    finally:
        if server is not None:
            server.stop()
    if failed:
        _fail(f"{failed} of {len(wanted)} downloads failed")


@main.group()
def sim() -> None:
    """The simulated market as a standalone venue."""


@sim.command("serve")
@click.option("--port", "--rest-port", "rest_port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="REST port; 0 picks a free one.")  # fmt: skip
@click.option("--ws-port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 picks a free port.")
@click.option("--set", "settings", multiple=True, metavar="SECTION.KEY=VALUE", help="Override any setting (sim.*).")
@config_option
def sim_serve(rest_port: int, ws_port: int, settings: tuple[str, ...], config_file: Path | None) -> None:
    """Serve the simulated exchange over Bitget's v2 REST and WebSocket protocol on 127.0.0.1 until Ctrl-C.

    Its account's API key is BITGET_API_KEY / BITGET_SECRET_KEY / BITGET_PASSPHRASE from the
    environment, or a new one printed here. Point an engine at it with --venue bitget --set
    bitget.rest_url=... --set bitget.ws_public_url=... --set bitget.ws_private_url=...
    """
    import secrets
    import threading

    from adapters.sim.bitget_server import BitgetSimServer
    from adapters.sim.signature_check import SimKey
    from engine.app import build_sim_feed

    config = _load(config_file, _overrides(settings))
    given = config.secrets
    key = SimKey(
        given.api_key or f"sim-{secrets.token_hex(8)}",
        given.secret_key or secrets.token_hex(16),
        given.passphrase or secrets.token_hex(6),
    )
    server = BitgetSimServer(build_sim_feed(config), rest_port=rest_port, ws_port=ws_port, key=key)
    try:
        server.start()
    except (OSError, RuntimeError) as exc:
        _fail(f"cannot serve the simulated venue: {exc}")
    click.echo(f"REST {server.rest_url}")
    click.echo(f"WebSocket {server.ws_url}")
    click.echo(f"WebSocket-private {server.ws_private_url}")
    if not given.api_key:
        click.echo(f"BITGET_API_KEY={key.api_key}")
        click.echo(f"BITGET_SECRET_KEY={key.secret_key}")
        click.echo(f"BITGET_PASSPHRASE={key.passphrase}")
    sys.stdout.flush()
    stopped = threading.Event()
    install_stop_handlers(stopped.set)
    stopped.wait()
    server.stop()


def install_stop_handlers(stop: Any) -> None:
    """Ctrl-C and SIGTERM ask the engine to stop cleanly instead of killing it mid-write."""

    def handler(signum: int, _frame: Any) -> None:
        stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


if __name__ == "__main__":
    main()
