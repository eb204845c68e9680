"""What every strategy shares: the position it sees, the intents it may emit, and one interface.

A strategy only asks (enter, exit, move a stop); Risk sizes and may refuse, Execution acts. It
sees its symbol's position only as the ``Holding`` Portfolio reports, never the intents it sent,
because Risk may deny an entry. Decisions are taken on the closed bars of the strategy's own
timeframe, so a strategy is a pure function of its bars and replays identically in a backtest.

Rules (trend, mean reversion, long dip) are split in two questions, so that combining them by
regime stays simple: ``signal`` (update state, and would this bar open a position?) and
``manage`` (what to do with a position this rule opened?).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, MoveStop, PositionChanged, Side

Intent = EnterPosition | ExitPosition | MoveStop
Management = ExitPosition | MoveStop


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
    previous EMAs); ``manage`` only for a position whose ``strategy`` is this rule's ``name``."""

    @property
    def name(self) -> str: ...

    def signal(self, f: FeaturesUpdated) -> EnterPosition | None: ...

    def manage(self, f: FeaturesUpdated, holding: Holding) -> Management | None: ...


class Strategy(Protocol):
    """What the Signal actor runs: one decision per closed bar of ``interval_ms``."""

    @property
    def name(self) -> str: ...

    @property
    def interval_ms(self) -> int: ...

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

    def on_bar(self, f: FeaturesUpdated, holding: Holding | None, may_enter: bool) -> Intent | None:
        return decide(self.rules.signal(f), self.rules, f, holding, may_enter)


def atr_ok(f: FeaturesUpdated) -> bool:
    """A usable ATR: a zero one would put the stop at the entry and make the size infinite."""
    return f.atr > 0.0
