"""Which symbols a running ``--symbols all`` engine adds and removes when the venue's listing changes.

New contracts that pass ``min_volume_24h_usdt`` are added; contracts the venue no longer lists are
removed (their positions closed). A listed symbol whose volume merely dipped below the minimum is
kept: churning a pipeline in and out on a noisy 24h figure would throw away its warm indicators.
Quarantined symbols count as present, so a refresh never revives a crash-looping symbol.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class UniverseChange:
    add: tuple[str, ...]
    remove: tuple[str, ...]


def universe_change(current: Collection[str], wanted: Iterable[str], listed: Collection[str]) -> UniverseChange:
    """``current`` symbols (running or quarantined), the venue's ``wanted`` universe and all it ``listed``."""
    add = tuple(sorted(set(wanted) - set(current)))
    remove = tuple(sorted(s for s in current if s not in listed))
    return UniverseChange(add, remove)
