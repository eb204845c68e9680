"""EmaCrossStrategy and SignalEngine on crafted features and price paths."""

from __future__ import annotations

import pytest

from engine.core.features import FeatureEngine
from engine.core.strategy import EmaCrossStrategy, SignalEngine
from engine.messages import BarClosed, EnterPosition, FeaturesUpdated, Side

SYM = "SOLUSDT"


def feat(
    fast: float,
    slow: float,
    close: float = 100.0,
    atr: float = 1.5,
    warm: bool = True,
    bar_closed: bool = True,
    ts: int = 0,
) -> FeaturesUpdated:
    return FeaturesUpdated(SYM, ts, close, close - 0.01, close + 0.01, 2.0, 5e4, fast, slow, atr, warm, bar_closed)


def test_crossing_up_gives_long_with_stop_two_atr_below_the_close() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    assert s.on_features(feat(99.0, 100.0), None) is None
    intent = s.on_features(feat(100.5, 100.0, close=105.0, atr=1.5, ts=120_000), None)
    assert intent == EnterPosition(SYM, 120_000, Side.LONG, 105.0, 102.0, "ema_cross", "ema 9 crossed above ema 21")


def test_crossing_down_gives_short_with_stop_two_atr_above_the_close() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    s.on_features(feat(101.0, 100.0), None)
    intent = s.on_features(feat(99.0, 100.0, close=95.0, atr=1.25), None)
    assert isinstance(intent, EnterPosition)
    assert (intent.side, intent.price, intent.stop) == (Side.SHORT, 95.0, 97.5)


def test_touching_from_below_then_rising_counts_as_a_cross_and_equal_now_does_not() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    s.on_features(feat(99.0, 100.0), None)
    assert s.on_features(feat(100.0, 100.0), None) is None  # equal is not above
    assert s.on_features(feat(100.1, 100.0), None) is not None  # previous was <=


def test_no_second_signal_while_the_fast_ema_stays_above() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    s.on_features(feat(99.0, 100.0), None)
    assert s.on_features(feat(101.0, 100.0), None) is not None
    assert s.on_features(feat(102.0, 100.0), None) is None
    assert s.on_features(feat(103.0, 100.5), None) is None


def test_no_signal_before_warm_and_the_first_warm_bar_only_sets_the_reference() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    assert s.on_features(feat(99.0, 100.0, warm=False), None) is None
    assert s.on_features(feat(101.0, 100.0, warm=False), None) is None
    assert s.on_features(feat(102.0, 100.0), None) is None  # no warm previous bar
    assert s.on_features(feat(103.0, 100.0), None) is None


def test_book_and_ticker_features_are_ignored_between_bars() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    s.on_features(feat(99.0, 100.0), None)
    assert s.on_features(feat(101.0, 100.0, bar_closed=False), None) is None
    assert s.on_features(feat(101.0, 100.0), None) is not None  # still a cross vs the last bar


def test_cross_against_an_open_position_asks_for_the_new_side() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    s.on_features(feat(99.0, 100.0), Side.SHORT)
    intent = s.on_features(feat(101.0, 100.0), Side.SHORT)
    assert isinstance(intent, EnterPosition) and intent.side is Side.LONG


def test_cross_in_the_direction_already_held_asks_nothing() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    s.on_features(feat(99.0, 100.0), Side.LONG)
    assert s.on_features(feat(101.0, 100.0), Side.LONG) is None


def test_zero_atr_asks_nothing_since_the_stop_would_sit_on_the_entry() -> None:
    s = EmaCrossStrategy(9, 21, 2.0)
    s.on_features(feat(99.0, 100.0), None)
    assert s.on_features(feat(101.0, 100.0, atr=0.0), None) is None


def test_bad_parameters_are_rejected() -> None:
    with pytest.raises(ValueError):
        EmaCrossStrategy(21, 9, 2.0)
    with pytest.raises(ValueError):
        EmaCrossStrategy(9, 21, 0.0)


def bars_from(closes: list[float]) -> list[BarClosed]:
    return [BarClosed(SYM, 60_000, i * 60_000, c, c + 0.5, c - 0.5, c, 1.0) for i, c in enumerate(closes)]


def test_price_path_falling_then_rising_gives_exactly_one_long_on_the_crossing_bar() -> None:
    closes = [100.0 - i for i in range(15)] + [86.0 + 2.0 * i for i in range(15)]
    fe = FeatureEngine(SYM, ema_fast=3, ema_slow=6, atr_period=4)
    engine = SignalEngine(SYM, EmaCrossStrategy(3, 6, 2.0))
    signals = []
    for b in bars_from(closes):
        f = fe.on_bar(b)
        intent = engine.on_features(f)
        if intent is not None:
            signals.append((f, intent))
    assert len(signals) == 1
    f, intent = signals[0]
    assert isinstance(intent, EnterPosition)
    assert intent.side is Side.LONG and f.ema_fast > f.ema_slow
    assert intent.price == f.last
    assert intent.stop == f.last - 2.0 * f.atr
    assert (engine.evaluations, engine.intents) == (30, 1)


def test_signal_engine_passes_the_position_portfolio_reported() -> None:
    engine = SignalEngine(SYM, EmaCrossStrategy(9, 21, 2.0))
    engine.on_features(feat(99.0, 100.0))
    engine.on_position(Side.LONG)
    assert engine.on_features(feat(101.0, 100.0)) is None
    engine.on_position(None)
    short = engine.on_features(feat(99.0, 100.0))
    assert isinstance(short, EnterPosition) and short.side is Side.SHORT
    engine.on_position(Side.SHORT)
    long = engine.on_features(feat(101.0, 100.0))
    assert isinstance(long, EnterPosition) and long.side is Side.LONG
    assert (engine.evaluations, engine.intents) == (4, 2)
