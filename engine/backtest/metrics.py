"""Performance metrics of a run, from its closed trades and its equity curve.

Backtests, paper runs and live runs keep the same records (``TradeClosed`` rows and
``EquitySampled`` points), so one set of pure functions scores all three: a strategy is judged by
the same numbers whether they come from history or from the market.

Conventions, everywhere in this module:

- Times are milliseconds since the epoch, UTC; durations are milliseconds.
- Returns, drawdowns, win rate and exposure are fractions (0.1 = 10%); only ``Metrics.as_rows``
  turns them into percentages, for people.
- Money is USDT. A trade's ``pnl`` is net of its fees (as ``Portfolio`` books it) and does not
  include funding, which the engine books per position, not per trade; ``funding`` is what the
  account received (negative when it paid), as in ``FundingPaid.amount``. Slippage is already in
  the fill prices, so in the pnl; ``slippage`` (a cost, positive) is only reported.
- A year is 365 days: crypto futures trade every day, so there are no trading-day calendars.
- Risk-adjusted ratios come from the equity curve resampled to a fixed period (``period_closes``),
  not from per-trade pnl: the curve includes open positions and funding, and a fixed period makes
  ratios of runs with different sampling rates comparable.
- A quantity that is undefined (no trades, fewer than two periods, zero deviation, a span too short
  to annualise) is ``nan``, never an exception and never a numpy ``RuntimeWarning``; the
  exceptions are ``profit_factor`` (``inf`` when there are wins and no losses) and ``cagr``
  (``inf`` when it overflows a float). Malformed input (unsorted times, non-finite equity, a trade
  that exits before it enters) raises ``ValueError``: it is a bug upstream, not a result.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.messages import EquitySampled, TradeClosed

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS
"""A crypto year: 365 days of 24 hours, no holidays."""

Curve = Sequence[tuple[int, float]] | Sequence[EquitySampled] | tuple[IntArray, FloatArray]
"""An equity curve: ``(ts, equity)`` pairs, ``EquitySampled`` points, or a pair of numpy arrays
``(timestamps, equities)``; in time order either way."""

_ZERO_DEVIATION = 1e-12
"""A per-period deviation of returns at or below this is rounding residue (a flat or perfectly
steady curve), not risk: dividing by it would report a meaningless astronomical ratio."""

_MAX_LOG = math.log(sys.float_info.max)


@dataclass(frozen=True)
class Metrics:
    """The summary of one run. See the module docstring for units and for when a value is ``nan``.

    ``total_return`` is ``end_equity / start_equity - 1``; ``cagr`` compounds it over the curve's
    span (``span_ms``) in 365-day years and is ``nan`` under one day, where annualising would
    extrapolate noise. ``sharpe`` and ``sortino`` are annualised from ``periods`` simple returns of
    ``period_ms`` each (see ``period_closes``). ``max_drawdown`` is the deepest peak-to-trough fall
    of the curve as a positive fraction of the peak; ``max_drawdown_duration_ms`` the longest time
    spent below an earlier peak (see ``max_drawdown``). ``win_rate`` counts break-even trades as
    trades but not as wins; ``avg_loss`` is negative (the mean pnl of the losing trades);
    ``expectancy_r`` is the mean R-multiple (``pnl / risk``) of the trades that had a stop
    (``risk > 0``). ``exposure`` is the fraction of the curve's span with at least one position open.
    """

    start_equity: float
    end_equity: float
    total_return: float
    cagr: float
    sharpe: float
    sortino: float
    max_drawdown: float
    max_drawdown_duration_ms: int
    trades: int
    win_rate: float
    profit_factor: float
    expectancy: float
    expectancy_r: float
    avg_win: float
    avg_loss: float
    avg_duration_ms: float
    exposure: float
    total_fees: float
    total_slippage: float
    total_funding: float
    period_ms: int
    periods: int
    samples: int
    span_ms: int

    def as_rows(self) -> list[tuple[str, str]]:
        """``(name, formatted value)`` pairs, in display order, for a summary table or ``metrics.csv``.

        Names carry their units; ``nan`` and ``inf`` print as ``nan`` and ``inf`` so a CSV reader
        (pandas, a spreadsheet) reads them back as numbers.
        """
        return [(name, format_value(getattr(self, field), unit)) for name, field, unit in _ROWS]


_ROWS: tuple[tuple[str, str, str], ...] = (
    ("start equity (USDT)", "start_equity", "usdt"),
    ("end equity (USDT)", "end_equity", "usdt"),
    ("total return %", "total_return", "pct"),
    ("CAGR %", "cagr", "pct"),
    ("Sharpe (annualised)", "sharpe", "ratio"),
    ("Sortino (annualised)", "sortino", "ratio"),
    ("max drawdown %", "max_drawdown", "pct"),
    ("max drawdown duration (days)", "max_drawdown_duration_ms", "days"),
    ("trades", "trades", "count"),
    ("win rate %", "win_rate", "pct"),
    ("profit factor", "profit_factor", "ratio"),
    ("expectancy (USDT/trade)", "expectancy", "usdt"),
    ("expectancy (R/trade)", "expectancy_r", "ratio"),
    ("avg win (USDT)", "avg_win", "usdt"),
    ("avg loss (USDT)", "avg_loss", "usdt"),
    ("avg trade duration (hours)", "avg_duration_ms", "hours"),
    ("exposure %", "exposure", "pct"),
    ("fees (USDT)", "total_fees", "usdt"),
    ("slippage (USDT)", "total_slippage", "usdt"),
    ("funding (USDT)", "total_funding", "usdt"),
    ("return period (hours)", "period_ms", "hours"),
    ("return periods", "periods", "count"),
    ("equity samples", "samples", "count"),
    ("span (days)", "span_ms", "days"),
)


def format_value(value: float, unit: str) -> str:
    """The one place numbers are formatted for people: ``unit`` is one of usdt, pct (a fraction
    shown as a percentage), ratio, count, days or hours (both from milliseconds)."""
    if unit == "usdt":
        return f"{value:.2f}"
    if unit == "pct":
        return f"{value * 100.0:.2f}"
    if unit == "ratio":
        return f"{value:.3f}"
    if unit == "count":
        return f"{int(value):d}"
    if unit == "days":
        return f"{value / DAY_MS:.2f}"
    if unit == "hours":
        return f"{value / HOUR_MS:.2f}"
    raise ValueError(f"unknown unit {unit!r}")


def as_curve(equity: Curve) -> tuple[IntArray, FloatArray]:
    """The curve as ``(timestamps int64, equities float64)`` arrays, checked.

    A 2-tuple of numpy arrays is taken as ``(timestamps, equities)``; anything else as a sequence
    of points. Raises ``ValueError`` if times go backwards, the lengths differ or an equity is not
    finite: metrics of such a curve would be silently wrong. Equal times are allowed (a value at a time is
    the later sample's, except the opening value: see ``period_closes``).
    """
    if isinstance(equity, tuple) and len(equity) == 2 and all(isinstance(a, np.ndarray) for a in equity):
        ts = np.asarray(equity[0], dtype=np.int64)
        eq = np.asarray(equity[1], dtype=np.float64)
    else:
        points = [(p.ts, p.equity) if isinstance(p, EquitySampled) else p for p in equity]
        ts = np.array([p[0] for p in points], dtype=np.int64)
        eq = np.array([p[1] for p in points], dtype=np.float64)
    if ts.ndim != 1 or ts.shape != eq.shape:
        raise ValueError(f"equity curve: {ts.shape} timestamps for {eq.shape} equities")
    if ts.size > 1 and bool(np.any(ts[1:] < ts[:-1])):
        raise ValueError("equity curve: timestamps must not decrease")
    if not bool(np.all(np.isfinite(eq))):
        raise ValueError("equity curve: every equity must be finite")
    return ts, eq


def period_closes(ts: IntArray, equity: FloatArray, period_ms: int = DAY_MS) -> tuple[IntArray, FloatArray]:
    """The curve resampled to a fixed period: ``(close times, close equities)``.

    The close at a time is the last sample at or before it (forward-filled, so a period without a
    sample has a 0 return); the first point is the first sample itself, the base of the run.
    Boundaries are multiples of ``period_ms`` since the epoch, so daily
    closes are at 00:00 UTC. The points are the curve's first sample, every boundary strictly
    inside the curve's span, and its last sample: a run that does not start or end on a boundary
    (a paper run started at 13:37) has a partial first and last period. They are kept so that the
    period returns compound exactly to the curve's own return; a backtest over whole periods has
    only whole ones. An empty curve has no closes, a one-point curve (or a zero span) one.
    """
    if period_ms <= 0:
        raise ValueError(f"period_ms must be positive, got {period_ms}")
    if ts.size == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
    first, last = int(ts[0]), int(ts[-1])
    inner = np.arange((first // period_ms + 1) * period_ms, last, period_ms, dtype=np.int64)
    ends = np.array([last], dtype=np.int64) if last > first else np.empty(0, dtype=np.int64)
    points = np.concatenate((np.array([first], dtype=np.int64), inner, ends))
    index = np.searchsorted(ts, points, side="right") - 1
    index[0] = 0  # the opening value is the first sample, even if others share its time
    return points, equity[index]


def period_returns(ts: IntArray, equity: FloatArray, period_ms: int = DAY_MS) -> FloatArray:
    """Simple returns between consecutive ``period_closes`` (``close / previous close - 1``).

    A return from a close at or below 0 (a blown account) is ``nan``: it has no meaning, and the
    ratios built on it are then ``nan`` too.
    """
    _, closes = period_closes(ts, equity, period_ms)
    if closes.size < 2:
        return np.empty(0, dtype=np.float64)
    base, now = closes[:-1], closes[1:]
    out = np.full(base.shape, np.nan, dtype=np.float64)
    np.divide(now, base, out=out, where=base > 0.0)
    return out - 1.0


def periods_per_year(period_ms: int) -> float:
    """How many ``period_ms`` periods a 365-day year holds (365 for days, 8760 for hours)."""
    if period_ms <= 0:
        raise ValueError(f"period_ms must be positive, got {period_ms}")
    return YEAR_MS / period_ms


def sharpe(returns: FloatArray, per_year: float) -> float:
    """Annualised Sharpe ratio: ``mean / std(ddof=1) * sqrt(per_year)``, risk-free rate 0.

    The risk-free rate is 0 because a USDT balance earns nothing by itself. ``nan`` with fewer than
    two returns, a non-finite return or a deviation that is rounding residue (a flat curve).
    """
    if returns.size < 2 or not bool(np.all(np.isfinite(returns))):
        return math.nan
    deviation = float(np.std(returns, ddof=1))
    if deviation <= _ZERO_DEVIATION:
        return math.nan
    return float(np.mean(returns)) / deviation * math.sqrt(per_year)


def sortino(returns: FloatArray, per_year: float) -> float:
    """Annualised Sortino ratio: ``mean / downside deviation * sqrt(per_year)``, target 0.

    The downside deviation is ``sqrt(mean(min(r, 0) ** 2))`` over ALL periods, the gaining ones
    counting as 0: dividing by the number of losing periods instead would make one small loss among
    many gains look as risky as a run of losses. ``nan`` with fewer than two returns, a non-finite
    return or no losing period (nothing to divide by).
    """
    if returns.size < 2 or not bool(np.all(np.isfinite(returns))):
        return math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    if downside <= _ZERO_DEVIATION:
        return math.nan
    return float(np.mean(returns)) / downside * math.sqrt(per_year)


def drawdown_series(equity: FloatArray) -> FloatArray:
    """The drawdown at every sample, ``1 - equity / running peak`` as a positive fraction (the
    report draws it; ``max_drawdown`` is its deepest point). Requires ``equity[0] > 0``."""
    peak = np.maximum.accumulate(equity)
    result: FloatArray = (peak - equity) / peak
    return result


def max_drawdown(ts: IntArray, equity: FloatArray) -> tuple[float, int]:
    """``(deepest drawdown, longest underwater duration in ms)`` of a curve.

    The drawdown at a sample is ``1 - equity / running peak``: a positive fraction, 0 at a new
    high, in [0, 1) while equity stays positive (1 or more once it is gone). The duration of an
    underwater stretch runs from the sample that set its peak to the first sample back at or above
    that peak; one still underwater at the end counts up to the last sample (a lower bound). The
    longest stretch need not be the deepest one. An empty curve gives ``(nan, 0)``, and so does a
    curve that does not start above 0, for which fractions of the peak mean nothing.
    """
    if equity.size == 0 or not equity[0] > 0.0:
        return math.nan, 0
    depth = float(np.max(drawdown_series(equity)))
    underwater = equity < np.maximum.accumulate(equity)
    if not bool(np.any(underwater)):
        return depth, 0
    edges = np.diff(np.concatenate(([0], underwater.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)  # first underwater sample; >= 1, the first sample is its own peak
    ends = np.flatnonzero(edges == -1)  # first sample back at the peak, or len(equity) if none
    durations = ts[np.minimum(ends, equity.size - 1)] - ts[starts - 1]
    return depth, int(np.max(durations))


def exposure(intervals: Iterable[tuple[int, int]], span: tuple[int, int]) -> float:
    """Fraction of ``span`` covered by the union of ``(start, end)`` intervals, in [0, 1].

    The union, so two positions open at once count once: exposure is "was any money at work",
    not leverage. Intervals are clipped to the span. ``nan`` for an empty or inverted span; a
    ``ValueError`` for an interval that ends before it starts.
    """
    lo, hi = span
    if hi <= lo:
        return math.nan
    pairs = list(intervals)
    if any(end < start for start, end in pairs):
        raise ValueError("exposure: an interval ends before it starts")
    starts = np.clip(np.array([s for s, _ in pairs], dtype=np.int64), lo, hi)
    ends = np.clip(np.array([e for _, e in pairs], dtype=np.int64), lo, hi)
    if starts.size == 0:
        return 0.0
    order = np.argsort(starts, kind="stable")
    starts, ends = starts[order], ends[order]
    # Sorted by start, interval i adds what it covers beyond the furthest end of those before it.
    reach = np.concatenate((np.array([lo], dtype=np.int64), np.maximum.accumulate(ends)[:-1]))
    covered = int(np.sum(np.maximum(ends - np.maximum(starts, reach), 0)))
    return covered / (hi - lo)


def cagr(start_equity: float, end_equity: float, span_ms: int) -> float:
    """Compound annual growth rate of going from ``start_equity`` to ``end_equity`` in ``span_ms``.

    ``(end / start) ** (1 / years) - 1`` in 365-day years, so over exactly one year it equals the
    total return. ``nan`` under one day (a good hour would annualise to an absurd number) or
    without a positive start, -1 when nothing is left, ``inf`` when the rate overflows a float.
    """
    if span_ms < DAY_MS or not start_equity > 0.0:
        return math.nan
    if end_equity <= 0.0:
        return -1.0
    log_rate = math.log(end_equity / start_equity) * YEAR_MS / span_ms
    if log_rate >= _MAX_LOG:
        return math.inf
    return math.expm1(log_rate)


def compute(
    trades: Sequence[TradeClosed],
    equity: Curve,
    *,
    start_equity: float,
    fees: float | None = None,
    slippage: float = 0.0,
    funding: float = 0.0,
    period_ms: int = DAY_MS,
) -> Metrics:
    """The metrics of a run from its closed trades and its equity curve.

    ``start_equity`` is the capital the run started with: the base of the total return and CAGR.
    The curve should begin with a sample of it at the run's start (otherwise what happened before
    the first sample is missing from the drawdown and the ratios). Without any sample, the end
    equity is the start plus the trades' pnl plus ``funding`` (open positions unvalued) and the
    curve metrics are ``nan``. ``fees`` is the total fees paid when the caller knows it (the
    portfolio's, which includes entries still open); by default the trades' fees. ``slippage`` and
    ``funding`` are totals the trade records do not carry; see the module docstring for signs.
    """
    if not (math.isfinite(start_equity) and start_equity > 0.0):
        raise ValueError(f"start_equity must be positive, got {start_equity}")
    ts, eq = as_curve(equity)
    pnl = np.array([t.pnl for t in trades], dtype=np.float64)
    risk = np.array([t.risk for t in trades], dtype=np.float64)
    entry = np.array([t.entry_ts for t in trades], dtype=np.int64)
    exit_ = np.array([t.exit_ts for t in trades], dtype=np.int64)
    if bool(np.any(exit_ < entry)):
        raise ValueError("a trade exits before it enters")

    end_equity = float(eq[-1]) if eq.size else start_equity + float(np.sum(pnl)) + funding
    span_ms = int(ts[-1] - ts[0]) if ts.size else 0
    returns = period_returns(ts, eq, period_ms)
    per_year = periods_per_year(period_ms)
    depth, underwater_ms = max_drawdown(ts, eq)
    span = (int(ts[0]), int(ts[-1])) if ts.size else (0, 0)

    wins, losses = pnl[pnl > 0.0], pnl[pnl < 0.0]
    gross_profit, gross_loss = float(np.sum(wins)), -float(np.sum(losses))
    with_stop = risk > 0.0
    return Metrics(
        start_equity=start_equity,
        end_equity=end_equity,
        total_return=end_equity / start_equity - 1.0,
        cagr=cagr(start_equity, end_equity, span_ms),
        sharpe=sharpe(returns, per_year),
        sortino=sortino(returns, per_year),
        max_drawdown=depth,
        max_drawdown_duration_ms=underwater_ms,
        trades=int(pnl.size),
        win_rate=wins.size / pnl.size if pnl.size else math.nan,
        profit_factor=_profit_factor(gross_profit, gross_loss),
        expectancy=_mean(pnl),
        expectancy_r=_mean(pnl[with_stop] / risk[with_stop]),
        avg_win=_mean(wins),
        avg_loss=_mean(losses),
        avg_duration_ms=_mean((exit_ - entry).astype(np.float64)),
        exposure=exposure(zip(entry.tolist(), exit_.tolist(), strict=True), span),
        total_fees=float(sum(t.fees for t in trades)) if fees is None else float(fees),
        total_slippage=float(slippage),
        total_funding=float(funding),
        period_ms=period_ms,
        periods=int(returns.size),
        samples=int(ts.size),
        span_ms=span_ms,
    )


def _mean(values: FloatArray) -> float:
    """The mean, ``nan`` when empty (``np.mean`` would warn)."""
    return float(np.mean(values)) if values.size else math.nan


def _profit_factor(gross_profit: float, gross_loss: float) -> float:
    """Gross profit over gross loss: ``inf`` with profit and no loss, ``nan`` with neither."""
    if gross_loss > 0.0:
        return gross_profit / gross_loss
    return math.inf if gross_profit > 0.0 else math.nan
