"""Position sizing: how much to trade so that a stop-out loses a fixed fraction of equity.

Invariants:

- ``position_size(equity, risk_pct, entry, stop, lot) * |entry - stop| <= equity * risk_pct``:
  the raw size ``equity * risk_pct / |entry - stop|`` is only ever truncated *down* to the lot size,
  never rounded up, so the loss at the stop is never above the risk budget (beyond the one rounding
  of the float division itself).
- Leverage sets margin, never risk. A formula quoted on many trading sites multiplies the size by
  the leverage (``equity * risk_pct / distance * leverage``); at 3x leverage that loses 3% of equity
  at the stop instead of 1%. Here leverage only enters ``margin_required``, the capital the venue
  locks to hold the position; the loss at the stop is ``qty * distance`` whatever the leverage.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal, localcontext

from engine.messages import Side


def position_size(equity: float, risk_pct: float, entry: float, stop: float, lot_size: float = 0.0) -> float:
    """Base-unit quantity whose loss from ``entry`` to ``stop`` is at most ``risk_pct`` of equity.

    ``lot_size`` 0 means no lot rounding. No equity or no risk budget gives 0, never a negative
    size.
    Raises ``ValueError`` for a zero or non-finite stop distance or a negative lot size: those are
    bugs upstream, and sizing them would mean dividing by zero.
    """
    distance = abs(entry - stop)
    if not math.isfinite(distance) or distance == 0.0:
        raise ValueError(f"stop {stop} must differ from entry {entry}")
    if lot_size < 0.0:
        raise ValueError(f"lot size {lot_size} is negative")
    if equity <= 0.0 or risk_pct <= 0.0:
        return 0.0
    raw = equity * risk_pct / distance
    return raw if lot_size == 0.0 else truncate_to_lot(raw, lot_size)


def truncate_to_lot(qty: float, lot: float) -> float:
    """Round ``qty`` down to a whole number of lots, exactly.

    Decimal arithmetic on the shortest repr avoids float floor errors: ``0.3 / 0.1`` is
    ``2.9999999999999996`` in floats, which would drop a lot, and ``3 * 0.1`` is
    ``0.30000000000000004``, which would exceed the raw size. The result is never above ``qty``
    because every Decimal step rounds towards minus infinity, float conversion is monotonic and
    ``float(Decimal(repr(qty))) == qty``.
    """
    with localcontext(rounding=ROUND_FLOOR):
        lot_dec = Decimal(repr(lot))
        lots = (Decimal(repr(qty)) / lot_dec).to_integral_value()
        return float(lots * lot_dec)


def margin_required(qty: float, price: float, leverage: float) -> float:
    """Margin the venue locks for ``qty`` at ``price``: notional / leverage. Risk is unaffected."""
    if leverage <= 0.0:
        raise ValueError(f"leverage {leverage} must be positive")
    return qty * price / leverage


def loss_at_stop(side: Side, qty: float, entry: float, stop: float) -> float:
    """USDT lost if a position of ``qty`` entered at ``entry`` is closed at ``stop``.

    A stop already beyond the entry in the position's favour locks in profit and risks nothing (0).
    A missing stop (``stop <= 0``) counts as the whole notional: with no stop, heat must not look
    smaller than it is.
    """
    if stop <= 0.0:
        return qty * entry
    return qty * max(0.0, side.sign * (entry - stop))
