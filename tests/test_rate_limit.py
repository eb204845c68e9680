"""Sliding-window entry rate limits (``engine.core.rate_limit.EntryRate``) on event time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.limits import DAY_MS, HOUR_MS, MINUTE_MS, RiskLimits
from engine.core.rate_limit import EntryRate

T0 = 1_700_000_000_000


def rate(per_minute: int = 10, per_hour: int = 60, per_day: int = 300) -> EntryRate:
    """An EntryRate with the engine's three windows, as RiskLimits configures them."""
    limits = RiskLimits(max_entries_per_minute=per_minute, max_entries_per_hour=per_hour, max_entries_per_day=per_day)
    return EntryRate(limits.rate_windows())


def recorded(r: EntryRate, *times: int) -> EntryRate:
    for ts in times:
        assert r.breach(ts) == "", ts
        r.record(ts)
    return r


# --- each window --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "window_ms", "limits"),
    [
        ("minute", MINUTE_MS, {"per_minute": 3}),
        ("hour", HOUR_MS, {"per_minute": 10, "per_hour": 3}),
        ("day", DAY_MS, {"per_minute": 10, "per_hour": 60, "per_day": 3}),
    ],
)
def test_the_entry_after_the_limit_is_denied_until_the_oldest_leaves_the_window(
    name: str, window_ms: int, limits: dict[str, int]
) -> None:
    third = window_ms // 3
    r = recorded(rate(**limits), T0, T0 + third, T0 + 2 * third)
    assert r.breach(T0 + window_ms - 1) == f"3 entries in the last {name}, limit 3"
    # the first entry is now exactly one window old: it no longer counts
    assert r.breach(T0 + window_ms) == ""


def test_entries_at_the_same_millisecond_all_count() -> None:
    r = recorded(rate(per_minute=2), T0, T0)
    assert r.breach(T0) == "2 entries in the last minute, limit 2"


def test_breach_alone_does_not_count_an_entry() -> None:
    r = rate(per_minute=1)
    for _ in range(5):
        assert r.breach(T0) == ""
    assert r.counts(T0) == {"minute": 0, "hour": 0, "day": 0}


def test_the_shortest_window_that_is_full_is_the_one_reported() -> None:
    r = recorded(rate(per_minute=2, per_hour=2), T0, T0 + 1)
    assert r.breach(T0 + 2) == "2 entries in the last minute, limit 2"
    assert r.breach(T0 + MINUTE_MS + 1) == "2 entries in the last hour, limit 2"


# --- counts and restore -------------------------------------------------------------------------


def test_counts_gives_the_entries_in_each_window_ending_at_ts() -> None:
    r = recorded(rate(), T0, T0 + 30 * MINUTE_MS, T0 + 2 * HOUR_MS, T0 + 2 * HOUR_MS + 30_000)
    now = T0 + 2 * HOUR_MS + 45_000
    assert r.counts(now) == {"minute": 2, "hour": 2, "day": 4}
    assert r.counts(T0 + DAY_MS) == {"minute": 0, "hour": 0, "day": 3}


def test_restore_from_unsorted_times_counts_them_as_if_recorded_in_order() -> None:
    r = rate(per_minute=3)
    r.restore([T0 + 50_000, T0, T0 + 30_000, T0 - DAY_MS])
    assert r.counts(T0 + 59_999) == {"minute": 3, "hour": 3, "day": 3}
    assert r.breach(T0 + 59_999) == "3 entries in the last minute, limit 3"
    assert r.breach(T0 + MINUTE_MS) == ""


def test_restore_replaces_the_entries_recorded_before() -> None:
    r = recorded(rate(per_minute=1), T0)
    r.restore([])
    assert r.breach(T0) == ""


def test_an_entry_recorded_out_of_order_still_counts_in_its_window() -> None:
    r = rate(per_minute=2)
    r.record(T0 + 50_000)
    r.record(T0)
    assert r.breach(T0 + 55_000) == "2 entries in the last minute, limit 2"
    assert r.breach(T0 + MINUTE_MS) == ""


# --- property -----------------------------------------------------------------------------------

WINDOWS = (("minute", 1_000, 3), ("hour", 10_000, 7), ("day", 50_000, 15))


def in_window(times: list[int], end: int, window_ms: int) -> int:
    return sum(1 for t in times if end - window_ms < t <= end)


@settings(max_examples=300, deadline=None)
@given(gaps=st.lists(st.integers(0, 2_500), min_size=1, max_size=120))
def test_recording_only_what_breach_allows_never_overfills_any_window(gaps: list[int]) -> None:
    r = EntryRate(WINDOWS)
    kept: list[int] = []
    ts = T0
    for gap in gaps:
        ts += gap
        why = r.breach(ts)
        full = [(name, most) for name, ms, most in WINDOWS if in_window(kept, ts, ms) >= most]
        # denied exactly when some window already holds its limit, naming the first such window
        assert bool(why) == bool(full)
        if full:
            assert why.endswith(f" entries in the last {full[0][0]}, limit {full[0][1]}")
            continue
        r.record(ts)
        kept.append(ts)
    for _, window_ms, most in WINDOWS:
        assert max(in_window(kept, end, window_ms) for end in kept) <= most
