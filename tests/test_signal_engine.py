"""SignalEngine: which features reach the strategy, the holding it sees, the scanner gate, the counts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.core.signal import SignalEngine
from engine.core.strategies.base import Holding, Intent, SingleStrategy
from engine.core.strategies.long_dip import LongDipRules
from engine.core.strategies.mean_reversion import BollingerReversionRules
from engine.core.strategies.regime_switch import RegimeStrategy
from engine.core.strategies.trend import TrendRules
from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, MoveStop, PositionChanged, Regime, Side
from tests import test_strategies as strategy_tests
from tests.test_strategies import M1, M15, SYM

# The strategy tests' bar, with Bollinger bands set so the range rules can be exercised here too.
BASE = replace(strategy_tests.BASE, bb_upper=105.0, bb_middle=100.0, bb_lower=95.0)


def feat(**changes: Any) -> FeaturesUpdated:
    return replace(BASE, **changes)


def emas(fast: float, slow: float, **changes: Any) -> FeaturesUpdated:
    return feat(ema_fast=fast, ema_slow=slow, **changes)


class Recorder:
    """A strategy that answers ``reply`` and remembers what it was asked."""

    name = "recorder"

    def __init__(self, interval_ms: int = M1, reply: Intent | None = None) -> None:
        self.interval_ms = interval_ms
        self.reply = reply
        self.calls: list[tuple[FeaturesUpdated, Holding | None, bool]] = []

    def on_bar(self, f: FeaturesUpdated, holding: Holding | None, may_enter: bool) -> Intent | None:
        self.calls.append((f, holding, may_enter))
        return self.reply


EXIT = ExitPosition(SYM, 0, "test")


def trend_engine(*, selected: bool) -> SignalEngine:
    return SignalEngine(SYM, SingleStrategy(TrendRules(9, 21, 2.0), M1), selected=selected)


def regime_engine(*, selected: bool) -> SignalEngine:
    strategy = RegimeStrategy(
        TrendRules(9, 21, 2.0),
        BollingerReversionRules(1.0),
        TrendRules(9, 21, 2.0, name="high_vol", size_scale=0.5),
        M1,
    )
    return SignalEngine(SYM, strategy, selected=selected)


def test_book_and_ticker_features_between_bars_are_not_evaluated() -> None:
    recorder = Recorder(reply=EXIT)
    engine = SignalEngine(SYM, recorder, selected=True)
    assert engine.on_features(feat(bar_closed=False)) is None
    assert recorder.calls == []
    assert (engine.evaluations, engine.intents) == (0, 0)


def test_bars_of_another_timeframe_are_not_evaluated() -> None:
    recorder = Recorder(interval_ms=M15, reply=EXIT)
    engine = SignalEngine(SYM, recorder, selected=True)
    assert engine.on_features(feat(interval_ms=M1)) is None
    assert recorder.calls == []
    assert engine.on_features(feat(interval_ms=M15)) is EXIT
    assert (engine.evaluations, engine.intents) == (1, 1)


def test_a_symbol_without_a_strategy_decides_nothing() -> None:
    engine = SignalEngine(SYM, None, selected=True)
    engine.on_position(PositionChanged(SYM, Side.LONG, 100.0, 98.0, 0.0, "trend"))
    assert engine.on_features(feat()) is None
    assert (engine.evaluations, engine.intents) == (0, 0)


def test_counts_every_evaluated_bar_and_every_intent() -> None:
    recorder = Recorder()
    engine = SignalEngine(SYM, recorder, selected=True)
    engine.on_features(feat())
    recorder.reply = EXIT
    engine.on_features(feat())
    engine.on_features(feat(bar_closed=False))
    engine.on_features(feat())
    recorder.reply = None
    engine.on_features(feat())
    assert (engine.evaluations, engine.intents) == (4, 2)


def test_the_strategy_sees_the_holding_portfolio_reported_and_the_scanner_selection() -> None:
    recorder = Recorder()
    engine = SignalEngine(SYM, recorder)
    engine.on_features(feat(ts=1))
    engine.on_position(PositionChanged(SYM, Side.SHORT, 101.0, 103.0, 95.0, "range"))
    engine.selected = True
    engine.on_features(feat(ts=2))
    assert [(f.ts, h, may_enter) for f, h, may_enter in recorder.calls] == [
        (1, None, False),
        (2, Holding(Side.SHORT, 101.0, 103.0, 95.0, "range"), True),
    ]


def test_a_flat_position_report_clears_the_holding() -> None:
    engine = SignalEngine(SYM, Recorder())
    engine.on_position(PositionChanged(SYM, Side.LONG, 100.0, 98.0, 0.0, "trend"))
    assert engine.holding == Holding(Side.LONG, 100.0, 98.0, 0.0, "trend")
    engine.on_position(PositionChanged(SYM, None))
    assert engine.holding is None


def test_holding_from_message_keeps_entry_stop_target_and_strategy() -> None:
    m = PositionChanged(SYM, Side.LONG, entry=99.5, stop=98.0, target=100.5, strategy="long_dip")
    assert Holding.from_message(m) == Holding(Side.LONG, 99.5, 98.0, 100.5, "long_dip")
    assert Holding.from_message(PositionChanged(SYM, None, 99.5, 98.0, 100.5, "long_dip")) is None


def test_symbols_start_unselected() -> None:
    assert SignalEngine(SYM, Recorder()).selected is False


def test_a_cross_on_an_unselected_symbol_enters_nothing_but_is_evaluated() -> None:
    engine = trend_engine(selected=False)
    engine.on_features(emas(99.0, 100.0))
    assert engine.on_features(emas(101.0, 100.0)) is None
    assert (engine.evaluations, engine.intents) == (2, 0)


def test_a_cross_on_a_selected_symbol_enters() -> None:
    engine = trend_engine(selected=True)
    engine.on_features(emas(99.0, 100.0))
    intent = engine.on_features(emas(101.0, 100.0, ts=60_000))
    assert intent == EnterPosition(
        SYM, 60_000, Side.LONG, 100.0, 98.0, "trend", "ema 9 crossed above ema 21", regime=Regime.TRENDING
    )
    assert (engine.evaluations, engine.intents) == (2, 1)


def test_a_cross_seen_while_unselected_is_not_replayed_once_selected() -> None:
    engine = trend_engine(selected=False)
    engine.on_features(emas(99.0, 100.0))
    engine.on_features(emas(101.0, 100.0))
    engine.selected = True
    assert engine.on_features(emas(102.0, 100.0)) is None
    short = engine.on_features(emas(99.0, 100.0))
    assert isinstance(short, EnterPosition) and short.side is Side.SHORT


def test_an_exit_goes_through_on_an_unselected_symbol() -> None:
    engine = regime_engine(selected=False)
    engine.on_position(PositionChanged(SYM, Side.LONG, 97.0, 93.0, 100.0, "range"))
    intent = engine.on_features(feat(last=100.0, regime=Regime.RANGING, ts=5))
    assert intent == ExitPosition(SYM, 5, "close 100 reached the middle band 100")
    assert engine.intents == 1


def test_an_opposite_cross_exits_a_trend_position_on_an_unselected_symbol_instead_of_reversing() -> None:
    engine = regime_engine(selected=False)
    engine.on_position(PositionChanged(SYM, Side.LONG, 100.0, 98.0, 0.0, "trend"))
    engine.on_features(emas(101.0, 100.0))
    intent = engine.on_features(emas(99.0, 100.0, ts=6))
    assert intent == ExitPosition(SYM, 6, "ema 9 crossed against the long")


def test_the_same_cross_reverses_a_trend_position_on_a_selected_symbol() -> None:
    engine = regime_engine(selected=True)
    engine.on_position(PositionChanged(SYM, Side.LONG, 100.0, 98.0, 0.0, "trend"))
    engine.on_features(emas(101.0, 100.0))
    intent = engine.on_features(emas(99.0, 100.0))
    assert isinstance(intent, EnterPosition)
    assert (intent.side, intent.stop, intent.strategy) == (Side.SHORT, 102.0, "trend")


def test_a_trailing_stop_move_goes_through_on_an_unselected_symbol() -> None:
    engine = SignalEngine(SYM, SingleStrategy(LongDipRules(), M15), selected=False)

    def bar(close: float, ts: int) -> FeaturesUpdated:
        return feat(interval_ms=M15, ts=ts, last=close, high=close + 0.5, low=close - 0.5)

    ts = 0
    for _ in range(20):  # ATR(10) exactly 1, recent high 100.5
        ts += M15
        assert engine.on_features(bar(100.0, ts)) is None
    engine.on_position(PositionChanged(SYM, Side.LONG, 99.5, 98.0, 100.5, "long_dip"))
    for close in (99.75, 99.5, 99.75):
        ts += M15
        assert engine.on_features(bar(close, ts)) is None
    ts += M15
    intent = engine.on_features(bar(100.0, ts))  # best close 0.5 ATR above the entry
    assert intent == MoveStop(SYM, ts, 99.5, "trailing 0.5 ATR below 100")
    assert (engine.evaluations, engine.intents) == (24, 1)


def test_long_dip_engine_ignores_the_one_minute_bars_of_the_same_symbol() -> None:
    engine = SignalEngine(SYM, SingleStrategy(LongDipRules(), M15), selected=True)
    for i in range(40):
        assert engine.on_features(feat(ts=i * M1, last=90.0, high=120.0, low=80.0)) is None
    assert engine.evaluations == 0
