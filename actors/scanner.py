"""Scanner: scores every symbol each cycle, lets the top N enter, and runs the cross-sectional book.

Every ``scanner.interval_s`` it scores the newest primary-timeframe bar of each symbol that runs
a per-symbol strategy (``engine.core.scanner``) and tells the Signal of each of the top
``engine.top_n_symbols`` that it is selected, and of each that dropped out that it is not: only
selected symbols may open positions. A restarted Signal is unselected until the next cycle.

Cross-sectional symbols are traded here as one book: every ``cross_sectional.period_s`` of event
time, the UCB1 bandit picks an arm, ``select`` ranks the symbols under it, and ``rebalance``
turns the held book into the new one through Risk. Each closed ``xs_<arm>`` trade's R-multiple
is the bandit's reward; the bandit's state is saved after every change and restored on start.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loguru import logger

from actors.base import SingletonActor
from actors.context import RISK, SCANNER, SIGNAL, STORE, ActorContext
from engine.core.bandit import UcbBandit
from engine.core.cross_section import ARMS, XsInput, XsRules, XsSelection, arm_of, rebalance, select
from engine.core.scanner import ScanWeights, Scored, score
from engine.messages import (
    FeaturesUpdated,
    GetStatus,
    LoadState,
    PortfolioUpdated,
    PositionView,
    SaveState,
    SymbolSelected,
    Tick,
    TradeClosed,
)
from engine.strategy_plan import CROSS_SECTIONAL
from engine.timeframes import interval_ms

BANDIT_KEY = "bandit"
LOAD_TIMEOUT_S = 10.0


class ScannerActor(SingletonActor):
    role = SCANNER

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__(ctx)
        c = ctx.config
        self.latest: dict[str, FeaturesUpdated] = {}
        self.ranking: list[Scored] = []
        self.selected: list[str] = []
        sc = c.scanner
        self._weights = ScanWeights(sc.weight_trend, sc.weight_atr_expansion, sc.weight_momentum, sc.weight_volume)
        self._max_age_ms = 2 * interval_ms(c.strategy.timeframe)
        x = c.cross_sectional
        self._xs_rules = XsRules(x.k, x.min_atr_pct, x.max_atr_pct, self._max_age_ms, x.min_symbols)
        self._xs_period_ms = x.period_s * 1000
        self._next_decision_ts = 0
        self.bandit = UcbBandit(ARMS, x.exploration, x.window, x.r_clip)
        self.book: XsSelection | None = None
        self._positions: tuple[PositionView, ...] = ()

    def on_start(self) -> None:
        """Resume the bandit's statistics; a state that cannot be read is reported, not used."""
        store = self.router.singleton(STORE)
        if store is None:
            return
        state = store.ask(LoadState(BANDIT_KEY), block=True, timeout=LOAD_TIMEOUT_S)
        if state is None:
            return
        x = self.ctx.config.cross_sectional
        try:
            self.bandit = UcbBandit.from_state(state, ARMS, x.exploration, x.window, x.r_clip)
        except ValueError as exc:
            logger.warning("bandit state not restored ({}): its statistics start from zero", exc)
            return
        trades = sum(s.trades for s in self.bandit.stats().values())
        logger.info("bandit restored: {} outcomes over arms {}", trades, ", ".join(ARMS))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, FeaturesUpdated):
            if message.bar_closed:
                self.latest[message.symbol] = message
        elif isinstance(message, Tick):
            self._cycle()
        elif isinstance(message, PortfolioUpdated):
            self._positions = message.positions
        elif isinstance(message, TradeClosed):
            self._learn(message)
        elif isinstance(message, GetStatus):
            return self._status()
        return None

    def _is_cross_sectional(self, symbol: str) -> bool:
        return self.ctx.config.strategy.mode_of(symbol) == CROSS_SECTIONAL

    def _cycle(self) -> None:
        per_symbol = {s: f for s, f in self.latest.items() if not self._is_cross_sectional(s)}
        self.ranking = score(per_symbol, self._weights, self._max_age_ms)
        top = self.ranking[: self.ctx.config.engine.top_n_symbols]
        now = max((f.ts for f in self.latest.values()), default=0)
        chosen = [s.symbol for s in top]
        for rank, s in enumerate(top, 1):
            self.router.tell(s.symbol, SIGNAL, SymbolSelected(s.symbol, now, True, rank, s.score))
        for symbol in set(self.selected) - set(chosen):
            self.router.tell(symbol, SIGNAL, SymbolSelected(symbol, now, False))
        if set(chosen) != set(self.selected):
            shown = ", ".join(f"{s.symbol} {s.score:.2f} ({s.regime})" for s in top)
            logger.info("scanner: top {} of {} now {}", len(top), len(self.ranking), shown or "empty")
        self.selected = chosen
        if now >= self._next_decision_ts and any(self._is_cross_sectional(s) for s in self.latest):
            self._next_decision_ts = now - now % self._xs_period_ms + self._xs_period_ms
            self._decide()

    def _decide(self) -> None:
        latest = {s: f for s, f in self.latest.items() if self._is_cross_sectional(s)}
        inputs = [
            XsInput(s, f.ts, f.momentum, f.imbalance, f.atr / f.last if f.last > 0.0 else float("nan"))
            for s, f in latest.items()
        ]
        arm = self.bandit.choose()
        book = select(inputs, arm, self._xs_rules)
        self.book = book
        self._save_bandit()
        if book.reason:
            logger.info("cross-sectional: no book this period ({}): {}", arm, book.reason)
            return
        held = {v.symbol: v.side for v in self._positions if arm_of(v.strategy) is not None}
        intents = rebalance(book, held, latest, self.ctx.config.strategy.atr_stop_mult)
        logger.info(
            "cross-sectional ({}): longs {}, shorts {}; {} orders to rebalance",
            arm, ", ".join(book.longs) or "-", ", ".join(book.shorts) or "-", len(intents),
        )  # fmt: skip
        for intent in intents:
            self.router.tell_singleton(RISK, intent)

    def _learn(self, trade: TradeClosed) -> None:
        arm = arm_of(trade.strategy)
        if arm is None or trade.risk <= 0.0:
            return
        r = trade.pnl / trade.risk
        self.bandit.record(arm, r)
        self._save_bandit()
        stats = self.bandit.stats()[arm]
        logger.info(
            "bandit: {} {} trade {:+.2f}R; arm {} now {} trades, win rate {:.0%}, Sharpe {:.2f}",
            trade.symbol, trade.strategy, r, arm, stats.trades, stats.win_rate, stats.sharpe,
        )  # fmt: skip

    def _save_bandit(self) -> None:
        self.router.tell_singleton(STORE, SaveState(BANDIT_KEY, self.bandit.to_state()))

    def _status(self) -> dict[str, Any]:
        top_n = self.ctx.config.engine.top_n_symbols
        book = self.book
        return {
            "top": [
                {
                    "symbol": s.symbol,
                    "score": round(s.score, 3),
                    "regime": s.regime,
                    "trend": round(s.trend, 3),
                    "atr_expansion": round(s.atr_expansion, 3),
                    "momentum": round(s.momentum, 5),
                    "volume_spike": round(s.volume_spike, 3),
                }
                for s in self.ranking[:top_n]
            ],
            "ranked_from": len(self.ranking),
            "regimes": _count_regimes(self.latest.values()),
            "cross_sectional": None
            if book is None
            else {
                "arm": book.arm,
                "longs": list(book.longs),
                "shorts": list(book.shorts),
                "reason": book.reason,
                "arms": {name: stats.as_dict() for name, stats in self.bandit.stats().items()},
            },
        }


def _count_regimes(features: Iterable[FeaturesUpdated]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for f in features:
        counts[f.regime] = counts.get(f.regime, 0) + 1
    return dict(sorted(counts.items()))
