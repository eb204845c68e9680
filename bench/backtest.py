"""Backtest benchmark: the reference EMA 9/21 cross run on 902,880 real 1-minute FILUSDT bars.

The rules are the ones every peer was measured with (``engine/backtest/ema_cross.py``): TA-Lib's
EMAs, strict crosses, always in the market after the first cross, signal on the close, fill at the
next open, 1,000 FIL, 0.06% fee per fill, 1,000,000 USDT, the last position marked at the last
close. The 21 monthly Binance files in ``../shared/data/real/binance_usdm_monthly/`` are loaded as
one series (time order). Peers on the same 2-core machines agree on 44,557 entries and -21.0278%,
at: vectorbt about 5,500,000 bars/s, backtesting.py 96,000, Freqtrade 8,900, NautilusTrader
5,000-20,000.

Printed: the load time (once, not part of the rate), bars/s of the run (median of ``--repeats``),
entries and total return, and the same run with the engine's own EMA code (the live path's
numbers) to show the decisions are identical.

    python bench/backtest.py
    python bench/backtest.py --data ../shared/data/real/binance_usdm_monthly --repeats 9
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from engine.backtest.data import load
from engine.backtest.ema_cross import run

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "real" / "binance_usdm_monthly"
PEER_ENTRIES = 44_557
PEER_RETURN_PCT = -21.0278
VECTORBT_BARS_PER_S = 5_500_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="FILUSDT 1m files (a folder)")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs; the median is printed")
    args = parser.parse_args()
    if not args.data.exists():
        print(f"no data at {args.data}: the benchmark needs the real FILUSDT history", file=sys.stderr)
        return 2
    started = time.perf_counter()
    candles = load(args.data, symbol="FILUSDT", timeframe="1m")
    load_s = time.perf_counter() - started
    open_, close = np.ascontiguousarray(candles.open), np.ascontiguousarray(candles.close)
    timings = []
    for _ in range(max(1, args.repeats)):
        started = time.perf_counter()
        result = run(open_, close)
        timings.append(time.perf_counter() - started)
    run_s = statistics.median(timings)
    exact = run(open_, close, engine_emas=True)  # loads the compiled EMA kernel: not timed
    exact_timings = []
    for _ in range(max(1, args.repeats)):
        started = time.perf_counter()
        exact = run(open_, close, engine_emas=True)
        exact_timings.append(time.perf_counter() - started)
    exact_s = statistics.median(exact_timings)
    pct = result.total_return * 100.0
    same = np.array_equal(result.signal_bars, exact.signal_bars) and result.final_equity == exact.final_equity
    gaps = len(candles.gaps())
    print(f"data: {len(candles):,} bars of {candles.symbol} from {args.data} loaded in {load_s:.2f}s ({gaps} gaps)")
    print(f"run: {run_s * 1000:.1f} ms median of {len(timings)} = {result.bars / run_s:,.0f} bars/s "
          f"({result.bars / run_s / VECTORBT_BARS_PER_S:.1f}x vectorbt's ~5,500,000)")  # fmt: skip
    print(f"entries {result.entries:,} (peers {PEER_ENTRIES:,}); total return {pct:.4f}% (peers {PEER_RETURN_PCT}%); "
          f"fees {result.fees:,.2f} USDT; final equity {result.final_equity:,.2f}")  # fmt: skip
    print(f"engine's own EMA (the live path's numbers): {exact.entries:,} entries, {exact.total_return * 100:.4f}%, "
          f"{'identical fills' if same else 'DIFFERENT fills'} ({exact.bars / exact_s:,.0f} bars/s)")  # fmt: skip
    agree = result.entries == PEER_ENTRIES and round(pct, 4) == PEER_RETURN_PCT
    print(f"target: same entries and return as the peers: {'PASS' if agree else 'FAIL'}; faster than vectorbt: "
          f"{'PASS' if result.bars / run_s > VECTORBT_BARS_PER_S else 'FAIL'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
