"""A UCB1 bandit that picks which signal (arm) to trade next, learning from realised outcomes.

Outcomes are R-multiples: pnl divided by the risk taken at entry (the loss at the initial stop), so
a trade on a 90,000 USDT coin and one on a 0.1 USDT coin teach the bandit on the same scale, and a
signal is judged by what it earned per unit of risk rather than by how large its positions were.

UCB1's confidence bound assumes rewards in [0, 1], so each R-multiple is clipped to
``[-r_clip, r_clip]`` and mapped linearly: ``reward = (clip(r) + r_clip) / (2 r_clip)``. A stop-out
(R = -1) with ``r_clip = 3`` is worth 1/3, break-even 1/2. Clipping keeps one outsized winner from
locking the bandit onto an arm; the unclipped R still feeds the human-facing statistics (mean R,
win rate, Sharpe) so a status page shows what the arm really made.

The bound is ``mean reward + sqrt(exploration * ln(N) / n_i)`` with ``n_i`` the outcomes recorded for
arm i and ``N`` the outcomes over all arms; ``exploration = 2`` is the classic UCB1 of Auer et al.
Counting outcomes rather than decisions means a decision period that ended without a trade teaches
nothing and costs no exploration budget. The bound is variance-blind: it assumes the full [0, 1]
range, so with wide clipping and small R gaps between arms it explores for a long time before it
commits; lowering ``r_clip`` or ``exploration`` makes it commit sooner.

The whole learnt state is JSON-serialisable so a restart resumes the learning instead of paying the
exploration again; a state that does not parse is refused with ``ValueError`` and the caller decides
whether to start fresh.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

STATE_VERSION = 1

_STATE_KEYS = ("pulls", "trades", "total_r", "reward_sum", "mean_r", "m2", "recent")


class ArmStats:
    """Online statistics of one arm, updated in O(1) per outcome.

    Mean and variance of the R-multiples come from Welford's algorithm, which stays accurate over
    long runs where the naive sum-of-squares loses precision. ``sharpe`` is the per-trade mean R
    divided by the *sample* standard deviation (n - 1), not annualised. The win rate looks only at
    the newest ``window`` outcomes so a signal that has stopped working shows it quickly.
    """

    __slots__ = ("_m2", "_mean_r", "_recent", "_reward_sum", "_total_r", "name", "pulls", "trades")

    def __init__(self, name: str, window: int) -> None:
        self.name = name
        self.pulls = 0
        self.trades = 0
        self._total_r = 0.0
        self._reward_sum = 0.0
        self._mean_r = 0.0
        self._m2 = 0.0
        self._recent: deque[float] = deque(maxlen=window)

    def _add(self, r_multiple: float, reward: float) -> None:
        self.trades += 1
        self._total_r += r_multiple
        self._reward_sum += reward
        delta = r_multiple - self._mean_r
        self._mean_r += delta / self.trades
        self._m2 += delta * (r_multiple - self._mean_r)
        self._recent.append(r_multiple)

    @property
    def total_r(self) -> float:
        """Sum of the unclipped R-multiples: what the arm made, in units of risk."""
        return self._total_r

    @property
    def mean_r(self) -> float:
        """Mean unclipped R-multiple per trade (Welford mean); 0.0 before any outcome."""
        return self._mean_r

    @property
    def mean_reward(self) -> float:
        """Mean of the clipped, [0, 1]-mapped rewards: the term UCB1 ranks arms on."""
        return self._reward_sum / self.trades if self.trades else 0.0

    @property
    def win_rate(self) -> float:
        """Share of R > 0 among the newest ``window`` outcomes; 0.0 before any outcome."""
        if not self._recent:
            return 0.0
        return sum(1 for r in self._recent if r > 0.0) / len(self._recent)

    @property
    def sharpe(self) -> float:
        """Per-trade mean R over its sample std; 0.0 with fewer than 2 outcomes or zero variance."""
        if self.trades < 2 or self._m2 <= 0.0:
            return 0.0
        return self._mean_r / math.sqrt(self._m2 / (self.trades - 1))

    @property
    def recent(self) -> tuple[float, ...]:
        """The newest ``window`` R-multiples, oldest first."""
        return tuple(self._recent)

    def copy(self) -> ArmStats:
        twin = ArmStats(self.name, self._recent.maxlen or 1)
        twin.pulls = self.pulls
        twin.trades = self.trades
        twin._total_r = self._total_r
        twin._reward_sum = self._reward_sum
        twin._mean_r = self._mean_r
        twin._m2 = self._m2
        twin._recent.extend(self._recent)
        return twin

    def as_dict(self, digits: int = 4) -> dict[str, Any]:
        """A rounded, JSON-ready view for a status page (not for persistence: it loses precision)."""
        return {
            "arm": self.name,
            "pulls": self.pulls,
            "trades": self.trades,
            "total_r": round(self._total_r, digits),
            "mean_r": round(self._mean_r, digits),
            "mean_reward": round(self.mean_reward, digits),
            "win_rate": round(self.win_rate, digits),
            "sharpe": round(self.sharpe, digits),
        }

    def _to_state(self) -> dict[str, Any]:
        return {
            "pulls": self.pulls,
            "trades": self.trades,
            "total_r": self._total_r,
            "reward_sum": self._reward_sum,
            "mean_r": self._mean_r,
            "m2": self._m2,
            "recent": list(self._recent),
        }

    @classmethod
    def _from_state(cls, name: str, raw: object, window: int) -> ArmStats:
        if not isinstance(raw, Mapping):
            raise ValueError(f"bandit state for arm {name!r} is not a mapping: {raw!r}")
        missing = [key for key in _STATE_KEYS if key not in raw]
        if missing:
            raise ValueError(f"bandit state for arm {name!r} lacks {', '.join(missing)}")
        stats = cls(name, window)
        stats.pulls = _count(raw["pulls"], f"{name}.pulls")
        stats.trades = _count(raw["trades"], f"{name}.trades")
        stats._total_r = _finite(raw["total_r"], f"{name}.total_r")
        stats._reward_sum = _finite(raw["reward_sum"], f"{name}.reward_sum")
        stats._mean_r = _finite(raw["mean_r"], f"{name}.mean_r")
        stats._m2 = _finite(raw["m2"], f"{name}.m2")
        recent = raw["recent"]
        if not isinstance(recent, list):
            raise ValueError(f"bandit state {name}.recent is not a list: {recent!r}")
        values = [_finite(r, f"{name}.recent[{i}]") for i, r in enumerate(recent)]
        if len(values) > stats.trades:
            raise ValueError(
                f"bandit state for arm {name!r} holds {len(values)} recent outcomes but {stats.trades} trades"
            )
        if not 0.0 <= stats._reward_sum <= stats.trades * (1.0 + 1e-9):
            raise ValueError(f"bandit state {name}.reward_sum={stats._reward_sum} outside [0, trades={stats.trades}]")
        if stats._m2 < 0.0:
            raise ValueError(f"bandit state {name}.m2={stats._m2} is negative")
        if stats.trades == 0 and (stats._total_r, stats._reward_sum, stats._mean_r, stats._m2) != (0.0, 0.0, 0.0, 0.0):
            raise ValueError(f"bandit state for arm {name!r} has sums but no trades")
        stats._recent.extend(values)
        return stats


class UcbBandit:
    """UCB1 over named arms; ``choose`` decides, ``record`` teaches with the trade's R-multiple."""

    __slots__ = ("_arms", "_stats", "exploration", "r_clip", "window")

    def __init__(self, arms: Sequence[str], exploration: float = 2.0, window: int = 50, r_clip: float = 3.0) -> None:
        if isinstance(arms, str):
            raise ValueError(f"arms must be a sequence of names, not the string {arms!r}")
        names = tuple(arms)
        if not names:
            raise ValueError("a bandit needs at least one arm")
        if any(not isinstance(a, str) or not a for a in names):
            raise ValueError(f"arm names must be non-empty strings, got {names!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"arm names must be unique, got {names!r}")
        if not (math.isfinite(exploration) and exploration >= 0.0):
            raise ValueError(f"exploration must be finite and >= 0, got {exploration}")
        if window < 1:
            raise ValueError(f"window must be >= 1 outcome, got {window}")
        if not (math.isfinite(r_clip) and r_clip > 0.0):
            raise ValueError(f"r_clip must be finite and > 0, got {r_clip}")
        self._arms = names
        self.exploration = exploration
        self.window = window
        self.r_clip = r_clip
        self._stats = {name: ArmStats(name, window) for name in names}

    @property
    def arms(self) -> tuple[str, ...]:
        return self._arms

    def reward(self, r_multiple: float) -> float:
        """The [0, 1] reward UCB1 learns from: R clipped to ±r_clip, then mapped linearly."""
        clipped = min(max(r_multiple, -self.r_clip), self.r_clip)
        return (clipped + self.r_clip) / (2.0 * self.r_clip)

    def bounds(self) -> dict[str, float]:
        """Each arm's upper confidence bound; +inf for an arm with no outcome yet."""
        total = sum(s.trades for s in self._stats.values())
        log_total = math.log(total) if total > 0 else 0.0
        return {
            name: (s.mean_reward + math.sqrt(self.exploration * log_total / s.trades) if s.trades else math.inf)
            for name, s in self._stats.items()
        }

    def choose(self) -> str:
        """The arm to trade next (untried arms first, in declared order); counts one pull."""
        bounds = self.bounds()
        best = self._arms[0]
        for name in self._arms[1:]:
            if bounds[name] > bounds[best]:
                best = name
        self._stats[best].pulls += 1
        return best

    def record(self, arm: str, r_multiple: float) -> None:
        """Teach the bandit one realised outcome of ``arm``, in R-multiples."""
        stats = self._stats.get(arm)
        if stats is None:
            raise ValueError(f"unknown bandit arm {arm!r}; arms are {', '.join(self._arms)}")
        if not math.isfinite(r_multiple):
            raise ValueError(f"R-multiple for arm {arm!r} must be finite, got {r_multiple}")
        stats._add(r_multiple, self.reward(r_multiple))

    def stats(self) -> dict[str, ArmStats]:
        """Copies of each arm's statistics in declared order; mutating them leaves the bandit alone."""
        return {name: self._stats[name].copy() for name in self._arms}

    def to_state(self) -> dict[str, Any]:
        """Everything needed to resume learning exactly, as plain JSON types."""
        return {
            "version": STATE_VERSION,
            "r_clip": self.r_clip,
            "arms": {name: self._stats[name]._to_state() for name in self._arms},
        }

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        arms: Sequence[str],
        exploration: float = 2.0,
        window: int = 50,
        r_clip: float = 3.0,
    ) -> UcbBandit:
        """A bandit for the configured ``arms``, resuming what ``state`` learnt about them.

        Arms new in the configuration start fresh and arms no longer configured are dropped. A
        shorter ``window`` keeps only the newest saved outcomes. A different ``r_clip`` is refused:
        the saved reward sums were mapped with the old clip and cannot be re-mapped without every
        past outcome.
        """
        bandit = cls(arms, exploration=exploration, window=window, r_clip=r_clip)
        if not isinstance(state, Mapping):
            raise ValueError(f"bandit state must be a mapping, got {type(state).__name__}")
        version = state.get("version")
        if version != STATE_VERSION:
            raise ValueError(f"bandit state version {version!r} is not the supported {STATE_VERSION}")
        saved_clip = _finite(state.get("r_clip"), "r_clip")
        if saved_clip != r_clip:
            raise ValueError(f"bandit state was learnt with r_clip={saved_clip}, configured r_clip={r_clip}")
        saved = state.get("arms")
        if not isinstance(saved, Mapping):
            raise ValueError(f"bandit state 'arms' must be a mapping of arm name to statistics, got {saved!r}")
        restored = {str(name): ArmStats._from_state(str(name), raw, window) for name, raw in saved.items()}
        for name in bandit._arms:
            if name in restored:
                bandit._stats[name] = restored[name]
        return bandit


def _count(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"bandit state {where} must be a non-negative integer, got {value!r}")
    return value


def _finite(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"bandit state {where} must be a finite number, got {value!r}")
    return float(value)
