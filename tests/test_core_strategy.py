"""Strategies end to end: bars -> FeatureEngine -> SignalEngine -> intents, on crafted price paths.

The unit specifications of each rule set live in ``test_strategies``; here the indicators are the
real ones, so these paths check that the rules read the features the way they are produced.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.core.features import FeatureEngine, FeatureSettings
from engine.core.signal import SignalEngine
from engine.core.strategies.base import Intent, SingleStrategy
from engine.core.strategies.long_dip import LongDipRules
from engine.core.strategies.mean_reversion import BollingerReversionRules
from engine.core.strategies.regime_switch import RegimeStrategy
from engine.core.strategies.trend import TrendRules
from engine.messages import BarClosed, EnterPosition, ExitPosition, FeaturesUpdated, PositionChanged, Regime, Side

SYM = "SOLUSDT"
M1 = 60_000
M15 = 900_000
SETTINGS = FeatureSettings(ema_fast=3, ema_slow=6, atr_period=4)


def bars(closes: Iterable[float], interval_ms: int = M1, start: int = 0, half_range: float = 0.5) -> list[BarClosed]:
    return [
        BarClosed(SYM, interval_ms, (start + i) * interval_ms, c, c + half_range, c - half_range, c, 1.0)
        for i, c in enumerate(closes)
    ]


def run(fe: FeatureEngine, engine: SignalEngine, path: Iterable[BarClosed]) -> list[tuple[FeaturesUpdated, Intent]]:
    out = []
    for b in path:
        f = fe.on_bar(b)
        intent = engine.on_features(f)
        if intent is not None:
            out.append((f, intent))
    return out


def falling_then_rising() -> list[float]:
    return [100.0 - i for i in range(15)] + [86.0 + 2.0 * i for i in range(15)]


def test_falling_then_rising_path_gives_exactly_one_long_on_the_crossing_bar() -> None:
    fe = FeatureEngine(SYM, SETTINGS)
    engine = SignalEngine(SYM, SingleStrategy(TrendRules(3, 6, 2.0), M1), selected=True)
    signals = run(fe, engine, bars(falling_then_rising()))
    assert len(signals) == 1
    f, intent = signals[0]
    assert isinstance(intent, EnterPosition)
    assert intent.side is Side.LONG and f.ema_fast > f.ema_slow
    assert (intent.price, intent.stop, intent.strategy) == (f.last, f.last - 2.0 * f.atr, "trend")
    assert intent.regime == f.regime == Regime.UNKNOWN
    assert (engine.evaluations, engine.intents) == (30, 1)


def test_a_held_long_is_reversed_to_short_on_the_next_death_cross() -> None:
    closes = falling_then_rising() + [114.0 - 3.0 * i for i in range(12)]
    fe = FeatureEngine(SYM, SETTINGS)
    engine = SignalEngine(SYM, SingleStrategy(TrendRules(3, 6, 2.0), M1), selected=True)
    intents: list[Intent] = []
    for b in bars(closes):
        f = fe.on_bar(b)
        intent = engine.on_features(f)
        if isinstance(intent, EnterPosition):
            intents.append(intent)
            engine.on_position(PositionChanged(SYM, intent.side, intent.price, intent.stop, 0.0, intent.strategy))
    assert [i.side for i in intents if isinstance(i, EnterPosition)] == [Side.LONG, Side.SHORT]
    short = intents[1]
    assert isinstance(short, EnterPosition) and short.stop > short.price


def test_regime_strategy_opens_nothing_before_the_regime_is_known() -> None:
    fe = FeatureEngine(SYM, SETTINGS)  # the ATR median needs 100 bars: the regime stays UNKNOWN
    strategy = RegimeStrategy(
        TrendRules(3, 6, 2.0), BollingerReversionRules(), TrendRules(3, 6, 2.0, name="high_vol", size_scale=0.5), M1
    )
    engine = SignalEngine(SYM, strategy, selected=True)
    assert run(fe, engine, bars(falling_then_rising())) == []
    assert engine.evaluations == 30


def test_bollinger_wick_below_the_lower_band_and_close_inside_enters_then_exits_at_the_middle() -> None:
    fe = FeatureEngine(SYM, SETTINGS)
    engine = SignalEngine(SYM, SingleStrategy(BollingerReversionRules(1.0), M1), selected=True)
    path = bars([99.0, 101.0] * 13)  # bands about 98 / 100 / 102
    assert run(fe, engine, path) == []
    dip = BarClosed(SYM, M1, 26 * M1, 99.0, 100.0, 97.0, 99.5, 1.0)  # low 97 under the band, close 99.5
    f = fe.on_bar(dip)
    assert f.low <= f.bb_lower < f.last < f.bb_middle
    intent = engine.on_features(f)
    assert isinstance(intent, EnterPosition)
    assert (intent.side, intent.price, intent.strategy) == (Side.LONG, 99.5, "range")
    assert (intent.stop, intent.target) == (f.bb_lower - f.atr, f.bb_middle)
    engine.on_position(PositionChanged(SYM, Side.LONG, 99.5, intent.stop, intent.target, "range"))
    back = fe.on_bar(BarClosed(SYM, M1, 27 * M1, 99.5, 101.5, 99.5, 101.0, 1.0))
    assert back.last >= back.bb_middle
    assert engine.on_features(back) == ExitPosition(
        SYM, back.ts, f"close 101 reached the middle band {back.bb_middle:.6g}"
    )


def test_long_dip_on_fifteen_minute_bars_enters_one_atr_below_the_high_and_ignores_one_minute_bars() -> None:
    fe = FeatureEngine(SYM, SETTINGS, intervals_ms=(M1, M15))
    engine = SignalEngine(SYM, SingleStrategy(LongDipRules(), M15), selected=True)
    quarter = bars([100.0] * 20 + [99.75, 99.5], interval_ms=M15)
    signals = []
    for i, b in enumerate(quarter):
        # The 1m bars in between swing wildly: a long dip on 15m must not see them.
        for minute in bars([90.0, 110.0], start=i * 15, half_range=5.0):
            assert engine.on_features(fe.on_bar(minute)) is None
        f = fe.on_bar(b)
        intent = engine.on_features(f)
        if intent is not None:
            signals.append((f, intent))
    assert engine.evaluations == 22
    assert len(signals) == 1
    f, intent = signals[0]
    assert f.ts == quarter[-1].ts
    assert intent == EnterPosition(
        SYM,
        f.ts,
        Side.LONG,
        99.5,
        98.0,
        "long_dip",
        "dip 1.00 ATR below the high 100.5: 5.0% of budget",
        target=100.5,
        regime=f.regime,
        notional=250.0,
    )
