"""OHLCV history for backtests, read from the exchange dumps people actually keep on disk.

Why a loader of its own: the live path sees one ``BarClosed`` at a time, but a backtest over a
million bars must not build a million Python objects before it starts. ``load`` reads each file with
pandas' C parser (one thread per file: gzip inflation releases the GIL and is most of the time),
checks it once with vectorised numpy and hands back plain arrays. ``Candles.bars`` is the slow path,
for parity runs through the real actors.

The layout of a file is recognised from its content (the header row, or its absence); its symbol and
timeframe from its name:

* Binance kline archives (``FILUSDT-1m-2023-02.csv[.gz|.zip]``): 12 columns, epoch times. Spot
  archives switched from milliseconds to microseconds in 2025 and the oldest have no header row, so
  the unit is taken from the magnitude and a headerless file is read by position.
* Bybit kline dumps (``BTCUSDT_60m.csv.gz``): ``timestamp,open,high,low,close,volume`` with ISO-8601
  times. Bybit names intervals in minutes, so ``60m`` is 1h and a bare ``240`` is 4h.
* freqtrade data (``BTC_USDT_USDT-1m-futures.feather``): ``date`` (UTC) plus OHLCV. Its
  ``-funding_rate`` files are not candles (the rate is in ``open``): ``load_funding`` reads them.
* Any CSV (plain or compressed) whose header names a time column and open, high, low, close; volume
  is optional (zero when absent).

Every problem is a ``DataError`` naming the file and, when one row is at fault, the row: a backtest
on silently repaired data is worse than none. The one exception is overlap between files of a
folder, which is normal for exchange dumps (a re-download of the current month) and keeps the
earlier file's bars.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import lzma
import os
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from engine.messages import BarClosed
from engine.timeframes import TIMEFRAMES_MS

__all__ = ["Candles", "DataError", "load", "load_funding", "normalise_symbol", "parse_timeframe", "timeframe_name"]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

PRICE_COLUMNS: Final = ("open", "high", "low", "close")
CANDLE_COLUMNS: Final = ("ts", *PRICE_COLUMNS, "volume")
TIME_COLUMNS: Final = ("open_time", "timestamp", "time", "date", "datetime", "open_ts", "ts")
"""Header names taken as the candle's open time, in order of preference (``close_time`` never is)."""
FUNDING_TIME_COLUMNS: Final = (*TIME_COLUMNS, "fundingtime", "funding_time", "fundingratetimestamp", "calc_time")
RATE_COLUMNS: Final = ("funding_rate", "fundingrate", "last_funding_rate", "rate")
NOT_TRADE_CANDLES: Final = frozenset({"funding_rate", "mark", "index", "premiumindex"})
"""freqtrade candle types that are not traded prices: a folder scan never mixes them in."""

_UNIT_MS: Final = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_EPOCH_BANDS: Final = (1e11, 1e14, 1e17)
"""|t| below 1e11 is seconds (up to the year 5138), then ms, µs, and ns: the unit of an epoch time."""
_EPOCH_UNITS: Final = ("s", "ms", "µs", "ns")
_INT_TEXT = re.compile(r"[+-]?\d+")
_NUMBER_TEXT = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_COMPRESSIONS: Final = {".gz": "gzip", ".zip": "zip", ".bz2": "bz2", ".xz": "xz"}
_TF = r"(?P<tf>\d+[smhdwSHDWM]?)"
_NAME_PATTERNS: Final = (
    # Binance archives: FILUSDT-1m-2023-02 (monthly) or FILUSDT-1m-2023-02-01 (daily)
    re.compile(rf"(?P<symbol>[A-Za-z0-9]+)-{_TF}-\d{{4}}-\d{{2}}(?:-\d{{2}})?"),
    # freqtrade: BTC_USDT-1m (spot), BTC_USDT_USDT-1m-futures, BTC_USDT_USDT-8h-funding_rate
    re.compile(rf"(?P<base>[A-Za-z0-9]+)_(?P<quote>[A-Za-z0-9]+)(?:_[A-Za-z0-9]+)?-{_TF}(?:-(?P<kind>[A-Za-z_]+))?"),
    # Bybit dumps and the like: BTCUSDT_60m, BTCUSDT-1h
    re.compile(rf"(?P<symbol>[A-Za-z0-9]+)[_-]{_TF}"),
)


class DataError(ValueError):
    """A history file (or folder) that cannot be trusted as it is; the message names it."""


class _LayoutError(Exception):
    """Raised by a column picker; the reader turns it into a ``DataError`` naming the file."""


# --- timeframes ------------------------------------------------------------------------------------


def parse_timeframe(timeframe: str) -> int:
    """Milliseconds of a timeframe: the engine's names first, then ``<n><s|m|h|d|w>`` (Bybit's ``240m``
    and a bare ``240`` are minutes). ``M`` (a calendar month) has no fixed length and is refused."""
    if timeframe in TIMEFRAMES_MS:
        return TIMEFRAMES_MS[timeframe]
    match = re.fullmatch(r"(\d+)([smhdwSHDW]?)", timeframe.strip())
    if match is None or int(match[1]) == 0:
        raise ValueError(f"unknown timeframe {timeframe!r}; expected e.g. {', '.join(TIMEFRAMES_MS)}, 4h or 1d")
    return int(match[1]) * _UNIT_MS[(match[2] or "m").lower()]


def timeframe_name(interval_ms: int) -> str:
    """The shortest name of an interval (``3_600_000`` is ``1h``), for messages and listings."""
    for unit in ("w", "d", "h", "m", "s"):
        if interval_ms > 0 and interval_ms % _UNIT_MS[unit] == 0:
            return f"{interval_ms // _UNIT_MS[unit]}{unit}"
    return f"{interval_ms}ms"


def _iso(ts: int) -> str:
    return f"{np.datetime64(int(ts), 'ms')}Z"


# --- candles ---------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class Candles:
    """One symbol's bars at one interval as parallel arrays (``ts`` is each bar's open time in ms).

    Arrays are stored as read-only views so a backtest cannot corrupt history it shares with another
    run; ``eq=False`` because element-wise ``==`` on arrays has no single truth value.
    """

    symbol: str
    interval_ms: int
    ts: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        if self.interval_ms <= 0:
            raise ValueError(f"interval_ms must be positive, got {self.interval_ms}")
        ts = _frozen(np.ascontiguousarray(self.ts, dtype=np.int64))
        if ts.ndim != 1:
            raise ValueError(f"ts must be one-dimensional, got shape {ts.shape}")
        object.__setattr__(self, "ts", ts)
        for name in (*PRICE_COLUMNS, "volume"):
            values = _frozen(np.ascontiguousarray(getattr(self, name), dtype=np.float64))
            if values.shape != ts.shape:
                raise ValueError(f"{name} has shape {values.shape}, ts has {ts.shape}")
            object.__setattr__(self, name, values)
        if len(ts) > 1:
            bad = np.flatnonzero(np.diff(ts) <= 0)
            if bad.size:
                i = int(bad[0]) + 1
                raise ValueError(f"ts must be strictly increasing: ts[{i}] = {ts[i]} after ts[{i - 1}] = {ts[i - 1]}")

    def __len__(self) -> int:
        return len(self.ts)

    def __repr__(self) -> str:
        span = f"{_iso(int(self.ts[0]))} .. {_iso(int(self.ts[-1]))}" if len(self) else "empty"
        return f"Candles({self.symbol!r}, {timeframe_name(self.interval_ms)}, {len(self)} bars, {span})"

    def between(self, start_ms: int | None = None, end_ms: int | None = None) -> Candles:
        """Bars opening in ``[start_ms, end_ms)``, so consecutive windows never share a bar; ``None``
        leaves that side open. The arrays are views: slicing a million bars copies nothing."""
        lo = 0 if start_ms is None else int(np.searchsorted(self.ts, start_ms, side="left"))
        hi = len(self) if end_ms is None else int(np.searchsorted(self.ts, end_ms, side="left"))
        hi = max(lo, hi)
        return Candles(
            self.symbol,
            self.interval_ms,
            self.ts[lo:hi],
            self.open[lo:hi],
            self.high[lo:hi],
            self.low[lo:hi],
            self.close[lo:hi],
            self.volume[lo:hi],
        )

    def gaps(self) -> list[tuple[int, int]]:
        """``(from_ts, to_ts)``: open times of the last bar before and the first bar after each hole,
        so a backtest can tell a quiet market from missing data (it holds ``(to - from) //
        interval_ms - 1`` missing bars)."""
        holes = np.flatnonzero(np.diff(self.ts) > self.interval_ms)
        return list(zip(self.ts[holes].tolist(), self.ts[holes + 1].tolist(), strict=True))

    def resample(self, interval_ms: int) -> Candles:
        """Bars of ``interval_ms`` in buckets aligned to epoch multiples of it, as the venue builds
        them. A bucket with any constituent bar missing is dropped rather than built from what is
        there: a partial bar would show a range and volume the market never printed (the same rule
        as ``adapters.sim.feed.resample``, which this matches bar for bar)."""
        if interval_ms == self.interval_ms:
            return self
        if interval_ms <= 0 or interval_ms % self.interval_ms:
            raise ValueError(
                f"cannot resample {timeframe_name(self.interval_ms)} bars to {timeframe_name(interval_ms)}: "
                "the target must be a whole multiple of the source interval"
            )
        ts = self.ts
        if np.any(ts % self.interval_ms):
            raise ValueError(
                f"{self.symbol} bars are not aligned to multiples of {timeframe_name(self.interval_ms)}, "
                "so a bucket cannot be told complete"
            )
        if len(ts) == 0:
            return Candles(self.symbol, interval_ms, ts, self.open, self.high, self.low, self.close, self.volume)
        bucket = ts - ts % interval_ms
        starts = np.flatnonzero(np.concatenate(([True], bucket[1:] != bucket[:-1])))
        ends = np.append(starts[1:], len(ts))
        # aligned, strictly increasing bars: a bucket holding `per` of them holds every one of its slots
        full = (ends - starts) == interval_ms // self.interval_ms
        first, last = starts[full], ends[full] - 1
        return Candles(
            self.symbol,
            interval_ms,
            bucket[first],
            self.open[first],
            np.maximum.reduceat(self.high, starts)[full],
            np.minimum.reduceat(self.low, starts)[full],
            self.close[last],
            np.add.reduceat(self.volume, starts)[full],
        )

    def bars(self) -> Iterator[BarClosed]:
        """The bars as the engine's messages, oldest first, for runs through the real actors."""
        symbol, interval = self.symbol, self.interval_ms
        columns = (self.ts, self.open, self.high, self.low, self.close, self.volume)
        for ts, open_, high, low, close, volume in zip(*(c.tolist() for c in columns), strict=True):
            yield BarClosed(symbol, interval, ts, open_, high, low, close, volume)


def _frozen(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    view = values.view()
    view.flags.writeable = False
    return view


# --- file names ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _File:
    path: Path
    fmt: str  # "csv", "feather" or "parquet"
    compression: str | None
    symbol: str | None  # from the name, normalised (BTCUSDT)
    interval_ms: int | None  # from the name
    kind: str | None  # freqtrade candle type (futures, mark, funding_rate, ...), lower case


def normalise_symbol(symbol: str) -> str:
    """``BTC/USDT:USDT``, ``btc_usdt`` and ``BTCUSDT`` all name the same market."""
    return re.sub(r"[^A-Z0-9]", "", symbol.upper().split(":")[0])


def _describe(path: Path) -> _File | None:
    """What a file is from its name alone, or None when it is not a data file we read."""
    stem, lower = path.name, path.name.lower()
    compression = None
    for suffix, name in _COMPRESSIONS.items():
        if lower.endswith(suffix):
            compression, stem, lower = name, stem[: -len(suffix)], lower[: -len(suffix)]
            break
    if lower.endswith(".csv"):
        fmt, stem = "csv", stem[:-4]
    elif compression == "zip":  # Binance's own archives: X.zip holding X.csv
        fmt = "csv"
    elif compression is None and lower.endswith((".feather", ".parquet")):
        fmt, stem = lower.rsplit(".", 1)[1], stem.rsplit(".", 1)[0]
    else:
        return None
    symbol: str | None = None
    interval: int | None = None
    kind: str | None = None
    for pattern in _NAME_PATTERNS:
        match = pattern.fullmatch(stem)
        if match is None:
            continue
        groups = match.groupdict()
        symbol = normalise_symbol(groups["symbol"] if groups.get("symbol") else groups["base"] + groups["quote"])
        kind = groups["kind"].lower() if groups.get("kind") else None
        try:
            interval = parse_timeframe(match["tf"])
        except ValueError:  # 1M, a calendar month: no fixed length
            interval = None
        break
    return _File(path, fmt, compression, symbol, interval, kind)


def _inventory(files: Sequence[_File]) -> str:
    by_symbol: dict[str, set[int | None]] = {}
    for f in files:
        by_symbol.setdefault(f.symbol or "?", set()).add(f.interval_ms)
    return "; ".join(
        f"{symbol} ({', '.join(timeframe_name(i) if i else '?' for i in sorted(tfs, key=lambda x: x or 0))})"
        for symbol, tfs in sorted(by_symbol.items())
    )


def _scan(folder: Path, *, funding: bool) -> list[_File]:
    files = [d for p in sorted(folder.iterdir()) if p.is_file() and (d := _describe(p)) is not None]
    if funding:
        return [f for f in files if f.kind == "funding_rate"]
    named = [f for f in files if f.symbol is not None and f.kind not in NOT_TRADE_CANDLES]
    # Files whose names say nothing are only used when no file's name does: a folder of
    # "part1.csv, part2.csv" is one series, but next to BTCUSDT_1m.csv such a file is a stranger.
    return named or [f for f in files if f.symbol is None]


def _select(folder: Path, symbol: str | None, want_ms: int | None) -> list[_File]:
    """The files of one symbol at one interval: the requested timeframe itself if a file has it,
    else the coarsest interval that divides it (fewest rows to read, same complete buckets)."""
    files = _scan(folder, funding=False)
    if not files:
        raise DataError(f"{folder}: no candle files (.csv[.gz|.zip|.bz2|.xz], .feather, .parquet) in this folder")
    if symbol is not None and files[0].symbol is not None:
        wanted = normalise_symbol(symbol)
        matching = [f for f in files if f.symbol == wanted]
        if not matching:
            raise DataError(f"{folder}: no files for {symbol}; the folder holds {_inventory(files)}")
        files = matching
    symbols = {f.symbol for f in files}
    if len(symbols) > 1:
        raise DataError(f"{folder}: holds several symbols, pass symbol=...: {_inventory(files)}")
    intervals = {f.interval_ms for f in files}
    if want_ms is not None and len(intervals) > 1:
        usable = [i for i in intervals if i is not None and want_ms % i == 0]
        if not usable:
            raise DataError(
                f"{folder}: no files at {timeframe_name(want_ms)} or a finer interval dividing it: {_inventory(files)}"
            )
        pick = want_ms if want_ms in usable else max(usable)
        files = [f for f in files if f.interval_ms == pick]
    elif len(intervals) > 1:
        raise DataError(f"{folder}: holds several timeframes, pass timeframe=...: {_inventory(files)}")
    return files


# --- reading ---------------------------------------------------------------------------------------

Picker = Callable[[list[str] | None, int], dict[str, int]]
"""(normalised header names or None when there is no header, column count) -> {name: position}."""


@dataclass(frozen=True, slots=True)
class _Rows:
    """Names rows in messages: the 1-based data row, and for CSV the line (after the header)."""

    header_lines: int | None

    def __call__(self, i: int) -> str:
        if self.header_lines is None:
            return f"row {i + 1}"
        return f"row {i + 1} (line {i + 1 + self.header_lines})"


def _peek(path: Path, compression: str | None, size: int = 65_536) -> bytes:
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if len(members) != 1:
                raise DataError(f"{path}: a zip archive must hold exactly one CSV, it holds {len(members)} files")
            with archive.open(members[0]) as fh:
                return fh.read(size)
    if compression == "gzip":
        with gzip.open(path, "rb") as fh:
            return fh.read(size)
    if compression == "bz2":
        with bz2.open(path, "rb") as fh:
            return fh.read(size)
    if compression == "xz":
        with lzma.open(path, "rb") as fh:
            return fh.read(size)
    with open(path, "rb") as fh:
        return fh.read(size)


_READ_ERRORS: Final = (OSError, EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, UnicodeDecodeError)


def _read_csv(path: Path, compression: str | None, pick: Picker) -> tuple[Any, _Rows]:
    try:
        head = _peek(path, compression).decode("utf-8-sig", errors="replace").splitlines()
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None
    lines = [line for line in head[:3] if line.strip()]
    if not lines:
        raise DataError(f"{path}: the file is empty")
    sep = max((",", ";", "\t"), key=lines[0].count)
    first = [field.strip() for field in next(csv.reader([lines[0]], delimiter=sep))]
    has_header = not _NUMBER_TEXT.fullmatch(first[0])
    try:
        columns = pick([f.lower() for f in first] if has_header else None, len(first))
    except _LayoutError as exc:
        raise DataError(f"{path}: unknown layout: {exc}") from None
    data = lines[1:] if has_header else lines
    if not data:
        raise DataError(f"{path}: has a header but no rows")
    sample = next(csv.reader([data[0]], delimiter=sep))
    ts_text = sample[columns["ts"]].strip() if columns["ts"] < len(sample) else ""
    ts_dtype: Any = "int64" if _INT_TEXT.fullmatch(ts_text) else "float64" if _NUMBER_TEXT.fullmatch(ts_text) else str
    # Own labels for every column: the header's may repeat or be blank, and ``header=0`` with
    # ``names`` is faster than ``skiprows=1``; ``index_col=False`` keeps a longer row from becoming an index.
    dtypes = {f"c{pos}": ("float64" if name != "ts" else ts_dtype) for name, pos in columns.items()}
    options: dict[str, Any] = {
        "sep": sep,
        "header": 0 if has_header else None,
        "names": [f"c{i}" for i in range(len(first))],
        "index_col": False,
        "usecols": sorted(columns.values()),
        "compression": compression,
        "engine": "c",
    }
    try:
        frame = _pandas_csv(path, dtype=dtypes, **options)
    except (ValueError, TypeError, OverflowError):
        # a cell that is not a number: read everything as text so the checks can name the cell
        frame = _pandas_csv(path, dtype=str, keep_default_na=False, **options)
    frame = frame.rename(columns={f"c{pos}": name for name, pos in columns.items()})
    return frame, _Rows(1 if has_header else 0)


def _pandas_csv(path: Path, **options: Any) -> Any:
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: no rows") from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: malformed CSV: {exc}") from None
    except _READ_ERRORS as exc:
        raise DataError(f"{path}: cannot read: {exc}") from None


def _read_table(path: Path, fmt: str, pick: Picker) -> tuple[Any, _Rows]:
    try:
        frame = pd.read_feather(path) if fmt == "feather" else pd.read_parquet(path)
    except (OSError, ValueError, TypeError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path}: cannot read as {fmt}: {exc}") from None
    if not isinstance(frame.index, pd.RangeIndex):  # a parquet file may keep the time as its index
        frame = frame.reset_index()
    names = [str(c).strip().lower() for c in frame.columns]
    try:
        columns = pick(names, len(names))
    except _LayoutError as exc:
        raise DataError(f"{path}: unknown layout: {exc}") from None
    selected = frame.iloc[:, list(columns.values())]
    selected.columns = list(columns)
    return selected, _Rows(None)


def _read(file: _File, pick: Picker) -> tuple[Any, _Rows]:
    if file.fmt == "csv":
        return _read_csv(file.path, file.compression, pick)
    return _read_table(file.path, file.fmt, pick)


def _first_of(names: list[str], candidates: Sequence[str]) -> int | None:
    return next((names.index(c) for c in candidates if c in names), None)


def _pick_candles(names: list[str] | None, width: int) -> dict[str, int]:
    if names is None:  # no header: Binance archives before 2022 and raw API dumps start ts,o,h,l,c,v
        if width < 5:
            raise _LayoutError(f"a row without a header needs at least ts,open,high,low,close; it has {width} fields")
        return {name: i for i, name in enumerate(CANDLE_COLUMNS[: min(width, 6)])}
    ts = _first_of(names, TIME_COLUMNS)
    missing = [c for c in PRICE_COLUMNS if c not in names]
    if ts is None or missing:
        raise _LayoutError(
            f"needs a time column ({'/'.join(TIME_COLUMNS)}) and open, high, low, close; the columns are {names}"
        )
    columns = {"ts": ts} | {c: names.index(c) for c in PRICE_COLUMNS}
    if "volume" in names:
        columns["volume"] = names.index("volume")
    return columns


def _pick_funding(open_is_rate: bool) -> Picker:
    def pick(names: list[str] | None, width: int) -> dict[str, int]:
        if names is None:
            raise _LayoutError("a funding file needs a header naming its time and rate columns")
        ts = _first_of(names, FUNDING_TIME_COLUMNS)
        rate = _first_of(names, RATE_COLUMNS + (("open",) if open_is_rate else ()))
        if ts is None or rate is None:
            raise _LayoutError(
                f"needs a time column and a rate column ({'/'.join(RATE_COLUMNS)}, or open in a freqtrade "
                f"*-funding_rate file); the columns are {names}"
            )
        return {"ts": ts, "rate": rate}

    return pick


# --- conversion and checks -------------------------------------------------------------------------


def _floats(series: Any, name: str, path: Path, row: _Rows) -> FloatArray:
    raw = series.to_numpy()
    if raw.dtype.kind in "fiub":
        values = np.asarray(raw, dtype=np.float64)
    else:
        values = np.asarray(pd.to_numeric(series, errors="coerce"), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        cell = raw[i]
        if raw.dtype.kind in "fiub":
            what = f"{name} is missing (empty or NaN)" if np.isnan(values[i]) else f"{name} is {cell}"
        elif cell is None or (isinstance(cell, float) and np.isnan(cell)) or str(cell).strip() == "":
            what = f"{name} is empty"
        else:
            what = f"{name} {cell!r} is not a number"
        raise DataError(f"{path}: {row(i)}: {what}")
    return values


def _epoch_ms(values: IntArray | FloatArray, path: Path, row: _Rows) -> IntArray:
    """Epoch times in ms whatever their unit, told apart by magnitude (see ``_EPOCH_BANDS``)."""
    magnitude = np.abs(values)
    band = np.searchsorted(_EPOCH_BANDS, magnitude, side="right")
    if band.min() != band.max():
        i = int(np.flatnonzero(band != band[0])[0])
        raise DataError(
            f"{path}: {row(i)}: timestamp {values[i]} looks like {_EPOCH_UNITS[int(band[i])]} "
            f"but row 1's ({values[0]}) like {_EPOCH_UNITS[int(band[0])]}"
        )
    unit = int(band[0])
    if values.dtype.kind == "i":
        ints = np.asarray(values, dtype=np.int64)
        if unit == 0:
            return ints * 1_000
        return ints if unit == 1 else ints // (1_000 if unit == 2 else 1_000_000)
    scaled = np.asarray(values, dtype=np.float64) * (1_000.0, 1.0, 1e-3, 1e-6)[unit]
    return np.rint(scaled).astype(np.int64)


def _timestamps(series: Any, path: Path, row: _Rows) -> IntArray:
    if len(series) == 0:
        return np.empty(0, dtype=np.int64)
    if pd.api.types.is_datetime64_any_dtype(series):
        return _datetimes_ms(series, series, path, row)
    if pd.api.types.is_integer_dtype(series):
        return _epoch_ms(np.asarray(series.to_numpy(), dtype=np.int64), path, row)
    if pd.api.types.is_float_dtype(series):
        values = np.asarray(series.to_numpy(), dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise DataError(f"{path}: {row(int(bad[0]))}: timestamp is {values[bad[0]]}")
        return _epoch_ms(values, path, row)
    text = series.astype(str).str.strip()
    if _NUMBER_TEXT.fullmatch(text.iloc[0]):  # epoch numbers read as text (the slow path after a bad cell)
        numbers = pd.to_numeric(text, errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy())
        if bad.size:
            raise DataError(f"{path}: {row(int(bad[0]))}: timestamp {text.iloc[bad[0]]!r} is not a number")
        array = numbers.to_numpy()
        if array.dtype.kind == "i":
            return _epoch_ms(np.asarray(array, dtype=np.int64), path, row)
        return _epoch_ms(np.asarray(array, dtype=np.float64), path, row)
    # ISO-8601; a time without an offset is taken as UTC, which is what every exchange dump means
    return _datetimes_ms(pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce"), text, path, row)


def _datetimes_ms(parsed: Any, original: Any, path: Path, row: _Rows) -> IntArray:
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        i = int(bad[0])
        raise DataError(f"{path}: {row(i)}: timestamp {original.iloc[i]!r} is not a date and time")
    utc = pd.to_datetime(parsed, utc=True).dt.tz_localize(None)
    # floor to ms whatever pandas' resolution (ns from feather, µs from text in pandas 3)
    return np.asarray(utc.to_numpy().astype("datetime64[ms]").view(np.int64), dtype=np.int64)


def _check_increasing(ts: IntArray, path: Path, row: _Rows) -> None:
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        how = "repeats" if ts[i] == ts[i - 1] else "goes back from"
        raise DataError(
            f"{path}: {row(i)}: timestamp {_iso(int(ts[i]))} {how} {row(i - 1)}'s {_iso(int(ts[i - 1]))}; "
            "timestamps must be strictly increasing (duplicate or unsorted rows)"
        )


@dataclass(frozen=True, slots=True)
class _Block:
    """One file's bars, checked."""

    file: _File
    ts: IntArray
    columns: tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]


def _read_candles(file: _File) -> _Block:
    if file.kind == "funding_rate":
        raise DataError(f"{file.path}: a freqtrade funding-rate file holds rates, not candles; use load_funding")
    frame, row = _read(file, _pick_candles)
    path = file.path
    if len(frame) == 0:
        raise DataError(f"{path}: no rows")
    ts = _timestamps(frame["ts"], path, row)
    o, h, lo, c = (_floats(frame[name], name, path, row) for name in PRICE_COLUMNS)
    v = _floats(frame["volume"], "volume", path, row) if "volume" in frame.columns else np.zeros(len(ts))
    positive = (o > 0) & (h > 0) & (lo > 0) & (c > 0)
    bad = ~positive | (h < lo) | (h < np.maximum(o, c)) | (lo > np.minimum(o, c)) | (v < 0)
    if bad.any():
        i = int(np.argmax(bad))
        bar = f"open={o[i]} high={h[i]} low={lo[i]} close={c[i]} volume={v[i]}"
        if min(o[i], h[i], lo[i], c[i]) <= 0:
            what = "a price is not positive"
        elif h[i] < lo[i]:
            what = "high is below low"
        elif v[i] < 0:
            what = "volume is negative"
        else:
            what = "open or close lies outside high..low"
        raise DataError(f"{path}: {row(i)}: {what} ({bar})")
    _check_increasing(ts, path, row)
    if file.interval_ms is not None and len(ts) > 1:
        step = np.diff(ts)
        name = timeframe_name(file.interval_ms)
        if step.min() < file.interval_ms:
            i = int(np.argmax(step < file.interval_ms)) + 1
            raise DataError(
                f"{path}: {row(i)} opens {timeframe_name(int(step[i - 1]))} after {row(i - 1)}, "
                f"but the file's name says {name} bars"
            )
        if step.min() > file.interval_ms:
            raise DataError(
                f"{path}: the file's name says {name} bars but no two bars are closer than "
                f"{timeframe_name(int(step.min()))}"
            )
    return _Block(file, ts, (o, h, lo, c, v))


def _read_many(files: Sequence[_File], read: Callable[[_File], Any]) -> list[Any]:
    if len(files) == 1:
        return [read(files[0])]
    with ThreadPoolExecutor(max_workers=max(1, min(len(files), os.cpu_count() or 1, 8))) as pool:
        return list(pool.map(read, files))


def _keep_first(ts: IntArray) -> npt.NDArray[np.bool_]:
    """Rows that open after every earlier row: with blocks ordered by their first bar, this drops a
    later file's overlap with an earlier one and keeps the earlier file's bars."""
    keep = np.ones(len(ts), dtype=bool)
    if len(ts) > 1:
        keep[1:] = ts[1:] > np.maximum.accumulate(ts)[:-1]
    return keep


# --- public loaders --------------------------------------------------------------------------------


def load(path: Path | str, symbol: str | None = None, timeframe: str | None = None) -> Candles:
    """One symbol's bars from a file or a folder of files, checked and in time order.

    A folder's files for the symbol and timeframe (from their names; required when the folder holds
    several) are joined in the order of their first bar, not of their names, and where they overlap
    the earlier file's bars are kept. The interval comes from the file names, else from the most
    common spacing of the bars. A ``timeframe`` coarser than the data is built with
    ``Candles.resample`` (complete buckets only); a finer one is an error.
    """
    source = Path(path)
    want_ms = parse_timeframe(timeframe) if timeframe is not None else None
    files = _select(source, symbol, want_ms) if source.is_dir() else [_one_file(source)]

    blocks: list[_Block] = sorted(_read_many(files, _read_candles), key=lambda b: int(b.ts[0]))
    ts = np.concatenate([b.ts for b in blocks])
    columns = [np.concatenate([b.columns[k] for b in blocks]) for k in range(5)]
    if len(blocks) > 1:
        keep = _keep_first(ts)
        if not keep.all():
            ts, columns = ts[keep], [c[keep] for c in columns]

    named = [f.interval_ms for f in files if f.interval_ms is not None]
    interval: int
    if named:
        interval = named[0]
    elif len(ts) > 1:
        steps, counts = np.unique(np.diff(ts), return_counts=True)
        interval = int(steps[np.argmax(counts)])
    elif want_ms is not None:
        interval = want_ms
    else:
        raise DataError(f"{source}: one bar and no timeframe in the file name: pass timeframe=...")
    if len(ts) > 1 and np.diff(ts).min() < interval:
        i = int(np.argmax(np.diff(ts) < interval)) + 1
        raise DataError(
            f"{source}: bars at {_iso(int(ts[i - 1]))} and {_iso(int(ts[i]))} are closer than the "
            f"{timeframe_name(interval)} interval"
        )

    if source.is_dir() and files[0].symbol is not None:
        symbol = files[0].symbol  # the name the files were matched by: BTCUSDT also for "BTC/USDT:USDT"
    elif symbol is None:
        symbol = files[0].symbol or (source.name if source.is_dir() else files[0].path.name.split(".")[0])
    candles = Candles(symbol, interval, ts, *columns)
    if want_ms is None or want_ms == interval:
        return candles
    if want_ms < interval or want_ms % interval:
        raise DataError(f"{source}: the data is {timeframe_name(interval)} bars; {timeframe} cannot be built from it")
    try:
        coarse = candles.resample(want_ms)
    except ValueError as exc:
        raise DataError(f"{source}: {exc}") from None
    if len(coarse) == 0:
        raise DataError(f"{source}: no complete {timeframe} bucket in {len(candles)} {timeframe_name(interval)} bars")
    return coarse


def _one_file(source: Path) -> _File:
    """``source`` as the single file to read; a clear error if it is missing or not a known format."""
    if not source.is_file():
        raise DataError(f"{source}: no such file or folder")
    described = _describe(source)
    if described is None:
        raise DataError(f"{source}: unknown format: expected .csv[.gz|.zip|.bz2|.xz], .feather or .parquet")
    return described


def load_funding(path: Path | str, symbol: str | None = None) -> tuple[IntArray, FloatArray]:
    """Funding settlements as ``(ts_ms, rate)`` for a backtest's funding costs.

    Reads freqtrade's ``*-funding_rate`` files (the rate is in ``open``) or any table with a time
    and a ``funding_rate``/``rate`` column; a folder is searched for the symbol's freqtrade funding
    files. Times are floored to the whole second: Binance stamps a settlement a few ms after the
    hour it is scheduled for, and a backtest matches it against bar boundaries.
    """
    source = Path(path)
    if source.is_dir():
        files = _scan(source, funding=True)
        if symbol is not None:
            files = [f for f in files if f.symbol == normalise_symbol(symbol)]
        if not files:
            raise DataError(f"{source}: no *-funding_rate files{f' for {symbol}' if symbol else ''} in this folder")
        if len({f.symbol for f in files}) > 1:
            raise DataError(f"{source}: funding files for several symbols, pass symbol=...: {_inventory(files)}")
    else:
        files = [_one_file(source)]

    def read(file: _File) -> tuple[IntArray, FloatArray]:
        frame, row = _read(file, _pick_funding(file.kind == "funding_rate"))
        if len(frame) == 0:
            raise DataError(f"{file.path}: no rows")
        ts = _timestamps(frame["ts"], file.path, row)
        ts = ts - ts % 1_000
        rate = _floats(frame["rate"], "rate", file.path, row)
        big = np.flatnonzero(np.abs(rate) >= 1.0)
        if big.size:
            raise DataError(f"{file.path}: {row(int(big[0]))}: rate {rate[big[0]]} is not a funding rate (|rate| >= 1)")
        _check_increasing(ts, file.path, row)
        return ts, rate

    parts: list[tuple[IntArray, FloatArray]] = sorted(_read_many(files, read), key=lambda p: int(p[0][0]))
    ts = np.concatenate([p[0] for p in parts])
    rate = np.concatenate([p[1] for p in parts])
    keep = _keep_first(ts)
    return ts[keep], rate[keep]
