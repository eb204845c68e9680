"""Backtest history (``engine.backtest.data``): every layout in the shared real-data folder loads to
exactly the bars in the file, folders join in time order, resampling keeps only complete buckets,
and bad input is a ``DataError`` that names the file and the row."""

from __future__ import annotations

import gzip
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim.feed import resample as feed_resample
from engine.backtest.data import Candles, DataError, load, load_funding, parse_timeframe, timeframe_name
from engine.messages import BarClosed

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "real"
FIL = REAL / "binance_usdm_monthly"
BYBIT = REAL / "bybit_linear"
FREQTRADE = REAL / "binance_usdm_freqtrade"

MIN = 60_000
HOUR = 3_600_000
T0 = 1_675_209_600_000  # 2023-02-01 00:00 UTC, a multiple of every interval below 1 day
assert T0 % (4 * HOUR) == 0

BINANCE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,taker_buy_quote_volume,ignore"
)

Bar = tuple[int, float, float, float, float, float]


def make_bars(n: int, start: int = T0, step: int = MIN, base: float = 100.0) -> list[Bar]:
    """Distinct, valid bars: every field differs from bar to bar so a shifted row cannot pass."""
    bars = []
    for i in range(n):
        o = base + i
        c = o + 0.5
        bars.append((start + i * step, o, c + 1.25, o - 0.75, c, 10.0 + i))
    return bars


def write(path: Path, text: str) -> Path:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", newline="") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def binance_csv(path: Path, bars: Sequence[Bar], header: bool = True, scale: int = 1) -> Path:
    lines = [BINANCE_HEADER] if header else []
    for ts, o, h, lo, c, v in bars:
        lines.append(f"{ts * scale},{o},{h},{lo},{c},{v},{(ts + MIN - 1) * scale},{v * c},7,{v / 2},{v * c / 2},0")
    return write(path, "\n".join(lines) + "\n")


def iso(ts: int) -> str:
    return str(pd.Timestamp(ts, unit="ms", tz="UTC"))  # 2023-02-01 00:00:00+00:00, Bybit's form


def bybit_csv(path: Path, bars: Sequence[Bar]) -> Path:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{iso(ts)},{o},{h},{lo},{c},{v}" for ts, o, h, lo, c, v in bars]
    return write(path, "\n".join(lines) + "\n")


def freqtrade_feather(path: Path, bars: Sequence[Bar]) -> Path:
    ts, o, h, lo, c, v = (list(col) for col in zip(*bars, strict=True))
    frame = pd.DataFrame({"date": pd.to_datetime(ts, unit="ms", utc=True), "open": o, "high": h, "low": lo})
    frame["close"], frame["volume"] = c, v
    frame.to_feather(path)
    return path


def assert_bars(candles: Candles, bars: Sequence[Bar]) -> None:
    expected = np.array(bars, dtype=np.float64).reshape(-1, 6)
    assert candles.ts.dtype == np.int64
    assert candles.ts.tolist() == [b[0] for b in bars]
    for k, name in enumerate(("open", "high", "low", "close", "volume"), start=1):
        column = getattr(candles, name)
        assert column.dtype == np.float64
        assert column.tolist() == expected[:, k].tolist(), name


def candles(bars: Sequence[Bar], interval: int = MIN, symbol: str = "BTCUSDT") -> Candles:
    ts, o, h, lo, c, v = (np.array(col) for col in zip(*bars, strict=True)) if bars else [np.array([])] * 6
    return Candles(symbol, interval, ts.astype(np.int64), o, h, lo, c, v)


# --- each layout, gzipped and plain ----------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv"])
def test_a_binance_kline_archive_loads_its_bars_with_symbol_and_interval_from_the_name(
    tmp_path: Path, suffix: str
) -> None:
    bars = make_bars(5)
    path = binance_csv(tmp_path / f"FILUSDT-1m-2023-02{suffix}", bars)

    result = load(path)

    assert result.symbol == "FILUSDT"
    assert result.interval_ms == MIN
    assert len(result) == 5
    assert_bars(result, bars)


def test_an_old_binance_archive_without_a_header_row_is_read_by_position(tmp_path: Path) -> None:
    bars = make_bars(4)
    result = load(binance_csv(tmp_path / "ETHUSDT-5m-2021-07-01.csv", make_bars(4, step=5 * MIN), header=False))

    assert result.interval_ms == 5 * MIN
    assert result.ts.tolist() == [T0 + i * 5 * MIN for i in range(4)]
    assert result.open.tolist() == [b[1] for b in bars]


@pytest.mark.parametrize(("scale", "unit"), [(1_000, "µs"), (1_000_000, "ns")])
def test_epoch_times_in_microseconds_or_nanoseconds_become_milliseconds(tmp_path: Path, scale: int, unit: str) -> None:
    bars = make_bars(3)
    result = load(binance_csv(tmp_path / "BTCUSDT-1m-2025-01.csv.gz", bars, scale=scale))

    assert result.ts.tolist() == [T0, T0 + MIN, T0 + 2 * MIN], unit
    assert_bars(result, bars)


def test_epoch_times_in_seconds_become_milliseconds(tmp_path: Path) -> None:
    lines = ["time,open,high,low,close,volume"] + [
        f"{ts // 1000},{o},{h},{lo},{c},{v}" for ts, o, h, lo, c, v in make_bars(3)
    ]
    result = load(write(tmp_path / "BTCUSDT_1m.csv", "\n".join(lines)))

    assert result.ts.tolist() == [T0, T0 + MIN, T0 + 2 * MIN]


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv"])
def test_a_bybit_dump_with_iso_times_loads_and_its_60m_means_one_hour(tmp_path: Path, suffix: str) -> None:
    bars = make_bars(6, step=HOUR)
    path = bybit_csv(tmp_path / f"BTCUSDT_60m{suffix}", bars)
    text = gzip.decompress(path.read_bytes()).decode() if suffix.endswith("gz") else path.read_text()
    assert text.splitlines()[1].startswith("2023-02-01 00:00:00+00:00,")

    result = load(path)

    assert (result.symbol, result.interval_ms) == ("BTCUSDT", HOUR)
    assert_bars(result, bars)


def test_a_freqtrade_futures_feather_loads_as_the_plain_symbol(tmp_path: Path) -> None:
    bars = make_bars(7)
    result = load(freqtrade_feather(tmp_path / "BTC_USDT_USDT-1m-futures.feather", bars))

    assert (result.symbol, result.interval_ms) == ("BTCUSDT", MIN)
    assert_bars(result, bars)


def test_a_generic_csv_without_volume_takes_the_interval_from_the_commonest_spacing(tmp_path: Path) -> None:
    bars = [b for i, b in enumerate(make_bars(8, step=15 * MIN)) if i != 3]  # one hole
    lines = ["Date,Open,High,Low,Close"] + [f"{iso(ts)},{o},{h},{lo},{c}" for ts, o, h, lo, c, _ in bars]
    path = write(tmp_path / "history.csv", "\n".join(lines) + "\n")

    result = load(path, symbol="SOLUSDT")

    assert (result.symbol, result.interval_ms) == ("SOLUSDT", 15 * MIN)
    assert result.ts.tolist() == [b[0] for b in bars]
    assert result.close.tolist() == [b[4] for b in bars]
    assert result.volume.tolist() == [0.0] * len(bars)


def test_a_file_without_a_symbol_in_its_name_is_labelled_by_the_file(tmp_path: Path) -> None:
    result = load(binance_csv(tmp_path / "prices.csv", make_bars(3)))

    assert result.symbol == "prices"
    assert result.interval_ms == MIN


@pytest.mark.parametrize(
    ("name", "symbol", "interval"),
    [
        ("FILUSDT-1m-2023-02.csv.gz", "FILUSDT", MIN),
        ("FILUSDT-15m-2023-02-01.zip", "FILUSDT", 15 * MIN),
        ("BTCUSDT_60m.csv.gz", "BTCUSDT", HOUR),
        ("BTCUSDT_240.csv", "BTCUSDT", 4 * HOUR),
        ("ETHUSDT-4h.csv", "ETHUSDT", 4 * HOUR),
        ("BTC_USDT_USDT-1m-futures.feather", "BTCUSDT", MIN),
        ("BTC_USDT-5m.feather", "BTCUSDT", 5 * MIN),
    ],
)
def test_symbol_and_interval_come_from_the_file_name(tmp_path: Path, name: str, symbol: str, interval: int) -> None:
    bars = make_bars(3, step=interval)
    path = tmp_path / name
    if name.endswith(".feather"):
        freqtrade_feather(path, bars)
    elif name.endswith(".zip"):
        import zipfile

        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr(name.replace(".zip", ".csv"), BINANCE_HEADER + "\n" + binance_body(bars))
    else:
        binance_csv(path, bars)

    result = load(path)

    assert (result.symbol, result.interval_ms) == (symbol, interval)
    assert_bars(result, bars)


def binance_body(bars: Sequence[Bar]) -> str:
    return "".join(f"{ts},{o},{h},{lo},{c},{v},{ts + MIN - 1},0,0,0,0,0\n" for ts, o, h, lo, c, v in bars)


# --- folders ---------------------------------------------------------------------------------------


def test_a_folder_is_joined_in_time_order_not_name_order(tmp_path: Path) -> None:
    early, late = make_bars(3), make_bars(3, start=T0 + 10 * MIN, base=200.0)
    binance_csv(tmp_path / "FILUSDT-1m-2023-01.csv.gz", late)  # named first, holds the later bars
    binance_csv(tmp_path / "FILUSDT-1m-2023-02.csv", early)

    result = load(tmp_path)

    assert result.symbol == "FILUSDT"
    assert_bars(result, early + late)
    assert result.gaps() == [(T0 + 2 * MIN, T0 + 10 * MIN)]


def test_overlapping_files_keep_the_earlier_files_bars_once(tmp_path: Path) -> None:
    first = make_bars(4)  # T0 .. T0+3m
    second = make_bars(4, start=T0 + 2 * MIN, base=500.0)  # T0+2m .. T0+5m, different prices
    binance_csv(tmp_path / "FILUSDT-1m-2023-02.csv", first)
    binance_csv(tmp_path / "FILUSDT-1m-2023-03.csv", second)

    result = load(tmp_path)

    assert_bars(result, first + second[2:])
    assert np.all(np.diff(result.ts) > 0)


def test_files_whose_names_say_nothing_form_one_series_named_after_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "FILUSDT"
    folder.mkdir()
    binance_csv(folder / "part_b.csv", make_bars(2))
    binance_csv(folder / "part_a.csv", make_bars(2, start=T0 + 2 * MIN, base=300.0))

    result = load(folder)

    assert result.symbol == "FILUSDT"
    assert result.ts.tolist() == [T0 + i * MIN for i in range(4)]


def bybit_folder(folder: Path) -> Path:
    for symbol in ("BTCUSDT", "ETHUSDT"):
        bybit_csv(folder / f"{symbol}_1m.csv.gz", make_bars(120))
        bybit_csv(folder / f"{symbol}_15m.csv.gz", make_bars(8, step=15 * MIN))
    return folder


def test_a_folder_of_several_symbols_needs_one_and_says_what_it_holds(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="several symbols") as error:
        load(bybit_folder(tmp_path))
    assert "BTCUSDT (1m, 15m)" in str(error.value)
    assert "ETHUSDT (1m, 15m)" in str(error.value)
    assert str(tmp_path) in str(error.value)


def test_a_folder_of_several_timeframes_needs_one_and_says_what_it_holds(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"several timeframes.*ETHUSDT \(1m, 15m\)"):
        load(bybit_folder(tmp_path), symbol="ETHUSDT")


def test_a_folder_gives_the_file_at_the_timeframe_or_resamples_the_coarsest_that_divides_it(tmp_path: Path) -> None:
    folder = bybit_folder(tmp_path)

    exact = load(folder, symbol="ETH/USDT:USDT", timeframe="15m")
    hourly = load(folder, symbol="BTCUSDT", timeframe="1h")

    assert (exact.symbol, exact.interval_ms, len(exact)) == ("ETHUSDT", 15 * MIN, 8)
    # 1h from the 15m file (8 bars: two full hours), not from the 1m file
    assert (hourly.interval_ms, hourly.ts.tolist()) == (HOUR, [T0, T0 + HOUR])
    assert hourly.volume.tolist() == [10.0 + 11.0 + 12.0 + 13.0, 14.0 + 15.0 + 16.0 + 17.0]


def test_an_unknown_symbol_in_a_folder_lists_what_is_there(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no files for XRPUSDT.*BTCUSDT \(1m, 15m\)"):
        load(bybit_folder(tmp_path), symbol="XRPUSDT", timeframe="1m")


def test_a_folder_scan_skips_funding_and_mark_files(tmp_path: Path) -> None:
    bars = make_bars(3)
    freqtrade_feather(tmp_path / "BTC_USDT_USDT-1m-futures.feather", bars)
    freqtrade_feather(tmp_path / "BTC_USDT_USDT-8h-mark.feather", make_bars(3, step=8 * HOUR))
    freqtrade_feather(tmp_path / "BTC_USDT_USDT-8h-funding_rate.feather", make_bars(3, step=8 * HOUR))
    (tmp_path / "README.md").write_text("not data")

    result = load(tmp_path)

    assert (result.symbol, result.interval_ms) == ("BTCUSDT", MIN)
    assert_bars(result, bars)


def test_a_timeframe_coarser_than_the_file_resamples_and_a_finer_one_is_refused(tmp_path: Path) -> None:
    path = binance_csv(tmp_path / "FILUSDT-5m-2023-02.csv", make_bars(6, step=5 * MIN))

    assert load(path, timeframe="15m").ts.tolist() == [T0, T0 + 15 * MIN]
    with pytest.raises(DataError, match="5m bars; 1m cannot be built"):
        load(path, timeframe="1m")
    with pytest.raises(ValueError, match="unknown timeframe"):
        load(path, timeframe="fortnight")


# --- Candles ---------------------------------------------------------------------------------------


def test_between_is_half_open_on_the_open_time() -> None:
    series = candles(make_bars(10))

    window = series.between(T0 + 2 * MIN, T0 + 5 * MIN)

    assert window.ts.tolist() == [T0 + 2 * MIN, T0 + 3 * MIN, T0 + 4 * MIN]
    assert window.close.tolist() == series.close[2:5].tolist()
    assert len(series.between(T0 + 5 * MIN, T0 + 2 * MIN)) == 0
    assert len(series.between(None, T0 + 3 * MIN)) == 3
    assert len(series.between(T0 + 7 * MIN + 1, None)) == 2


def test_gaps_are_the_bars_on_either_side_of_each_hole() -> None:
    kept = [0, 1, 2, 5, 6, 9]
    series = candles([b for i, b in enumerate(make_bars(10)) if i in kept])

    assert series.gaps() == [(T0 + 2 * MIN, T0 + 5 * MIN), (T0 + 6 * MIN, T0 + 9 * MIN)]
    assert candles(make_bars(10)).gaps() == []


def test_resample_builds_five_minute_bars_by_hand_and_drops_incomplete_buckets() -> None:
    start = T0 - 2 * MIN  # two minutes of the bucket before T0: incomplete
    prices = [  # (open, high, low, close, volume) per minute from `start`
        (90.0, 91.0, 89.0, 90.5, 1.0),
        (90.5, 92.0, 90.0, 91.0, 1.0),
        (100.0, 102.0, 99.5, 101.0, 1.0),  # bucket T0: complete
        (101.0, 101.5, 98.0, 99.0, 2.0),
        (99.0, 105.0, 98.5, 104.0, 3.0),
        (104.0, 104.5, 97.0, 98.0, 4.0),
        (98.0, 100.0, 97.5, 99.5, 5.0),
        (99.5, 100.0, 99.0, 99.8, 1.0),  # bucket T0+5m: minute 3 missing below
        (99.8, 100.0, 99.0, 99.9, 1.0),
        (99.9, 100.0, 99.0, 99.1, 1.0),
        (99.1, 100.0, 99.0, 99.2, 1.0),
        (99.2, 100.0, 99.0, 99.3, 1.0),
    ]
    bars = [(start + i * MIN, *p) for i, p in enumerate(prices) if i != 10]

    result = candles(bars).resample(5 * MIN)

    assert result.interval_ms == 5 * MIN
    assert result.ts.tolist() == [T0]
    assert (result.open[0], result.high[0], result.low[0], result.close[0]) == (100.0, 105.0, 97.0, 99.5)
    assert result.volume[0] == 15.0


def test_resample_refuses_a_target_that_is_not_a_multiple_or_bars_off_the_grid() -> None:
    with pytest.raises(ValueError, match="whole multiple"):
        candles(make_bars(10, step=5 * MIN), interval=5 * MIN).resample(7 * MIN)
    with pytest.raises(ValueError, match="not aligned"):
        candles(make_bars(10, start=T0 + 30_000)).resample(5 * MIN)
    same = candles(make_bars(3))
    assert same.resample(MIN) is same
    assert len(candles([]).resample(5 * MIN)) == 0


def test_bars_yields_the_engines_messages() -> None:
    bars = make_bars(3)

    messages = list(candles(bars, symbol="FILUSDT").bars())

    assert messages == [BarClosed("FILUSDT", MIN, *bar) for bar in bars]
    assert all(type(m.open_ts) is int and type(m.close) is float for m in messages)


def test_candles_are_read_only_and_refuse_unsorted_times() -> None:
    source = np.array([T0, T0 + MIN], dtype=np.int64)
    one, two = np.ones(1), np.ones(2)
    series = Candles("X", MIN, source, two, two, two, two, two)

    with pytest.raises(ValueError, match="read-only"):
        series.close[0] = 5.0
    source[0] = 0  # the caller's own arrays stay writable
    two[0] = 0.0
    with pytest.raises(ValueError, match="strictly increasing"):
        Candles("X", MIN, np.array([T0, T0]), two, two, two, two, two)
    with pytest.raises(ValueError, match="shape"):
        Candles("X", MIN, np.array([T0]), two, one, one, one, one)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([5, 15, 60]),
    st.integers(0, 200),
    st.integers(0, 2**31 - 1),
)
def test_resample_of_a_complete_series_takes_max_min_first_last_and_sums(per: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.concatenate(([100.0], close[:-1]))[:n]
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0.0, 0.01, n))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0.0, 0.01, n))
    volume = rng.uniform(0.0, 50.0, n)
    ts = T0 + MIN * np.arange(n, dtype=np.int64)
    series = Candles("BTCUSDT", MIN, ts, open_, high, low, close, volume)

    result = series.resample(per * MIN)

    k = n // per
    assert len(result) == k
    assert result.ts.tolist() == [T0 + i * per * MIN for i in range(k)]
    for i in range(k):
        part = slice(i * per, (i + 1) * per)
        assert result.open[i] == open_[part][0]
        assert result.high[i] == high[part].max()
        assert result.low[i] == low[part].min()
        assert result.close[i] == close[part][-1]
        assert result.volume[i] == pytest.approx(volume[part].sum(), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([5, 15, 60]), st.lists(st.booleans(), max_size=240), st.integers(0, 2**31 - 1))
def test_resample_matches_the_sim_feeds_per_bar_resample_even_with_holes(
    per: int, present: list[bool], seed: int
) -> None:
    rng = np.random.default_rng(seed)
    minutes = [i for i, keep in enumerate(present) if keep]
    bars = []
    for m in minutes:
        o, c = rng.uniform(90, 110, 2)
        bars.append(
            (T0 + m * MIN, o, max(o, c) + rng.uniform(0, 1), min(o, c) - rng.uniform(0, 1), c, rng.uniform(0, 9))
        )
    series = candles(bars)

    ours, feeds = list(series.resample(per * MIN).bars()), feed_resample(list(series.bars()), per * MIN)
    # prices and times are picked, so equal exactly; volumes are sums, whose last bit depends on the order
    assert [replace(b, volume=0.0) for b in ours] == [replace(b, volume=0.0) for b in feeds]
    assert [b.volume for b in ours] == pytest.approx([b.volume for b in feeds], rel=1e-12)


# --- bad input -------------------------------------------------------------------------------------

GOOD = [f"{T0 + i * MIN},1.0,2.0,0.5,1.5,3.0" for i in range(4)]
"""Four valid 1m rows in the generic layout."""


def generic(rows: list[str], header: str = "open_time,open,high,low,close,volume") -> str:
    return "\n".join([header, *rows]) + "\n"


def row(i: int, open_: str = "1.0", high: str = "2.0", low: str = "0.5", close: str = "1.5", vol: str = "3.0") -> str:
    return f"{T0 + i * MIN},{open_},{high},{low},{close},{vol}"


ISO_HEADER = "timestamp,open,high,low,close,volume"
BAD_INPUT = {
    "cols.csv": (generic(GOOD, "open_time,open,high,close,volume"), r"unknown layout: .*open, high, low, close"),
    "notime.csv": (generic(GOOD, "when,open,high,low,close,volume"), r"unknown layout: needs a time column"),
    "words.csv": (generic([*GOOD[:2], row(2, high="abc")]), r"row 3 \(line 4\): high 'abc' is not a number"),
    "blank.csv": (generic([*GOOD[:3], row(3, close="")]), r"row 4 \(line 5\): close is missing"),
    "nan.csv": (generic([row(0, open_="NaN")]), r"row 1 \(line 2\): open is missing \(empty or NaN\)"),
    "inf.csv": (generic([row(0, high="inf")]), r"row 1 \(line 2\): high is inf"),
    "short.csv": (generic([*GOOD[:2], f"{T0 + 2 * MIN},1.0,2.0"]), r"row 3 \(line 4\): low is missing"),
    "inverted.csv": (generic([GOOD[0], row(1, high="0.4", close="0.45")]), r"row 2 \(line 3\): high is below low"),
    "outside.csv": (generic([row(0, high="1.2")]), r"row 1 \(line 2\): open or close lies outside high..low"),
    "zero.csv": (generic([*GOOD[:2], row(2, open_="0", low="0")]), r"row 3 \(line 4\): a price is not positive"),
    "negative.csv": (generic([row(0, low="-0.5")]), r"row 1 \(line 2\): a price is not positive"),
    "volume.csv": (generic([row(0, vol="-3.0")]), r"row 1 \(line 2\): volume is negative"),
    "dupe.csv": (generic([row(0), row(1), row(1), row(2)]), r"row 3 \(line 4\): timestamp .* repeats row 2 \(line 3\)"),
    "unsorted.csv": (generic([row(0), row(2), row(1), row(3)]), r"row 3 \(line 4\): timestamp .* goes back from row 2"),
    "empty.csv": ("", r"the file is empty"),
    "header.csv": (generic([]), r"has a header but no rows"),
    "units.csv": (
        generic([row(0), f"{(T0 + MIN) * 1000},1.0,2.0,0.5,1.5,3.0"]),
        r"row 2 \(line 3\): .* looks like µs but row 1's .* like ms",
    ),
    "iso.csv": (
        generic(["2023-02-01 00:00:00+00:00,1,2,0.5,1.5,3", "yesterday,1,2,0.5,1.5,3"], ISO_HEADER),
        r"row 2 \(line 3\): timestamp 'yesterday' is not a date and time",
    ),
    "quote.csv": (generic([*GOOD[:2], f'{T0 + 2 * MIN},"1.0,2.0,0.5,1.5,3.0']), r"malformed CSV: .*EOF inside string"),
    "FILUSDT-1m-2023-02.csv": (
        generic([f"{T0 + i * 5 * MIN},1.0,2.0,0.5,1.5,3.0" for i in range(3)]),
        r"name says 1m bars but no two bars are closer than 5m",
    ),
    "FILUSDT-5m-2023-02.csv": (
        generic([row(0), row(1), row(2)]),
        r"row 2 \(line 3\) opens 1m after row 1 \(line 2\), but the file's name says 5m",
    ),
    "notes.txt": (generic(GOOD), r"unknown format"),
}


@pytest.mark.parametrize("name", list(BAD_INPUT))
def test_bad_input_is_a_data_error_naming_the_file_and_the_row(tmp_path: Path, name: str) -> None:
    text, message = BAD_INPUT[name]
    path = write(tmp_path / name, text)

    with pytest.raises(DataError, match=message) as error:
        load(path)
    assert str(error.value).startswith(str(path))


def test_a_broken_gzip_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "BTCUSDT_1m.csv.gz"
    path.write_bytes(gzip.compress(generic(GOOD).encode())[:30])

    with pytest.raises(DataError, match=r"BTCUSDT_1m\.csv\.gz: cannot read"):
        load(path)


def test_a_missing_path_or_an_empty_folder_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load(tmp_path / "nowhere")
    with pytest.raises(DataError, match="no candle files"):
        load(tmp_path)


def test_a_bad_file_in_a_folder_is_named(tmp_path: Path) -> None:
    binance_csv(tmp_path / "FILUSDT-1m-2023-02.csv", make_bars(3))
    write(tmp_path / "FILUSDT-1m-2023-03.csv", generic([f"{T0 + 9 * MIN},1.0,2.0,0.5,x,3.0"]))

    with pytest.raises(DataError, match=r"FILUSDT-1m-2023-03.csv: row 1 \(line 2\): close 'x' is not a number"):
        load(tmp_path)


def test_a_funding_file_is_not_loaded_as_candles(tmp_path: Path) -> None:
    path = freqtrade_feather(tmp_path / "BTC_USDT_USDT-8h-funding_rate.feather", make_bars(3, step=8 * HOUR))

    with pytest.raises(DataError, match="use load_funding"):
        load(path)


def test_a_bad_feather_row_is_named(tmp_path: Path) -> None:
    bars = make_bars(3)
    bars[1] = (bars[1][0], bars[1][1], 0.1, 1.0, bars[1][4], bars[1][5])
    path = freqtrade_feather(tmp_path / "BTC_USDT_USDT-1m-futures.feather", bars)

    with pytest.raises(DataError, match=r"feather: row 2: high is below low"):
        load(path)


# --- funding ---------------------------------------------------------------------------------------


def funding_feather(path: Path, ts: list[int], rates: list[float]) -> Path:
    frame = pd.DataFrame({"date": pd.to_datetime(ts, unit="ms", utc=True), "open": rates})
    frame["high"] = frame["low"] = frame["close"] = frame["volume"] = 0.0
    frame.to_feather(path)
    return path


def test_funding_rates_come_from_open_with_settlement_jitter_floored_to_the_second(tmp_path: Path) -> None:
    times = [T0, T0 + 8 * HOUR + 3, T0 + 16 * HOUR + 16]  # Binance stamps settlements a few ms late
    path = funding_feather(tmp_path / "BTC_USDT_USDT-8h-funding_rate.feather", times, [1e-4, -2.5e-5, 3e-5])

    ts, rate = load_funding(path)

    assert ts.tolist() == [T0, T0 + 8 * HOUR, T0 + 16 * HOUR]
    assert rate.tolist() == [1e-4, -2.5e-5, 3e-5]


def test_funding_from_a_folder_picks_the_symbol_and_joins_in_time_order(tmp_path: Path) -> None:
    funding_feather(tmp_path / "BTC_USDT_USDT-8h-funding_rate.feather", [T0 + 8 * HOUR], [1e-4])
    funding_feather(tmp_path / "ETH_USDT_USDT-8h-funding_rate.feather", [T0], [2e-4])
    freqtrade_feather(tmp_path / "BTC_USDT_USDT-1m-futures.feather", make_bars(3))

    ts, rate = load_funding(tmp_path, symbol="BTCUSDT")

    assert (ts.tolist(), rate.tolist()) == ([T0 + 8 * HOUR], [1e-4])
    with pytest.raises(DataError, match=r"several symbols.*BTCUSDT \(8h\); ETHUSDT \(8h\)"):
        load_funding(tmp_path)


def test_funding_from_a_csv_with_a_rate_column(tmp_path: Path) -> None:
    path = write(tmp_path / "funding.csv", f"fundingRateTimestamp,fundingRate\n{T0},0.0001\n{T0 + 8 * HOUR},-0.0002\n")

    ts, rate = load_funding(path)

    assert (ts.tolist(), rate.tolist()) == ([T0, T0 + 8 * HOUR], [0.0001, -0.0002])


def test_a_price_file_is_not_taken_for_funding(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="needs a time column and a rate column"):
        load_funding(freqtrade_feather(tmp_path / "BTC_USDT_USDT-1m-futures.feather", make_bars(3)))
    with pytest.raises(DataError, match=r"row 1 \(line 2\): rate 95000.0 is not a funding rate"):
        load_funding(write(tmp_path / "f.csv", f"time,funding_rate\n{T0},95000\n"))


# --- timeframes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "ms"),
    [
        ("1m", MIN),
        ("5m", 5 * MIN),
        ("15m", 15 * MIN),
        ("1h", HOUR),
        ("60m", HOUR),
        ("240", 4 * HOUR),
        ("1d", 24 * HOUR),
    ],
)
def test_timeframes_parse_the_engines_names_and_bybits_minutes(name: str, ms: int) -> None:
    assert parse_timeframe(name) == ms


def test_timeframe_names_are_the_shortest_form() -> None:
    assert [timeframe_name(ms) for ms in (MIN, 60 * MIN, 240 * MIN, 8 * HOUR, 7 * 24 * HOUR, 90_000)] == [
        "1m",
        "1h",
        "4h",
        "8h",
        "1w",
        "90s",
    ]
    with pytest.raises(ValueError, match="unknown timeframe"):
        parse_timeframe("1M")  # a calendar month has no fixed length


# --- real data -------------------------------------------------------------------------------------


def need(folder: Path) -> None:
    if not folder.is_dir():
        pytest.skip(f"real market data not present at {folder} (the shared data checkout lives next to the repo)")


def test_the_filusdt_months_load_as_one_series_of_902880_bars() -> None:
    need(FIL)
    files = sorted(FIL.glob("FILUSDT-1m-*.csv.gz"))
    started = time.perf_counter()

    series = load(FIL)

    elapsed = time.perf_counter() - started
    assert len(files) == 21
    assert (series.symbol, series.interval_ms, len(series)) == ("FILUSDT", MIN, 902_880)
    assert series.ts[0] == 1_675_209_600_000  # 2023-02-01 00:00 UTC
    assert series.ts[-1] == 1_782_863_940_000  # 2026-06-30 23:59 UTC
    assert np.all(np.diff(series.ts) > 0)
    # 21 months, but 2023-04..06, 2023-08..11 and 2024-09..11 run on without a break: 13 holes
    gaps = series.gaps()
    assert len(gaps) == 13
    assert gaps[0] == (1_677_628_740_000, 1_680_307_200_000)  # 2023-02-28 23:59 -> 2023-04-01 00:00
    assert elapsed < 6.0, f"loading 902,880 bars took {elapsed:.2f}s"


def test_a_filusdt_month_matches_the_csv_cell_for_cell() -> None:
    need(FIL)
    path = FIL / "FILUSDT-1m-2024-02.csv.gz"
    frame = pd.read_csv(path)

    month = load(path)

    assert len(month) == 41_760
    assert month.ts.tolist() == frame["open_time"].tolist()
    for name in ("open", "high", "low", "close", "volume"):
        assert np.array_equal(getattr(month, name), frame[name].to_numpy(np.float64)), name


@pytest.mark.parametrize(("name", "rows"), [("BTCUSDT_1m.csv.gz", 43_200), ("SOLUSDT_1m.csv.gz", 43_201)])
def test_bybit_files_load_with_the_row_counts_in_sources(name: str, rows: int) -> None:
    need(BYBIT)

    series = load(BYBIT / name)

    assert (series.symbol, series.interval_ms, len(series)) == (name.split("_")[0], MIN, rows)
    assert series.gaps() == []


def test_bybit_one_minute_bars_resample_to_bybits_own_hourly_bars() -> None:
    need(BYBIT)
    minute = load(BYBIT, symbol="BTCUSDT", timeframe="1m").resample(HOUR)
    hourly = load(BYBIT / "BTCUSDT_60m.csv.gz")

    assert (len(hourly), hourly.interval_ms) == (720, HOUR)
    common, i, j = np.intersect1d(minute.ts, hourly.ts, return_indices=True)
    assert len(common) == 719  # the 1m file starts at 16:39, so the 16:00 hour is incomplete
    for name in ("open", "high", "low", "close"):
        assert np.array_equal(getattr(minute, name)[i], getattr(hourly, name)[j]), name
    assert np.allclose(minute.volume[i], hourly.volume[j], rtol=1e-12)


@pytest.mark.parametrize(
    ("name", "rows", "first"),
    [
        ("BTC_USDT_USDT-1m-futures.feather", 43_199, "2025-05-04 15:33:00"),
        ("ETH_USDT_USDT-1m-futures.feather", 60_191, "2025-05-04 15:33:00"),
        ("SOL_USDT_USDT-5m-futures.feather", 8_639, "2025-03-06 10:30:00"),
    ],
)
def test_freqtrade_feathers_load_with_the_row_counts_in_sources(name: str, rows: int, first: str) -> None:
    need(FREQTRADE)

    series = load(FREQTRADE / name)

    assert series.symbol == name.split("_")[0] + "USDT"
    assert len(series) == rows
    assert series.ts[0] == pd.Timestamp(first, tz="UTC").value // 1_000_000


def test_real_funding_rates_load_on_the_eight_hour_grid() -> None:
    need(FREQTRADE)

    ts, rate = load_funding(FREQTRADE, symbol="BTCUSDT")

    assert len(ts) == len(rate) == 266
    assert ts[0] == pd.Timestamp("2025-03-06 16:00", tz="UTC").value // 1_000_000
    assert np.all(ts % (8 * HOUR) == 0)
    assert np.all(np.abs(rate) < 0.01)


def test_a_folder_may_mix_millisecond_and_microsecond_archives(tmp_path: Path) -> None:
    old, new = make_bars(2), make_bars(2, start=T0 + 2 * MIN, base=200.0)
    binance_csv(tmp_path / "BTCUSDT-1m-2024-12.csv.gz", old)
    binance_csv(tmp_path / "BTCUSDT-1m-2025-01.csv.gz", new, scale=1_000)  # spot archives from 2025 on

    assert_bars(load(tmp_path), old + new)


def test_a_parquet_file_with_the_time_as_its_index_loads(tmp_path: Path) -> None:
    bars = make_bars(3, step=5 * MIN)
    frame = pd.read_feather(freqtrade_feather(tmp_path / "x.feather", bars)).set_index("date")
    frame.to_parquet(tmp_path / "SOLUSDT-5m.parquet")

    result = load(tmp_path / "SOLUSDT-5m.parquet")

    assert (result.symbol, result.interval_ms) == ("SOLUSDT", 5 * MIN)
    assert_bars(result, bars)
