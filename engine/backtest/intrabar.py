"""Where a stop or a target fills inside a bar, when only its open, high and low are known.

A bar does not say in which order its high and its low came, so the rule assumes the worse one:

- If the bar touches the stop, the stop fills, even when it touches the target too (stop first).
- A touched level fills at the level itself, except when the bar opens beyond it (a gap): then
  at the open, which is worse for a stop and better for a target, as a market order would be.
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
    if side is Side.LONG:
        if stop > 0.0 and low <= stop:
            return min(open_, stop), STOP_REASON
        if target > 0.0 and high >= target:
            return max(open_, target), TARGET_REASON
        return None
    if stop > 0.0 and high >= stop:
        return max(open_, stop), STOP_REASON
    if target > 0.0 and low <= target:
        return min(open_, target), TARGET_REASON
    return None
