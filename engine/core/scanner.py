"""Cross-sectional ranking of symbols by trend strength, from each symbol's newest closed bar.

Trend strength is ``|EMA fast - EMA slow| / ATR``: how many ATRs the two averages stand apart,
which compares a 90,000 USDT coin with a 0.1 USDT coin on one scale. Symbols whose features are
not warm, or older than ``max_age_ms`` behind the newest, are left out rather than ranked on old
values.
"""

from __future__ import annotations

from engine.messages import FeaturesUpdated


def trend_strength(f: FeaturesUpdated) -> float:
    if not f.warm or f.atr <= 0.0:
        return 0.0
    return abs(f.ema_fast - f.ema_slow) / f.atr


def rank(latest: dict[str, FeaturesUpdated], top_n: int, max_age_ms: int) -> list[tuple[str, float]]:
    """The ``top_n`` symbols by trend strength, strongest first, ties broken by name."""
    if not latest:
        return []
    newest = max(f.ts for f in latest.values())
    scored = [(symbol, trend_strength(f)) for symbol, f in latest.items() if f.warm and newest - f.ts <= max_age_ms]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:top_n]
