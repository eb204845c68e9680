"""Run reports: the four files, their exact layout, the offline HTML page and the fingerprint."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.backtest import report
from engine.backtest.metrics import DAY_MS, HOUR_MS, Metrics, compute, drawdown_series, max_drawdown
from engine.backtest.report import (
    EQUITY_CSV,
    MAX_CHART_POINTS,
    MAX_TABLE_TRADES,
    METRICS_COLUMNS,
    METRICS_CSV,
    REPORT_HTML,
    TRADES_CSV,
    fingerprint,
    summary_table,
    write_run,
)
from engine.journal import EQUITY_COLUMNS, TRADE_COLUMNS, EquityCurve, TradeJournal, iso_utc
from engine.messages import EquitySampled, Side, TradeClosed

T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC
MALICIOUS = "<script>alert(1)</script>"


def trade(i: int, pnl: float = 12.5, symbol: str = "BTCUSDT", strategy: str = "ema_cross") -> TradeClosed:
    entry = T0 + i * HOUR_MS + 123
    return TradeClosed(
        symbol=symbol,
        side=Side.LONG if i % 2 == 0 else Side.SHORT,
        qty=0.015 + i / 1000,
        entry_ts=entry,
        entry_price=37_000.1 + i,
        exit_ts=entry + HOUR_MS // 2,
        exit_price=37_100.9 + i,
        pnl=pnl,
        fees=0.6 + i / 100,
        strategy=strategy,
        regime="TRENDING",
        reason="stop, trailed",  # a comma: the CSV must quote it
        risk=5.0,
        fill_id=f"f{i}",
    )


def samples(n: int, start: float = 10_000.0, step_ms: int = HOUR_MS) -> list[EquitySampled]:
    return [EquitySampled(T0 + i * step_ms, start + 10.0 * math.sin(i / 3), 5_000.25, 1.5, i % 3) for i in range(n)]


def run(trades: list[TradeClosed], curve: list[EquitySampled]) -> Metrics:
    return compute(trades, curve, start_equity=10_000.0, funding=-1.25)


def read_rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def chart_points(page: str) -> list[int]:
    """Number of coordinate pairs of every polyline/polygon of the page."""
    return [len(points.split()) for points in re.findall(r'<poly(?:line|gon)[^>]* points="([^"]*)"', page)]


# --- Files ----------------------------------------------------------------------------------


def test_write_run_writes_the_four_files_with_exact_headers_and_row_counts(tmp_path: Path) -> None:
    trades = [trade(i, symbol=s) for i, s in enumerate(("BTCUSDT", "ETHUSDT", "SOLUSDT"))]
    curve = samples(7)
    folder = tmp_path / "runs" / "one"  # created, parents too

    paths = write_run(folder, trades, curve, run(trades, curve), title="EMA cross")

    assert paths == {
        "trades": folder / TRADES_CSV,
        "metrics": folder / METRICS_CSV,
        "equity": folder / EQUITY_CSV,
        "report": folder / REPORT_HTML,
    }
    assert (TRADES_CSV, METRICS_CSV, EQUITY_CSV, REPORT_HTML) == (
        "backtest_trades.csv",
        "metrics.csv",
        "equity_curve.csv",
        "report.html",
    )
    trade_rows = read_rows(paths["trades"])
    assert tuple(trade_rows[0]) == TRADE_COLUMNS
    assert len(trade_rows) == 1 + 3
    equity_rows = read_rows(paths["equity"])
    assert tuple(equity_rows[0]) == EQUITY_COLUMNS
    assert len(equity_rows) == 1 + 7
    metric_rows = read_rows(paths["metrics"])
    assert tuple(metric_rows[0]) == METRICS_COLUMNS == ("metric", "value")
    assert len(metric_rows) == 1 + len(run(trades, curve).as_rows())
    # Only the four outputs: no temporary file is left behind.
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in paths.values())


def test_csv_files_are_identical_to_what_the_journals_write(tmp_path: Path) -> None:
    """backtest_trades.csv and equity_curve.csv read exactly like trade_journal.csv and the
    journal's equity_curve.csv: same columns, same time and number formatting."""
    trades = [trade(i, pnl=p) for i, p in enumerate((12.5, -3.1000000000000005, 0.1 + 0.2, 1e-9))]
    # Odd milliseconds, the epoch itself and a far date exercise the time formatting.
    curve = [
        EquitySampled(ts, 10_000.0 + k / 7, 5_000.0 + k, -k / 3, k)
        for k, ts in enumerate((0, 1, 999, T0 + 1, T0 + 59_999, 4_102_444_799_999))
    ]
    journal_dir = tmp_path / "journal"
    trade_journal, equity_journal = TradeJournal(journal_dir), EquityCurve(journal_dir)
    for t in trades:
        trade_journal.record(t)
    for s in curve:
        equity_journal.record(s)
    trade_journal.close()
    equity_journal.close()

    paths = write_run(tmp_path / "run", trades, curve, run(trades, curve), title="same as the journal")

    assert paths["trades"].read_bytes() == (journal_dir / "trade_journal.csv").read_bytes()
    assert paths["equity"].read_bytes() == (journal_dir / "equity_curve.csv").read_bytes()
    assert read_rows(paths["equity"])[1][0] == iso_utc(0)


def test_metrics_csv_round_trips_as_rows(tmp_path: Path) -> None:
    trades = [trade(0, pnl=10.0), trade(1, pnl=-4.0), trade(2, pnl=7.0)]
    curve = samples(24 * 5)
    metrics = run(trades, curve)
    paths = write_run(tmp_path, trades, curve, metrics, title="round trip")

    rows = [tuple(r) for r in read_rows(paths["metrics"])]

    assert rows == [METRICS_COLUMNS, *metrics.as_rows()]
    # Every value reads back as a number, nan and inf included.
    assert all(isinstance(float(value), float) for _, value in rows[1:])


def test_metrics_csv_writes_nan_and_inf_as_numbers(tmp_path: Path) -> None:
    metrics = compute([trade(0, pnl=5.0)], [], start_equity=1_000.0)  # no losses: profit factor inf
    paths = write_run(tmp_path, [trade(0, pnl=5.0)], [], metrics, title="undefined values")
    values = dict(read_rows(paths["metrics"])[1:])
    assert values["profit factor"] == "inf"
    assert math.isinf(float(values["profit factor"]))
    assert math.isnan(float(values["Sharpe (annualised)"]))


def test_bare_curves_leave_the_unknown_equity_columns_empty(tmp_path: Path) -> None:
    pairs = [(T0, 100.0), (T0 + HOUR_MS, 101.5)]
    arrays = (np.array([T0, T0 + HOUR_MS], dtype=np.int64), np.array([100.0, 101.5]))
    expected = [list(EQUITY_COLUMNS), [iso_utc(T0), "100.0", "", "", ""], [iso_utc(T0 + HOUR_MS), "101.5", "", "", ""]]
    metrics = compute([], pairs, start_equity=100.0)
    for name, curve in (("pairs", pairs), ("arrays", arrays)):
        paths = write_run(tmp_path / name, [], curve, metrics, title=name)
        assert read_rows(paths["equity"]) == expected


def test_rewriting_a_folder_replaces_every_file(tmp_path: Path) -> None:
    first = [trade(0), trade(1)]
    write_run(tmp_path, first, samples(3), run(first, samples(3)), title="first")
    second = [trade(5)]
    paths = write_run(tmp_path, second, samples(2), run(second, samples(2)), title="second")
    assert len(read_rows(paths["trades"])) == 1 + 1
    assert len(read_rows(paths["equity"])) == 1 + 2
    assert "second" in paths["report"].read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())


def test_a_malformed_curve_raises_before_anything_is_written(tmp_path: Path) -> None:
    backwards = [(T0 + HOUR_MS, 100.0), (T0, 101.0)]
    metrics = compute([], [], start_equity=100.0)
    with pytest.raises(ValueError, match="must not decrease"):
        write_run(tmp_path / "never", [], backwards, metrics, title="bad")
    assert not (tmp_path / "never").exists()


def test_same_inputs_give_the_same_bytes(tmp_path: Path) -> None:
    trades, curve = [trade(0), trade(1)], samples(50)
    a = write_run(tmp_path / "a", trades, curve, run(trades, curve), title="twice")
    b = write_run(tmp_path / "b", trades, curve, run(trades, curve), title="twice")
    for key in a:
        assert a[key].read_bytes() == b[key].read_bytes()


# --- HTML -----------------------------------------------------------------------------------


def test_html_has_title_fingerprint_charts_metrics_and_every_trade(tmp_path: Path) -> None:
    trades = [trade(i, symbol=f"COIN{i}USDT", pnl=(-1.0) ** i * i) for i in range(40)]
    curve = samples(300)
    metrics = run(trades, curve)
    paths = write_run(tmp_path, trades, curve, metrics, title="EMA cross 9/21, 2023")
    page = paths["report"].read_text(encoding="utf-8")

    assert "<title>EMA cross 9/21, 2023</title>" in page
    assert "<h1>EMA cross 9/21, 2023</h1>" in page
    assert fingerprint(trades) in page
    assert page.count("<svg") == 2  # equity and drawdown
    assert "<polyline" in page and "<polygon" in page
    assert "time (UTC)" in page
    for t in trades:
        assert f"<td>{t.symbol}</td>" in page
    for name, value in metrics.as_rows():
        assert f'<tr><th scope="row">{name}</th><td class="n">{value}</td></tr>' in page
    assert page.count("<tr><td>") == len(trades)


def test_a_given_fingerprint_is_shown_instead(tmp_path: Path) -> None:
    trades = [trade(0)]
    paths = write_run(tmp_path, trades, samples(3), run(trades, samples(3)), title="t", fingerprint="cfg+data:abc")
    page = paths["report"].read_text(encoding="utf-8")
    assert "cfg+data:abc" in page
    assert fingerprint(trades) not in page


def test_html_escapes_every_string(tmp_path: Path) -> None:
    evil = replace(
        trade(0, symbol=f"X{MALICIOUS}", strategy=MALICIOUS),
        regime='"><img onerror=x>',
        reason="<b>bold</b> & 'quoted'",
    )
    curve = samples(5)
    paths = write_run(tmp_path, [evil], curve, run([evil], curve), title=MALICIOUS, fingerprint=MALICIOUS)
    page = paths["report"].read_text(encoding="utf-8")

    assert "<script" not in page.lower()
    assert "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &#x27;quoted&#x27;" in page
    assert "&quot;&gt;&lt;img onerror=x&gt;" in page


def test_html_is_self_contained_and_offline(tmp_path: Path) -> None:
    trades = [trade(i) for i in range(10)]
    curve = samples(500)
    page = write_run(tmp_path, trades, curve, run(trades, curve), title="offline")["report"].read_text(encoding="utf-8")

    assert "http://" not in page and "https://" not in page
    assert "//" not in page.replace("<!DOCTYPE html>", "")  # no protocol-relative URL either
    for reference in ("<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import", "@font-face"):
        assert reference not in page.lower()


def test_a_long_curve_is_downsampled_in_the_charts_and_kept_whole_in_the_csv(tmp_path: Path) -> None:
    n = 100_000
    rng = np.random.default_rng(7)
    equity = 10_000.0 + np.cumsum(rng.normal(0.0, 3.0, n))
    curve = [EquitySampled(T0 + i * 60_000, float(e), 5_000.0, 0.0, 1) for i, e in enumerate(equity)]
    trades = [trade(i) for i in range(200)]
    metrics = compute(trades, curve, start_equity=10_000.0)

    paths = write_run(tmp_path, trades, curve, metrics, title="100k samples")

    page = paths["report"].read_text(encoding="utf-8")
    counts = chart_points(page)
    assert len(counts) == 2
    assert all(c <= MAX_CHART_POINTS + 2 for c in counts)  # the drawdown area adds its two base corners
    assert sum(counts) <= 4_004
    assert len(page) < 1_000_000
    assert len(read_rows(paths["equity"])) == 1 + n  # the CSV keeps every sample


def test_downsampling_keeps_a_one_sample_spike_and_the_ends() -> None:
    n = 100_000
    ts = T0 + np.arange(n, dtype=np.int64) * 60_000
    values = np.full(n, 100.0)
    values[54_321] = 20.0  # a one-minute crash
    values[77_777] = 180.0  # and a one-minute spike

    index = report.downsample(ts, values, MAX_CHART_POINTS)

    assert index.size <= MAX_CHART_POINTS
    assert np.all(np.diff(index) > 0)  # in time order, no repeats
    assert {0, 54_321, 77_777, n - 1} <= set(index.tolist())
    assert report.downsample(ts[:500], values[:500]).tolist() == list(range(500))  # short curves untouched


def test_drawdown_series_peaks_at_the_metrics_max_drawdown() -> None:
    ts = T0 + np.arange(6, dtype=np.int64) * DAY_MS
    eq = np.array([100.0, 110.0, 99.0, 120.0, 90.0, 130.0])
    series = drawdown_series(eq)
    assert float(np.max(series)) == max_drawdown(ts, eq)[0] == pytest.approx(0.25)
    assert series.tolist() == pytest.approx([0.0, 0.0, 0.1, 0.0, 0.25, 0.0])


def test_more_trades_than_the_table_shows_are_noted_and_all_in_the_csv(tmp_path: Path) -> None:
    n = MAX_TABLE_TRADES + 7
    trades = [trade(i, symbol=f"S{i}USDT") for i in range(n)]
    paths = write_run(tmp_path, trades, samples(2), compute(trades, samples(2), start_equity=10_000.0), title="many")
    page = paths["report"].read_text(encoding="utf-8")

    assert page.count("<tr><td>") == MAX_TABLE_TRADES
    assert f"Showing the last {MAX_TABLE_TRADES:,} of {n:,} trades" in page
    assert "<td>S6USDT</td>" not in page and "<td>S7USDT</td>" in page  # the last ones are shown
    assert len(read_rows(paths["trades"])) == 1 + n


# --- Empty and degenerate runs ---------------------------------------------------------------


def test_an_empty_run_writes_all_four_files(tmp_path: Path) -> None:
    metrics = compute([], [], start_equity=1_000.0)
    paths = write_run(tmp_path / "empty", [], [], metrics, title="nothing happened")

    assert all(p.exists() for p in paths.values())
    assert read_rows(paths["trades"]) == [list(TRADE_COLUMNS)]
    assert read_rows(paths["equity"]) == [list(EQUITY_COLUMNS)]
    assert [tuple(r) for r in read_rows(paths["metrics"])] == [METRICS_COLUMNS, *metrics.as_rows()]
    page = paths["report"].read_text(encoding="utf-8")
    assert "No trades" in page
    assert "No equity samples" in page
    assert "<svg" not in page
    assert fingerprint([]) in page


def test_a_one_sample_curve_says_so_instead_of_drawing(tmp_path: Path) -> None:
    curve = samples(1)
    paths = write_run(tmp_path, [], curve, compute([], curve, start_equity=10_000.0), title="one sample")
    page = paths["report"].read_text(encoding="utf-8")
    assert "Only one equity sample" in page
    assert "<svg" not in page
    assert len(read_rows(paths["equity"])) == 2


@pytest.mark.parametrize(
    "curve",
    [
        [(T0, 100.0), (T0 + HOUR_MS, 100.0), (T0 + 2 * HOUR_MS, 100.0)],  # flat: no drawdown, no value range
        [(T0, 100.0), (T0, 101.0)],  # no time span
        [(T0, 100.0), (T0 + 30_000, 99.0)],  # under a minute
        [(T0, 100.0), (T0 + 40 * 365 * DAY_MS, 1e9)],  # decades
        [(T0, 0.0), (T0 + HOUR_MS, -5.0)],  # does not start above 0: drawdown undefined
    ],
)
def test_degenerate_curves_render(tmp_path: Path, curve: list[tuple[int, float]]) -> None:
    metrics = compute([], curve, start_equity=100.0)
    page = write_run(tmp_path, [], curve, metrics, title="edge")["report"].read_text(encoding="utf-8")
    assert "<svg" in page
    assert "nan" not in " ".join(re.findall(r'points="([^"]*)"', page))
    assert "inf" not in " ".join(re.findall(r'points="([^"]*)"', page))


def test_a_curve_that_does_not_start_above_zero_has_no_drawdown_chart(tmp_path: Path) -> None:
    curve = [(T0, 0.0), (T0 + HOUR_MS, -5.0)]
    page = write_run(tmp_path, [], curve, compute([], curve, start_equity=100.0), title="x")["report"].read_text(
        encoding="utf-8"
    )
    assert page.count("<svg") == 1
    assert "Drawdown is undefined" in page


# --- Fingerprint ----------------------------------------------------------------------------


def test_fingerprint_is_stable_and_short_hex() -> None:
    trades = [trade(i) for i in range(20)]
    again = [trade(i) for i in range(20)]  # equal, not the same objects
    value = fingerprint(trades)
    assert re.fullmatch(r"[0-9a-f]{16}", value)
    assert fingerprint(trades) == value == fingerprint(again) == fingerprint(tuple(trades))
    assert fingerprint([]) == hashlib.sha256(b"").hexdigest()[:16] == "e3b0c44298fc1c14"


def test_fingerprint_hashes_exactly_what_its_docstring_says() -> None:
    trades = [trade(0, pnl=1.234567891), trade(1, symbol="ÉTHUSDT", pnl=-0.000000001)]
    text = "".join(
        json.dumps(
            [
                t.symbol,
                t.side.value,
                t.qty,
                t.entry_ts,
                t.entry_price,
                t.exit_ts,
                t.exit_price,
                f"{round(t.pnl, 8) + 0.0:.8f}",
                t.reason,
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        + "\n"
        for t in trades
    )
    assert fingerprint(trades) == hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def test_fingerprint_changes_with_any_result() -> None:
    trades = [trade(i, pnl=10.0 + i) for i in range(5)]
    base = fingerprint(trades)
    changed = {
        "one cent of pnl": replace(trades[2], pnl=trades[2].pnl + 0.01),
        "symbol": replace(trades[2], symbol="ETHUSDT"),
        "side": replace(trades[2], side=Side.SHORT if trades[2].side is Side.LONG else Side.LONG),
        "qty": replace(trades[2], qty=trades[2].qty * 2),
        "entry time": replace(trades[2], entry_ts=trades[2].entry_ts + 1),
        "exit time": replace(trades[2], exit_ts=trades[2].exit_ts + 1),
        "entry price": replace(trades[2], entry_price=trades[2].entry_price + 0.1),
        "exit price": replace(trades[2], exit_price=trades[2].exit_price + 0.1),
        "reason": replace(trades[2], reason="target"),
    }
    for what, other in changed.items():
        assert fingerprint([*trades[:2], other, *trades[3:]]) != base, what
    assert fingerprint(trades[::-1]) != base, "order"
    assert fingerprint(trades[:-1]) != base, "a trade missing"


def test_fingerprint_ignores_float_noise_and_labels() -> None:
    trades = [trade(0, pnl=0.3), trade(1, pnl=0.0)]
    base = fingerprint(trades)
    noisy = [replace(trades[0], pnl=0.1 + 0.2), replace(trades[1], pnl=-1e-12)]  # 0.30000000000000004, -0.0
    assert fingerprint(noisy) == base
    relabelled = [replace(t, strategy="other", regime="RANGING", fees=9.0, risk=0.0, fill_id="") for t in trades]
    assert fingerprint(relabelled) == base


# --- Summary table --------------------------------------------------------------------------


def test_summary_table_aligns_every_metric() -> None:
    trades = [trade(0, pnl=10.0), trade(1, pnl=-4.0)]
    metrics = run(trades, samples(24 * 3))
    text = summary_table(metrics, width=50)
    lines = text.split("\n")

    assert len(lines) == len(metrics.as_rows())
    assert not text.endswith("\n")
    for line, (name, value) in zip(lines, metrics.as_rows(), strict=True):
        assert len(line) == 50
        assert line.startswith(f"{name}:")
        assert line.endswith(f" {value}")
        assert line[len(name) + 1 : -len(value)].strip() == ""


def test_summary_table_never_glues_a_name_to_its_value() -> None:
    metrics = compute([], [], start_equity=1e15)
    for line in summary_table(metrics, width=10).split("\n"):
        name, value = line.split(": ")
        assert value.strip() and name
