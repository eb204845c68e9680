"""Per-endpoint pacing (``adapters.rate_limiter.RateLimiter``) on a fake clock: nothing really sleeps."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.rate_limiter import RateLimiter

EPS = 1e-9


class FakeClock:
    """A clock that only moves when told to, and a sleep that moves it (and records each wait)."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def limiter(rates: dict[str, float], clock: FakeClock, default_rate: float = 10.0) -> RateLimiter:
    return RateLimiter(rates, default_rate=default_rate, clock=clock, sleep=clock.sleep)


def most_in_one_second(times: list[float]) -> int:
    """The largest number of ``times`` inside any half-open window ``[s, s + 1)``."""
    ordered = sorted(times)
    return max((sum(1 for t in ordered[i:] if t < start + 1.0 - EPS) for i, start in enumerate(ordered)), default=0)


def completions(rate: float, request_times: list[float]) -> list[float]:
    """When each request, made at its time by its own caller, is let through."""
    clock = FakeClock()
    pacer = RateLimiter({"k": rate}, clock=clock, sleep=lambda _s: None)
    done = []
    for when in request_times:
        clock.now = when
        done.append(when + pacer.acquire("k"))
    return done


# --- burst and spacing ----------------------------------------------------------------------------


def test_a_burst_of_rate_requests_passes_without_waiting():
    clock = FakeClock()
    pacer = limiter({"/p": 5}, clock)

    waits = [pacer.acquire("/p") for _ in range(5)]

    assert waits == [0.0] * 5
    assert clock.slept == []


def test_the_request_after_a_full_window_waits_until_the_first_leaves_it():
    clock = FakeClock()
    pacer = limiter({"/p": 5}, clock)
    for _ in range(5):
        pacer.acquire("/p")
        clock.now += 0.1

    assert pacer.acquire("/p") == pytest.approx(0.5)
    assert clock.now == pytest.approx(1.0)


def test_requests_made_at_once_go_in_bursts_of_rate_one_second_apart():
    clock = FakeClock()
    pacer = RateLimiter({"/p": 10}, clock=clock, sleep=lambda _s: None)

    waits = [pacer.acquire("/p") for _ in range(25)]

    assert waits == [0.0] * 10 + [1.0] * 10 + [2.0] * 5


def test_a_second_burst_just_before_the_window_ends_waits_for_it():
    done = completions(10, [0.0] * 10 + [0.95] * 10)

    assert done[10:] == [pytest.approx(1.0)] * 10
    assert sum(1 for t in done if t < 1.0) == 10


def test_keys_are_paced_independently():
    clock = FakeClock()
    pacer = limiter({"/a": 1, "/b": 1}, clock)

    assert pacer.acquire("/a") == 0.0
    assert pacer.acquire("/b") == 0.0
    assert pacer.acquire("/a") == pytest.approx(1.0)


def test_an_unknown_key_uses_the_default_rate():
    clock = FakeClock()
    pacer = RateLimiter({}, default_rate=2, clock=clock, sleep=lambda _s: None)

    assert [pacer.acquire("/x") for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]


def test_a_request_after_a_quiet_second_passes_at_once():
    clock = FakeClock()
    pacer = limiter({"/p": 2}, clock)
    pacer.acquire("/p")
    pacer.acquire("/p")
    clock.now = 1.0

    assert pacer.acquire("/p") == 0.0


# --- configuration --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rates", "default_rate"),
    [({}, 0.0), ({}, -1.0), ({}, 0.5), ({"/p": 0.0}, 10.0), ({"/p": -5.0}, 10.0), ({"/ok": 1.0, "/p": 0.5}, 10.0)],
)
def test_rates_under_one_per_second_are_refused(rates, default_rate):
    with pytest.raises(ValueError, match="at least 1 per second"):
        RateLimiter(rates, default_rate=default_rate)


# --- properties -----------------------------------------------------------------------------------

# Request times on a millisecond grid: the properties compare times with a 1e-9 tolerance, which
# needs the times themselves to be far coarser than that (1e-9 apart they are indistinguishable).
request_times = st.lists(st.integers(0, 5_000).map(lambda ms: ms / 1000.0), max_size=60).map(sorted)
rates = st.integers(min_value=1, max_value=20)


@example(rate=10, times=[0.0] * 10 + [0.95] * 10)
@given(rate=rates, times=request_times)
def test_no_one_second_window_ever_holds_more_than_rate_sends(rate, times):
    assert most_in_one_second(completions(rate, times)) <= rate


@given(rate=rates, times=request_times)
def test_a_request_waits_only_while_the_window_before_its_send_is_full(rate, times):
    done = completions(rate, times)
    for asked, sent in zip(times, done, strict=True):
        if sent > asked + EPS:
            assert sum(1 for t in done if sent - 1.0 - EPS <= t < sent - EPS) == rate


# --- counted from the answer ----------------------------------------------------------------------


def test_a_slot_is_counted_from_when_its_answer_came_back():
    clock = FakeClock()
    pacer = limiter({"/p": 2}, clock)
    with pacer.slot("/p"):
        clock.now = 0.3  # the venue may have counted this request at any time up to its answer
    with pacer.slot("/p"):
        pass

    pacer.acquire("/p")

    assert clock.now == pytest.approx(1.3)  # one second after the first answer, not after its send (1.0)


def test_a_slot_that_waits_reports_the_wait():
    clock = FakeClock()
    pacer = limiter({"/p": 1}, clock)
    with pacer.slot("/p"):
        pass

    with pacer.slot("/p") as waited:
        assert waited == pytest.approx(1.0)
