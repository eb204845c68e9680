"""exit_in_bar: where a stop or a target fills inside a bar known only by its open, high and low.

The rule is pessimistic: a touched stop fills even when the target was touched too, at the level
itself, or at the open when the bar opens beyond it (a gap); a target fills at the level, or at a
better open; a level of 0 is not set.
"""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from engine.backtest.intrabar import exit_in_bar
from engine.core.portfolio import STOP_REASON, TARGET_REASON
from engine.messages import Side

PRICES = st.floats(min_value=1.0, max_value=1_000.0, allow_nan=False, allow_infinity=False)


@st.composite
def bars(draw: st.DrawFn) -> tuple[float, float, float]:
    """(open, high, low) of a consistent bar: low <= open <= high."""
    open_ = draw(PRICES)
    high = open_ + draw(st.floats(min_value=0.0, max_value=100.0))
    low = open_ - draw(st.floats(min_value=0.0, max_value=open_ - 0.5))
    return open_, high, low


# --- worked examples -----------------------------------------------------------------------------


def test_a_long_stop_touched_inside_the_bar_fills_at_the_stop() -> None:
    assert exit_in_bar(Side.LONG, 95.0, 0.0, 100.0, 101.0, 94.0) == (95.0, STOP_REASON)


def test_a_long_stop_gapped_through_fills_at_the_open() -> None:
    assert exit_in_bar(Side.LONG, 95.0, 0.0, 93.0, 96.0, 92.0) == (93.0, STOP_REASON)


def test_a_long_target_touched_inside_the_bar_fills_at_the_target() -> None:
    assert exit_in_bar(Side.LONG, 95.0, 105.0, 100.0, 106.0, 99.0) == (105.0, TARGET_REASON)


def test_a_long_target_gapped_through_fills_at_the_better_open() -> None:
    assert exit_in_bar(Side.LONG, 95.0, 105.0, 107.0, 108.0, 106.0) == (107.0, TARGET_REASON)


def test_a_long_bar_touching_both_levels_exits_at_the_stop() -> None:
    assert exit_in_bar(Side.LONG, 95.0, 105.0, 100.0, 110.0, 90.0) == (95.0, STOP_REASON)


def test_a_short_stop_touched_inside_the_bar_fills_at_the_stop() -> None:
    assert exit_in_bar(Side.SHORT, 105.0, 0.0, 100.0, 106.0, 99.0) == (105.0, STOP_REASON)


def test_a_short_stop_gapped_through_fills_at_the_open() -> None:
    assert exit_in_bar(Side.SHORT, 105.0, 0.0, 107.0, 108.0, 104.0) == (107.0, STOP_REASON)


def test_a_short_target_gapped_through_fills_at_the_better_open() -> None:
    assert exit_in_bar(Side.SHORT, 105.0, 95.0, 93.0, 94.0, 92.0) == (93.0, TARGET_REASON)


def test_a_short_bar_touching_both_levels_exits_at_the_stop() -> None:
    assert exit_in_bar(Side.SHORT, 105.0, 95.0, 100.0, 110.0, 90.0) == (105.0, STOP_REASON)


def test_a_level_touched_exactly_counts_as_touched() -> None:
    assert exit_in_bar(Side.LONG, 95.0, 105.0, 100.0, 104.0, 95.0) == (95.0, STOP_REASON)
    assert exit_in_bar(Side.LONG, 95.0, 105.0, 100.0, 105.0, 96.0) == (105.0, TARGET_REASON)
    assert exit_in_bar(Side.SHORT, 105.0, 95.0, 100.0, 105.0, 96.0) == (105.0, STOP_REASON)
    assert exit_in_bar(Side.SHORT, 105.0, 95.0, 100.0, 104.0, 95.0) == (95.0, TARGET_REASON)


def test_levels_of_zero_are_not_set_so_nothing_exits() -> None:
    assert exit_in_bar(Side.LONG, 0.0, 0.0, 100.0, 1e9, 1e-9) is None
    assert exit_in_bar(Side.SHORT, 0.0, 0.0, 100.0, 1e9, 1e-9) is None


def test_a_bar_opening_beyond_the_target_exits_at_the_open_as_a_target_even_if_it_later_touches_the_stop() -> None:
    # long: stop 95, target 105; the bar opens at 107 (above the target) and later falls to 90
    assert exit_in_bar(Side.LONG, 95.0, 105.0, 107.0, 108.0, 90.0) == (107.0, TARGET_REASON)
    # short: stop 105, target 95; the bar opens at 93 (below the target) and later rises to 110
    assert exit_in_bar(Side.SHORT, 105.0, 95.0, 93.0, 110.0, 92.0) == (93.0, TARGET_REASON)


# --- properties ----------------------------------------------------------------------------------


@given(bar=bars(), stop=PRICES)
def test_a_long_stop_fill_is_never_above_the_stop_nor_above_the_open(
    bar: tuple[float, float, float], stop: float
) -> None:
    open_, high, low = bar
    assume(low <= stop)
    hit = exit_in_bar(Side.LONG, stop, 0.0, open_, high, low)
    assert hit is not None
    price, reason = hit
    assert reason == STOP_REASON
    assert price <= stop
    assert price <= open_
    assert price == min(open_, stop)


@given(bar=bars(), stop=PRICES)
def test_a_short_stop_fill_is_never_below_the_stop_nor_below_the_open(
    bar: tuple[float, float, float], stop: float
) -> None:
    open_, high, low = bar
    assume(high >= stop)
    hit = exit_in_bar(Side.SHORT, stop, 0.0, open_, high, low)
    assert hit is not None
    price, reason = hit
    assert reason == STOP_REASON
    assert price >= stop
    assert price >= open_
    assert price == max(open_, stop)


@given(bar=bars(), target=PRICES)
def test_a_long_target_fill_is_never_below_the_target_nor_below_the_open(
    bar: tuple[float, float, float], target: float
) -> None:
    open_, high, low = bar
    assume(high >= target)
    hit = exit_in_bar(Side.LONG, 0.0, target, open_, high, low)
    assert hit == (max(open_, target), TARGET_REASON)


@given(bar=bars(), target=PRICES)
def test_a_short_target_fill_is_never_above_the_target_nor_above_the_open(
    bar: tuple[float, float, float], target: float
) -> None:
    open_, high, low = bar
    assume(low <= target)
    hit = exit_in_bar(Side.SHORT, 0.0, target, open_, high, low)
    assert hit == (min(open_, target), TARGET_REASON)


@given(open_=PRICES, distances=st.tuples(*[st.floats(0.01, 0.4)] * 4))
def test_a_long_bar_opening_between_its_levels_and_touching_both_exits_at_the_stop_level(
    open_: float, distances: tuple[float, float, float, float]
) -> None:
    to_stop, to_target, below_stop, above_target = distances
    stop, target = open_ * (1.0 - to_stop), open_ * (1.0 + to_target)
    low, high = stop * (1.0 - below_stop), target * (1.0 + above_target)
    assert exit_in_bar(Side.LONG, stop, target, open_, high, low) == (stop, STOP_REASON)


@given(open_=PRICES, distances=st.tuples(*[st.floats(0.01, 0.4)] * 4))
def test_a_short_bar_opening_between_its_levels_and_touching_both_exits_at_the_stop_level(
    open_: float, distances: tuple[float, float, float, float]
) -> None:
    to_stop, to_target, above_stop, below_target = distances
    stop, target = open_ * (1.0 + to_stop), open_ * (1.0 - to_target)
    low, high = target * (1.0 - below_target), stop * (1.0 + above_stop)
    assert exit_in_bar(Side.SHORT, stop, target, open_, high, low) == (stop, STOP_REASON)


@given(bar=bars(), below=st.floats(0.01, 0.99), above=st.floats(0.001, 1.0))
def test_no_exit_when_the_bar_touches_neither_level(
    bar: tuple[float, float, float], below: float, above: float
) -> None:
    open_, high, low = bar
    assert exit_in_bar(Side.LONG, low * below, high * (1.0 + above), open_, high, low) is None
    assert exit_in_bar(Side.SHORT, high * (1.0 + above), low * below, open_, high, low) is None


TICKS = st.integers(min_value=1, max_value=4_000)


@given(ticks=st.tuples(TICKS, TICKS, TICKS, TICKS, TICKS), target_set=st.booleans())
def test_a_short_is_the_mirror_image_of_a_long(ticks: tuple[int, int, int, int, int], target_set: bool) -> None:
    """Reflecting every price through a constant turns a long into a short: the same exit, reflected.
    Prices are whole ticks so the reflection is exact."""
    a, b, c, stop, target = ticks
    low, open_, high = sorted((a, b, c))
    target = target if target_set else 0
    long_hit = exit_in_bar(Side.LONG, float(stop), float(target), float(open_), float(high), float(low))
    k = 5_000
    short_target = float(k - target) if target_set else 0.0
    short_hit = exit_in_bar(
        Side.SHORT, float(k - stop), short_target, float(k - open_), float(k - low), float(k - high)
    )
    if long_hit is None:
        assert short_hit is None
    else:
        assert short_hit == (k - long_hit[0], long_hit[1])


@given(bar=bars(), stop=PRICES, target=PRICES, side=st.sampled_from([Side.LONG, Side.SHORT]))
def test_every_exit_fills_within_the_bar_range_or_at_the_open(
    bar: tuple[float, float, float], stop: float, target: float, side: Side
) -> None:
    open_, high, low = bar
    hit = exit_in_bar(side, stop, target, open_, high, low)
    if hit is not None:
        assert low <= hit[0] <= high
