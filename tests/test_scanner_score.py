"""The scanner's score (``engine.core.scanner``): components, percentile ranks, weights, eligibility."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import rankdata

from engine.core.scanner import ScanWeights, Scored, components, percentile_ranks, score
from engine.messages import FeaturesUpdated, Regime

T0 = 1_700_000_040_000
MAX_AGE = 60_000
DEFAULT = ScanWeights()


def feat(
    symbol: str = "BTCUSDT",
    *,
    trend: float = 1.0,
    atr_expansion: float = 1.0,
    momentum: float = 0.01,
    volume: float = 1.0,
    ts: int = T0,
    warm: bool = True,
    atr: float = 2.0,
    regime: str = Regime.TRENDING,
) -> FeaturesUpdated:
    """Features whose raw components are (about) the given ones: EMAs ``trend`` ATRs apart, etc."""
    return FeaturesUpdated(
        symbol,
        ts,
        last=100.0,
        bid=99.9,
        ask=100.1,
        spread_bps=2.0,
        depth_usdt=1e5,
        ema_fast=100.0 + trend * atr,
        ema_slow=100.0,
        atr=atr,
        warm=warm,
        bar_closed=True,
        atr_median=atr / atr_expansion,
        momentum=momentum,
        volume_spike=volume,
        regime=regime,
    )


def by_symbol(scored: list[Scored]) -> dict[str, float]:
    return {s.symbol: s.score for s in scored}


# --- components ----------------------------------------------------------------------------------


def test_components_are_trend_atr_expansion_abs_momentum_and_volume_spike() -> None:
    f = FeaturesUpdated(
        "BTCUSDT", T0, 100.0, 99.9, 100.1, 2.0, 1e5, ema_fast=103.0, ema_slow=100.0, atr=2.0, warm=True,
        bar_closed=True, atr_median=0.8, momentum=-0.04, volume_spike=3.5,
    )  # fmt: skip
    assert components(f) == pytest.approx((1.5, 2.5, 0.04, 3.5))


@pytest.mark.parametrize(
    "changes",
    [
        {"warm": False},
        {"atr": 0.0},
        {"atr": -1.0},
        {"atr_median": 0.0},
        {"atr_median": math.nan},
        {"momentum": math.nan},
        {"volume_spike": math.nan},
        {"volume_spike": math.inf},
        {"ema_fast": math.nan},
    ],
)
def test_components_of_features_with_an_unknown_input_are_none(changes: dict[str, object]) -> None:
    base = {
        "symbol": "BTCUSDT", "ts": T0, "last": 100.0, "bid": 99.9, "ask": 100.1, "spread_bps": 2.0,
        "depth_usdt": 1e5, "ema_fast": 103.0, "ema_slow": 100.0, "atr": 2.0, "warm": True,
        "bar_closed": True, "atr_median": 1.0, "momentum": 0.01, "volume_spike": 1.0,
    }  # fmt: skip
    assert components(FeaturesUpdated(**(base | changes))) is None


# --- percentile ranks ---------------------------------------------------------------------------


def test_percentile_ranks_put_the_lowest_at_0_and_the_highest_at_1() -> None:
    assert percentile_ranks([3.0, 1.0, 2.0, 5.0, 4.0]).tolist() == [0.5, 0.0, 0.25, 1.0, 0.75]


def test_tied_values_share_their_average_rank() -> None:
    # ranks 0..4; the tied pair takes (1 + 2) / 2 = 1.5, the tied triple below it would take 1
    assert percentile_ranks([1.0, 2.0, 2.0, 3.0, 4.0]).tolist() == [0.0, 0.375, 0.375, 0.75, 1.0]
    assert percentile_ranks([7.0, 7.0, 7.0, 9.0]).tolist() == [1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 1.0]


def test_all_equal_values_all_rank_in_the_middle() -> None:
    assert percentile_ranks([2.0, 2.0, 2.0]).tolist() == [0.5, 0.5, 0.5]


def test_a_single_value_ranks_in_the_middle() -> None:
    assert percentile_ranks([42.0]).tolist() == [0.5]


def test_no_values_have_no_ranks() -> None:
    assert percentile_ranks([]).tolist() == []


def test_two_values_rank_0_and_1() -> None:
    assert percentile_ranks([5.0, -5.0]).tolist() == [1.0, 0.0]


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=40))
def test_percentile_ranks_are_scipys_average_ranks_scaled_to_0_1(values: list[float]) -> None:
    ranks = percentile_ranks(values)
    expected = (rankdata(values, method="average") - 1.0) / (len(values) - 1)
    assert ranks == pytest.approx(expected, abs=1e-12)
    assert ranks.min() == 0.0 or len(set(values)) < len(values)
    assert all(0.0 <= r <= 1.0 for r in ranks)


@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=40))
def test_percentile_ranks_average_to_one_half(values: list[float]) -> None:
    assert float(np.mean(percentile_ranks(values))) == pytest.approx(0.5)


# --- weights ------------------------------------------------------------------------------------


def test_default_weights() -> None:
    assert (DEFAULT.trend, DEFAULT.atr_expansion, DEFAULT.momentum, DEFAULT.volume) == (0.35, 0.25, 0.25, 0.15)


@pytest.mark.parametrize(
    "weights",
    [(0.5, 0.5, 0.5, 0.5), (0.35, 0.25, 0.25, 0.1), (0.0, 0.0, 0.0, 0.0), (1.2, -0.2, 0.0, 0.0), (1.0, 0.0, 0.0, 1e-6)],
)
def test_weights_must_be_non_negative_and_sum_to_one(weights: tuple[float, float, float, float]) -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        ScanWeights(*weights)


@pytest.mark.parametrize("weights", [(1.0, 0.0, 0.0, 0.0), (0.25, 0.25, 0.25, 0.25), (0.7, 0.1, 0.1, 0.1)])
def test_weights_summing_to_one_are_accepted(weights: tuple[float, float, float, float]) -> None:
    ScanWeights(*weights)


def test_one_weight_alone_scores_by_that_components_percentile() -> None:
    latest = {
        "AUSDT": feat("AUSDT", trend=3.0, volume=1.0),
        "BUSDT": feat("BUSDT", trend=1.0, volume=9.0),
        "CUSDT": feat("CUSDT", trend=2.0, volume=5.0),
    }
    by_trend = by_symbol(score(latest, ScanWeights(1.0, 0.0, 0.0, 0.0), MAX_AGE))
    by_volume = by_symbol(score(latest, ScanWeights(0.0, 0.0, 0.0, 1.0), MAX_AGE))
    assert by_trend == {"AUSDT": 1.0, "CUSDT": 0.5, "BUSDT": 0.0}
    assert by_volume == {"BUSDT": 1.0, "CUSDT": 0.5, "AUSDT": 0.0}


# --- exact scores ----------------------------------------------------------------------------

# Five symbols whose component percentiles (ranks / 4) are:
#            trend  atr_exp  momentum  volume   score with the default weights 0.35/0.25/0.25/0.15
#   AUSDT      4       0        2        1      (1.40 + 0.00 + 0.50 + 0.15) / 4 = 0.5125
#   BUSDT      3       4        0        2      (1.05 + 1.00 + 0.00 + 0.30) / 4 = 0.5875
#   CUSDT      2       1        4        4      (0.70 + 0.25 + 1.00 + 0.60) / 4 = 0.6375
#   DUSDT      1       3        3        0      (0.35 + 0.75 + 0.75 + 0.00) / 4 = 0.4625
#   EUSDT      0       2        1        3      (0.00 + 0.50 + 0.25 + 0.45) / 4 = 0.3000
UNIVERSE = {
    "AUSDT": feat("AUSDT", trend=5.0, atr_expansion=0.8, momentum=0.03, volume=1.1, regime=Regime.TRENDING),
    "BUSDT": feat("BUSDT", trend=4.0, atr_expansion=2.5, momentum=-0.001, volume=1.5, regime=Regime.HIGH_VOLATILITY),
    "CUSDT": feat("CUSDT", trend=3.0, atr_expansion=0.9, momentum=-0.09, volume=7.0, regime=Regime.RANGING),
    "DUSDT": feat("DUSDT", trend=2.0, atr_expansion=1.6, momentum=0.05, volume=0.4, regime=Regime.RANGING),
    "EUSDT": feat("EUSDT", trend=0.5, atr_expansion=1.2, momentum=0.02, volume=2.0, regime=Regime.UNKNOWN),
}


def test_a_crafted_universe_gets_the_hand_computed_scores() -> None:
    scored = score(UNIVERSE, DEFAULT, MAX_AGE)
    assert [s.symbol for s in scored] == ["CUSDT", "BUSDT", "AUSDT", "DUSDT", "EUSDT"]
    assert [s.score for s in scored] == pytest.approx([0.6375, 0.5875, 0.5125, 0.4625, 0.3], abs=1e-12)


def test_scored_carries_the_raw_components_and_the_regime() -> None:
    best = score(UNIVERSE, DEFAULT, MAX_AGE)[0]
    assert best.symbol == "CUSDT"
    assert (best.trend, best.atr_expansion, best.momentum, best.volume_spike) == pytest.approx((3.0, 0.9, 0.09, 7.0))
    assert best.regime == Regime.RANGING


def test_the_scores_of_a_universe_average_to_one_half() -> None:
    # every column of percentiles averages 1/2 and the weights sum to 1
    assert float(np.mean([s.score for s in score(UNIVERSE, DEFAULT, MAX_AGE)])) == pytest.approx(0.5)


def test_momentum_counts_by_its_size_not_its_direction() -> None:
    latest = {
        "UPUSDT": feat("UPUSDT", momentum=0.05),
        "DOWNUSDT": feat("DOWNUSDT", momentum=-0.05),
        "FLATUSDT": feat("FLATUSDT", momentum=0.0),
    }
    scores = by_symbol(score(latest, ScanWeights(0.0, 0.0, 1.0, 0.0), MAX_AGE))
    assert scores == {"UPUSDT": 0.75, "DOWNUSDT": 0.75, "FLATUSDT": 0.0}


def test_an_outlier_moves_a_score_no_more_than_any_other_highest_value() -> None:
    # percentile ranks make one listing day's 500x volume worth what a 2x volume would be
    calm = {f"S{i}USDT": feat(f"S{i}USDT", volume=1.0 + i / 10) for i in range(4)}
    spike = calm | {"XUSDT": feat("XUSDT", volume=500.0)}
    mild = calm | {"XUSDT": feat("XUSDT", volume=2.0)}
    assert by_symbol(score(spike, DEFAULT, MAX_AGE)) == by_symbol(score(mild, DEFAULT, MAX_AGE))


def test_a_symbol_best_on_every_component_scores_exactly_one_and_the_worst_exactly_zero() -> None:
    latest = {
        "BESTUSDT": feat("BESTUSDT", trend=9.0, atr_expansion=3.0, momentum=-0.2, volume=9.0),
        "MIDUSDT": feat("MIDUSDT", trend=2.0, atr_expansion=1.5, momentum=0.05, volume=2.0),
        "MID2USDT": feat("MID2USDT", trend=1.5, atr_expansion=1.1, momentum=0.02, volume=3.0),
        "WORSTUSDT": feat("WORSTUSDT", trend=0.1, atr_expansion=0.5, momentum=0.0, volume=0.2),
    }
    scores = by_symbol(score(latest, DEFAULT, MAX_AGE))
    assert scores["BESTUSDT"] == 1.0
    assert scores["WORSTUSDT"] == 0.0
    assert 0.0 < scores["MIDUSDT"] < 1.0 and 0.0 < scores["MID2USDT"] < 1.0


@pytest.mark.parametrize("weights", [(1.0, 0.0, 0.0, 0.0), (0.25, 0.25, 0.25, 0.25), (0.5, 0.25, 0.125, 0.125)])
def test_best_on_everything_is_exactly_one_for_other_weights_too(weights: tuple[float, float, float, float]) -> None:
    latest = {
        "AUSDT": feat("AUSDT", trend=9.0, atr_expansion=3.0, momentum=0.2, volume=9.0),
        "BUSDT": feat("BUSDT", trend=1.0, atr_expansion=1.0, momentum=0.01, volume=1.0),
    }
    assert by_symbol(score(latest, ScanWeights(*weights), MAX_AGE)) == {"AUSDT": 1.0, "BUSDT": 0.0}


def test_a_score_never_exceeds_one_whatever_valid_weights() -> None:
    # regression: weights within the 1e-9 tolerance once gave the best symbol 1.0000000005
    latest = {
        "AUSDT": feat("AUSDT", trend=9.0, atr_expansion=3.0, momentum=0.2, volume=9.0),
        "BUSDT": feat("BUSDT", trend=1.0, atr_expansion=1.0, momentum=0.01, volume=1.0),
    }
    weights = ScanWeights(0.25, 0.25, 0.25, 0.25 + 5e-10)  # accepted: within the 1e-9 tolerance
    best = score(latest, weights, MAX_AGE)[0]
    assert best.score <= 1.0


def test_a_lone_symbol_scores_one_half() -> None:
    (only,) = score({"AUSDT": feat("AUSDT")}, DEFAULT, MAX_AGE)
    assert only.score == 0.5


# --- eligibility --------------------------------------------------------------------------------


def test_symbols_more_than_max_age_behind_the_newest_are_left_out() -> None:
    latest = {
        "AUSDT": feat("AUSDT", ts=T0 + MAX_AGE),
        "BUSDT": feat("BUSDT", ts=T0, trend=9.0),  # exactly max_age behind: kept
        "CUSDT": feat("CUSDT", ts=T0 - 1, trend=9.0),  # one ms more: left out
    }
    assert [s.symbol for s in score(latest, DEFAULT, MAX_AGE)] == ["BUSDT", "AUSDT"]


def test_a_stale_symbol_does_not_shift_the_percentiles_of_the_others() -> None:
    fresh = dict(UNIVERSE)
    stale = fresh | {"ZUSDT": feat("ZUSDT", ts=T0 - MAX_AGE - 1, trend=100.0, volume=100.0)}
    assert score(stale, DEFAULT, MAX_AGE) == score(fresh, DEFAULT, MAX_AGE)


def test_a_cold_symbol_is_left_out_and_does_not_shift_the_others() -> None:
    cold = UNIVERSE | {"ZUSDT": feat("ZUSDT", trend=100.0, warm=False)}
    assert score(cold, DEFAULT, MAX_AGE) == score(UNIVERSE, DEFAULT, MAX_AGE)


def test_a_symbol_without_an_atr_median_yet_is_left_out() -> None:
    no_median = feat("ZUSDT")
    latest = UNIVERSE | {"ZUSDT": FeaturesUpdated(**{**_fields(no_median), "atr_median": math.nan})}
    assert "ZUSDT" not in by_symbol(score(latest, DEFAULT, MAX_AGE))


def _fields(f: FeaturesUpdated) -> dict[str, object]:
    return {name: getattr(f, name) for name in FeaturesUpdated.__slots__}


def test_max_age_counts_from_the_newest_symbol_even_a_cold_one() -> None:
    latest = {
        "AUSDT": feat("AUSDT", ts=T0),
        "NEWUSDT": feat("NEWUSDT", ts=T0 + MAX_AGE + 1, warm=False),
    }
    assert score(latest, DEFAULT, MAX_AGE) == []


def test_nothing_eligible_scores_nothing() -> None:
    assert score({"AUSDT": feat("AUSDT", warm=False)}, DEFAULT, MAX_AGE) == []
    assert score({}, DEFAULT, MAX_AGE) == []


def test_order_is_score_descending_then_name() -> None:
    latest = {s: feat(s, trend=2.0) for s in ("DUSDT", "BUSDT", "CUSDT")} | {"AUSDT": feat("AUSDT", trend=1.0)}
    scored = score(latest, DEFAULT, MAX_AGE)
    assert [s.symbol for s in scored] == ["BUSDT", "CUSDT", "DUSDT", "AUSDT"]
    assert scored[0].score == scored[1].score == scored[2].score > scored[3].score


# --- properties ---------------------------------------------------------------------------------

# the defaults (which sum to exactly 1.0 in any order) and weights that are multiples of 1/8: the [0, 1]
# bound then holds even without the clamp (the test above covers weights that need it)
_weights = st.sampled_from(
    [DEFAULT, ScanWeights(1.0, 0.0, 0.0, 0.0), ScanWeights(0.25, 0.25, 0.25, 0.25),
     ScanWeights(0.5, 0.25, 0.125, 0.125), ScanWeights(0.0, 0.0, 0.375, 0.625)]
)  # fmt: skip
_universe = st.dictionaries(
    keys=st.text(alphabet="ABCDEFGH", min_size=1, max_size=2).map(lambda s: s + "USDT"),
    values=st.tuples(
        st.floats(min_value=0.0, max_value=20.0),  # trend
        st.floats(min_value=0.1, max_value=5.0),  # ATR expansion
        st.floats(min_value=-0.5, max_value=0.5),  # momentum
        st.floats(min_value=0.0, max_value=50.0),  # volume spike
        st.integers(min_value=0, max_value=3 * MAX_AGE),  # ts offset
        st.booleans(),  # warm
    ),
    max_size=12,
)


def _latest(rows: dict[str, tuple[float, float, float, float, int, bool]]) -> dict[str, FeaturesUpdated]:
    return {
        s: feat(s, trend=t, atr_expansion=a, momentum=m, volume=v, ts=T0 + dt, warm=warm)
        for s, (t, a, m, v, dt, warm) in rows.items()
    }


@given(rows=_universe, weights=_weights)
def test_scores_lie_in_0_1_and_are_sorted(
    rows: dict[str, tuple[float, float, float, float, int, bool]], weights: ScanWeights
) -> None:
    scored = score(_latest(rows), weights, MAX_AGE)
    assert all(0.0 <= s.score <= 1.0 for s in scored)
    keys = [(-s.score, s.symbol) for s in scored]
    assert keys == sorted(keys)


@given(rows=_universe, weights=_weights)
def test_scores_match_a_reference_computation(
    rows: dict[str, tuple[float, float, float, float, int, bool]], weights: ScanWeights
) -> None:
    latest = _latest(rows)
    scored = score(latest, weights, MAX_AGE)
    newest = max((f.ts for f in latest.values()), default=0)
    eligible = sorted(s for s, f in latest.items() if f.warm and newest - f.ts <= MAX_AGE)
    assert sorted(s.symbol for s in scored) == eligible
    if not eligible:
        return
    raw = np.array([components(latest[s]) for s in eligible])
    n = len(eligible)
    pct = np.column_stack(
        [np.full(n, 0.5) if n == 1 else (rankdata(raw[:, j], method="average") - 1.0) / (n - 1) for j in range(4)]
    )
    w = [weights.trend, weights.atr_expansion, weights.momentum, weights.volume]
    expected = {s: sum(pct[i, j] * w[j] for j in range(4)) for i, s in enumerate(eligible)}
    assert by_symbol(scored) == pytest.approx(expected, abs=1e-12)
