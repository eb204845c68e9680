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

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

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

    __slots__ = ("c", "extra", "features", "funding", "h", "l", "lot", "name", "o", "signal", "ts", "v")

    def __init__(self, series: Series, config: Config) -> None:
        candles = series.candles
        self.name = candles.symbol
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
        self.extra: dict[int, BarClosed] = {}
        for interval in intervals[1:]:
            for bar in candles.resample(interval).bars():
                self.extra[bar.ts] = bar

    def bar(self, i: int, interval: int) -> BarClosed:
        return BarClosed(self.name, interval, self.ts[i], self.o[i], self.h[i], self.l[i], self.c[i], self.v[i])

    def funding_rate(self, ts: int, default: float) -> float:
        """The rate settled at the first boundary at or after ``ts`` (the last known past the data)."""
        if self.funding is None or not len(self.funding[0]):
            return default
        times, rates = self.funding
        i = min(int(np.searchsorted(times, ts, side="left")), len(times) - 1)
        return float(rates[i])


class Backtest:
    """One run over a set of symbols; ``run`` may be called once."""

    def __init__(self, config: Config, costs: Costs = Costs()) -> None:
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
        self._half_spread = costs.spread_bps / 20_000.0

    # --- the run ---------------------------------------------------------------------------------

    def run(self, series: Sequence[Series], start_ms: int | None = None, progress: Progress | None = None) -> Result:
        """Replay ``series`` on event time; bars opening before ``start_ms`` only warm the features
        and the correlations (as the live engine's backfill does), and trade nothing."""
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
        order = _event_order([x.ts for x in symbols], self.interval)
        steps = np.unique(order[0])
        equity_ts = np.empty(steps.size, np.int64)
        equity = np.empty(steps.size, np.float64)
        sampled = 0
        first_trading = -1 if start_ms is None else start_ms
        top_n = self.config.engine.top_n_symbols
        corr_every = self.config.engine.correlation_interval_s * 1000
        max_age = 2 * self.interval
        next_corr = 0
        done = 0
        close_ts, who, index = order[0].tolist(), order[1].tolist(), order[2].tolist()
        k = 0
        n = len(close_ts)
        for t in steps.tolist():
            trading = t - self.interval >= first_trading
            if trading:
                self.portfolio.settle_funding(t)
            while k < n and close_ts[k] == t:
                sym = symbols[who[k]]
                if trading:
                    self._trade_bar(sym, index[k], t)
                else:
                    self._warm_bar(sym, index[k], t)
                k += 1
                done += 1
                if progress is not None and done % PROGRESS_EVERY == 0:
                    progress(done)
            if trading:
                self._publish(t)
                ranked = score(self.latest, self.weights, max_age)[:top_n]
                chosen = {s.symbol for s in ranked}
                for sym in symbols:
                    sym.signal.selected = sym.name in chosen
            if t >= next_corr:
                matrix = self.windows.matrix()
                if matrix.symbols:
                    self.gate.on_correlation(matrix.to_message())
                next_corr = t - t % corr_every + corr_every
            if trading:
                equity_ts[sampled] = t
                equity[sampled] = self.portfolio.equity
                sampled += 1
        if progress is not None:
            progress(done)
        return Result(
            trades=self.trades,
            fills=self.fills,
            equity_ts=equity_ts[:sampled],
            equity=equity[:sampled],
            start_equity=self.portfolio.starting_equity,
            fees=self.portfolio.fees,
            spread_cost=self.spread_cost,
            slippage=self.slippage,
            funding=self.portfolio.funding,
            bars=done,
            open_positions=self.portfolio.snapshot(int(steps[-1]) if steps.size else 0).positions,
            denials=dict(self.gate.denials),
            state_changes=self.state_changes,
        )

    def _warm_bar(self, sym: _Symbol, i: int, t: int) -> None:
        bar = sym.bar(i, self.interval)
        sym.features.backfill((bar,))
        extra = sym.extra.get(t)
        if extra is not None:
            sym.features.backfill((extra,))
        self.windows.on_bar(sym.name, t, bar.close)

    def _trade_bar(self, sym: _Symbol, i: int, t: int) -> None:
        name = sym.name
        if self.portfolio.position(name) is not None:
            held = self.portfolio.position(name)
            assert held is not None
            hit = exit_in_bar(held.side, held.stop, held.target, sym.o[i], sym.h[i], sym.l[i])
            if hit is not None:
                self._mark(sym, hit[0], t - self.interval // 2)
            self._mark(sym, sym.c[i], t)
        bar = sym.bar(i, self.interval)
        f = sym.features.on_bar(bar)
        self.latest[name] = f
        self.windows.on_bar(name, t, bar.close)
        intent = sym.signal.on_features(f)
        extra = sym.extra.get(t)
        later = None if extra is None else sym.signal.on_features(sym.features.on_bar(extra))
        if intent is None and later is None:
            return
        self.gate.on_quotes((self._quote(sym, sym.c[i], t),))
        fill_at = self._quote(sym, sym.o[i + 1] if i + 1 < len(sym.ts) else sym.c[i], t)
        self._act(sym, intent, fill_at)
        self._act(sym, later, fill_at)

    # --- the engine's reactions, as its actors chain them ----------------------------------------

    def _quote(self, sym: _Symbol, price: float, ts: int) -> Quote:
        half = price * self._half_spread
        rate = sym.funding_rate(ts, self.costs.funding_rate)
        return Quote(sym.name, ts, price - half, price + half, price, funding_rate=rate)

    def _mark(self, sym: _Symbol, price: float, ts: int) -> None:
        """Mark the position at ``price`` and exit it if that crossed its stop or target
        (Portfolio's own rule), filling at this quote."""
        self.portfolio.mark(self._quote(sym, price, ts))
        self._exits_due()

    def _act(self, sym: _Symbol, intent: EnterPosition | ExitPosition | MoveStop | None, quote: Quote) -> None:
        if intent is None:
            return
        if type(intent) is EnterPosition:
            verdict = self.gate.evaluate(intent, sym.lot)
            if isinstance(verdict, Approved):
                for order in entry_orders(intent, verdict):
                    self._fill(order, quote)
        elif type(intent) is ExitPosition:
            self._exit(intent, quote)
        elif type(intent) is MoveStop and self.portfolio.move_stop(intent.symbol, intent.stop) is not None:
            sym.signal.on_position(position_changed(sym.name, self.portfolio.position(sym.name)))
            self._publish(intent.ts)

    def _exits_due(self) -> None:
        """Exit every position whose mark crossed its stop or target, at a quote at that mark: a
        position opened at a gap beyond its stop is caught by the next mark of any symbol."""
        for request in self.portfolio.exits_due():
            held = self.portfolio.position(request.symbol)
            if held is not None:
                self._exit(request, self._quote(self._symbols[request.symbol], held.mark, request.ts))

    def _exit(self, request: ExitPosition, quote: Quote) -> None:
        order = self.gate.exit_order(request)
        if order is not None:
            self._fill(order, quote)

    def _fill(self, order: SubmitOrder, quote: Quote) -> None:
        fill = self.model.fill(order, quote, f"{order.client_oid}-1")
        mid = (quote.bid + quote.ask) * 0.5
        spread = (quote.ask - quote.bid) * 0.5 * fill.qty
        self.spread_cost += spread
        self.slippage += abs(fill.price - mid) * fill.qty - spread
        self.fills.append(fill)
        self.trades.extend(self.portfolio.apply_fill(fill))
        sym = self._symbols[order.symbol]
        sym.signal.on_position(position_changed(sym.name, self.portfolio.position(sym.name)))
        self._publish(fill.ts)

    def _publish(self, ts: int) -> None:
        """Risk sees the portfolio now; a loss halt or a REDUCING state acts at once."""
        change = self.gate.on_portfolio(self.portfolio.snapshot(ts))
        if change is not None:
            self.state_changes.append(f"{_iso(ts)} trading {change.state.value} [{change.code}] {change.reason}")
        for request in self.gate.flatten(ts):
            held = self.portfolio.position(request.symbol)
            if held is not None:
                self._exit(request, self._quote(self._symbols[request.symbol], held.mark, ts))


def _event_order(times: Sequence[list[int]], interval: int) -> tuple[IntArray, IntArray, IntArray]:
    """Every bar of every symbol as (close time, symbol index, bar index), by close time and then
    symbol: the order the steps replay them in."""
    if not times:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    close = np.concatenate([np.asarray(ts, np.int64) + interval for ts in times])
    who = np.concatenate([np.full(len(ts), k, np.int64) for k, ts in enumerate(times)])
    index = np.concatenate([np.arange(len(ts), dtype=np.int64) for ts in times])
    order = np.lexsort((who, close))
    return close[order], who[order], index[order]


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts / 1000))
