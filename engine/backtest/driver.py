"""The fast backtest: the live engine's pure cores driven in one thread on event time.

The same code makes every decision here as in the actors: the strategies in ``SignalEngine``
per symbol, the Scanner's ranking, the correlation matrix, ``RiskGate`` (sizing, heat, limits,
kill-switches, correlation blocks, loss halts), ``PaperFillModel`` and ``Portfolio``. Only the
clock and the quotes come from the bars.

What makes it fast is doing nothing where nothing can happen:

- Features are whole-series arrays (``feature_series``: the compiled batch indicators, equal to
  the incremental ones bit for bit), and the Scanner's top N is ranked for every step at once
  (``selection``). A ``FeaturesUpdated`` is built only for a bar a strategy looks at.
- A symbol acts at a step only if it holds a position, is selected, or runs a strategy that must
  see every bar. A flat, unselected symbol's strategy provably emits nothing (entries need the
  scanner, management a position), so its bars are skipped and its state is resumed from the
  features when it next acts.
- The correlation matrix is built only when an entry asks Risk, from the windows each symbol had
  at the last recompute time.

One step per bar close ``T`` of the primary timeframe:

1. Funding due up to ``T`` is settled on the open positions (``Portfolio.settle_funding``).
2. For each acting symbol with a bar closing at ``T``, in name order:
   a. an open position meets its stop or target inside the bar by the pessimistic rule of
      ``intrabar`` (stop first); the exit fills at that level, mid-bar;
   b. the position is marked at the close, which also feeds Risk's kill-switches;
   c. the bar goes through the strategy; an intent goes through Risk and fills at the next bar's
      open (the first price after the decision), or at the close on the last bar.
3. Risk sees the portfolio at ``T`` (daily loss, drawdown); the Scanner's top
   ``engine.top_n_symbols`` by every symbol's newest bar may enter from the next bar on; the
   correlation matrix is due again every ``engine.correlation_interval_s`` of event time.

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
from engine.backtest.feature_series import FrameSeries
from engine.backtest.intrabar import exit_in_bar
from engine.backtest.selection import chosen_by_step
from engine.config import Config
from engine.core.correlation import CorrelationMatrix, correlation_of
from engine.core.features import FeatureSettings
from engine.core.portfolio import Portfolio, position_changed
from engine.core.risk import Approved, RiskGate, entry_orders
from engine.core.scanner import ScanWeights
from engine.core.signal import SignalEngine
from engine.messages import (
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
from engine.strategy_plan import CROSS_SECTIONAL, build_strategy, feature_settings, risk_limits
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
    """One symbol's cores, bars and whole-series features, and where its strategy stands.

    The bars stay numpy arrays (read only where a position or a decision needs them); the
    strategy's state is only current up to ``next_bar`` (an index into ``history``, the strategy
    timeframe's bars from the first it sees): a bar it is called on at any other index first
    resumes it from the features (a symbol skipped while flat and unselected).
    """

    __slots__ = (
        "candles",
        "close_ts",
        "cursor",
        "first",
        "funding",
        "history",
        "index",
        "lot",
        "name",
        "next_bar",
        "on_primary",
        "primary",
        "resumable",
        "signal",
        "strategy_at",
    )

    def __init__(self, series: Series, config: Config, settings: FeatureSettings) -> None:
        candles = series.candles
        self.candles = candles
        self.name = candles.symbol
        self.signal = SignalEngine(self.name, build_strategy(config, self.name))
        self.resumable = self.signal.resumable
        self.funding = series.funding
        self.lot = series.lot_size
        self.primary = FrameSeries.of(candles, settings)
        self.close_ts: list[int] = self.primary.close_ts.tolist()
        self.history = self.primary
        self.on_primary = True
        self.strategy_at: dict[int, int] = {}
        self.first = self.cursor = self.next_bar = self.index = 0

    def start(self, start_ms: int, settings: FeatureSettings) -> int:
        """Split the bars at ``start_ms``: those opening before it only warm the features (the
        engine's backfill: the strategy never sees them); returns how many primary bars that was."""
        candles = self.candles
        self.first = self.cursor = first = int(np.searchsorted(candles.ts, start_ms, side="left"))
        strategy = self.signal.strategy
        interval = candles.interval_ms if strategy is None else strategy.interval_ms
        if interval == candles.interval_ms:
            self.history = self.primary.since(first)
            return first
        # A longer strategy timeframe: its bars closing by the start are backfilled; later ones
        # reach the strategy when the symbol has a primary bar closing with them.
        longer = candles.resample(interval)
        close = longer.ts + interval
        warm = close <= start_ms
        keep = warm | np.isin(close, self.primary.close_ts[first:])
        seen = Candles(
            self.name, interval, longer.ts[keep], longer.open[keep], longer.high[keep], longer.low[keep],
            longer.close[keep], longer.volume[keep],
        )  # fmt: skip
        self.history = FrameSeries.of(seen, settings).since(int(np.count_nonzero(warm)))
        self.on_primary = False
        self.strategy_at = {t: k for k, t in enumerate(self.history.close_ts.tolist())}
        return first

    def bar_at(self, t: int) -> int | None:
        """The index of the traded bar closing at ``t``, if there is one (steps only move forward)."""
        i = bisect.bisect_left(self.close_ts, t, self.cursor)
        self.cursor = i
        return i if i < len(self.close_ts) and self.close_ts[i] == t else None

    def bars_by(self, t: int) -> int:
        """How many bars have reached the engine by step ``t``: the backfill and the traded bars since."""
        return max(self.first, bisect.bisect_right(self.close_ts, t))


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
        self.settings = feature_settings(config)
        self.gate = RiskGate(risk_limits(config))
        self.model = PaperFillModel(costs.taker_fee, costs.slippage_bps)
        self.portfolio = Portfolio(config.risk.starting_equity_usdt)
        sc = config.scanner
        self.weights = ScanWeights(sc.weight_trend, sc.weight_atr_expansion, sc.weight_momentum, sc.weight_volume)
        self.fills: list[OrderFilled] = []
        self.trades: list[TradeClosed] = []
        self.state_changes: list[str] = []
        self.spread_cost = 0.0
        self.slippage = 0.0
        self._symbols: dict[str, _Symbol] = {}
        self._held: set[int] = set()
        self._queue: deque[tuple[Callable[[Any], None], Any]] = deque()
        self._fill_at: dict[str, float] = {}
        self._mark_at: dict[str, float] = {}
        self._quoted_at: dict[str, int] = {}
        self._costs: dict[str, tuple[float, float]] = {}
        self._last_ts = 0
        self._half_spread = costs.spread_bps / 20_000.0
        self._steps: list[int] = []
        self._corr_steps: list[int] = []
        self._corr_due = -1  # the last correlation time passed (an index of _corr_steps; -1: the start)
        self._corr_sent = -2  # the one whose matrix Risk has

    # --- the run ---------------------------------------------------------------------------------

    def run(self, series: Sequence[Series], start_ms: int | None = None, progress: Progress | None = None) -> Result:
        """Replay ``series`` on event time; bars opening before ``start_ms`` only warm the features
        and the correlations (the live engine's backfill), and trade nothing."""
        symbols = self._prepare(series)
        first = -1 if start_ms is None else start_ms
        warm = sum(sym.start(first, self.settings) for sym in symbols)
        order = event_order([x.close_ts[x.first :] for x in symbols], [x.first for x in symbols], 0)
        steps = np.unique(order[0])
        self._steps = steps.tolist()
        chosen = chosen_by_step(
            [x.primary.close_ts for x in symbols],
            [x.first for x in symbols],
            [x.primary.scan_rows() for x in symbols],
            steps,
            self.weights,
            2 * self.interval,
            self.config.engine.top_n_symbols,
        )
        done_by = (warm + np.searchsorted(order[0], steps, side="right")).tolist()
        always = _always_run(symbols)
        equity_ts = np.empty(steps.size, np.int64)
        equity = np.empty(steps.size, np.float64)
        clock = int(steps[0]) - self.interval if steps.size else 0
        self._publish(clock)  # Portfolio's first snapshot, as on the actors' start
        self._corr_steps = _correlation_steps(self._steps, clock, self.config.engine.correlation_interval_s * 1000)
        corr = iter(self._corr_steps)
        next_corr = next(corr, -1)
        selected: set[int] = set()
        done = warm
        for step, t in enumerate(self._steps):
            active = sorted(self._held | selected | always.get(t, set()))
            bars = [(symbols[s], i) for s in active if (i := symbols[s].bar_at(t)) is not None]
            self._step(bars, t)
            if progress is not None and done // PROGRESS_EVERY != done_by[step] // PROGRESS_EVERY:
                progress(done_by[step])
            done = done_by[step]
            self._publish(self._last_ts)  # Portfolio's periodic snapshot
            self._drain()
            now = set(np.flatnonzero(chosen[step]).tolist())
            for s in now ^ selected:
                symbols[s].signal.selected = s in now
            selected = now
            if step == next_corr:
                self._corr_due += 1
                next_corr = next(corr, -1)
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
        if len({s.candles.symbol for s in series}) != len(series):
            raise BacktestError("a symbol appears twice in the data")
        symbols = sorted((_Symbol(s, self.config, self.settings) for s in series), key=lambda x: x.name)
        for k, sym in enumerate(symbols):
            sym.index = k
        self._symbols = {x.name: x for x in symbols}
        return symbols

    def _correlation(self) -> None:
        """Hand Risk the matrix of the newest correlation time that has passed, built only now that
        an entry needs it: the windows are sliced from the bars each symbol had by then. A time
        whose matrix is empty leaves Risk the one before, as the Correlation actor does."""
        k, sent = self._corr_due, self._corr_sent
        self._corr_sent = k
        while k != sent:
            matrix = self._matrix_at(self._steps[self._corr_steps[k]] if k >= 0 else None)
            if matrix.symbols:
                self.gate.on_correlation(matrix.to_message())
                return
            if k < 0:
                return
            k -= 1

    def _matrix_at(self, t: int | None) -> CorrelationMatrix:
        size = self.config.engine.correlation_window + 1
        windows = {}
        for sym in self._symbols.values():
            n = sym.first if t is None else sym.bars_by(t)
            if n >= size:
                windows[sym.name] = (sym.primary.close_ts[n - size : n], sym.primary.last[n - size : n])
        return correlation_of(windows)

    def _step(self, bars: list[tuple[_Symbol, int]], t: int) -> None:
        """The bars closing at ``t`` of the symbols that can act (held, selected, or running their
        strategy on every bar), delivered as the venue side would: in one quote batch, a quote
        inside each bar that reaches its position's stop or target; in the next, each close (to
        mark at) with the next bar's open (to fill at, the first price after the close); then each
        bar itself by symbol, and the bar of a longer timeframe that closes with it. A symbol left
        out could only have updated its strategy's state, which it resumes when it next acts."""
        inside = []
        for sym, i in bars:
            held = self.portfolio.position(sym.name)
            if held is not None:
                c = sym.candles
                hit = exit_in_bar(
                    held.side, held.stop, held.target, float(c.open[i]), float(c.high[i]), float(c.low[i])
                )
                if hit is not None:
                    inside.append((sym, hit[0], hit[0]))
        if inside:
            self._quotes(inside, t - self.interval // 2)
        self._quotes([(sym, _next_price(sym.candles, i), float(sym.candles.close[i])) for sym, i in bars], t)
        for sym, i in bars:
            k = i - sym.first if sym.on_primary else sym.strategy_at.get(t)
            if k is not None:
                self._decide(sym, k)

    def _decide(self, sym: _Symbol, i: int) -> None:
        """Bar ``i`` of the strategy's history through the strategy, unless it provably decides
        nothing (flat and not selected, with a strategy that can resume later)."""
        signal = sym.signal
        if sym.resumable and signal.holding is None and not signal.selected:
            return
        if i != sym.next_bar:
            signal.resume(sym.history, i)
        sym.next_bar = i + 1
        self._signal(sym, sym.history.snapshot(i))

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
        self._correlation()
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
        self._position_changed(self._symbols[fill.symbol])
        self._publish(fill.ts)

    def _portfolio_move_stop(self, move: MoveStop) -> None:
        if self.portfolio.move_stop(move.symbol, move.stop) is None:
            return
        self._position_changed(self._symbols[move.symbol])
        self._publish(move.ts)

    def _position_changed(self, sym: _Symbol) -> None:
        """Tell the symbol's Signal, and keep the set of held symbols (which act on every bar)."""
        position = self.portfolio.position(sym.name)
        sym.signal.on_position(position_changed(sym.name, position))
        if position is None:
            self._held.discard(sym.index)
        else:
            self._held.add(sym.index)

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


def _always_run(symbols: Sequence[_Symbol]) -> dict[int, set[int]]:
    """Step time -> symbols whose strategy cannot resume from features, with a strategy bar then:
    those see every bar of their timeframe, as in the engine."""
    always: dict[int, set[int]] = {}
    for sym in symbols:
        if not sym.resumable:
            times = sym.close_ts[sym.first :] if sym.on_primary else sym.strategy_at
            for t in times:
                always.setdefault(t, set()).add(sym.index)
    return always


def _correlation_steps(steps: Sequence[int], clock: int, every: int) -> list[int]:
    """The steps after which the Correlation actor recomputes: the first at or past each multiple
    of ``every`` of event time."""
    due = clock - clock % every + every
    result = []
    for k, t in enumerate(steps):
        if t >= due:
            result.append(k)
            due = t - t % every + every
    return result


def _next_price(candles: Candles, i: int) -> float:
    """The first price after bar ``i`` closes: the next bar's open (the last bar's close at the end)."""
    return float(candles.close[i] if i + 1 == len(candles) else candles.open[i + 1])


def _iso(ts: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts / 1000))
