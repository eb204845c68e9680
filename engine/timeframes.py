"""Timeframe names and their lengths."""

from __future__ import annotations

TIMEFRAMES_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}


def interval_ms(timeframe: str) -> int:
    """Length of a timeframe such as ``"1m"`` in milliseconds."""
    try:
        return TIMEFRAMES_MS[timeframe]
    except KeyError:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected one of {sorted(TIMEFRAMES_MS)}") from None
