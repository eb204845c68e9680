"""``engine backtest``: history in, the run's files and summary out.

Data comes from one of three places, in this order: ``--data PATH`` (a file or folder of OHLCV
that ``data.load`` reads), ``--source sim`` (the simulated market, generated for the run), or the
history ``engine data download`` left in ``DATA_DIR/history/<venue>/``. Funding comes from the
data folder's funding files where it has them, else from ``--funding-rate``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.backtest.data import Candles, DataError, load, load_funding, parse_timeframe
from engine.backtest.download import history_path
from engine.backtest.driver import Backtest, BacktestError, Costs, FloatArray, IntArray, Result, Series
from engine.backtest.metrics import Metrics, compute
from engine.backtest.report import fingerprint, summary_table, write_run
from engine.config import Config

MINUTE_MS = 60_000
SIM = "sim"


@dataclass(frozen=True, slots=True)
class Request:
    """What the user asked for on the command line."""

    symbols: tuple[str, ...]
    data: Path | None
    source: str | None
    start_ms: int | None
    end_ms: int | None
    costs: Costs
    out: Path
    sim_days: float = 7.0
    parity: bool = False


@dataclass(slots=True)
class Outcome:
    result: Result
    metrics: Metrics
    fingerprint: str
    files: dict[str, Path]
    seconds: float
    replayed: str | None = None
    """The fingerprint of the actors' replay, when ``--parity`` asked for one."""


def load_series(request: Request, config: Config) -> list[Series]:
    """Each symbol's bars on the strategy's timeframe, from ``start_ms`` minus the warm-up (so
    the indicators are warm when trading starts) to ``end_ms``."""
    timeframe = config.strategy.timeframe
    interval = parse_timeframe(timeframe)
    first = None if request.start_ms is None else request.start_ms - config.strategy.warmup_bars * interval
    if request.source == SIM:
        return _simulated(request, config, first)
    series = []
    for symbol in request.symbols:
        path = request.data if request.data is not None else _downloaded(config, symbol)
        candles = load(path, symbol, timeframe).between(first, request.end_ms)
        if len(candles) == 0:
            raise DataError(f"{path}: no {symbol} bars between the dates asked for")
        series.append(Series(candles, _funding(path, symbol)))
    return series


def _downloaded(config: Config, symbol: str) -> Path:
    venue = "bitget" if config.engine.venue == SIM else config.engine.venue
    path = history_path(Path(config.engine.data_dir), venue, symbol, "1m")
    if not path.exists():
        raise DataError(
            f"no data for {symbol}: pass --data PATH or --source sim, or download it first with "
            f"'engine data download --symbols {symbol}' (looked for {path})"
        )
    return path


def _funding(path: Path, symbol: str) -> tuple[IntArray, FloatArray] | None:
    """The folder's funding settlements of ``symbol``, or None (the configured rate applies)."""
    if not path.is_dir():
        return None
    try:
        return load_funding(path, symbol)
    except DataError:
        return None


def _simulated(request: Request, config: Config, first: int | None) -> list[Series]:
    from adapters.sim.market import SimConfig, SimMarket

    bars = max(1, math.ceil(request.sim_days * 1440))
    wanted = request.symbols
    market = SimMarket(SimConfig(symbols=config.sim.symbols, seed=config.sim.seed, history_bars=bars))
    listed = market.listed()
    if wanted == ("ALL",):
        wanted = tuple(market.universe())
    unknown = [s for s in wanted if s not in set(listed)]
    if unknown:
        raise DataError(
            f"not in the simulated market: {', '.join(unknown)} (it lists {len(listed)} symbols, "
            f"e.g. {', '.join(listed[:5])}; sim.symbols sets how many)"
        )
    interval = parse_timeframe(config.strategy.timeframe)
    series = []
    for symbol in wanted:
        ts, ohlcv = market.history(symbol)
        candles = Candles(symbol, MINUTE_MS, ts, *(ohlcv[:, k] for k in range(5))).resample(interval)
        instrument = market.instrument(symbol)
        constant = (np.zeros(1, np.int64), np.array([instrument.funding_rate]))  # the listing's rate, always
        window = candles.between(first, request.end_ms)
        if len(window) == 0:
            raise DataError(f"the simulated market has no {symbol} bars between the dates asked for ({candles})")
        series.append(Series(window, constant, lot_size=instrument.lot_size))
    return series


def run(
    request: Request, config: Config, series: Sequence[Series], progress: Callable[[int], None] | None = None
) -> Outcome:
    """Run the backtest on ``series`` (from ``load_series``) and write its files into ``request.out``."""
    started = time.perf_counter()
    result = Backtest(config, request.costs).run(series, request.start_ms, progress)
    seconds = time.perf_counter() - started
    metrics = compute(
        result.trades,
        (result.equity_ts, result.equity),
        start_equity=result.start_equity,
        fees=result.fees,
        slippage=result.spread_cost + result.slippage,
        funding=result.funding,
    )
    mark = fingerprint(result.trades)
    replayed = None
    if request.parity:
        from engine.backtest.replay import ActorReplay

        replayed = fingerprint(ActorReplay(config, request.costs).run(series, request.start_ms))
    title = f"backtest {', '.join(s.candles.symbol for s in series[:5])}{' ...' if len(series) > 5 else ''}"
    files = write_run(request.out, result.trades, (result.equity_ts, result.equity), metrics, title=title,
                      fingerprint=mark)  # fmt: skip
    return Outcome(result, metrics, mark, files, seconds, replayed)


def summary(outcome: Outcome) -> list[str]:
    """The lines printed at the end of a run: metrics, costs, refusals, halts, and where the files are."""
    r = outcome.result
    lines = [summary_table(outcome.metrics)]
    lines.append(
        f"costs: fees {r.fees:.2f}, half spread {r.spread_cost:.2f}, slippage {r.slippage:.2f}, "
        f"funding {r.funding:+.2f} USDT (received; negative = paid)"
    )
    if r.denials:
        shown = ", ".join(f"{code} {n}" for code, n in sorted(r.denials.items(), key=lambda kv: -kv[1]))
        lines.append(f"entries refused by risk: {shown}")
    for change in r.state_changes[:10]:
        lines.append(change)
    if len(r.state_changes) > 10:
        lines.append(f"... and {len(r.state_changes) - 10} more trading-state changes")
    if r.open_positions:
        held = ", ".join(f"{p.symbol} {p.side.value} {p.qty:.6g}" for p in r.open_positions)
        lines.append(f"still open at the end (marked at the last close, in the equity): {held}")
    rate = r.bars / outcome.seconds if outcome.seconds > 0 else math.inf
    lines.append(f"{r.bars:,} bars in {outcome.seconds:.1f}s ({rate:,.0f} bars/s)")
    lines.append(f"fingerprint {outcome.fingerprint} ({len(r.trades)} trades)")
    if outcome.replayed is not None:
        same = outcome.replayed == outcome.fingerprint
        verdict = "the same trades" if same else "DIFFERENT trades: please report this with the data and settings"
        lines.append(f"parity: the actors' replay gave {verdict} (fingerprint {outcome.replayed})")
    lines.append(f"written: {outcome.files['report']} and its CSVs in {outcome.files['report'].parent}")
    return lines


def parse_symbols(symbol: str | None, symbols: str | None) -> tuple[str, ...]:
    """``--symbol X`` or ``--symbols A,B,C`` (or ``all`` with ``--source sim``), upper-cased."""
    if (symbol is None) == (symbols is None):
        raise BacktestError("pass exactly one of --symbol X or --symbols A,B,C")
    text = symbol if symbol is not None else symbols
    assert text is not None
    names = tuple(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    if not names:
        raise BacktestError("no symbol given")
    return names
