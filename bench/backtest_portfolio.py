"""Portfolio backtest benchmark: 100 symbols, a month of 1-minute bars, the engine's own decisions.

``engine backtest`` on the simulated market (the default regime strategy on 1m bars, the scanner's
top 5, the risk gate and the correlation block in force, default costs). The history is generated
first and not timed, nor is loading the compiled indicator kernels (a few seconds on the very
first run, while numba compiles them into its disk cache; printed apart). The run is the whole
fast path: every symbol's features, the scanner's ranking at every step, the strategies of the
symbols that can act, the correlation matrix each entry needs, and every order through RiskGate,
the paper fill model and Portfolio. Target: under a minute.

Printed: bars, seconds, bars/s, trades, and the run's fingerprint (equal on every run).

    python bench/backtest_portfolio.py
    python bench/backtest_portfolio.py --symbols 20 --days 7
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from engine.backtest.command import Request, load_series
from engine.backtest.driver import Backtest, Costs
from engine.backtest.report import fingerprint
from engine.config import load_config

TARGET_S = 60.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--symbols", type=int, default=100, help="how many simulated symbols")
    parser.add_argument("--days", type=float, default=30.0, help="days of 1m bars")
    args = parser.parse_args()

    config = load_config(cli={"sim.symbols": args.symbols})
    started = time.perf_counter()
    request = Request(("ALL",), None, "sim", None, None, Costs(), Path("unused"), sim_days=args.days)
    series = load_series(request, config)[: args.symbols]
    generated = time.perf_counter() - started
    bars = sum(len(s.candles) for s in series)
    print(f"history: {len(series)} symbols x {bars // len(series):,} 1m bars generated in {generated:.1f}s (not timed)")

    started = time.perf_counter()
    Backtest(config).run([replace(series[0], candles=series[0].candles.between(None, int(series[0].candles.ts[300])))])
    loaded = time.perf_counter() - started
    print(f"indicator kernels loaded in {loaded:.1f}s (compiled on the first run only; not timed)")

    started = time.perf_counter()
    result = Backtest(config).run(series)
    seconds = time.perf_counter() - started
    verdict = "PASS" if seconds < TARGET_S else "NOT MET"
    print(f"run: {result.bars:,} bars in {seconds:.1f}s = {result.bars / seconds:,.0f} bars/s "
          f"(target < {TARGET_S:.0f}s: {verdict})")  # fmt: skip
    print(f"trades {len(result.trades)}, fills {len(result.fills)}, refusals {sum(result.denials.values())}, "
          f"fingerprint {fingerprint(result.trades)}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
