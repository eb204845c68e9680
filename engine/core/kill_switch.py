"""Per-symbol kill-switches: is this symbol's market fit for a new entry right now?

A stale quote means the engine is deciding on prices that may no longer exist; a wide spread or a
thin book means the fill and, worse, the exit will cost far more than the strategy assumed. Each
check names the number that failed, so a denial explains itself. Exits never pass through here.
"""

from __future__ import annotations

from engine.core.limits import KillSwitchLimits
from engine.messages import Level, Quote

STALE_DATA = "STALE_DATA"
WIDE_SPREAD = "WIDE_SPREAD"
THIN_BOOK = "THIN_BOOK"
DEPTH_BAND_BPS = 10.0


def depth_within(levels: tuple[Level, ...], mid: float, band_bps: float = DEPTH_BAND_BPS) -> float:
    """USDT resting on ``levels`` (one side of a book) priced within ``band_bps`` of ``mid``."""
    reach = mid * band_bps / 10_000.0
    low, high = mid - reach, mid + reach
    total = 0.0
    for price, size in levels:  # a plain loop: this runs on every book event (Features)
        if low <= price <= high:
            total += price * size
    return total


def market_block(quote: Quote | None, now_ts: int, limits: KillSwitchLimits) -> tuple[str, str] | None:
    """(code, why) if a kill-switch blocks new entries on the quote's symbol at ``now_ts``, else None.

    A symbol with no quote at all is stale. A book not seen yet (depth -1) is not judged thin:
    the ticker's spread still guards it.
    """
    if quote is None:
        return STALE_DATA, "no market data received yet"
    age_s = (now_ts - quote.ts) / 1000.0
    if age_s > limits.stale_s:
        return STALE_DATA, f"last update {age_s:.1f}s old > {limits.stale_s:g}s"
    bid, ask = quote.bid, quote.ask
    if not (bid > 0.0 and ask >= bid):  # also refuses a NaN side
        return WIDE_SPREAD, f"no valid two-sided quote (bid {bid}, ask {ask})"
    mid = (bid + ask) / 2.0
    spread_bps = (ask - bid) / mid * 10_000.0
    if spread_bps > limits.max_spread_bps:
        return WIDE_SPREAD, f"spread {spread_bps:.1f} bps > {limits.max_spread_bps:g} bps"
    depth = min(quote.bid_depth_usdt, quote.ask_depth_usdt)
    if quote.bid_depth_usdt >= 0.0 and quote.ask_depth_usdt >= 0.0 and depth < limits.min_depth_usdt:
        return THIN_BOOK, (
            f"depth within {DEPTH_BAND_BPS:g} bps: bids {quote.bid_depth_usdt:,.0f} / asks "
            f"{quote.ask_depth_usdt:,.0f} USDT < {limits.min_depth_usdt:,.0f}"
        )
    return None
