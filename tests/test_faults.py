"""Fault injection (``engine.runtime.faults``): rule parsing, matching, limits and arming."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from engine.runtime.faults import FaultInjector, InjectedFault, parse_rule

# --- Parsing ---------------------------------------------------------------------------------------


def test_three_field_rule_parses_with_unlimited_times() -> None:
    rule = parse_rule("BTCUSDT:features:BarClosed")
    assert (rule.symbol, rule.role, rule.event, rule.remaining) == ("BTCUSDT", "features", "BarClosed", None)


def test_four_field_rule_parses_times_as_an_int() -> None:
    rule = parse_rule("ETHUSDT:signal:BookUpdated:3")
    assert (rule.symbol, rule.role, rule.event, rule.remaining) == ("ETHUSDT", "signal", "BookUpdated", 3)


def test_wildcards_parse_as_literal_stars() -> None:
    rule = parse_rule("*:*:*")
    assert (rule.symbol, rule.role, rule.event, rule.remaining) == ("*", "*", "*", None)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "BTCUSDT",
        "BTCUSDT:feed",
        "BTCUSDT:feed:BarClosed:1:extra",
        ":feed:BarClosed",
        "BTCUSDT::BarClosed",
        "BTCUSDT:feed:",
        "BTCUSDT:feed:BarClosed:",
        "BTCUSDT:feed:BarClosed:0",
        "BTCUSDT:feed:BarClosed:-1",
        "BTCUSDT:feed:BarClosed:two",
        "BTCUSDT:feed:BarClosed:1.5",
        "BTCUSDT:feed:BarClosed: 2",
        "BTCUSDT:feed:BarClosed:\u00b2",  # superscript two: str.isdigit() is True, int() rejects it
    ],
)
def test_invalid_rule_raises_value_error_naming_the_rule(text: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_rule(text)
    assert repr(text) in str(excinfo.value)


@given(times=st.text(min_size=1, max_size=4).filter(lambda s: ":" not in s))
@example(times="\u00b2")
@example(times="\u2460")
def test_any_times_field_either_parses_to_a_positive_int_or_raises_value_error_naming_the_rule(times: str) -> None:
    text = f"BTCUSDT:feed:BarClosed:{times}"
    try:
        rule = parse_rule(text)
    except ValueError as exc:
        assert repr(text) in str(exc)
    else:
        assert isinstance(rule.remaining, int)
        assert rule.remaining >= 1


def test_injector_rejects_an_invalid_rule_at_construction() -> None:
    with pytest.raises(ValueError, match="nonsense"):
        FaultInjector(["nonsense"])


def test_arm_rejects_an_invalid_rule_and_leaves_the_rules_unchanged() -> None:
    injector = FaultInjector(["BTCUSDT:feed:BarClosed"])
    with pytest.raises(ValueError, match="BTCUSDT:feed"):
        injector.arm("BTCUSDT:feed")
    assert len(injector.rules) == 1


# --- Matching --------------------------------------------------------------------------------------


def test_no_rules_means_check_never_raises() -> None:
    injector = FaultInjector()
    for event in ("BarClosed", "BookUpdated", "TickerUpdated"):
        injector.check("BTCUSDT", "feed", event)
    assert injector.fired == 0


def test_exact_rule_raises_injected_fault_for_the_matching_actor_and_event() -> None:
    injector = FaultInjector(["BTCUSDT:features:BarClosed"])
    with pytest.raises(InjectedFault, match="BTCUSDT features on BarClosed"):
        injector.check("BTCUSDT", "features", "BarClosed")


def test_injected_fault_is_a_runtime_error() -> None:
    assert issubclass(InjectedFault, RuntimeError)


@pytest.mark.parametrize(
    ("symbol", "role", "event"),
    [("ETHUSDT", "features", "BarClosed"), ("BTCUSDT", "signal", "BarClosed"), ("BTCUSDT", "features", "BookUpdated")],
)
def test_exact_rule_ignores_any_other_symbol_role_or_event(symbol: str, role: str, event: str) -> None:
    injector = FaultInjector(["BTCUSDT:features:BarClosed"])
    injector.check(symbol, role, event)
    assert injector.fired == 0


@given(symbol=st.sampled_from(["BTCUSDT", "ETHUSDT", "SOLUSDT"]))
def test_symbol_wildcard_matches_every_symbol(symbol: str) -> None:
    injector = FaultInjector(["*:feed:BarClosed"])
    with pytest.raises(InjectedFault):
        injector.check(symbol, "feed", "BarClosed")
    injector.check(symbol, "signal", "BarClosed")


@given(role=st.sampled_from(["feed", "features", "signal"]))
def test_role_wildcard_matches_every_role(role: str) -> None:
    injector = FaultInjector(["BTCUSDT:*:BarClosed"])
    with pytest.raises(InjectedFault):
        injector.check("BTCUSDT", role, "BarClosed")
    injector.check("ETHUSDT", role, "BarClosed")


@given(event=st.sampled_from(["BarClosed", "BookUpdated", "TickerUpdated", "TradesReceived"]))
def test_event_wildcard_matches_every_event(event: str) -> None:
    injector = FaultInjector(["BTCUSDT:feed:*"])
    with pytest.raises(InjectedFault):
        injector.check("BTCUSDT", "feed", event)
    injector.check("BTCUSDT", "signal", event)


@given(
    symbol=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8),
    role=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8),
    event=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=12),
)
def test_all_wildcard_rule_matches_anything(symbol: str, role: str, event: str) -> None:
    injector = FaultInjector(["*:*:*"])
    with pytest.raises(InjectedFault):
        injector.check(symbol, role, event)


def test_a_literal_star_is_only_a_wildcard_in_the_rule_not_in_the_checked_name() -> None:
    injector = FaultInjector(["BTCUSDT:feed:BarClosed"])
    injector.check("*", "*", "*")
    assert injector.fired == 0


# --- TIMES and disarming ---------------------------------------------------------------------------


def test_times_limits_the_number_of_raises_then_the_rule_disarms() -> None:
    injector = FaultInjector(["BTCUSDT:feed:BarClosed:2"])
    for _ in range(2):
        with pytest.raises(InjectedFault):
            injector.check("BTCUSDT", "feed", "BarClosed")
    injector.check("BTCUSDT", "feed", "BarClosed")
    injector.check("BTCUSDT", "feed", "BarClosed")
    assert injector.fired == 2
    assert injector.rules == []


@given(times=st.integers(min_value=1, max_value=20), calls=st.integers(min_value=0, max_value=40))
def test_a_rule_with_times_n_raises_exactly_min_n_calls_times(times: int, calls: int) -> None:
    injector = FaultInjector([f"*:*:BarClosed:{times}"])
    raised = 0
    for _ in range(calls):
        try:
            injector.check("BTCUSDT", "feed", "BarClosed")
        except InjectedFault:
            raised += 1
    assert raised == min(times, calls)
    assert injector.fired == raised


def test_non_matching_checks_do_not_use_up_times() -> None:
    injector = FaultInjector(["BTCUSDT:feed:BarClosed:1"])
    for _ in range(5):
        injector.check("ETHUSDT", "feed", "BarClosed")
    with pytest.raises(InjectedFault):
        injector.check("BTCUSDT", "feed", "BarClosed")


def test_rule_without_times_never_disarms() -> None:
    injector = FaultInjector(["BTCUSDT:feed:BarClosed"])
    for _ in range(50):
        with pytest.raises(InjectedFault):
            injector.check("BTCUSDT", "feed", "BarClosed")
    assert injector.fired == 50
    assert len(injector.rules) == 1


def test_disarming_one_rule_leaves_the_others_armed() -> None:
    injector = FaultInjector(["BTCUSDT:feed:BarClosed:1", "ETHUSDT:feed:BarClosed"])
    with pytest.raises(InjectedFault):
        injector.check("BTCUSDT", "feed", "BarClosed")
    injector.check("BTCUSDT", "feed", "BarClosed")
    with pytest.raises(InjectedFault):
        injector.check("ETHUSDT", "feed", "BarClosed")
    assert [(r.symbol, r.remaining) for r in injector.rules] == [("ETHUSDT", None)]


# --- Arming at run time and clearing ---------------------------------------------------------------


def test_arm_adds_a_rule_at_run_time() -> None:
    injector = FaultInjector()
    injector.check("BTCUSDT", "signal", "FeaturesUpdated")
    injector.arm("BTCUSDT:signal:FeaturesUpdated")
    with pytest.raises(InjectedFault):
        injector.check("BTCUSDT", "signal", "FeaturesUpdated")


def test_arm_keeps_existing_rules() -> None:
    injector = FaultInjector(["BTCUSDT:feed:BarClosed"])
    injector.arm("ETHUSDT:feed:BarClosed")
    for symbol in ("BTCUSDT", "ETHUSDT"):
        with pytest.raises(InjectedFault):
            injector.check(symbol, "feed", "BarClosed")


def test_arm_with_times_limits_the_run_time_rule() -> None:
    injector = FaultInjector()
    injector.arm("BTCUSDT:feed:BarClosed:1")
    with pytest.raises(InjectedFault):
        injector.check("BTCUSDT", "feed", "BarClosed")
    injector.check("BTCUSDT", "feed", "BarClosed")
    assert injector.fired == 1


def test_clear_disarms_every_rule() -> None:
    injector = FaultInjector(["*:*:*", "BTCUSDT:feed:BarClosed:3"])
    injector.clear()
    injector.check("BTCUSDT", "feed", "BarClosed")
    assert injector.rules == []
    assert injector.fired == 0


def test_clear_keeps_the_fired_count() -> None:
    injector = FaultInjector(["*:*:*"])
    with pytest.raises(InjectedFault):
        injector.check("BTCUSDT", "feed", "BarClosed")
    injector.clear()
    assert injector.fired == 1


# --- Counting --------------------------------------------------------------------------------------


def test_fired_counts_each_raise_across_rules() -> None:
    injector = FaultInjector(["BTCUSDT:feed:*", "*:signal:BarClosed:2"])
    calls = [
        ("BTCUSDT", "feed", "BarClosed"),  # fires
        ("ETHUSDT", "signal", "BarClosed"),  # fires (1 of 2)
        ("ETHUSDT", "feed", "BarClosed"),  # no rule
        ("SOLUSDT", "signal", "BarClosed"),  # fires (2 of 2)
        ("SOLUSDT", "signal", "BarClosed"),  # disarmed
        ("BTCUSDT", "feed", "TickerUpdated"),  # fires
    ]
    raised = 0
    for call in calls:
        try:
            injector.check(*call)
        except InjectedFault:
            raised += 1
    assert raised == 4
    assert injector.fired == 4


def test_one_check_raises_once_even_when_several_rules_match() -> None:
    injector = FaultInjector(["BTCUSDT:feed:BarClosed:1", "*:*:*:1"])
    with pytest.raises(InjectedFault):
        injector.check("BTCUSDT", "feed", "BarClosed")
    assert injector.fired == 1
    assert len(injector.rules) == 1
