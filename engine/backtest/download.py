"""Bitget candle history into the backtest data folder: paginated, resumable and cached.

Why a downloader of its own: a backtest wants months of 1m bars, the venue serves at most 1000 per
request, and a download of that size gets interrupted (Ctrl-C, a dropped connection). So the file on
disk is the cache and the resume point at once, and these invariants hold at every moment:

* The file is a valid input for ``engine.backtest.data.load``: the header
  ``open_time,open,high,low,close,volume``, then one row per *closed* candle (the forming one is
  never written), open times in ms, strictly increasing, all on one grid of the interval.
* Numbers are written as the venue sent them (text, or ``repr`` of a JSON number): nothing is
  rounded on the way to disk.
* Forward (newer than the file): chunk by chunk, oldest first, each chunk appended and flushed
  *before* progress is reported, so an interruption loses at most the chunk in flight and the next
  run resumes after the file's last row. Rows are deduplicated against that row.
* Backward (the window now starts before the file): chunk by chunk, newest first, until the window
  start or the first chunk the venue has nothing for; the older rows are then joined in front by
  writing a temporary file and ``os.replace``-ing it, so the file is never half rewritten.
* A file this module cannot read back as its own (another layout, unparseable, unsorted, off the
  interval's grid) raises ``CorruptHistoryError`` and is left untouched: user data is never
  silently overwritten. The one repair is a torn last line without its newline, which only an
  interrupted write leaves: it is cut off (with a warning) and downloaded again.
* Time is the venue's (``server_time``), or ``now_ms`` when given: a candle is closed when
  ``open + interval <= now`` on the venue's clock, not ours.
* "No data" is monotone in time: an empty chunk means the venue has nothing older (Bitget's
  ``/candles`` serves a limited lookback). That is where the backward walk stops, and what lets a
  fresh download whose window starts before the venue's history find where the data starts by
  bisection instead of asking for every empty chunk.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Final

import numpy as np
import numpy.typing as npt
import pandas as pd
import requests
from loguru import logger

from adapters.bitget import constants as c
from adapters.bitget.errors import BitgetError
from adapters.bitget.rest import BitgetRest
from engine.backtest.data import parse_timeframe, timeframe_name

__all__ = ["HEADER", "CorruptHistoryError", "DownloadError", "DownloadResult", "download", "history_path"]

IntArray = npt.NDArray[np.int64]
Progress = Callable[[int, int], None]
Row = tuple[int, str]
"""A candle as ``(open_ts, csv line)``: the line is what goes to disk."""

DAY_MS: Final = 86_400_000
HEADER: Final = "open_time,open,high,low,close,volume"
COLUMNS: Final = tuple(HEADER.split(","))
MAX_QUERY_SPAN_MS: Final = 90 * DAY_MS
"""Bitget refuses a candle query spanning more than 90 days (``shared/venues/bitget.md`` 5.3)."""
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_DIGITS = re.compile(r"\d+")
_SYMBOL = re.compile(r"[A-Za-z0-9]+")
_VENUE = re.compile(r"[A-Za-z0-9_]+")
_DTYPES: Final = {name: ("int64" if name == "open_time" else "float64") for name in COLUMNS}


class DownloadError(Exception):
    """A download that cannot go on; the message names the symbol (or the file) and what to do."""


class CorruptHistoryError(DownloadError):
    """An existing history file that cannot be extended safely; it was not modified."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(
            f"{path}: {problem}. Not writing to it: delete it (or move it away) and run the download again"
        )
        self.path = path


@dataclass(frozen=True, slots=True)
class DownloadResult:
    """What one ``download`` did and what the file now holds.

    ``added`` rows were written this run, ``total`` are in the file (``first_ts``/``last_ts`` are
    its first and last open times, None when no file was written). ``requests`` were made of the
    venue (server time, candles, and the contract list when no candle came back at all), not
    counting the REST client's own retries. ``empty_chunks`` is how many chunks the venue had no data for
    (history starting later than asked). ``gaps`` counts the holes between consecutive rows of the
    file and ``missing_bars`` the bars they miss; ``rejected`` the candles the venue sent but that
    were not written (inconsistent OHLC, off the file's grid). ``start_ms``/``end_ms`` is the
    window asked for: open times in ``[start_ms, end_ms)``.
    """

    symbol: str
    timeframe: str
    path: Path
    added: int
    total: int
    first_ts: int | None
    last_ts: int | None
    requests: int
    empty_chunks: int
    gaps: int
    missing_bars: int
    rejected: int
    start_ms: int
    end_ms: int


def history_path(data_dir: Path, venue: str, symbol: str, timeframe: str) -> Path:
    """Where a venue's history of one symbol and timeframe lives, e.g.
    ``data_dir/history/bitget/BTCUSDT-1m.csv``: a name ``engine.backtest.data.load`` reads the
    symbol and the timeframe from (the timeframe in its shortest form, so ``60m`` and ``1h`` share
    one file)."""
    if not _VENUE.fullmatch(venue):
        raise ValueError(f"venue {venue!r}: expected a plain name such as bitget")
    if not _SYMBOL.fullmatch(symbol):
        raise ValueError(f"symbol {symbol!r}: expected letters and digits only, such as BTCUSDT")
    return Path(data_dir) / "history" / venue.lower() / f"{symbol}-{timeframe_name(parse_timeframe(timeframe))}.csv"


def download(
    rest: BitgetRest,
    symbol: str,
    timeframe: str,
    days: float,
    dest: Path,
    *,
    now_ms: int | None = None,
    chunk_bars: int = 1000,
    progress: Progress | None = None,
) -> DownloadResult:
    """Bring ``dest`` up to date with ``symbol``'s closed ``timeframe`` candles of the last ``days``.

    The window is ``[now - days`` aligned down to the interval, ``now)``, ``now`` being the venue's
    clock unless ``now_ms`` is given. Only what the file lacks is fetched: after its last row up to
    now (even when that is older than the window, so the file never gets a hole), and before its
    first row back to the window start. A request covers at most ``chunk_bars`` candles (and at
    most 999, so a venue that also returns the row at ``endTime`` still fits its 1000-row limit).
    ``progress(done_bars, total_bars)`` is called after each chunk, once the chunk is on disk; an
    exception from it (KeyboardInterrupt) stops the download with every finished chunk kept.

    Raises ``DownloadError`` (the venue refused or could not be reached; the symbol is named) and
    ``CorruptHistoryError`` (``dest`` exists but is not a file this downloader can extend).
    """
    interval = _interval_of(timeframe)
    if not (math.isfinite(days) and days > 0):
        raise ValueError(f"days must be a positive number, got {days}")
    if chunk_bars < 1:
        raise ValueError(f"chunk_bars must be at least 1, got {chunk_bars}")
    existing = _read_existing(Path(dest), interval)
    venue = _Venue(rest, symbol, interval)
    now = now_ms if now_ms is not None else venue.server_time()
    run = _Run(venue, _Writer(Path(dest), existing), now, days, chunk_bars, progress)
    run.forward()
    run.backward()
    return run.result(timeframe_name(interval))


# --- the venue -------------------------------------------------------------------------------------


class _Venue:
    """One symbol's candle requests: one request per chunk, counted, errors turned into messages
    that name the symbol."""

    def __init__(self, rest: BitgetRest, symbol: str, interval: int) -> None:
        self.rest = rest
        self.symbol = symbol
        self.interval = interval
        self.granularity = c.GRANULARITY[interval]
        self.requests = 0

    def server_time(self) -> int:
        self.requests += 1
        try:
            return self.rest.server_time()
        except (BitgetError, requests.RequestException, KeyError, TypeError, ValueError) as exc:
            raise DownloadError(f"{self.symbol}: cannot read Bitget's clock: {exc}") from exc

    def candles(self, start: int, end: int, resume_hint: str) -> list[Any]:
        """The venue's rows for open times in ``[start, end)`` (it may send more; callers filter)."""
        slots = -(-(end - start) // self.interval)
        params = {"symbol": self.symbol, "productType": c.PRODUCT_TYPE, "granularity": self.granularity,
                  "startTime": start, "endTime": end, "limit": min(c.CANDLES_MAX_LIMIT, slots + 1)}  # fmt: skip
        self.requests += 1
        what = f"{self.symbol}: the {timeframe_name(self.interval)} candles from {_iso(start)} to {_iso(end)}"
        try:
            rows = self.rest.request("GET", c.CANDLES, params)
        except BitgetError as exc:
            hint = "" if exc.retryable else f"; is {self.symbol} a listed Bitget USDT-M perpetual?"
            raise DownloadError(f"{what} were refused ({exc}){hint}{resume_hint}") from exc
        except requests.RequestException as exc:
            raise DownloadError(f"{what} could not be fetched: {exc}{resume_hint}") from exc
        if rows is None:
            return []
        if not isinstance(rows, list):
            raise DownloadError(f"{what}: the venue answered {str(rows)[:200]!r}, not a list of rows")
        return rows

    def is_listed(self) -> bool:
        self.requests += 1
        try:
            return any(item.get("symbol") == self.symbol for item in self.rest.contracts())
        except (BitgetError, requests.RequestException, AttributeError) as exc:
            raise DownloadError(f"{self.symbol}: no candles, and the contract list could not be read: {exc}") from exc


def _line(row: Any, symbol: str) -> tuple[int, str, tuple[float, ...]]:
    """A venue row as ``(open_ts, csv line, (o, h, l, c, v))``, the numbers' text kept as sent."""
    if not isinstance(row, list | tuple) or len(row) < 6:
        raise DownloadError(f"{symbol}: the venue sent a candle row that is not [ts, o, h, l, c, v, ...]: {row!r}")
    ts = row[0]
    if isinstance(ts, str) and _DIGITS.fullmatch(ts.strip()):
        open_ts = int(ts)
    elif isinstance(ts, int) and not isinstance(ts, bool):
        open_ts = ts
    else:
        raise DownloadError(f"{symbol}: the venue sent a candle row whose time is not epoch ms: {row!r}")
    cells = [_cell(x) for x in row[1:6]]
    if None in cells:
        raise DownloadError(f"{symbol}: the venue sent a candle row with a value that is not a number: {row!r}")
    texts = [x for x in cells if x is not None]
    return open_ts, ",".join((str(open_ts), *texts)), tuple(float(x) for x in texts)


def _cell(value: Any) -> str | None:
    if isinstance(value, str):
        text = value.strip()
        return text if _NUMBER.fullmatch(text) and math.isfinite(float(text)) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    return None


def _consistent(o: float, h: float, low: float, cl: float, v: float) -> bool:
    """The checks ``engine.backtest.data.load`` makes: a row failing them would make the file unreadable."""
    return min(o, h, low, cl) > 0 and h >= low and h >= max(o, cl) and low <= min(o, cl) and v >= 0


# --- the file --------------------------------------------------------------------------------------


def _read_existing(path: Path, interval: int) -> IntArray:
    """The open times of ``path``'s rows (none when it does not exist), checked as ``load`` checks
    them and more: our header, one grid. A torn last line is cut off; nothing else is changed."""
    none = np.empty(0, dtype=np.int64)
    if not path.exists():
        return none
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CorruptHistoryError(path, f"cannot read it ({exc})") from exc
    if not raw.strip():
        return none  # an empty file holds no data to lose
    first_newline = raw.find(b"\n")
    header_line = raw if first_newline < 0 else raw[:first_newline]
    header = header_line.decode("utf-8-sig", errors="replace").strip().replace(" ", "").lower()
    if header != HEADER:
        raise CorruptHistoryError(
            path, f"its first line is {header_line[:80].decode(errors='replace')!r}, not the header {HEADER!r}"
        )
    keep = raw.rfind(b"\n") + 1
    body = raw[first_newline + 1 : keep] if first_newline >= 0 else b""
    ts = _parse_body(path, body, interval) if body.strip() else none
    if keep < len(raw) and first_newline >= 0:
        torn = raw[keep:].decode(errors="replace")
        logger.warning("{}: cutting off an incomplete last line {!r} (an interrupted write); it is fetched again",
                       path, torn[:80])  # fmt: skip
        os.truncate(path, keep)
    return ts


def _parse_body(path: Path, body: bytes, interval: int) -> IntArray:
    options: dict[str, Any] = {"header": None, "names": list(COLUMNS), "index_col": False, "engine": "c"}
    try:
        frame = pd.read_csv(io.BytesIO(body), dtype=_DTYPES, **options)
    except pd.errors.ParserError as exc:
        raise CorruptHistoryError(path, f"it is not a {len(COLUMNS)}-column CSV ({str(exc).strip()})") from exc
    except (ValueError, OverflowError):
        text = pd.read_csv(io.BytesIO(body), dtype=str, keep_default_na=False, **options)
        for name in COLUMNS:
            numbers = pd.to_numeric(text[name], errors="coerce")
            bad = np.flatnonzero(numbers.isna().to_numpy())
            if bad.size:
                i = int(bad[0])
                raise CorruptHistoryError(
                    path, f"line {i + 2}: {name} {text[name].iloc[i]!r} is not a number"
                ) from None
        raise CorruptHistoryError(path, "open_time holds values that are not whole epoch milliseconds") from None
    values = frame[list(COLUMNS[1:])].to_numpy(dtype=np.float64)
    o, h, low, cl, v = values.T
    bad_row = ~np.isfinite(values).all(axis=1)
    bad_row |= (np.minimum.reduce([o, h, low, cl]) <= 0) | (h < low) | (h < np.maximum(o, cl))
    bad_row |= (low > np.minimum(o, cl)) | (v < 0)
    if bad_row.any():
        i = int(np.argmax(bad_row))
        raise CorruptHistoryError(path, f"line {i + 2}: not a valid candle ({', '.join(map(str, frame.iloc[i]))})")
    ts = np.asarray(frame["open_time"].to_numpy(), dtype=np.int64)
    steps = np.diff(ts)
    if (steps <= 0).any():
        i = int(np.argmax(steps <= 0)) + 1
        raise CorruptHistoryError(
            path, f"line {i + 2}: open time {ts[i]} does not follow line {i + 1}'s {ts[i - 1]} (unsorted or repeated)"
        )
    if len(steps) and steps.min() > interval:
        raise CorruptHistoryError(
            path, f"no two rows are {timeframe_name(interval)} apart: it holds {timeframe_name(int(steps.min()))} bars"
        )
    if (steps % interval).any():
        i = int(np.argmax(steps % interval != 0)) + 1
        raise CorruptHistoryError(
            path, f"line {i + 2}: open time {ts[i]} is not on the {timeframe_name(interval)} grid of the rows before it"
        )
    return ts


class _Writer:
    """The history file: appends forward chunks, joins backward ones in front, and keeps count."""

    def __init__(self, path: Path, existing: IntArray) -> None:
        self.path = path
        self.blocks: list[IntArray] = [existing] if len(existing) else []
        self.first: int | None = int(existing[0]) if len(existing) else None
        self.last: int | None = int(existing[-1]) if len(existing) else None
        self.had_rows = self.first is not None
        self.added = 0

    @property
    def total(self) -> int:
        return sum(len(b) for b in self.blocks)

    def append(self, rows: list[Row]) -> None:
        """Rows newer than the file's last, oldest first; on disk (flushed) when this returns."""
        data = _lines(rows)
        if self.last is None:
            self._replace(lambda out: out.write(f"{HEADER}\n".encode() + data))  # the file appears with a chunk
        else:
            with open(self.path, "ab") as out:
                out.write(data)
                out.flush()
        self._count([ts for ts, _ in rows], front=False)

    def prepend(self, chunks: list[list[Row]]) -> None:
        """Chunks older than the file's first row, newest chunk first, joined in front atomically."""
        rows = [row for chunk in reversed(chunks) for row in chunk]

        def write(out: BinaryIO) -> None:
            out.write(f"{HEADER}\n".encode() + _lines(rows))
            with open(self.path, "rb") as old:
                old.readline()  # the header
                shutil.copyfileobj(old, out)

        self._replace(write)
        self._count([ts for ts, _ in rows], front=True)

    def _count(self, ts: list[int], *, front: bool) -> None:
        block = np.asarray(ts, dtype=np.int64)
        if front:
            self.blocks.insert(0, block)
        else:
            self.blocks.append(block)
        self.first, self.last = int(self.blocks[0][0]), int(self.blocks[-1][-1])
        self.added += len(ts)

    def _replace(self, write: Callable[[BinaryIO], object]) -> None:
        """Write a whole new file next to the old one, then swap it in: readers and an interruption
        see the old file or the new one, never a mix."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_name(f".{self.path.name}.part")  # not a name the loader reads
        try:
            with open(temp, "wb") as out:
                write(out)
            os.replace(temp, self.path)
        finally:
            temp.unlink(missing_ok=True)

    def gaps(self, interval: int) -> tuple[int, int]:
        if not self.blocks:
            return 0, 0
        steps = np.diff(np.concatenate(self.blocks))
        holes = steps[steps > interval]
        return len(holes), int((holes // interval - 1).sum())


# --- one run ---------------------------------------------------------------------------------------


class _Run:
    """The two walks of one download (forward, then backward) and their bookkeeping."""

    def __init__(
        self, venue: _Venue, writer: _Writer, now: int, days: float, chunk_bars: int, progress: Progress | None
    ) -> None:
        self.venue, self.writer, self.now, self.progress = venue, writer, now, progress
        iv = self.interval = venue.interval
        self.end = now - now % iv
        start = math.floor(now - days * DAY_MS)
        self.start = start - start % iv
        self.chunk_ms = iv * min(chunk_bars, c.CANDLES_MAX_LIMIT - 1, max(1, MAX_QUERY_SPAN_MS // iv))
        self.empty_chunks = 0
        self.rejected = 0
        self.forward_from = writer.last + iv if writer.last is not None else self.start
        forward = max(0, self.end - self.forward_from)
        backward = max(0, writer.first - self.start) if writer.first is not None else 0
        self.total_bars = -(-forward // iv) + -(-backward // iv)
        self.done_bars = 0

    def _report(self, span_ms: int) -> None:
        self.done_bars = min(self.total_bars, self.done_bars + -(-span_ms // self.interval))
        if self.progress is not None:
            self.progress(self.done_bars, self.total_bars)

    def _resume_hint(self) -> str:
        last = self.writer.last
        return "" if last is None else f"; rows up to {_iso(last)} are saved: run again to resume"

    def _fetch(self, start: int, end: int, after: int | None, before: int | None) -> list[Row]:
        """Closed candles opening in ``[start, end)``, strictly between ``after`` and ``before``,
        on the file's grid, consistent; deduplicated and oldest first."""
        iv, symbol = self.interval, self.venue.symbol
        anchor = self.writer.first
        found: dict[int, str] = {}
        for raw in self.venue.candles(start, end, self._resume_hint()):
            ts, line, (o, h, low, cl, v) = _line(raw, symbol)
            if not (start <= ts < end and ts + iv <= self.now):
                continue
            if (after is not None and ts <= after) or (before is not None and ts >= before):
                continue
            if anchor is not None and (ts - anchor) % iv:
                logger.warning("{}: skipping the candle at {}: off the file's grid", symbol, _iso(ts))
                self.rejected += 1
                continue
            if not _consistent(o, h, low, cl, v):
                logger.warning("{}: skipping an inconsistent candle from the venue: {}", symbol, line)
                self.rejected += 1
                continue
            found[ts] = line
        rows = sorted(found.items())
        if rows and anchor is None and any((ts - rows[0][0]) % iv for ts, _ in rows):
            raise DownloadError(f"{symbol}: the venue's candles are not on one {timeframe_name(iv)} grid")
        return rows

    def forward(self) -> None:
        """Oldest first from after the file's last row (or the window start) to now, appending."""
        a = self.forward_from
        if a >= self.end:
            return
        if not self.writer.had_rows:
            a = self._skip_empty_start(a)
        while a < self.end:
            b = min(a + self.chunk_ms, self.end)
            rows = self._fetch(a, b, after=self.writer.last, before=None)
            if rows:
                self.writer.append(rows)
            else:
                self.empty_chunks += 1
            self._report(b - a)
            a = b
        if not self.writer.had_rows and self.writer.last is None and not self.venue.is_listed():
            raise DownloadError(f"{self.venue.symbol} is not listed on Bitget USDT-M futures")

    def _skip_empty_start(self, start: int) -> int:
        """Where a fresh download's first chunk with data starts: the window's start if the venue
        has data there (the common case: that chunk is written, costing nothing extra), else found
        by bisection over the chunks, since no data is monotone in time."""
        n = -(-(self.end - start) // self.chunk_ms)
        bounds = [(start + k * self.chunk_ms, min(start + (k + 1) * self.chunk_ms, self.end)) for k in range(n)]
        rows = self._fetch(*bounds[0], after=None, before=None)
        if rows:
            self.writer.append(rows)
            self._report(bounds[0][1] - bounds[0][0])
            return bounds[0][1]
        empty, full = 0, n  # chunk `empty` has no data; `full` is the first known to have some (n: none known)
        found: list[Row] = []
        while full - empty > 1:
            mid = (empty + full) // 2
            rows = self._fetch(*bounds[mid], after=None, before=None)
            if rows:
                full, found = mid, rows
            else:
                empty = mid
        self.empty_chunks += full
        self._report((bounds[full][0] if full < n else self.end) - start)
        if full == n:
            return self.end
        self.writer.append(found)
        self._report(bounds[full][1] - bounds[full][0])
        return bounds[full][1]

    def backward(self) -> None:
        """Newest first from before the file's first row back to the window start, stopping at the
        first chunk the venue has nothing for; what was fetched is joined in front even when the
        walk is interrupted, since it is contiguous with the file."""
        first = self.writer.first
        if not self.writer.had_rows or first is None or first <= self.start:
            return
        chunks: list[list[Row]] = []
        b = first
        try:
            while b > self.start:
                a = max(self.start, b - self.chunk_ms)
                rows = self._fetch(a, b, after=None, before=chunks[-1][0][0] if chunks else first)
                if not rows:
                    self.empty_chunks += 1
                    self.done_bars = self.total_bars
                    self._report(0)
                    break
                chunks.append(rows)
                self._report(b - a)
                b = a
        finally:
            if chunks:
                self.writer.prepend(chunks)

    def result(self, timeframe: str) -> DownloadResult:
        w = self.writer
        gaps, missing = w.gaps(self.interval)
        return DownloadResult(
            self.venue.symbol, timeframe, w.path, w.added, w.total, w.first, w.last, self.venue.requests,
            self.empty_chunks, gaps, missing, self.rejected, self.start, self.end,
        )  # fmt: skip


def _interval_of(timeframe: str) -> int:
    interval = parse_timeframe(timeframe)
    if interval not in c.GRANULARITY:
        names = ", ".join(timeframe_name(ms) for ms in c.GRANULARITY)
        raise ValueError(f"Bitget has no {timeframe} candles; choose one of {names}")
    return interval


def _lines(rows: list[Row]) -> bytes:
    return "".join(f"{line}\n" for _, line in rows).encode("ascii")


def _iso(ts: int) -> str:
    return f"{np.datetime64(int(ts), 'ms')}Z"
