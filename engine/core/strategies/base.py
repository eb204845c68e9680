"""What every strategy shares: the position it sees, the intents it may emit, and one interface.

A strategy only asks (enter, exit, move a stop); Risk sizes and may refuse, Execution acts. It
sees its symbol's position only as the ``Holding`` Portfolio reports, never the intents it sent,
because Risk may deny an entry. Decisions are taken on the closed bars of the strategy's own
timeframe, so a strategy is a pure function of its bars and replays identically in a backtest.

Rules (trend, mean reversion, long dip) are split in two questions, so that combining them by
regime stays simple: ``signal`` (update state, and would this bar open a position?) and
``manage`` (what to do with a position this rule opened?).

A flat symbol the scanner does not select provably gets no intent (see ``decide``), so a backtest
need not run its strategy on those bars, provided it can bring the strategy's state up to date
when the symbol acts again. ``resume`` does that from the whole-series features of a
``FeatureHistory``: it sets the state to what ``signal`` would have left after seeing every bar
before. Rules whose state is not a function of those features (the long dip's own ATR and its
position's best close) are not ``resumable`` and must see every bar.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, MoveStop, PositionChanged, Side

Intent = EnterPosition | ExitPosition | MoveStop
Management = ExitPosition | MoveStop

T = TypeVar("T")


class FeatureHistory(Protocol):
    """One timeframe's features for a whole series, as arrays indexed by bar.

    Element ``i`` of each array is the same-named field of the ``FeaturesUpdated`` that
    ``FeatureEngine.on_bar`` reported for bar ``i`` (NaN where it had no value). Bar 0 is the first
    bar the strategy sees; the indicators may have been warmed on earlier bars.
    """

    @property
    def warm(self) -> npt.NDArray[np.bool_]: ...

    @property
    def last(self) -> npt.NDArray[np.float64]: ...

    @property
    def high(self) -> npt.NDArray[np.float64]: ...

    @property
    def low(self) -> npt.NDArray[np.float64]: ...

    @property
    def ema_fast(self) -> npt.NDArray[np.float64]: ...

    @property
    def ema_slow(self) -> npt.NDArray[np.float64]: ...

    @property
    def atr(self) -> npt.NDArray[np.float64]: ...

    @property
    def bb_upper(self) -> npt.NDArray[np.float64]: ...

    @property
    def bb_middle(self) -> npt.NDArray[np.float64]: ...

    @property
    def bb_lower(self) -> npt.NDArray[np.float64]: ...

    def memo(self, key: str, compute: Callable[[], T]) -> T:
        """``compute()`` on the first ask for ``key``, the cached value after: a rule derives its
        state series for the whole history once, not once per resume. Keys name what is computed
        (the same key must always mean the same computation on this history)."""
        ...


class NotResumableError(TypeError):
    """``resume`` on a strategy whose state cannot be rebuilt from features: run it on every bar."""


def check_resume_index(history: FeatureHistory, i: int) -> int:
    """``i`` if it is a valid resume point of ``history`` (0 through its length: resuming at the
    length means after the last bar), else IndexError. Returns the history's length."""
    n = len(history.last)
    if not 0 <= i <= n:
        raise IndexError(f"cannot resume at bar {i} of a {n}-bar history")
    return n


@dataclass(frozen=True, slots=True)
class Holding:
    """A symbol's open position as Portfolio reported it, and the strategy that opened it."""

    side: Side
    entry: float
    stop: float
    target: float
    strategy: str

    @classmethod
    def from_message(cls, m: PositionChanged) -> Holding | None:
        if m.side is None:
            return None
        return cls(m.side, m.entry, m.stop, m.target, m.strategy)


class Rules(Protocol):
    """One trading rule set. ``signal`` must be called on every bar (it keeps state such as the
    previous EMAs), or the rule ``resume``d before the first bar after a gap; ``manage`` only for
    a position whose ``strategy`` is this rule's ``name``."""

    @property
    def name(self) -> str: ...

    @property
    def resumable(self) -> bool:
        """Whether ``resume`` can rebuild the state from a ``FeatureHistory``."""
        ...

    def resume(self, history: FeatureHistory, i: int) -> None:
        """Set the state to what it is after ``signal`` has seen bars 0..i-1 of ``history`` (and
        nothing else), whatever it was; NotResumableError if the rule is not ``resumable``."""
        ...

    def signal(self, f: FeaturesUpdated) -> EnterPosition | None: ...

    def manage(self, f: FeaturesUpdated, holding: Holding) -> Management | None: ...


class Strategy(Protocol):
    """What the Signal actor runs: one decision per closed bar of ``interval_ms``."""

    @property
    def name(self) -> str: ...

    @property
    def interval_ms(self) -> int: ...

    @property
    def resumable(self) -> bool:
        """Whether ``resume`` can rebuild the state from a ``FeatureHistory`` of ``interval_ms``."""
        ...

    def resume(self, history: FeatureHistory, i: int) -> None:
        """Set the state to what it is after ``on_bar`` has seen bars 0..i-1 of ``history``, so
        that bar ``i`` decides as if no bar had been skipped; NotResumableError if not
        ``resumable``. Only the bar state is rebuilt: the holding and the scanner's selection are
        inputs of ``on_bar``, not state."""
        ...

    def on_bar(self, f: FeaturesUpdated, holding: Holding | None, may_enter: bool) -> Intent | None:
        """Decide on a closed bar; ``may_enter`` False (the scanner did not select the symbol)
        allows only the management of an open position."""
        ...


def decide(
    entry: EnterPosition | None, rules: Rules | None, f: FeaturesUpdated, holding: Holding | None, may_enter: bool
) -> Intent | None:
    """The one intent of a bar: a reversal or fresh entry first, else the holding's management.

    An entry on the side already held says nothing new. An entry against the holding is a
    reversal (Risk closes and opens in one order), which also ends whatever management wanted;
    when entries are not allowed, the management (say, an exit on the opposite cross) stands.
    """
    if may_enter and entry is not None and (holding is None or holding.side is not entry.side):
        return entry
    if holding is not None and rules is not None and holding.strategy == rules.name:
        return rules.manage(f, holding)
    return None


class SingleStrategy:
    """One rule set on one timeframe: ``long_dip`` mode, or any rule on its own in tests."""

    __slots__ = ("interval_ms", "name", "rules")

    def __init__(self, rules: Rules, interval_ms: int) -> None:
        self.rules = rules
        self.name = rules.name
        self.interval_ms = interval_ms

    @property
    def resumable(self) -> bool:
        return self.rules.resumable

    def resume(self, history: FeatureHistory, i: int) -> None:
        self.rules.resume(history, i)

    def on_bar(self, f: FeaturesUpdated, holding: Holding | None, may_enter: bool) -> Intent | None:
        return decide(self.rules.signal(f), self.rules, f, holding, may_enter)


def atr_ok(f: FeaturesUpdated) -> bool:
    """A usable ATR: a zero one would put the stop at the entry and make the size infinite."""
    return f.atr > 0.0
