"""Checks that the state database tells one consistent story: what ``engine audit`` runs.

The ledger of record is the fills table (in the order booked) plus the funding payments. From it
alone this rebuilds the portfolio and checks that:

- the saved portfolio has booked a prefix of the ledger (never a fill the ledger lacks, never one
  twice); a suffix not booked yet is what a crash leaves, and the next start books it;
- its positions and cash equal those of the rebuilt portfolio: each position is the sum of its
  fills;
- the trade journal holds exactly the trades those fills closed, each once;
- the equity curve's cash only ever moves along the ledger: no reset, no step back, no jump a
  fill or funding payment does not explain.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from engine.core.portfolio import Portfolio
from engine.store.sqlite_store import StateStore

PORTFOLIO_KEY = "portfolio"
_TOLERANCE = 1e-6


@dataclass(slots=True)
class AuditReport:
    """What was checked, and every inconsistency found (none means the state is sound)."""

    fills: int = 0
    unbooked_fills: int = 0
    trades: int = 0
    positions: int = 0
    equity_samples: int = 0
    problems: list[str] = field(default_factory=list)


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=_TOLERANCE)


def audit(store: StateStore, starting_equity: float) -> AuditReport:
    """Check ``store`` against its own ledger; ``starting_equity`` is used only if nothing was saved."""
    report = AuditReport()
    problems = report.problems
    fills = store.fills()
    funding = store.funding()
    state = store.get_state(PORTFOLIO_KEY)
    saved = Portfolio.from_state(state) if state is not None else Portfolio(starting_equity)
    report.fills = len(fills)
    booked = [saved.has_fill(f.fill_id) for f in fills]
    first_unbooked = booked.index(False) if False in booked else len(fills)
    report.unbooked_fills = len(fills) - first_unbooked
    if any(booked[first_unbooked:]):
        problems.append("the saved portfolio booked fills after one it has not booked: not a prefix of the ledger")
    ledger_ids = {f.fill_id for f in fills}
    phantom = [fill_id for fill_id in (state or {}).get("seen_fill_ids", []) if fill_id not in ledger_ids]
    if phantom:
        problems.append(f"the saved portfolio booked {len(phantom)} fills the ledger lacks, e.g. {phantom[0]}")

    rebuilt = Portfolio(saved.starting_equity)
    for payment in funding:
        rebuilt.book_funding(payment)
    trajectory = [rebuilt.cash - rebuilt.funding]
    closed = []
    for f in fills[:first_unbooked]:
        closed.extend(rebuilt.apply_fill(f))
        trajectory.append(rebuilt.cash - rebuilt.funding)
    _compare_positions(saved, rebuilt, problems)
    report.positions = len(rebuilt.snapshot(0).positions)
    if not _close(saved.cash, rebuilt.cash):
        problems.append(f"saved cash {saved.cash:.6f} != {rebuilt.cash:.6f} rebuilt from the ledger")

    journal = [t for t in store.trades() if t.fill_id]
    report.trades = len(journal)
    kept = {t.fill_id: t for t in journal}
    if len(kept) != len(journal):
        problems.append(f"the trade journal holds {len(journal) - len(kept)} trades twice")
    derived = {t.fill_id: t for t in closed}
    lost = sorted(set(derived) - set(kept))
    extra = sorted(set(kept) - set(derived))
    if lost:
        problems.append(f"{len(lost)} trades closed by booked fills are missing from the journal, e.g. {lost[0]}")
    if extra:
        problems.append(f"{len(extra)} journal trades were closed by no booked fill, e.g. {extra[0]}")
    for fill_id in sorted(set(kept) & set(derived)):
        if not _close(kept[fill_id].pnl, derived[fill_id].pnl):
            problems.append(f"trade of fill {fill_id}: journal PnL {kept[fill_id].pnl} != {derived[fill_id].pnl}")

    _check_equity(store, trajectory, funding_by_ts=[(p.ts, p.amount) for p in funding], report=report)
    return report


def _compare_positions(saved: Portfolio, rebuilt: Portfolio, problems: list[str]) -> None:
    ours = {v.symbol: v for v in saved.snapshot(0).positions}
    theirs = {v.symbol: v for v in rebuilt.snapshot(0).positions}
    for symbol in sorted(set(ours) | set(theirs)):
        a, b = ours.get(symbol), theirs.get(symbol)
        if a is None or b is None:
            problems.append(f"{symbol}: saved position {a} but the fills give {b}")
        elif a.side is not b.side or not _close(a.qty, b.qty) or not _close(a.entry, b.entry):
            problems.append(
                f"{symbol}: saved {a.side.value} {a.qty} @ {a.entry} but the fills give "
                f"{b.side.value} {b.qty} @ {b.entry}"
            )


def _check_equity(
    store: StateStore, trajectory: list[float], funding_by_ts: list[tuple[int, float]], report: AuditReport
) -> None:
    """Each sample's cash, less the funding settled by its time, is a point of the fills' cash path,
    and successive samples never move back along it."""
    times = [ts for ts, _ in funding_by_ts]
    cumulative = [0.0]
    for _, amount in funding_by_ts:
        cumulative.append(cumulative[-1] + amount)
    position = 0
    samples = store.equity_samples()
    report.equity_samples = len(samples)
    for sample in samples:
        cash = sample.cash - cumulative[bisect.bisect_right(times, sample.ts)]
        step = next((i for i in range(position, len(trajectory)) if _close(trajectory[i], cash)), None)
        if step is None:
            back = any(_close(c, cash) for c in trajectory[:position])
            what = "moved back along the ledger" if back else "is not explained by the ledger"
            report.problems.append(f"equity sample at {sample.ts}: cash {sample.cash:.6f} {what}")
            return
        position = step
