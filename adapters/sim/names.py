"""Listings of the simulated venue: symbol names, prices, 24h volumes and contract specs.

This is what a venue's instruments endpoint says; how prices then move is ``market``'s business.
Names look like Bitget's USDT-M perpetuals so logs, reports and hand-typed ``--symbols`` lists read
naturally. Invariants a caller may rely on:

- ``main_symbols(n)`` is prefix-stable (``main_symbols(n) == main_symbols(m)[:n]`` for ``n <= m``),
  so growing the universe never renames an existing symbol; it is independent of the seed.
- Names are unique and never collide with ``EXTRA_LISTINGS``.
- The first ``len(REAL_BASES)`` names are real perpetuals in rough volume order (BTCUSDT first);
  beyond that come made-up, pronounceable 3-5 letter bases.
- Main symbols' 24h volume falls strictly with rank, from BTC's down to 1.2x the minimum volume;
  every extra listing is below the minimum. Ticks are 0.1-1 bp of the price, lots worth 1-10 USDT
  (at most 1 unit), and ``min_qty`` is worth at least 5 USDT.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from engine.ports import Instrument

QUOTE = "USDT"

REAL_BASES: tuple[tuple[str, float], ...] = (
    ("BTC", 90_000.0),
    ("ETH", 3_000.0),
    ("SOL", 150.0),
    ("XRP", 2.2),
    ("DOGE", 0.18),
    ("BNB", 650.0),
    ("ADA", 0.6),
    ("SUI", 2.5),
    ("LINK", 15.0),
    ("AVAX", 20.0),
    ("PEPE", 0.00001),
    ("LTC", 90.0),
    ("TRX", 0.25),
    ("HYPE", 30.0),
    ("DOT", 4.0),
    ("BCH", 450.0),
    ("TON", 3.0),
    ("NEAR", 3.0),
    ("APT", 6.0),
    ("ARB", 0.4),
    ("OP", 0.8),
    ("WIF", 1.0),
    ("ENA", 0.5),
    ("TIA", 3.0),
    ("SEI", 0.3),
    ("INJ", 15.0),
    ("FIL", 3.0),
    ("ATOM", 4.5),
    ("UNI", 8.0),
    ("AAVE", 250.0),
    ("ETC", 17.0),
    ("HBAR", 0.2),
    ("XLM", 0.3),
    ("ICP", 6.0),
    ("WLD", 1.5),
    ("ORDI", 15.0),
    ("JUP", 0.6),
    ("PYTH", 0.2),
    ("STX", 1.0),
    ("RENDER", 4.0),
    ("FET", 0.8),
    ("TAO", 350.0),
    ("ONDO", 0.9),
    ("SHIB", 0.000015),
    ("BONK", 0.00002),
    ("FLOKI", 0.0001),
    ("TRUMP", 8.0),
    ("CRV", 0.5),
    ("LDO", 1.2),
    ("IMX", 0.8),
    ("GALA", 0.02),
    ("SAND", 0.3),
    ("MANA", 0.3),
    ("AXS", 4.0),
    ("APE", 0.7),
    ("DYDX", 0.7),
    ("GMX", 15.0),
    ("PENDLE", 3.0),
    ("EIGEN", 1.2),
    ("STRK", 0.15),
    ("ZK", 0.1),
    ("BLUR", 0.1),
    ("JTO", 2.0),
    ("ENS", 20.0),
    ("ALGO", 0.2),
    ("VET", 0.03),
    ("EGLD", 20.0),
    ("KAS", 0.08),
    ("ZEC", 400.0),
    ("NOT", 0.003),
    ("POPCAT", 0.3),
    ("MEW", 0.003),
    ("BOME", 0.002),
    ("PEOPLE", 0.02),
    ("1INCH", 0.3),
    ("COMP", 50.0),
    ("SNX", 1.5),
    ("SUSHI", 0.7),
    ("YFI", 6_000.0),
    ("CHZ", 0.05),
    ("THETA", 1.2),
    ("FLOW", 0.5),
    ("MINA", 0.4),
    ("ROSE", 0.05),
    ("KAVA", 0.4),
    ("CFX", 0.15),
    ("CKB", 0.005),
    ("ARKM", 0.5),
    ("AEVO", 0.3),
    ("MANTA", 0.4),
    ("DYM", 0.3),
    ("ETHFI", 1.2),
    ("ZRO", 3.0),
    ("IO", 1.5),
    ("RUNE", 1.5),
    ("GRT", 0.1),
    ("QNT", 90.0),
    ("XTZ", 0.7),
    ("IOTA", 0.2),
    ("NEO", 5.0),
    ("ZIL", 0.015),
    ("CELO", 0.5),
    ("ANKR", 0.02),
    ("MASK", 1.5),
    ("RSR", 0.008),
    ("CAKE", 2.0),
    ("JASMY", 0.015),
    ("AR", 8.0),
    ("TURBO", 0.005),
    ("GOAT", 0.1),
    ("PNUT", 0.3),
    ("MOODENG", 0.1),
    ("VIRTUAL", 1.5),
    ("FARTCOIN", 0.8),
    ("PENGU", 0.02),
    ("MOVE", 0.3),
    ("BERA", 3.0),
    ("KAITO", 1.5),
    ("WLFI", 0.2),
    ("ASTER", 1.0),
    ("PUMP", 0.004),
    ("XPL", 0.5),
)
"""Real perpetual bases, roughly by volume, with a plausible price level (USDT)."""

EXTRA_LISTINGS: tuple[tuple[str, float, float], ...] = (
    ("NEWUSDT", 0.05, 0.02),
    ("FRESHUSDT", 0.8, 0.15),
    ("LAUNCHUSDT", 0.012, 0.4),
    ("DEBUTUSDT", 2.5, 0.7),
)
"""Thin new listings: (symbol, price, 24h volume as a fraction of the minimum volume).

Their fraction is below 1 so ``--symbols all`` leaves them out, yet they are listed and quoted,
which is exactly the case a hot add of an explicitly named symbol has to handle.
"""

REFERENCE_PRICES: dict[str, float] = {base + QUOTE: price for base, price in REAL_BASES}
TOP_VOLUME_USDT = 6e9
MIN_NOTIONAL_USDT = 5.0

_CONSONANTS = "BDFGKLMNPRSTVZ"
_VOWELS = "AEIOU"
_PATTERNS = ("CVC", "CVCV", "CVCVC", "CVCV", "VCVC")
_MASK64 = (1 << 64) - 1


def _splitmix64(k: int) -> int:
    """Hash an index to 64 well-mixed bits, so made-up names look random yet never depend on a seed."""
    z = (k * 0x9E3779B97F4A7C15 + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def _made_up_bases() -> Iterator[str]:
    """Endless stream of pronounceable bases: consonant/vowel patterns chosen by the hash bits."""
    k = 0
    while True:
        h = _splitmix64(k)
        k += 1
        pattern = _PATTERNS[h % len(_PATTERNS)]
        h //= len(_PATTERNS)
        letters = []
        for kind in pattern:
            alphabet = _CONSONANTS if kind == "C" else _VOWELS
            letters.append(alphabet[h % len(alphabet)])
            h //= len(alphabet)
        yield "".join(letters)


def main_symbols(n: int) -> list[str]:
    """The first ``n`` symbols of the simulated universe, real names first (see module invariants)."""
    names = [base + QUOTE for base, _ in REAL_BASES[:n]]
    taken = set(names) | set(REFERENCE_PRICES) | {symbol for symbol, _, _ in EXTRA_LISTINGS}
    made_up = _made_up_bases()
    while len(names) < n:
        symbol = next(made_up) + QUOTE
        if symbol not in taken:
            taken.add(symbol)
            names.append(symbol)
    return names


@dataclass(frozen=True, slots=True)
class Listings:
    """Every listed symbol's static facts, main symbols by rank then extras, as parallel arrays.

    Ticks and lots are kept as powers of ten (``tick_scale = 1 / tick``) because rounding with an
    exact power of ten gives the float nearest the decimal price, with no 0.30000000000000004.
    """

    symbols: list[str]
    instruments: list[Instrument]
    price: NDArray[np.float64]
    volume: NDArray[np.float64]
    tick_scale: NDArray[np.float64]
    lot_scale: NDArray[np.float64]


def make_listings(n_main: int, min_volume_24h_usdt: float, rng: np.random.Generator) -> Listings:
    """Listings for ``n_main`` main symbols plus the extras; made-up prices and funding from ``rng``."""
    symbols = main_symbols(n_main) + [symbol for symbol, _, _ in EXTRA_LISTINGS]
    made_up = 10.0 ** rng.uniform(-2.0, 1.0, len(symbols))  # small coins: 0.01 to 10 USDT
    known = REFERENCE_PRICES | {symbol: p for symbol, p, _ in EXTRA_LISTINGS}
    price = np.array([known.get(s, p) for s, p in zip(symbols, made_up.tolist(), strict=True)])
    floor = 1.2 * min_volume_24h_usdt
    top = max(TOP_VOLUME_USDT, floor)
    alpha = math.log(top / floor) / math.log(n_main) if n_main > 1 else 0.0
    extra_volume = [share * min_volume_24h_usdt for _, _, share in EXTRA_LISTINGS]
    volume = np.concatenate([top * np.arange(1.0, n_main + 1) ** -alpha, extra_volume])
    tick_dec = np.clip(5 - np.floor(np.log10(price)), 0, 15)
    lot_dec = np.clip(np.ceil(np.log10(price / 10.0)), 0, 12)
    tick_scale, lot_scale = 10.0**tick_dec, 10.0**lot_dec
    min_qty = np.ceil(MIN_NOTIONAL_USDT * lot_scale / price) / lot_scale
    funding = np.round(np.clip(rng.normal(0.5e-4, 1e-4, len(symbols)), -2e-3, 2e-3), 6)
    instruments = [
        Instrument(s, 10.0 ** -int(td), 10.0 ** -int(ld), round(mq, int(ld)), v, f)
        for s, td, ld, mq, v, f in zip(
            symbols,
            tick_dec.tolist(),
            lot_dec.tolist(),
            min_qty.tolist(),
            volume.tolist(),
            funding.tolist(),
            strict=True,
        )
    ]
    return Listings(symbols, instruments, price, volume, tick_scale, lot_scale)
