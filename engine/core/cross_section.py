"""Cross-sectional ranking of a universe into longs and shorts for a market-neutral book.

Each decision period the bandit (``engine.core.bandit``) picks one arm, i.e. which signal ranks
the universe. Every raw signal is turned into a cross-sectional z-score over the eligible symbols,
so arms are on one scale and a score says how far a symbol stands from *today's* universe rather
than from an absolute threshold: a positive score is "stronger than the cross-section", which is
what a long/short book earns on even when the whole market moves together.

- ``momentum``: 10-bar rate of change divided by ATR/close. The same 2% move means more on a coin
  that usually moves 0.5% a bar than on one that moves 3%, and dividing by volatility also keeps
  the book from filling up with the wildest coins.
- ``imbalance``: order-book imbalance near mid, a short-horizon pressure signal.
- ``blend``: the mean of the two z-scores.

Symbols are only scored on current, sane values: a symbol whose inputs are not finite, whose
snapshot is older than ``max_age_ms`` behind the newest one, or whose volatility is outside the
band (too quiet to pay costs, too volatile to size safely) is excluded with its reason rather than
ranked. Too few eligible symbols make a cross-section meaningless, so then nothing is selected.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.messages import EnterPosition, ExitPosition, FeaturesUpdated, Side

ARMS: tuple[str, ...] = ("momentum", "imbalance", "blend")

STALE = "stale"
TOO_VOLATILE = "too volatile"
TOO_QUIET = "too quiet"
NOT_FINITE = "not finite"
IMBALANCE_OUT_OF_RANGE = "imbalance out of range"


@dataclass(frozen=True, slots=True)
class XsInput:
    """One symbol's snapshot: momentum = close/close[t-10] - 1, imbalance in [-1, 1] within 10 bps
    of mid, atr_pct = ATR / close."""

    symbol: str
    ts: int
    momentum: float
    imbalance: float
    atr_pct: float


@dataclass(frozen=True, slots=True)
class XsRules:
    k: int = 3
    min_atr_pct: float = 0.001
    max_atr_pct: float = 0.05
    max_age_ms: int = 120_000
    min_symbols: int = 6

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ValueError(f"k must be >= 1 symbol per side, got {self.k}")
        if not (math.isfinite(self.min_atr_pct) and self.min_atr_pct > 0.0):
            raise ValueError(f"min_atr_pct must be finite and > 0 (momentum is divided by it), got {self.min_atr_pct}")
        if not (math.isfinite(self.max_atr_pct) and self.max_atr_pct >= self.min_atr_pct):
            raise ValueError(
                f"max_atr_pct must be finite and >= min_atr_pct={self.min_atr_pct}, got {self.max_atr_pct}"
            )
        if self.max_age_ms < 0:
            raise ValueError(f"max_age_ms must be >= 0, got {self.max_age_ms}")
        if self.min_symbols < 2:
            raise ValueError(f"min_symbols must be >= 2 (one long and one short), got {self.min_symbols}")


@dataclass(frozen=True, slots=True)
class XsSelection:
    """Longs best first, shorts worst first; ``reason`` is '' exactly when a side is non-empty."""

    longs: tuple[str, ...]
    shorts: tuple[str, ...]
    scores: dict[str, float]
    excluded: dict[str, str]
    reason: str
    arm: str
    ts: int


def exclusion(x: XsInput, newest_ts: int, rules: XsRules) -> str | None:
    """Why ``x`` may not be ranked, or None when it may."""
    if not all(math.isfinite(v) for v in (x.momentum, x.imbalance, x.atr_pct)):
        return NOT_FINITE
    if newest_ts - x.ts > rules.max_age_ms:
        return STALE
    if not -1.0 <= x.imbalance <= 1.0:
        return IMBALANCE_OUT_OF_RANGE
    if x.atr_pct > rules.max_atr_pct:
        return TOO_VOLATILE
    if x.atr_pct < rules.min_atr_pct:
        return TOO_QUIET
    return None


def zscores(values: Sequence[float]) -> npt.NDArray[np.float64]:
    """``(x - mean) / population std``; all zeros when the values do not differ.

    The values are first scaled by their largest magnitude (a z-score does not change under
    scaling) so huge inputs cannot overflow the squares.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return x
    scale = float(np.max(np.abs(x)))
    if scale == 0.0 or not math.isfinite(scale):
        return np.zeros_like(x)
    x = x / scale
    std = float(np.std(x))
    if std == 0.0:
        return np.zeros_like(x)
    return np.asarray((x - np.mean(x)) / std, dtype=np.float64)


def arm_scores(eligible: Sequence[XsInput], arm: str) -> npt.NDArray[np.float64]:
    """Cross-sectional scores of ``eligible`` under ``arm``, in the given order."""
    if arm == "momentum":
        return zscores([x.momentum / x.atr_pct for x in eligible])
    if arm == "imbalance":
        return zscores([x.imbalance for x in eligible])
    if arm == "blend":
        return np.asarray((arm_scores(eligible, "momentum") + arm_scores(eligible, "imbalance")) / 2.0)
    raise ValueError(f"unknown cross-section arm {arm!r}; arms are {', '.join(ARMS)}")


def select(inputs: Iterable[XsInput], arm: str, rules: XsRules) -> XsSelection:
    """Top-k longs and bottom-k shorts of the eligible universe under ``arm``.

    With fewer than 2k eligible symbols each side takes ``n // 2`` so the sides never overlap; a
    long needs a score above the cross-sectional mean (> 0) and a short one below it (< 0). The
    result depends only on the set of inputs, not their order: symbols are processed sorted by name
    and ties in score go to the alphabetically first symbol.
    """
    if arm not in ARMS:
        raise ValueError(f"unknown cross-section arm {arm!r}; arms are {', '.join(ARMS)}")
    snapshot = sorted(inputs, key=lambda x: x.symbol)
    symbols = [x.symbol for x in snapshot]
    if len(set(symbols)) != len(symbols):
        duplicated = sorted({s for s in symbols if symbols.count(s) > 1})
        raise ValueError(f"cross-section inputs hold more than one snapshot for {', '.join(duplicated)}")
    if not snapshot:
        return XsSelection((), (), {}, {}, "no inputs", arm, 0)
    newest_ts = max(x.ts for x in snapshot)
    excluded: dict[str, str] = {}
    eligible: list[XsInput] = []
    for x in snapshot:
        why = exclusion(x, newest_ts, rules)
        if why is None:
            eligible.append(x)
        else:
            excluded[x.symbol] = why
    if len(eligible) < rules.min_symbols:
        reason = f"{len(eligible)} eligible symbols, need at least {rules.min_symbols}"
        return XsSelection((), (), {}, excluded, reason, arm, newest_ts)
    scores = {x.symbol: float(z) for x, z in zip(eligible, arm_scores(eligible, arm), strict=True)}
    ranked = sorted(scores, key=lambda s: (-scores[s], s))
    per_side = min(rules.k, len(ranked) // 2)
    longs = tuple(s for s in ranked[:per_side] if scores[s] > 0.0)
    shorts = tuple(s for s in sorted(scores, key=lambda s: (scores[s], s))[:per_side] if scores[s] < 0.0)
    reason = "" if longs or shorts else "no cross-sectional spread: every eligible symbol scores the same"
    return XsSelection(longs, shorts, scores, excluded, reason, arm, newest_ts)


XS_PREFIX = "xs_"
"""Cross-sectional positions are opened under the strategy name ``xs_<arm>``: the arm to credit."""


def arm_of(strategy: str) -> str | None:
    """The bandit arm a position's strategy name credits, or None if it is not cross-sectional."""
    arm = strategy.removeprefix(XS_PREFIX)
    return arm if strategy.startswith(XS_PREFIX) and arm in ARMS else None


def rebalance(
    selection: XsSelection, held: Mapping[str, Side], latest: Mapping[str, FeaturesUpdated], stop_atr: float
) -> list[EnterPosition | ExitPosition]:
    """The intents that turn the book ``held`` (symbol -> side) into ``selection``.

    A held symbol no longer selected is exited; a selected symbol not held on its side is entered
    (against a held position that is a reversal, which Risk sizes as one order), with a stop
    ``stop_atr`` ATRs from its last close. A selected symbol without a usable price or ATR is
    skipped: no stop can be placed for it.
    """
    desired = {s: Side.LONG for s in selection.longs} | {s: Side.SHORT for s in selection.shorts}
    intents: list[EnterPosition | ExitPosition] = [
        ExitPosition(symbol, selection.ts, f"left the cross-sectional book ({selection.arm})")
        for symbol in sorted(held)
        if symbol not in desired
    ]
    for symbol, side in desired.items():
        f = latest.get(symbol)
        if held.get(symbol) is side or f is None or not (f.atr > 0.0 and f.last > 0.0):
            continue
        intents.append(
            EnterPosition(
                symbol=symbol,
                ts=f.ts,
                side=side,
                price=f.last,
                stop=f.last - side.sign * stop_atr * f.atr,
                strategy=XS_PREFIX + selection.arm,
                reason=f"{selection.arm} score {selection.scores[symbol]:+.2f}, top {side.value} of the cross-section",
                regime=f.regime,
            )
        )
    return intents
