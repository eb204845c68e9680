"""Where a stop or a target fills inside a bar, when only its open, high and low are known.

A bar does not say in which order its high and its low came, so the rule assumes the worse one,
except for its open, which is known to come first:

- A bar that opens at or beyond a level fills it at the open (a gap): the stop if the open is at
  or past the stop, else the target if the open is at or past the target.
- Otherwise, if the bar touches the stop, the stop fills at the stop, even when the bar touches
  the target too (stop first); else a touched target fills at the target.
- A stop or target of 0 is not set.

The live engine exits at the first quote past a level; a bar's low is where the price went, not
where the exit would fill, so filling at the level (then charging half the spread and slippage
on it) is as close to live as bars allow without flattering the result.
"""

from __future__ import annotations

from engine.core.portfolio import STOP_REASON, TARGET_REASON
from engine.messages import Side


def exit_in_bar(
    side: Side, stop: float, target: float, open_: float, high: float, low: float
) -> tuple[float, str] | None:
    """``(price, reason)`` of the exit a position of ``side`` meets in this bar, or None."""
    sign = side.sign
    if stop > 0.0 and sign * (open_ - stop) <= 0.0:
        return open_, STOP_REASON
    if target > 0.0 and sign * (open_ - target) >= 0.0:
        return open_, TARGET_REASON
    if stop > 0.0 and sign * ((low if sign > 0 else high) - stop) <= 0.0:
        return stop, STOP_REASON
    if target > 0.0 and sign * ((high if sign > 0 else low) - target) >= 0.0:
        return target, TARGET_REASON
    return None
