"""The reference EMA-cross backtest: the run every peer engine is measured on, event to event.

Rules (the benchmark's, shared by vectorbt, backtesting.py, Freqtrade and NautilusTrader): EMA 9
and EMA 21 as TA-Lib computes them (alpha 2/(n+1), seeded with the SMA of the first n closes); a
cross is strict (fast > slow now and fast < slow on the bar before, or the reverse); no position
before the first cross, then always in the market, reversing on each cross; the signal on bar t's
close fills at bar t+1's open; a fixed size; a fee on the notional of every fill (a reversal pays
for the close and the open); the final equity marks the open position at the last close, with no
exit fee.

No per-bar Python: the EMAs come from TA-Lib's C loop, the crosses from one vectorised comparison,
and the ledger jumps from fill to fill (its size is the number of crosses, not of bars).

Decision identity with the engine: TA-Lib 0.8 computes the EMA with a fused multiply-add, so its
values may differ from the engine's own ``indicators.ema`` (the live path) in the last bits, up to
a few 1e-15. A cross can only come out differently where the two EMAs are that close, so any bar
whose EMA gap is within ``TIE_MARGIN`` of the price makes the run recompute the EMAs with the
engine's own code: same decisions always, C speed whenever there is no near tie.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import talib

from engine.core.indicators import ema

FloatArray = npt.NDArray[np.float64]
TIE_MARGIN = 1e-12
"""Relative EMA gap under which TA-Lib's last-bit differences could flip a cross."""


@dataclass(frozen=True, slots=True)
class CrossRun:
    """A finished reference run. ``signal_bars`` are the bars whose close crossed; each fills at
    the next bar's open (a cross on the last bar has no next bar and is not traded)."""

    bars: int
    signal_bars: npt.NDArray[np.int64]
    sides: FloatArray
    fill_prices: FloatArray
    fees: float
    final_equity: float
    start_equity: float
    exact_emas: bool

    @property
    def entries(self) -> int:
        return len(self.signal_bars)

    @property
    def total_return(self) -> float:
        return self.final_equity / self.start_equity - 1.0


def crosses(fast: FloatArray, slow: FloatArray) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Bars t where fast crosses slow strictly, and the side each opens (+1 long, -1 short)."""
    before_f, before_s, now_f, now_s = fast[:-1], slow[:-1], fast[1:], slow[1:]
    up = (now_f > now_s) & (before_f < before_s)
    down = (now_f < now_s) & (before_f > before_s)
    bars = np.flatnonzero(up | down) + 1
    return bars, np.where(up[bars - 1], 1.0, -1.0)


def near_tie(fast: FloatArray, slow: FloatArray, close: FloatArray) -> bool:
    """Whether any bar's EMA gap is small enough for last-bit differences to matter."""
    gap = np.abs(fast - slow)
    with np.errstate(invalid="ignore"):
        return bool(np.any(gap <= TIE_MARGIN * np.abs(close)))


def run(
    open_: FloatArray,
    close: FloatArray,
    *,
    fast: int = 9,
    slow: int = 21,
    qty: float = 1_000.0,
    fee_rate: float = 0.0006,
    start_equity: float = 1_000_000.0,
    engine_emas: bool = False,
) -> CrossRun:
    """The reference run over one series of bars (``open_`` and ``close`` of equal length);
    ``engine_emas`` forces the engine's own EMA throughout (to prove the decisions identical)."""
    if len(open_) != len(close) or len(close) < slow + 2:
        raise ValueError(f"need equal open and close series longer than {slow + 1} bars, got {len(open_)}/{len(close)}")
    ema_fast, ema_slow = talib.EMA(close, fast), talib.EMA(close, slow)
    exact = engine_emas or near_tie(ema_fast, ema_slow, close)
    if exact:
        ema_fast, ema_slow = ema(close, fast), ema(close, slow)
    bars, sides = crosses(ema_fast, ema_slow)
    traded = bars < len(close) - 1
    bars, sides = bars[traded], sides[traded]
    prices = open_[bars + 1]
    fees, final = ledger(prices, sides, float(close[-1]), qty, fee_rate, start_equity)
    return CrossRun(len(close), bars, sides, prices, fees, final, start_equity, exact)


def ledger(
    prices: FloatArray, sides: FloatArray, last_close: float, qty: float, fee_rate: float, start_equity: float
) -> tuple[float, float]:
    """(fees, final equity) of always-in-the-market reversals filled at ``prices``: each fill after
    the first closes ``qty`` and opens ``qty`` the other way, so it pays the fee twice."""
    if len(prices) == 0:
        return 0.0, start_equity
    realised = float(np.sum(sides[:-1] * qty * np.diff(prices)))
    fees = fee_rate * qty * (float(prices[0]) + 2.0 * float(np.sum(prices[1:])))
    marked = float(sides[-1] * qty * (last_close - prices[-1]))
    return fees, start_equity + realised - fees + marked
