"""The default ``regime`` mode: the symbol's regime picks which rules may open a position.

TRENDING -> trend (EMA cross), RANGING -> Bollinger mean reversion, HIGH_VOLATILITY -> the trend
rules at reduced size, UNKNOWN (indicators not warm) -> no entries. Every rule sees every bar, so
each keeps its state (previous EMAs, band touches) current whatever the regime; only entries are
regime-gated. (Bars a backtest skips while the symbol is flat and unselected are made up for by
``resume``, which rebuilds every rule's state, if all of them can.) An open position stays with the
rules that opened it: a range trade still exits at the middle band after the market turns to
trending, and a trend trade still exits on the opposite cross in a range (where it may not reverse).
"""

from __future__ import annotations

from engine.core.strategies.base import FeatureHistory, Holding, Intent, NotResumableError, Rules, decide
from engine.messages import EnterPosition, FeaturesUpdated, Regime


class RegimeStrategy:
    __slots__ = ("_by_name", "_by_regime", "interval_ms", "name")

    def __init__(self, trend: Rules, ranging: Rules, high_volatility: Rules, interval_ms: int) -> None:
        self.name = "regime"
        self.interval_ms = interval_ms
        self._by_regime: dict[str, Rules] = {
            Regime.TRENDING: trend,
            Regime.RANGING: ranging,
            Regime.HIGH_VOLATILITY: high_volatility,
        }
        self._by_name = {rules.name: rules for rules in (trend, ranging, high_volatility)}
        if len(self._by_name) != 3:
            raise ValueError("the trend, range and high-volatility rules need distinct names")

    @property
    def resumable(self) -> bool:
        """Every rule must be: each sees every bar, whatever the regime."""
        return all(rules.resumable for rules in self._by_name.values())

    def resume(self, history: FeatureHistory, i: int) -> None:
        """Every rule's state after bars 0..i-1; refused before touching any rule if one cannot."""
        stuck = [name for name, rules in self._by_name.items() if not rules.resumable]
        if stuck:
            raise NotResumableError(f"regime strategy cannot resume: rules {stuck} must see every bar")
        for rules in self._by_name.values():
            rules.resume(history, i)

    def on_bar(self, f: FeaturesUpdated, holding: Holding | None, may_enter: bool) -> Intent | None:
        signals: dict[str, EnterPosition | None] = {name: rules.signal(f) for name, rules in self._by_name.items()}
        active = self._by_regime.get(f.regime)
        entry = signals[active.name] if active is not None else None
        owner = self._by_name.get(holding.strategy) if holding is not None else None
        return decide(entry, owner, f, holding, may_enter)
