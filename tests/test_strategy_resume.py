"""Resuming a strategy from whole-series features, as specifications.

A backtest skips a strategy's bars while its symbol is flat and unselected (``decide`` returns
None there whatever the rules say) and ``resume``s the strategy before the next bar it runs. The
central property: a strategy resumed after any skipped spans decides exactly like one that saw
every bar, on every bar both run, given the same holdings and scanner selection.

Histories come from the real incremental path: ``FeatureEngine.on_bar`` over ``BarClosed`` bars,
its reports assembled into a ``FeatureHistory``; the replays feed those very reports to both
strategies. Holdings follow the intents of the strategy that sees every bar (an entry opens, an
exit closes, a stop move tightens, and a bar through the stop or target closes), and both
strategies are given the same ones.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any, TypeVar, cast

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.config import load_config
from engine.core.features import FeatureEngine, FeatureSettings
from engine.core.signal import SignalEngine
from engine.core.strategies.base import (
    FeatureHistory,
    Holding,
    Intent,
    NotResumableError,
    SingleStrategy,
    Strategy,
)
from engine.core.strategies.long_dip import LongDipRules
from engine.core.strategies.mean_reversion import ARMED_KEY, BollingerReversionRules, armed_before
from engine.core.strategies.regime_switch import RegimeStrategy
from engine.core.strategies.trend import LAST_WARM_KEY, TrendRules
from engine.messages import BarClosed, EnterPosition, ExitPosition, FeaturesUpdated, MoveStop, Regime, Side
from engine.strategy_plan import build_strategy, feature_settings

SYM = "ETHUSDT"
M1 = 60_000
NAN = math.nan
T = TypeVar("T")
FloatArray = npt.NDArray[np.float64]
ARMED_CODE = {None: 0, Side.LONG: 1, Side.SHORT: -1}


# --- histories ----------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class History:
    """A ``FeatureHistory`` with the ``FeaturesUpdated`` of every bar it was assembled from."""

    features: tuple[FeaturesUpdated, ...]
    warm: npt.NDArray[np.bool_]
    last: FloatArray
    high: FloatArray
    low: FloatArray
    ema_fast: FloatArray
    ema_slow: FloatArray
    atr: FloatArray
    bb_upper: FloatArray
    bb_middle: FloatArray
    bb_lower: FloatArray
    computed: list[str] = field(default_factory=list)
    _memo: dict[str, object] = field(default_factory=dict)

    @classmethod
    def of(cls, features: Sequence[FeaturesUpdated]) -> History:
        """Element i of each array: the same-named field of report i."""

        def column(name: str) -> FloatArray:
            return np.array([getattr(f, name) for f in features], dtype=np.float64)

        return cls(
            tuple(features),
            np.array([f.warm for f in features], dtype=np.bool_),
            last=column("last"),
            high=column("high"),
            low=column("low"),
            ema_fast=column("ema_fast"),
            ema_slow=column("ema_slow"),
            atr=column("atr"),
            bb_upper=column("bb_upper"),
            bb_middle=column("bb_middle"),
            bb_lower=column("bb_lower"),
        )

    def __len__(self) -> int:
        return len(self.features)

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        if key not in self._memo:
            self.computed.append(key)
            self._memo[key] = compute()
        return cast(T, self._memo[key])


def feature_reports(bars: Sequence[BarClosed], s: FeatureSettings) -> list[FeaturesUpdated]:
    """What FeatureEngine reports for each closed bar, in order."""
    engine = FeatureEngine(SYM, s, (M1,))
    return [engine.on_bar(bar) for bar in bars]


def _is_a_feature_history(history: History) -> FeatureHistory:
    return history  # mypy checks History against the protocol


def history_of(bars: Sequence[BarClosed], s: FeatureSettings) -> History:
    return History.of(feature_reports(bars, s))


def walk(n: int, seed: int, start: float = 2_000.0) -> list[BarClosed]:
    """A random walk in regimes of 20 to 600 bars: mean-reverting ranges, trends up and down,
    volatile spells after quiet ones, and halts (flat bars, long enough for the bands to collapse
    to zero width)."""
    rng = np.random.default_rng(seed)
    bars: list[BarClosed] = []
    price = start
    kinds = ("range", "up", "down", "volatile", "quiet", "halt")
    weights = (0.3, 0.17, 0.17, 0.12, 0.16, 0.08)
    while len(bars) < n:
        kind = str(rng.choice(kinds, p=weights))
        length = int(rng.integers(25, 80)) if kind == "halt" else int(rng.integers(20, 600))
        anchor = price
        vol = {"range": 0.0012, "up": 0.0015, "down": 0.0015, "volatile": 0.007, "quiet": 0.0004}.get(kind, 0.0)
        for _ in range(min(length, n - len(bars))):
            open_ = price
            if kind == "halt":
                high = low = close = open_
                volume = 0.0
            else:
                drift = {"up": 0.0007, "down": -0.0007}.get(kind, 0.0)
                if kind == "range":
                    drift = -0.08 * math.log(price / anchor)
                close = open_ * math.exp(drift + vol * float(rng.standard_normal()))
                high = max(open_, close) * (1.0 + vol * 0.7 * abs(float(rng.standard_normal())))
                low = min(open_, close) * (1.0 - vol * 0.7 * abs(float(rng.standard_normal())))
                volume = float(rng.lognormal(3.0, 1.0))
            bars.append(BarClosed(SYM, M1, len(bars) * M1, open_, high, low, close, volume))
            price = close
    return bars


WALK_BARS = 20_000


@cache
def config_settings() -> FeatureSettings:
    return feature_settings(load_config(env={}))


@cache
def long_walk() -> tuple[FeaturesUpdated, ...]:
    """20,000 1m bars of the regime walk through FeatureEngine with the configured settings."""
    return tuple(feature_reports(walk(WALK_BARS, seed=20240611), config_settings()))


def fresh_long_walk() -> History:
    """The long walk as a history with an empty memo."""
    return History.of(long_walk())


# Small periods for generated bars: warm after a few bars, frequent crosses and band touches.
SMALL = FeatureSettings(
    ema_fast=2,
    ema_slow=4,
    atr_period=3,
    adx_period=3,
    bb_period=4,
    bb_std=1.0,
    atr_median_window=5,
    momentum_period=2,
    volume_period=3,
)


def generated_bars(moves: Sequence[tuple[int, int, int]]) -> list[BarClosed]:
    """Bars from (close move, upper wick, lower wick) in steps of 0.5%: 0 moves make flat spells."""
    bars: list[BarClosed] = []
    price = 100.0
    for k, (move, up, down) in enumerate(moves):
        close = price * (1.0 + 0.005 * move)
        high = max(price, close) * (1.0 + 0.005 * up)
        low = min(price, close) * (1.0 - 0.005 * down)
        bars.append(BarClosed(SYM, M1, k * M1, price, high, low, close, 1.0 + k % 7))
        price = close
    return bars


bar_moves = st.lists(
    st.tuples(st.integers(-4, 4), st.integers(0, 2), st.integers(0, 2)) | st.just((0, 0, 0)),
    min_size=0,
    max_size=160,
)


# --- replaying two strategies -------------------------------------------------------------------


def after_intent(holding: Holding | None, intent: Intent | None) -> Holding | None:
    """The holding once Risk and Portfolio carried out ``intent`` (every entry is filled)."""
    if isinstance(intent, EnterPosition):
        return Holding(intent.side, intent.price, intent.stop, intent.target, intent.strategy)
    if isinstance(intent, ExitPosition):
        return None
    if isinstance(intent, MoveStop) and holding is not None:
        return replace(holding, stop=intent.stop)
    return holding


def after_bar(holding: Holding | None, f: FeaturesUpdated) -> Holding | None:
    """None if the bar reached the holding's stop or target (Portfolio's exits inside the bar)."""
    if holding is None:
        return None
    sign = holding.side.sign
    extreme_against = f.low if sign > 0 else f.high
    extreme_for = f.high if sign > 0 else f.low
    if sign * (extreme_against - holding.stop) <= 0.0:
        return None
    if holding.target and sign * (extreme_for - holding.target) >= 0.0:
        return None
    return holding


@dataclass
class Replay:
    compared: int = 0
    resumes: int = 0
    skipped: int = 0
    intents: list[Intent] = field(default_factory=list)

    def entries_by(self) -> set[str]:
        return {i.strategy for i in self.intents if isinstance(i, EnterPosition)}

    def exits(self) -> int:
        return sum(isinstance(i, ExitPosition) for i in self.intents)


Runs = Callable[[int, Holding | None, bool], bool]


def replay(make: Callable[[], Strategy], history: History, may_enter: Sequence[bool], runs: Runs) -> Replay:
    """A strategy on every bar against a second one that only runs bar ``i`` where ``runs`` says
    so, resumed at the first bar after every skipped span; their intents must be equal on every
    bar the second one runs. The holding (and ``may_enter``) given to both is the same."""
    full, gappy = make(), make()
    out = Replay()
    holding: Holding | None = None
    ran_before = False
    for i, f in enumerate(history.features):
        holding = after_bar(holding, f)
        expected = full.on_bar(f, holding, may_enter[i])
        if runs(i, holding, may_enter[i]):
            if not ran_before:
                gappy.resume(history, i)
                out.resumes += 1
            got = gappy.on_bar(f, holding, may_enter[i])
            assert got == expected, f"bar {i}: resumed {got}, every bar {expected}"
            out.compared += 1
            ran_before = True
        else:
            out.skipped += 1
            ran_before = False
        if expected is not None:
            out.intents.append(expected)
        holding = after_intent(holding, expected)
    return out


def spans(n: int, rng: np.random.Generator, mean_run: float, mean_skip: float) -> list[bool]:
    """Alternating runs and skips of geometric lengths, starting either way."""
    active: list[bool] = []
    on = bool(rng.integers(2))
    while len(active) < n:
        active += [on] * int(rng.geometric(1.0 / (mean_run if on else mean_skip)))
        on = not on
    return active[:n]


def selection(n: int, rng: np.random.Generator, switch: float) -> list[bool]:
    """The scanner's selection: on or off for a while, switching with probability ``switch``."""
    selected = bool(rng.integers(2))
    out = []
    for flip in rng.random(n) < switch:
        selected ^= bool(flip)
        out.append(selected)
    return out


def by_mask(active: Sequence[bool]) -> Runs:
    return lambda i, holding, may_enter: active[i]


def flat_and_unselected_skipped(i: int, holding: Holding | None, may_enter: bool) -> bool:
    """The backtest's rule: run only while held or selected."""
    return holding is not None or may_enter


def regime_of_config() -> Strategy:
    strategy = build_strategy(load_config(env={}), SYM)
    assert isinstance(strategy, RegimeStrategy)
    return strategy


def small_regime() -> Strategy:
    return RegimeStrategy(
        TrendRules(2, 4), BollingerReversionRules(), TrendRules(2, 4, name="high_vol", size_scale=0.5), M1
    )


MAKERS: dict[str, Callable[[], Strategy]] = {
    "regime": small_regime,
    "trend": lambda: SingleStrategy(TrendRules(2, 4), M1),
    "range": lambda: SingleStrategy(BollingerReversionRules(), M1),
}


def state(rules: TrendRules | BollingerReversionRules) -> tuple[Any, ...]:
    """Everything a rule remembers between bars (its private slots)."""
    return tuple(getattr(rules, name) for name in rules.__slots__ if name.startswith("_"))


def states_every_bar(rules: TrendRules | BollingerReversionRules, history: History) -> list[tuple[Any, ...]]:
    """Element i: the rule's state after ``signal`` saw bars 0..i-1 (the first one fresh)."""
    out = [state(rules)]
    for f in history.features:
        rules.signal(f)
        out.append(state(rules))
    return out


# --- the central property -----------------------------------------------------------------------


def test_warm_is_monotone_on_the_incremental_path() -> None:
    """Why "the EMAs of bar i-1 if it was warm" is the trend state: once warm, always warm."""
    warm = fresh_long_walk().warm
    first = int(np.argmax(warm))
    assert not warm[:first].any()
    assert warm[first:].all()


def test_regime_strategy_resumed_after_random_spans_decides_like_one_that_saw_every_bar() -> None:
    """The configured regime strategy on the 20,000-bar walk, skipping random spans of 1 to ~400
    bars wherever they fall (even while a position is open), with a scanner that selects the
    symbol for stretches of ~100 bars."""
    history = fresh_long_walk()
    rng = np.random.default_rng(7)
    active = spans(len(history), rng, mean_run=150.0, mean_skip=120.0)
    may_enter = selection(len(history), rng, switch=0.01)
    result = replay(regime_of_config, history, may_enter, by_mask(active))
    assert result.resumes > 50
    assert result.compared > 5_000 and result.skipped > 5_000
    assert result.entries_by() == {"trend", "range", "high_vol"}
    assert result.exits() > 10
    assert history.computed.count(ARMED_KEY) == 1  # one armed series for ~80 resumes


def test_the_backtest_may_skip_exactly_the_flat_unselected_bars() -> None:
    """The backtest's use: run only while held or selected. The strategy that sees every bar
    decides nothing on the skipped bars, and the resumed one decides the same everywhere else."""
    history = fresh_long_walk()
    may_enter = selection(len(history), np.random.default_rng(11), switch=0.005)
    full = regime_of_config()
    holding: Holding | None = None
    for i, f in enumerate(history.features):
        holding = after_bar(holding, f)
        intent = full.on_bar(f, holding, may_enter[i])
        if holding is None and not may_enter[i]:
            assert intent is None, f"bar {i}"
        holding = after_intent(holding, intent)
    result = replay(regime_of_config, history, may_enter, flat_and_unselected_skipped)
    assert result.resumes > 20 and result.skipped > 5_000
    assert len(result.entries_by()) >= 2 and result.exits() > 0


@pytest.mark.parametrize("name", ["trend", "range"])
def test_single_rules_resumed_after_random_spans_decide_like_ones_that_saw_every_bar(name: str) -> None:
    """Short spans, so that many resumes fall where the state decides the first bar: an entry
    there that a fresh rule (one that forgot the bars before) would not make, or the reverse."""
    history = fresh_long_walk()
    rng = np.random.default_rng(3)
    active = spans(len(history), rng, mean_run=8.0, mean_skip=8.0)
    may_enter = selection(len(history), rng, switch=0.05)
    make_rules: Callable[[], TrendRules | BollingerReversionRules] = {
        "trend": TrendRules,
        "range": BollingerReversionRules,
    }[name]
    result = replay(lambda: SingleStrategy(make_rules(), M1), history, may_enter, by_mask(active))
    assert result.resumes > 1_000
    assert result.entries_by() == {name} and result.exits() > 10
    stepped = make_rules()
    entries = [stepped.signal(f) for f in history.features]
    resumed_at = [i for i in range(1, len(history)) if active[i] and not active[i - 1] and may_enter[i]]
    decisive = [i for i in resumed_at if (make_rules().signal(history.features[i]) is None) != (entries[i] is None)]
    assert len(decisive) >= 3


@settings(max_examples=300, deadline=None)
@given(moves=bar_moves, data=st.data())
def test_resumed_strategies_decide_like_ones_that_saw_every_bar(moves: list[tuple[int, int, int]], data: Any) -> None:
    """Any bars, any skipped spans, any selection: the regime strategy and either rule alone."""
    history = history_of(generated_bars(moves), SMALL)
    n = len(history)
    name = data.draw(st.sampled_from(sorted(MAKERS)))
    active = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    may_enter = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    replay(MAKERS[name], history, may_enter, by_mask(active))


# --- the state a rule is resumed to -------------------------------------------------------------


@pytest.mark.parametrize("make", [TrendRules, BollingerReversionRules], ids=["trend", "range"])
def test_resume_sets_exactly_the_state_after_the_bars_before(make: Callable[[], Any]) -> None:
    """At every i from 0 to the end (resuming after the last bar included), in random order on
    one instance: whatever the state was, it becomes the state after bars 0..i-1."""
    history = fresh_long_walk()
    expected = states_every_bar(make(), history)
    rules = make()
    for i in np.random.default_rng(5).permutation(len(history) + 1).tolist():
        rules.resume(history, i)
        assert state(rules) == expected[i], f"resumed at {i}"


def test_trend_state_is_that_of_the_last_warm_bar_even_if_warm_were_not_monotone() -> None:
    """FeatureEngine never turns unwarm again, but the rule ignores unwarm bars without touching
    the previous EMAs, so the resumed state must take the last warm bar before i, wherever it is."""
    rng = np.random.default_rng(17)
    for _ in range(50):
        n = int(rng.integers(0, 40))
        fast = rng.choice([99.0, 100.0, 101.0], n)
        slow = rng.choice([99.0, 100.0, 101.0], n)
        warm = rng.random(n) < 0.6
        history = History.of(
            [
                feature(ema_fast=float(a), ema_slow=float(b), warm=bool(w))
                for a, b, w in zip(fast, slow, warm, strict=True)
            ]
        )
        expected = states_every_bar(TrendRules(), history)
        rules = TrendRules()
        for i in rng.permutation(n + 1).tolist():
            rules.resume(history, i)
            assert state(rules) == expected[i]


def test_a_resumed_trend_rule_exits_on_the_cross_of_the_bar_before() -> None:
    """``manage`` reads the cross the last ``signal`` saw, so that is part of the resumed state."""
    history = History.of(
        [
            feature(ema_fast=99.0, ema_slow=100.0),
            feature(ema_fast=101.0, ema_slow=100.0),
        ]
    )
    short = Holding(Side.SHORT, 100.0, 103.0, 0.0, "trend")
    stepped, resumed = TrendRules(), TrendRules()
    for f in history.features:
        stepped.signal(f)
    resumed.resume(history, 2)
    f = history.features[1]
    assert (
        resumed.manage(f, short)
        == stepped.manage(f, short)
        == ExitPosition(SYM, f.ts, "ema 9 crossed against the short")
    )


def armed_after_stepping(history: History) -> list[int]:
    """The armed touch after each bar, stepping the real rule: element i is after bars 0..i-1."""
    return [ARMED_CODE[s[0]] for s in states_every_bar(BollingerReversionRules(), history)]


def find_span(history: History, found: Callable[[int, int], bool]) -> tuple[int, int]:
    """A skipped span [a, b) of 3 to 40 bars with ``found(a, b)``, resuming at b."""
    for a in range(1, len(history) - 41):
        for b in range(a + 3, a + 41):
            if found(a, b):
                return a, b
    raise AssertionError("the walk has no such span")


def test_armed_touch_survives_is_cleared_and_is_re_armed_across_skipped_spans() -> None:
    """Spans of the walk skipped (1) while a touch stays armed through them, and the entry on the
    bar after needs that touch; (2) while a touch made before is cleared in them, where the stale
    touch would have entered on the bar after; (3) while a touch is made in them, and the entry
    on the bar after needs it. Resumed, the rule is armed as the stepped one and decides the same
    from then on."""
    history = fresh_long_walk()
    armed = armed_after_stepping(history)
    entries = [e is not None for e in entry_bars(history)]
    side = {1: Side.LONG, -1: Side.SHORT}

    def enters_if_armed(b: int, code: int) -> bool:
        rules = BollingerReversionRules()
        rules._armed = side.get(code)
        return rules.signal(history.features[b]) is not None

    def survives(a: int, b: int) -> bool:
        held = armed[a] != 0 and all(armed[k] == armed[a] for k in range(a, b + 1))
        return held and entries[b] and not enters_if_armed(b, 0)

    def cleared(a: int, b: int) -> bool:
        gone = armed[a] != 0 and armed[b] == 0 and all(armed[k] in (0, armed[a]) for k in range(a, b + 1))
        return gone and not entries[b] and enters_if_armed(b, armed[a])

    def re_armed(a: int, b: int) -> bool:
        return armed[a] == 0 and armed[b] != 0 and entries[b] and not enters_if_armed(b, 0)

    for case in (survives, cleared, re_armed):
        a, b = find_span(history, case)
        rules = BollingerReversionRules()
        rules.resume(history, b)
        assert ARMED_CODE[rules._armed] == armed[b], case.__name__
        active = [not a <= i < b for i in range(len(history))]
        result = replay(
            lambda: SingleStrategy(BollingerReversionRules(), M1), history, [True] * len(history), by_mask(active)
        )
        assert result.resumes == 2  # at bar 0 and at b


def entry_bars(history: History) -> list[EnterPosition | None]:
    rules = BollingerReversionRules()
    return [rules.signal(f) for f in history.features]


def test_resume_at_the_first_bar_is_a_fresh_strategy() -> None:
    history = fresh_long_walk()
    used = regime_of_config()
    for f in history.features[:3_000]:
        used.on_bar(f, None, True)
    used.resume(history, 0)
    fresh = regime_of_config()
    for f in history.features[:3_000]:
        assert used.on_bar(f, None, True) == fresh.on_bar(f, None, True)


def test_resume_at_the_last_bar_and_after_it() -> None:
    history = fresh_long_walk()
    n = len(history)
    full = SingleStrategy(BollingerReversionRules(), M1)
    decisions = [full.on_bar(f, None, True) for f in history.features]
    last = SingleStrategy(BollingerReversionRules(), M1)
    last.resume(history, n - 1)
    assert last.on_bar(history.features[-1], None, True) == decisions[-1]
    for rules in (TrendRules(), BollingerReversionRules()):
        stepped = states_every_bar(type(rules)(), history)
        rules.resume(history, n)
        assert state(rules) == stepped[n]


@pytest.mark.parametrize("i", [-1, WALK_BARS + 1])
def test_resume_outside_the_history_is_refused(i: int) -> None:
    history = fresh_long_walk()
    for rules in (TrendRules(), BollingerReversionRules()):
        with pytest.raises(IndexError):
            rules.resume(history, i)


def test_resume_on_an_empty_history() -> None:
    history = History.of([])
    strategy = small_regime()
    strategy.resume(history, 0)
    assert armed_before(history).tolist() == [0]


# --- the armed series ---------------------------------------------------------------------------


def feature(**values: Any) -> FeaturesUpdated:
    """A closed warm bar with the given features (defaults: everything at 100, ATR 1)."""
    base: dict[str, Any] = dict(
        symbol=SYM,
        ts=0,
        last=100.0,
        bid=NAN,
        ask=NAN,
        spread_bps=NAN,
        depth_usdt=0.0,
        ema_fast=100.0,
        ema_slow=100.0,
        atr=1.0,
        warm=True,
        bar_closed=True,
        interval_ms=M1,
        high=100.0,
        low=100.0,
        regime=Regime.RANGING,
    )
    return FeaturesUpdated(**(base | values))


def test_armed_series_equals_stepping_the_rule_on_the_long_walk() -> None:
    history = fresh_long_walk()
    series = armed_before(history)
    assert series.dtype == np.int8 and series.shape == (len(history) + 1,)
    assert series.tolist() == armed_after_stepping(history)
    assert {-1, 0, 1} <= set(series.tolist())


PRICES = (98.0, 99.0, 100.0, 101.0, 102.0, NAN)
ATRS = (NAN, 0.0, 1.0)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(*[st.sampled_from(PRICES)] * 6, st.sampled_from(ATRS)),
        max_size=40,
    )
)
def test_armed_series_equals_stepping_the_rule_on_any_features(
    bars: list[tuple[float, float, float, float, float, float, float]],
) -> None:
    """Ties (a low exactly at the band, a close exactly at the middle), NaN anywhere, bands of zero
    or negative width, a middle outside the band, ATR 0 or NaN: the same state as the rule's."""
    history = History.of(
        [
            feature(low=low, high=high, last=close, bb_lower=lower, bb_middle=middle, bb_upper=upper, atr=atr)
            for low, high, close, lower, middle, upper, atr in bars
        ]
    )
    assert armed_before(history).tolist() == armed_after_stepping(history)


def test_a_touch_stays_armed_while_the_atr_is_not_positive() -> None:
    """An entry needs ATR > 0; without one a close back inside the band neither enters nor clears."""
    bands = dict(bb_lower=95.0, bb_middle=100.0, bb_upper=105.0)
    history = History.of(
        [
            feature(low=94.0, high=96.0, last=95.0, **bands),  # touch, closes on the band: armed long
            feature(low=96.0, high=97.0, last=96.5, atr=0.0, **bands),  # inside, ATR 0: stays
            feature(low=96.0, high=97.0, last=96.5, atr=NAN, **bands),  # inside, no ATR: stays
            feature(low=96.0, high=97.0, last=96.5, **bands),  # inside with ATR: the entry clears
            feature(low=104.0, high=106.0, last=105.5, **bands),  # touch above, closes outside
            feature(low=101.0, high=103.0, last=100.0, **bands),  # close at the middle clears
            feature(low=94.0, high=106.0, last=104.0, **bands),  # both touched: long wins, enters
            feature(low=94.0, high=96.0, last=95.0, bb_middle=NAN),  # no bands: forgotten
        ]
    )
    assert armed_before(history).tolist() == [0, 1, 1, 1, 0, -1, 0, 0, 0]
    assert armed_after_stepping(history) == [0, 1, 1, 1, 0, -1, 0, 0, 0]


def test_armed_series_of_43200_bars_takes_under_20_ms() -> None:
    history = History.of(feature_reports(walk(43_200, seed=99), config_settings()))
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        armed_before(history)
        best = min(best, time.perf_counter() - start)
    assert best < 0.020, f"{best * 1e3:.1f} ms"


def test_state_series_are_computed_once_per_history() -> None:
    """The regime strategy's two trend rules share one warm series, and the range rule's armed
    series is computed on the first resume only."""
    history = fresh_long_walk()
    strategy = regime_of_config()
    for i in range(0, len(history), 97):
        strategy.resume(history, i)
    assert sorted(history.computed) == sorted([LAST_WARM_KEY, ARMED_KEY])


# --- what cannot be resumed ---------------------------------------------------------------------


def test_the_long_dip_cannot_be_resumed() -> None:
    """Its own ATR, highs, used high and best close are not features: it must see every bar."""
    history = fresh_long_walk()
    rules = LongDipRules()
    assert rules.resumable is False
    with pytest.raises(NotResumableError, match="long dip"):
        rules.resume(history, 10)
    strategy = build_strategy(load_config(env={}, cli={"strategy.mode": "long_dip"}), SYM)
    assert strategy is not None and strategy.resumable is False
    with pytest.raises(NotResumableError):
        strategy.resume(history, 10)
    assert history.computed == []


def test_a_regime_strategy_with_a_rule_that_cannot_resume_refuses_before_touching_any() -> None:
    history = fresh_long_walk()
    trend = TrendRules()
    strategy = RegimeStrategy(trend, BollingerReversionRules(), LongDipRules(name="dip"), M1)
    assert strategy.resumable is False
    for f in history.features[:500]:
        strategy.on_bar(f, None, False)
    before = state(trend)
    with pytest.raises(NotResumableError, match="dip"):
        strategy.resume(history, 100)
    assert state(trend) == before


def test_signal_engine_resumes_its_strategy() -> None:
    history = fresh_long_walk()
    assert SignalEngine(SYM, None).resumable is True
    SignalEngine(SYM, None).resume(history, 5)  # nothing to rebuild, nothing ever decided
    assert SignalEngine(SYM, SingleStrategy(LongDipRules(), M1)).resumable is False
    engine = SignalEngine(SYM, regime_of_config(), selected=True)
    full = regime_of_config()
    assert engine.resumable is True
    decisions = [full.on_bar(f, None, True) for f in history.features]
    engine.resume(history, 12_345)
    assert [engine.on_features(f) for f in history.features[12_345:]] == decisions[12_345:]
