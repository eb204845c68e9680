"""The fast backtest: the live engine's pure cores driven in one thread on event time.

The same objects the actors hold make every decision here: ``FeatureEngine`` and
``SignalEngine`` per symbol, the Scanner's ``score``, ``ReturnWindows`` for correlations,
``RiskGate`` (sizing, heat, limits, kill-switches, correlation blocks, loss halts),
``PaperFillModel`` and ``Portfolio``. Only the clock and the quotes come from the bars.

One step per bar close ``T`` of the primary timeframe, all symbols together:

1. Funding due up to ``T`` is settled on the open positions (``Portfolio.settle_funding``).
2. For each symbol with a bar closing at ``T``, in name order:
   a. an open position meets its stop or target inside the bar by the pessimistic rule of
      ``intrabar`` (stop first); the exit fills at that level, mid-bar;
   b. the position is marked at the close, which also feeds Risk's kill-switches;
   c. the bar goes through features and the strategy; an intent goes through Risk and fills at the
      next bar's open (the first price after the decision), or at the close on the last bar.
3. Risk sees the portfolio at ``T`` (daily loss, drawdown); the Scanner ranks every symbol on its
   newest bar, and the top ``engine.top_n_symbols`` may enter from the next bar on; the correlation
   matrix is recomputed every ``engine.correlation_interval_s`` of event time.

Every fill is the paper model's: half the spread (``spread_bps``) and ``slippage_bps`` against the
order, and the taker fee on the notional (every order the engine sends is a market order, so no
fill earns a maker fee). Funding is charged at each 8-hour boundary at the rate of the data, or a
configured rate where the data has none.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from adapters.paper.fill_model import PaperFillModel
from engine.backtest.data import Candles
from engine.backtest.intrabar import exit_in_bar
from engine.config import Config
from engine.core.correlation import ReturnWindows
from engine.core.features import FeatureEngine
from engine.core.portfolio import Portfolio, position_changed
from engine.core.risk import Approved, RiskGate, entry_orders
from engine.core.scanner import ScanWeights, score
from engine.core.signal import SignalEngine
from engine.messages import (
    BarClosed,
    EnterPosition,
    ExitPosition,
    FeaturesUpdated,
    MoveStop,
    OrderFilled,
    PortfolioUpdated,
    PositionView,
    Quote,
    SubmitOrder,
    TradeClosed,
)
from engine.strategy_plan import CROSS_SECTIONAL, build_strategy, feature_settings, risk_limits, timeframes_of
from engine.timeframes import interval_ms

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Progress = Callable[[int], None]
PROGRESS_EVERY = 20_000


class BacktestError(ValueError):
    """A backtest that cannot run as asked (wrong timeframe, unsupported strategy, no data)."""


@dataclass(frozen=True, slots=True)
class Costs:
    """What trading costs in a backtest, as fractions and basis points of the mid."""

    taker_fee: float = 0.0006
    spread_bps: float = 2.0
    slippage_bps: float = 2.0
    funding_rate: float = 0.0001

    def __post_init__(self) -> None:
        if min(self.taker_fee, self.spread_bps, self.slippage_bps) < 0.0 or not math.isfinite(self.funding_rate):
            raise BacktestError(f"costs must not be negative (funding may be, but finite): {self}")


@dataclass(frozen=True, slots=True)
class Series:
    """One symbol's history on the primary timeframe, its funding settlements if known, and its lot."""

    candles: Candles
    funding: tuple[IntArray, FloatArray] | None = None
    lot_size: float = 0.0


@dataclass(slots=True)
class Result:
    """Everything a run produced, for the metrics, the report and the parity check."""

    trades: list[TradeClosed]
    fills: list[OrderFilled]
    equity_ts: IntArray
    equity: FloatArray
    start_equity: float
    fees: float
    spread_cost: float
    slippage: float
    funding: float
    bars: int
    open_positions: tuple[PositionView, ...]
    denials: dict[str, int]
    state_changes: list[str] = field(default_factory=list)


class _Symbol:
    """One symbol's cores and its bars as plain lists (indexing numpy per bar is slow)."""

    __slots__ = (
        "c",
        "extra",
        "features",
        "first",
        "funding",
        "h",
        "interval",
        "l",
        "lot",
        "name",
        "o",
        "signal",
        "ts",
        "v",
    )

    def __init__(self, series: Series, config: Config) -> None:
        candles = series.candles
        self.name = candles.symbol
        self.interval = candles.interval_ms
        intervals = timeframes_of(config, self.name)
        self.features = FeatureEngine(self.name, feature_settings(config), intervals)
        self.signal = SignalEngine(self.name, build_strategy(config, self.name))
        self.funding = series.funding
        self.lot = series.lot_size
        self.ts: list[int] = candles.ts.tolist()
        self.o: list[float] = candles.open.tolist()
        self.h: list[float] = candles.high.tolist()
        self.l: list[float] = candles.low.tolist()
        self.c: list[float] = candles.close.tolist()
        self.v: list[float] = candles.volume.tolist()
        self.first = 0
        self.extra: dict[int, BarClosed] = {}
        for interval in intervals[1:]:
            for bar in candles.resample(interval).bars():
                self.extra[bar.ts] = bar

    def warm_up(self, start_ms: int, windows: ReturnWindows) -> int:
        """Backfill the bars opening before ``start_ms`` (each timeframe, the primary first) into
        the features and the correlation windows, as the engine does before streaming; returns
        how many primary bars that was. Trading starts at ``self.first``."""
        self.first = first = bisect.bisect_left(self.ts, start_ms)
        bars = [self.bar(i) for i in range(first)]
        self.features.backfill(bars)
        self.features.backfill(bar for _, bar in sorted(self.extra.items()) if bar.ts <= start_ms)
        for bar in bars:
            windows.on_bar(self.name, bar.ts, bar.close)
        return first

    def bar(self, i: int) -> BarClosed:
        return BarClosed(self.name, self.interval, self.ts[i], self.o[i], self.h[i], self.l[i], self.c[i], self.v[i])


def funding_at(funding: tuple[IntArray, FloatArray] | None, ts: int, default: float) -> float:
    """The rate settled at the first boundary at or after ``ts`` (the last one known past the data;
    ``default`` without any)."""
    if funding is None or not len(funding[0]):
        return default
    times, rates = funding
    if len(times) == 1:
        return float(rates[0])
    return float(rates[min(int(np.searchsorted(times, ts, side="left")), len(times) - 1)])


def quote_at(symbol: str, price: float, ts: int, half_spread: float, funding_rate: float) -> Quote:
    """A quote around ``price``: the bid and the ask ``half_spread`` (a fraction) either side of it."""
    half = price * half_spread
    return Quote(symbol, ts, price - half, price + half, price, funding_rate=funding_rate)


class Backtest:
    """One run over a set of symbols; ``run`` may be called once."""

    def __init__(self, config: Config, costs: Costs | None = None) -> None:
        costs = costs if costs is not None else Costs()
        self.config = config
        self.costs = costs
        self.interval = interval_ms(config.strategy.timeframe)
        self.gate = RiskGate(risk_limits(config))
        self.model = PaperFillModel(costs.taker_fee, costs.slippage_bps)
        self.portfolio = Portfolio(config.risk.starting_equity_usdt)
        self.windows = ReturnWindows(config.engine.correlation_window)
        sc = config.scanner
        self.weights = ScanWeights(sc.weight_trend, sc.weight_atr_expansion, sc.weight_momentum, sc.weight_volume)
        self.latest: dict[str, FeaturesUpdated] = {}
        self.fills: list[OrderFilled] = []
        self.trades: list[TradeClosed] = []
        self.state_changes: list[str] = []
        self.spread_cost = 0.0
        self.slippage = 0.0
        self._symbols: dict[str, _Symbol] = {}
        self._queue: deque[tuple[Callable[[Any], None], Any]] = deque()
        self._fill_at: dict[str, float] = {}
        self._mark_at: dict[str, float] = {}
        self._quoted_at: dict[str, int] = {}
        self._costs: dict[str, tuple[float, float]] = {}
        self._last_ts = 0
        self._half_spread = costs.spread_bps / 20_000.0

    # --- the run ---------------------------------------------------------------------------------

    def run(self, series: Sequence[Series], start_ms: int | None = None, progress: Progress | None = None) -> Result:
        """Replay ``series`` on event time; bars opening before ``start_ms`` only warm the features
        and the correlations (the live engine's backfill), and trade nothing."""
        symbols = self._prepare(series)
        first = -1 if start_ms is None else start_ms
        warm = 0
        for sym in symbols:
            warm += sym.warm_up(first, self.windows)
        order = event_order([x.ts[x.first :] for x in symbols], [x.first for x in symbols], self.interval)
        steps = np.unique(order[0])
        equity_ts = np.empty(steps.size, np.int64)
        equity = np.empty(steps.size, np.float64)
        clock = int(steps[0]) - self.interval if steps.size else 0
        self._publish(clock)  # Portfolio's first snapshot, as on the actors' start
        self._recompute_correlation()  # once the backfill is in, as the engine does on start
        corr_every = self.config.engine.correlation_interval_s * 1000
        next_corr = clock - clock % corr_every + corr_every
        top_n = self.config.engine.top_n_symbols
        done = warm
        close_ts, who, index = order[0].tolist(), order[1].tolist(), order[2].tolist()
        k, n = 0, len(close_ts)
        for step, t in enumerate(steps.tolist()):
            now: list[tuple[_Symbol, int]] = []
            while k < n and close_ts[k] == t:
                now.append((symbols[who[k]], index[k]))
                k += 1
            self._step(now, t)
            done += len(now)
            if progress is not None and done // PROGRESS_EVERY != (done - len(now)) // PROGRESS_EVERY:
                progress(done)
            self._publish(self._last_ts)  # Portfolio's periodic snapshot
            self._drain()
            chosen = {s.symbol for s in score(self.latest, self.weights, 2 * self.interval)[:top_n]}
            for sym in symbols:
                sym.signal.selected = sym.name in chosen
            if t >= next_corr:
                self._recompute_correlation()
                next_corr = t - t % corr_every + corr_every
            equity_ts[step] = t
            equity[step] = self.portfolio.equity
        if progress is not None:
            progress(done)
        return Result(
            trades=self.trades,
            fills=self.fills,
            equity_ts=equity_ts,
            equity=equity,
            start_equity=self.portfolio.starting_equity,
            fees=self.portfolio.fees,
            spread_cost=self.spread_cost,
            slippage=self.slippage,
            funding=self.portfolio.funding,
            bars=done,
            open_positions=self.portfolio.snapshot(self._last_ts).positions,
            denials=dict(self.gate.denials),
            state_changes=self.state_changes,
        )

    def _prepare(self, series: Sequence[Series]) -> list[_Symbol]:
        if not series:
            raise BacktestError("no data to backtest")
        for s in series:
            if self.config.strategy.mode_of(s.candles.symbol) == CROSS_SECTIONAL:
                raise BacktestError(
                    f"{s.candles.symbol}: strategy mode cross_sectional is not backtested yet (its book is decided "
                    "by the Scanner actor as a whole); use regime or long_dip"
                )
            if s.candles.interval_ms != self.interval:
                raise BacktestError(
                    f"{s.candles.symbol}: bars of {s.candles.interval_ms} ms but strategy.timeframe is "
                    f"{self.config.strategy.timeframe}; load the data at that timeframe"
                )
        symbols = sorted((_Symbol(s, self.config) for s in series), key=lambda x: x.name)
        if len({x.name for x in symbols}) != len(symbols):
            raise BacktestError("a symbol appears twice in the data")
        self._symbols = {x.name: x for x in symbols}
        return symbols

    def _recompute_correlation(self) -> None:
        matrix = self.windows.matrix()
        if matrix.symbols:
            self.gate.on_correlation(matrix.to_message())

    def _step(self, bars: list[tuple[_Symbol, int]], t: int) -> None:
        """The bars closing at ``t``, delivered as the venue side would: in one quote batch, a quote
        inside each bar that reaches its position's stop or target; in the next, each close (to
        mark at) with the next bar's open (to fill at, the first price after the close); then each
        bar itself by symbol, and the bar of a longer timeframe that closes with it."""
        inside = []
        for sym, i in bars:
            held = self.portfolio.position(sym.name)
            if held is not None:
                hit = exit_in_bar(held.side, held.stop, held.target, sym.o[i], sym.h[i], sym.l[i])
                if hit is not None:
                    inside.append((sym, hit[0], hit[0]))
        if inside:
            self._quotes(inside, t - self.interval // 2)
        self._quotes([(sym, sym.o[i + 1] if i + 1 < len(sym.ts) else sym.c[i], sym.c[i]) for sym, i in bars], t)
        for sym, i in bars:
            bar = sym.bar(i)
            f = sym.features.on_bar(bar)
            self.latest[sym.name] = f
            self.windows.on_bar(sym.name, t, bar.close)
            self._signal(sym, f)
            extra = sym.extra.get(t)
            if extra is not None:
                self._signal(sym, sym.features.on_bar(extra))

    def _quote(self, sym: _Symbol, price: float, ts: int) -> Quote:
        rate = funding_at(sym.funding, ts, self.costs.funding_rate)
        return quote_at(sym.name, price, ts, self._half_spread, rate)

    # --- the actors' reactions, one FIFO of messages as their inboxes order them -----------------
    #
    # Each handler does what its actor does with the message (Execution, Risk, Portfolio); what one
    # sends to another is queued and handled after it, in order, so the cores see the same calls in
    # the same order as in the actor system (``replay`` checks this on real data).

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            handler, message = queue.popleft()
            handler(message)

    def _quotes(self, batch: list[tuple[_Symbol, float, float]], ts: int) -> None:
        """One quote batch of (symbol, price to fill at, price to mark at): Execution takes the first,
        Risk and Portfolio the second. Quotes are only built where a core reads them (a position
        to mark, an order to fill, an entry to check): what the others would hold is kept as a price."""
        portfolio = self.portfolio
        touched = False
        self._last_ts = max(self._last_ts, ts)
        for sym, fill, mark in batch:
            name = sym.name
            self._fill_at[name] = fill
            self._mark_at[name] = mark
            self._quoted_at[name] = ts
            if portfolio.position(name) is not None:
                portfolio.mark(self._quote(sym, mark, ts))
                touched = True
        portfolio.settle_funding(self._last_ts)
        queue = self._queue
        for request in portfolio.exits_due() if touched else ():
            queue.append((self._risk_exit, request))
        queue.append((self._risk_portfolio, portfolio.snapshot(self._last_ts)))
        self._drain()

    def _signal(self, sym: _Symbol, f: FeaturesUpdated) -> None:
        intent = sym.signal.on_features(f)
        if intent is None:
            return
        kind = type(intent)
        if kind is EnterPosition:
            self._queue.append((self._risk_enter, intent))
        elif kind is ExitPosition:
            self._queue.append((self._risk_exit, intent))
        else:
            self._queue.append((self._portfolio_move_stop, intent))
        self._drain()

    def _risk_enter(self, intent: EnterPosition) -> None:
        sym = self._symbols[intent.symbol]
        self.gate.on_quotes((self._quote(sym, self._mark_at[sym.name], self._quoted_at[sym.name]),))
        verdict = self.gate.evaluate(intent, sym.lot)
        if isinstance(verdict, Approved):
            for order in entry_orders(intent, verdict):
                self._queue.append((self._execute, order))

    def _risk_exit(self, request: ExitPosition) -> None:
        order = self.gate.exit_order(request)
        if order is not None:
            self._queue.append((self._execute, order))

    def _risk_portfolio(self, snapshot: PortfolioUpdated) -> None:
        change = self.gate.on_portfolio(snapshot)
        if change is not None:
            self.state_changes.append(
                f"{_iso(snapshot.ts)} trading {change.state.value} [{change.code}] {change.reason}".rstrip()
            )
        for request in self.gate.flatten(snapshot.ts):
            self._risk_exit(request)

    def _execute(self, order: SubmitOrder) -> None:
        sym = self._symbols[order.symbol]
        quote = self._quote(sym, self._fill_at[sym.name], self._quoted_at[sym.name])
        fill = self.model.fill(order, quote, f"{order.client_oid}-1")
        spread = (quote.ask - quote.bid) * 0.5 * fill.qty
        self._costs[fill.fill_id] = (spread, abs(fill.price - (quote.bid + quote.ask) * 0.5) * fill.qty - spread)
        self._queue.append((self._portfolio_fill, fill))

    def _portfolio_fill(self, fill: OrderFilled) -> None:
        """Book a fill once; a repeat (a second exit of a position already closed) costs nothing,
        as the venue would have refused it."""
        portfolio = self.portfolio
        costs = self._costs.pop(fill.fill_id, (0.0, 0.0))
        if portfolio.has_fill(fill.fill_id):
            return
        self.spread_cost += costs[0]
        self.slippage += costs[1]
        self.fills.append(fill)
        self._last_ts = max(self._last_ts, fill.ts)
        self.trades.extend(portfolio.apply_fill(fill))
        sym = self._symbols[fill.symbol]
        sym.signal.on_position(position_changed(sym.name, portfolio.position(sym.name)))
        self._publish(fill.ts)

    def _portfolio_move_stop(self, move: MoveStop) -> None:
        if self.portfolio.move_stop(move.symbol, move.stop) is None:
            return
        sym = self._symbols[move.symbol]
        sym.signal.on_position(position_changed(sym.name, self.portfolio.position(sym.name)))
        self._publish(move.ts)

    def _publish(self, ts: int) -> None:
        self._queue.append((self._risk_portfolio, self.portfolio.snapshot(ts)))


def event_order(
    times: Sequence[list[int]], offsets: Sequence[int], interval: int
) -> tuple[IntArray, IntArray, IntArray]:
    """Every traded bar of every symbol as (close time, symbol index, bar index), by close time and
    then symbol: the order the steps replay them in. ``offsets`` are each symbol's first traded bar."""
    if not times:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    close = np.concatenate([np.asarray(ts, np.int64) + interval for ts in times])
    who = np.concatenate([np.full(len(ts), k, np.int64) for k, ts in enumerate(times)])
    index = np.concatenate([np.arange(len(ts), dtype=np.int64) + off for ts, off in zip(times, offsets, strict=True)])
    order = np.lexsort((who, close))
    return close[order], who[order], index[order]


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts / 1000))
