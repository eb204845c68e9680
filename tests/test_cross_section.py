"""Cross-sectional long/short selection (``engine.core.cross_section``) on crafted universes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.core.cross_section import (
    ARMS,
    IMBALANCE_OUT_OF_RANGE,
    NOT_FINITE,
    STALE,
    TOO_QUIET,
    TOO_VOLATILE,
    XsInput,
    XsRules,
    XsSelection,
    arm_of,
    rebalance,
    select,
    zscores,
)
from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, Regime, Side

T0 = 1_700_000_040_000
RULES = XsRules(k=2, min_symbols=4)


def xs(symbol: str, momentum: float = 0.0, imbalance: float = 0.0, atr_pct: float = 0.01, ts: int = T0) -> XsInput:
    return XsInput(symbol, ts, momentum, imbalance, atr_pct)


def momentum_universe() -> list[XsInput]:
    """Equal volatility, so momentum alone orders them: A strongest ... H weakest."""
    moves = {"AUSDT": 0.08, "BUSDT": 0.05, "CUSDT": 0.02, "DUSDT": 0.01, "EUSDT": -0.01, "FUSDT": -0.02}
    moves |= {"GUSDT": -0.05, "HUSDT": -0.08}
    return [xs(symbol, momentum=m) for symbol, m in moves.items()]


# --- ranking --------------------------------------------------------------------------------------


def test_the_strongest_momentum_names_are_the_longs_best_first() -> None:
    assert select(momentum_universe(), "momentum", RULES).longs == ("AUSDT", "BUSDT")


def test_the_weakest_momentum_names_are_the_shorts_worst_first() -> None:
    assert select(momentum_universe(), "momentum", RULES).shorts == ("HUSDT", "GUSDT")


def test_a_selection_has_an_empty_reason() -> None:
    assert select(momentum_universe(), "momentum", RULES).reason == ""


def test_momentum_is_volatility_adjusted_so_a_calm_coins_smaller_move_ranks_higher() -> None:
    universe = [
        xs("CALMUSDT", momentum=0.02, atr_pct=0.002),
        xs("WILDUSDT", momentum=0.03, atr_pct=0.03),
        *[xs(f"X{i}USDT", momentum=0.0) for i in range(4)],
    ]
    selection = select(universe, "momentum", XsRules(k=1, min_symbols=4))
    assert selection.longs == ("CALMUSDT",)
    assert selection.scores["CALMUSDT"] > selection.scores["WILDUSDT"]


def test_the_same_move_on_a_volatile_coin_scores_lower_than_on_a_calm_one() -> None:
    universe = [xs("CALMUSDT", 0.02, atr_pct=0.005), xs("WILDUSDT", 0.02, atr_pct=0.02)]
    universe += [xs(f"X{i}USDT", -0.01) for i in range(4)]
    scores = select(universe, "momentum", RULES).scores
    assert scores["CALMUSDT"] > scores["WILDUSDT"]


def test_the_imbalance_arm_picks_by_book_imbalance_regardless_of_momentum() -> None:
    universe = [
        xs("AUSDT", momentum=0.08, imbalance=-0.6),
        xs("BUSDT", momentum=0.05, imbalance=-0.3),
        xs("CUSDT", momentum=0.00, imbalance=0.0),
        xs("DUSDT", momentum=0.00, imbalance=0.1),
        xs("EUSDT", momentum=-0.05, imbalance=0.4),
        xs("FUSDT", momentum=-0.08, imbalance=0.7),
    ]
    selection = select(universe, "imbalance", RULES)
    assert selection.longs == ("FUSDT", "EUSDT")
    assert selection.shorts == ("AUSDT", "BUSDT")


def test_scores_are_cross_sectional_z_scores_with_population_std() -> None:
    universe = [xs(s, imbalance=v) for s, v in zip("ABCD", (-0.3, -0.1, 0.1, 0.3), strict=True)]
    scores = select(universe, "imbalance", RULES).scores
    std = math.sqrt((0.09 + 0.01 + 0.01 + 0.09) / 4)
    assert scores == pytest.approx({"A": -0.3 / std, "B": -0.1 / std, "C": 0.1 / std, "D": 0.3 / std})


def test_blend_is_the_mean_of_the_momentum_and_imbalance_z_scores() -> None:
    universe = [xs(s, momentum=m, imbalance=i) for s, m, i in [("A", 0.03, -0.2), ("B", 0.01, 0.5), ("C", -0.02, 0.1)]]
    universe += [xs("D", momentum=0.0, imbalance=-0.4)]
    mom = select(universe, "momentum", RULES).scores
    imb = select(universe, "imbalance", RULES).scores
    blend = select(universe, "blend", RULES).scores
    assert blend == pytest.approx({s: (mom[s] + imb[s]) / 2 for s in "ABCD"})


def test_a_long_needs_a_positive_score_and_a_short_a_negative_one() -> None:
    universe = [xs("AUSDT", momentum=0.05)] + [xs(f"X{i}USDT", momentum=-0.01) for i in range(5)]
    selection = select(universe, "momentum", XsRules(k=3, min_symbols=4))
    assert selection.longs == ("AUSDT",)
    assert selection.shorts == ("X0USDT", "X1USDT", "X2USDT")


def test_with_fewer_than_two_k_eligible_each_side_takes_half() -> None:
    universe = [xs(s, momentum=m) for s, m in zip("ABCDE", (0.05, 0.02, 0.0, -0.02, -0.05), strict=True)]
    selection = select(universe, "momentum", XsRules(k=3, min_symbols=4))
    assert selection.longs == ("A", "B")
    assert selection.shorts == ("E", "D")


def test_tied_scores_go_to_the_alphabetically_first_symbol() -> None:
    universe = [xs(s, momentum=m) for s, m in [("B", 0.05), ("A", 0.05), ("C", 0.0), ("D", -0.05), ("E", -0.05)]]
    selection = select(universe, "momentum", XsRules(k=1, min_symbols=4))
    assert selection.longs == ("A",)
    assert selection.shorts == ("D",)


def test_a_universe_without_spread_selects_nothing_and_says_why() -> None:
    selection = select([xs(f"X{i}", momentum=0.01) for i in range(6)], "momentum", RULES)
    assert (selection.longs, selection.shorts) == ((), ())
    assert selection.scores == {f"X{i}": 0.0 for i in range(6)}
    assert "no cross-sectional spread" in selection.reason


# --- eligibility ----------------------------------------------------------------------------------


def test_a_stale_symbol_is_excluded_and_not_scored() -> None:
    universe = [*momentum_universe(), xs("OLDUSDT", momentum=0.5, ts=T0 - 120_001)]
    selection = select(universe, "momentum", RULES)
    assert selection.excluded == {"OLDUSDT": STALE}
    assert "OLDUSDT" not in selection.scores
    assert selection.longs == ("AUSDT", "BUSDT")


def test_a_symbol_exactly_max_age_old_is_still_eligible() -> None:
    universe = [*momentum_universe(), xs("EDGEUSDT", ts=T0 - 120_000)]
    assert "EDGEUSDT" in select(universe, "momentum", RULES).scores


def test_symbols_outside_the_volatility_band_are_excluded_with_their_reason() -> None:
    universe = [*momentum_universe(), xs("WILDUSDT", 0.3, atr_pct=0.051), xs("DEADUSDT", 0.001, atr_pct=0.0009)]
    selection = select(universe, "momentum", RULES)
    assert selection.excluded == {"WILDUSDT": TOO_VOLATILE, "DEADUSDT": TOO_QUIET}
    assert set(selection.scores).isdisjoint({"WILDUSDT", "DEADUSDT"})


def test_the_band_edges_are_inclusive() -> None:
    universe = [*momentum_universe(), xs("LOWUSDT", atr_pct=0.001), xs("HIGHUSDT", atr_pct=0.05)]
    assert {"LOWUSDT", "HIGHUSDT"} <= set(select(universe, "momentum", RULES).scores)


@pytest.mark.parametrize("field", ["momentum", "imbalance", "atr_pct"])
@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_a_symbol_with_a_non_finite_input_is_excluded(field: str, value: float) -> None:
    bad = {"momentum": 0.0, "imbalance": 0.0, "atr_pct": 0.01} | {field: value}
    snapshot = XsInput("BADUSDT", T0, bad["momentum"], bad["imbalance"], bad["atr_pct"])
    selection = select([*momentum_universe(), snapshot], "blend", RULES)
    assert selection.excluded == {"BADUSDT": NOT_FINITE}


def test_an_imbalance_outside_minus_one_to_one_is_excluded() -> None:
    selection = select([*momentum_universe(), xs("BADUSDT", imbalance=1.5)], "imbalance", RULES)
    assert selection.excluded == {"BADUSDT": IMBALANCE_OUT_OF_RANGE}


def test_too_few_eligible_symbols_select_nothing_and_say_why() -> None:
    universe = [xs("AUSDT", 0.05), xs("BUSDT", -0.05), xs("CUSDT", 0.01, ts=T0 - 600_000)]
    selection = select(universe, "momentum", XsRules())
    assert (selection.longs, selection.shorts, selection.scores) == ((), (), {})
    assert selection.reason == "2 eligible symbols, need at least 6"
    assert selection.excluded == {"CUSDT": STALE}


def test_no_inputs_select_nothing_and_say_why() -> None:
    selection = select([], "momentum", RULES)
    assert (selection.longs, selection.shorts, selection.reason) == ((), (), "no inputs")


# --- validation -----------------------------------------------------------------------------------


def test_an_unknown_arm_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown cross-section arm 'carry'"):
        select(momentum_universe(), "carry", RULES)


def test_two_snapshots_of_one_symbol_are_refused() -> None:
    with pytest.raises(ValueError, match="AUSDT"):
        select([*momentum_universe(), xs("AUSDT")], "momentum", RULES)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"k": 0}, "k must be"),
        ({"min_atr_pct": 0.0}, "min_atr_pct"),
        ({"min_atr_pct": math.nan}, "min_atr_pct"),
        ({"max_atr_pct": 0.0005}, "max_atr_pct"),
        ({"max_age_ms": -1}, "max_age_ms"),
        ({"min_symbols": 1}, "min_symbols"),
    ],
)
def test_invalid_rules_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        XsRules(**kwargs)  # type: ignore[arg-type]


def test_arms_are_the_three_named_signals() -> None:
    assert ARMS == ("momentum", "imbalance", "blend")


def test_z_scores_survive_huge_magnitudes() -> None:
    z = zscores([1e308, -1e308, 0.0])
    assert np.all(np.isfinite(z))
    assert z[0] > 0 > z[1]


# --- properties -----------------------------------------------------------------------------------

_finite = st.floats(min_value=-0.5, max_value=0.5)
_snapshot = st.tuples(
    _finite,
    st.floats(min_value=-1.0, max_value=1.0),
    st.floats(min_value=0.0005, max_value=0.06),
    st.integers(min_value=0, max_value=200_000),
)
_universes = st.dictionaries(st.text("ABCDEFGHIJ", min_size=1, max_size=3), _snapshot, max_size=16).map(
    lambda rows: [xs(s, m, i, a, T0 - age) for s, (m, i, a, age) in rows.items()]
)


@given(universe=_universes, arm=st.sampled_from(ARMS), k=st.integers(min_value=1, max_value=6))
def test_longs_and_shorts_never_overlap_and_respect_k(universe: list[XsInput], arm: str, k: int) -> None:
    selection = select(universe, arm, XsRules(k=k, min_symbols=2))
    assert set(selection.longs).isdisjoint(selection.shorts)
    assert len(selection.longs) <= k and len(selection.shorts) <= k
    assert all(selection.scores[s] > 0 for s in selection.longs)
    assert all(selection.scores[s] < 0 for s in selection.shorts)
    assert set(selection.scores).isdisjoint(selection.excluded)


@given(universe=_universes, arm=st.sampled_from(ARMS), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_the_selection_does_not_depend_on_input_order(universe: list[XsInput], arm: str, seed: int) -> None:
    shuffled = [universe[i] for i in np.random.default_rng(seed).permutation(len(universe))]
    assert select(shuffled, arm, RULES) == select(universe, arm, RULES)


@given(universe=_universes, arm=st.sampled_from(ARMS))
def test_longs_outscore_every_unselected_symbol_and_shorts_underscore_them(universe: list[XsInput], arm: str) -> None:
    selection = select(universe, arm, RULES)
    rest = set(selection.scores) - set(selection.longs) - set(selection.shorts)
    assert all(selection.scores[lo] >= selection.scores[r] for lo in selection.longs for r in rest)
    assert all(selection.scores[sh] <= selection.scores[r] for sh in selection.shorts for r in rest)


# --- rebalance and arm_of -------------------------------------------------------------------------


def book(longs: tuple[str, ...], shorts: tuple[str, ...], arm: str = "momentum", ts: int = T0) -> XsSelection:
    scores = {s: 1.5 - 0.5 * i for i, s in enumerate(longs)} | {s: -1.5 + 0.5 * i for i, s in enumerate(shorts)}
    return XsSelection(longs, shorts, scores, {}, "", arm, ts)


def snapshot(symbol: str, last: float = 100.0, atr: float = 2.0, ts: int = T0 - 500) -> FeaturesUpdated:
    return FeaturesUpdated(
        symbol, ts, last, last - 0.1, last + 0.1, 2.0, 1e5, last, last, atr, True, True, regime=Regime.TRENDING
    )


def test_held_symbols_that_left_the_book_are_exited() -> None:
    selection = book(("AUSDT",), ("BUSDT",))
    held = {"AUSDT": Side.LONG, "BUSDT": Side.SHORT, "ZUSDT": Side.LONG, "YUSDT": Side.SHORT}
    intents = rebalance(selection, held, {s: snapshot(s) for s in held}, stop_atr=2.0)
    assert intents == [
        ExitPosition("YUSDT", T0, "left the cross-sectional book (momentum)"),
        ExitPosition("ZUSDT", T0, "left the cross-sectional book (momentum)"),
    ]


def test_new_longs_and_shorts_are_entered_with_stops_stop_atr_atrs_away() -> None:
    selection = book(("AUSDT",), ("BUSDT",), arm="blend")
    latest = {"AUSDT": snapshot("AUSDT", last=50.0, atr=1.5), "BUSDT": snapshot("BUSDT", last=8.0, atr=0.25)}
    long_entry, short_entry = rebalance(selection, {}, latest, stop_atr=2.0)
    assert long_entry == EnterPosition(
        "AUSDT", T0 - 500, Side.LONG, 50.0, 47.0, "xs_blend", "blend score +1.50, top long of the cross-section",
        regime=Regime.TRENDING,
    )  # fmt: skip
    assert isinstance(short_entry, EnterPosition)
    assert (short_entry.side, short_entry.price, short_entry.stop) == (Side.SHORT, 8.0, 8.5)
    assert short_entry.strategy == "xs_blend"
    assert short_entry.reason == "blend score -1.50, top short of the cross-section"


def test_a_symbol_held_on_its_selected_side_gets_no_intent() -> None:
    selection = book(("AUSDT",), ("BUSDT",))
    held = {"AUSDT": Side.LONG, "BUSDT": Side.SHORT}
    assert rebalance(selection, held, {s: snapshot(s) for s in held}, stop_atr=2.0) == []


def test_a_symbol_held_on_the_other_side_gets_a_reversal_entry() -> None:
    selection = book(("AUSDT",), ("BUSDT",))
    held = {"AUSDT": Side.SHORT, "BUSDT": Side.LONG}
    intents = rebalance(selection, held, {s: snapshot(s) for s in held}, stop_atr=1.0)
    assert [(i.symbol, i.side, i.stop) for i in intents if isinstance(i, EnterPosition)] == [
        ("AUSDT", Side.LONG, 98.0),
        ("BUSDT", Side.SHORT, 102.0),
    ]
    assert not any(isinstance(i, ExitPosition) for i in intents)  # the entry closes the old side itself


@pytest.mark.parametrize("atr", [0.0, -1.0, math.nan])
def test_a_selected_symbol_without_a_positive_atr_is_skipped(atr: float) -> None:
    selection = book(("AUSDT", "CUSDT"), ("BUSDT",))
    latest = {"AUSDT": snapshot("AUSDT", atr=atr), "BUSDT": snapshot("BUSDT"), "CUSDT": snapshot("CUSDT")}
    intents = rebalance(selection, {}, latest, stop_atr=2.0)
    assert [i.symbol for i in intents] == ["CUSDT", "BUSDT"]


def test_a_selected_symbol_without_features_or_a_price_is_skipped() -> None:
    selection = book(("AUSDT", "CUSDT"), ())
    assert rebalance(selection, {}, {"CUSDT": snapshot("CUSDT", last=math.nan)}, stop_atr=2.0) == []


def test_an_empty_book_exits_everything_held() -> None:
    selection = XsSelection((), (), {}, {}, "3 eligible symbols, need at least 6", "imbalance", T0)
    intents = rebalance(selection, {"AUSDT": Side.LONG}, {}, stop_atr=2.0)
    assert intents == [ExitPosition("AUSDT", T0, "left the cross-sectional book (imbalance)")]


@pytest.mark.parametrize("arm", ARMS)
def test_the_entry_strategy_name_credits_its_arm(arm: str) -> None:
    (entry,) = rebalance(book(("AUSDT",), (), arm=arm), {}, {"AUSDT": snapshot("AUSDT")}, stop_atr=2.0)
    assert isinstance(entry, EnterPosition)
    assert entry.strategy == f"xs_{arm}"
    assert arm_of(entry.strategy) == arm


@pytest.mark.parametrize("strategy", ["momentum", "trend", "xs_", "xs_carry", "XS_momentum", "long_dip", ""])
def test_arm_of_a_strategy_that_is_not_cross_sectional_is_none(strategy: str) -> None:
    assert arm_of(strategy) is None
