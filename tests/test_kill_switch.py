"""Per-symbol kill-switches (``engine.core.kill_switch``): stale data, wide spread, thin book,
and the depth within 10 bps of the mid that the thin-book check reads."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.kill_switch import STALE_DATA, THIN_BOOK, WIDE_SPREAD, depth_within, market_block
from engine.core.limits import KillSwitchLimits
from engine.messages import Quote

NOW = 1_700_000_000_000
LIMITS = KillSwitchLimits(stale_s=30.0, max_spread_bps=25.0, min_depth_usdt=5_000.0)


def quote(
    ts: int = NOW,
    bid: float = 9_999.0,
    ask: float = 10_001.0,
    bid_depth: float = 50_000.0,
    ask_depth: float = 50_000.0,
) -> Quote:
    """A fit market by default: 2 bps wide around 10,000, 50,000 USDT on each side."""
    return Quote("BTCUSDT", ts, bid, ask, (bid + ask) / 2.0, bid_depth, ask_depth)


def code(q: Quote | None, limits: KillSwitchLimits = LIMITS) -> str | None:
    """The code of the kill-switch that blocks ``q`` at ``NOW``, or None."""
    block = market_block(q, NOW, limits)
    return None if block is None else block[0]


def test_a_fresh_tight_deep_quote_is_not_blocked() -> None:
    assert market_block(quote(), NOW, LIMITS) is None


# --- stale data ---------------------------------------------------------------------------------


def test_no_quote_at_all_is_stale_data() -> None:
    assert market_block(None, NOW, LIMITS) == (STALE_DATA, "no market data received yet")


def test_a_quote_exactly_stale_s_old_still_passes() -> None:
    assert market_block(quote(ts=NOW - 30_000), NOW, LIMITS) is None


def test_a_quote_one_tenth_of_a_second_older_than_stale_s_is_stale_with_its_age() -> None:
    assert market_block(quote(ts=NOW - 30_100), NOW, LIMITS) == (STALE_DATA, "last update 30.1s old > 30s")


def test_staleness_is_measured_against_the_clock_given_not_the_quotes_own_time() -> None:
    q = quote(ts=NOW)
    assert market_block(q, NOW + 45_000, LIMITS) == (STALE_DATA, "last update 45.0s old > 30s")
    assert market_block(q, NOW + 45_000, KillSwitchLimits(stale_s=60.0)) is None


def test_staleness_is_checked_before_the_spread() -> None:
    crossed_and_old = quote(ts=NOW - 31_000, bid=101.0, ask=100.0)
    assert code(crossed_and_old) == STALE_DATA


# --- wide spread --------------------------------------------------------------------------------


def test_a_spread_just_above_the_limit_is_wide_spread_with_the_bps() -> None:
    # 25.2 USDT around a mid of 10,000 is 25.2 bps
    assert market_block(quote(bid=9_987.4, ask=10_012.6), NOW, LIMITS) == (WIDE_SPREAD, "spread 25.2 bps > 25 bps")


def test_a_spread_just_below_the_limit_passes() -> None:
    assert market_block(quote(bid=9_987.6, ask=10_012.4), NOW, LIMITS) is None  # 24.8 bps


def test_a_crossed_quote_is_wide_spread() -> None:
    assert market_block(quote(bid=10_001.0, ask=9_999.0), NOW, LIMITS) == (
        WIDE_SPREAD,
        "no valid two-sided quote (bid 10001.0, ask 9999.0)",
    )


def test_a_locked_quote_with_bid_equal_to_ask_passes() -> None:
    assert market_block(quote(bid=10_000.0, ask=10_000.0), NOW, LIMITS) is None


@pytest.mark.parametrize(("bid", "ask"), [(0.0, 10_001.0), (9_999.0, 0.0), (0.0, 0.0), (-1.0, 10_001.0)])
def test_a_one_sided_quote_is_wide_spread(bid: float, ask: float) -> None:
    block = market_block(quote(bid=bid, ask=ask), NOW, LIMITS)
    assert block is not None
    assert block[0] == WIDE_SPREAD
    assert block[1] == f"no valid two-sided quote (bid {bid}, ask {ask})"


@pytest.mark.parametrize(("bid", "ask"), [(math.nan, 10_001.0), (9_999.0, math.nan)])
def test_a_quote_with_a_nan_side_is_not_a_valid_two_sided_quote(bid: float, ask: float) -> None:
    assert code(quote(bid=bid, ask=ask)) == WIDE_SPREAD


# --- thin book ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("bid_depth", "ask_depth"), [(4_999.0, 50_000.0), (50_000.0, 4_999.0)])
def test_either_side_below_min_depth_is_thin_book(bid_depth: float, ask_depth: float) -> None:
    block = market_block(quote(bid_depth=bid_depth, ask_depth=ask_depth), NOW, LIMITS)
    assert block == (
        THIN_BOOK,
        f"depth within 10 bps: bids {bid_depth:,.0f} / asks {ask_depth:,.0f} USDT < 5,000",
    )


def test_depth_exactly_min_depth_on_both_sides_passes() -> None:
    assert market_block(quote(bid_depth=5_000.0, ask_depth=5_000.0), NOW, LIMITS) is None


def test_no_book_yet_depth_minus_one_is_not_judged_thin() -> None:
    assert market_block(quote(bid_depth=-1.0, ask_depth=-1.0), NOW, LIMITS) is None


def test_an_empty_book_side_with_zero_depth_is_thin() -> None:
    assert code(quote(bid_depth=0.0)) == THIN_BOOK


def test_min_depth_zero_turns_the_thin_book_check_off() -> None:
    assert market_block(quote(bid_depth=0.0, ask_depth=0.0), NOW, KillSwitchLimits(min_depth_usdt=0.0)) is None


def test_the_spread_is_checked_before_the_depth() -> None:
    wide_and_thin = quote(bid=9_900.0, ask=10_100.0, bid_depth=1.0)
    assert code(wide_and_thin) == WIDE_SPREAD


@pytest.mark.parametrize(
    "kwargs", [{"stale_s": 0.0}, {"max_spread_bps": -1.0}, {"stale_s": math.inf}, {"min_depth_usdt": -1.0}]
)
def test_nonsensical_kill_switch_limits_fail_at_construction(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="kill-switch limits"):
        KillSwitchLimits(**kwargs)


# --- depth within 10 bps ------------------------------------------------------------------------


def test_depth_within_counts_levels_up_to_10_bps_from_the_mid_in_usdt() -> None:
    # at mid 100, 10 bps is 0.1: 100.1 and 99.9 count, 100.11 and 99.89 do not
    levels = ((100.1, 1.0), (99.9, 2.0), (100.11, 5.0), (99.89, 7.0))
    assert depth_within(levels, 100.0) == pytest.approx(100.1 * 1.0 + 99.9 * 2.0)


def test_depth_within_of_an_empty_side_is_zero() -> None:
    assert depth_within((), 100.0) == 0.0


def test_depth_within_takes_a_wider_band_when_asked() -> None:
    levels = ((100.0, 1.0), (100.5, 2.0), (101.5, 4.0))
    assert depth_within(levels, 100.0, band_bps=100.0) == pytest.approx(100.0 + 201.0)


# offsets from the mid in bps, kept at least 0.1 bps away from the 10 bps edge so float rounding of
# the level prices cannot move a level across it
offsets_bps = st.one_of(st.floats(-9.9, 9.9), st.floats(10.1, 200.0), st.floats(-200.0, -10.1))


@settings(max_examples=300, deadline=None)
@given(
    mid=st.floats(0.0001, 200_000.0),
    levels=st.lists(st.tuples(offsets_bps, st.floats(0.0, 1e6)), max_size=20),
)
def test_depth_within_equals_the_brute_force_sum_of_levels_inside_the_band(
    mid: float, levels: list[tuple[float, float]]
) -> None:
    priced = tuple((mid * (1.0 + offset / 10_000.0), size) for offset, size in levels)
    expected = 0.0
    for (offset, _), (price, size) in zip(levels, priced, strict=True):
        if abs(offset) < 10.0:
            expected += price * size
    assert depth_within(priced, mid) == pytest.approx(expected, rel=1e-12, abs=1e-9)
