"""The outputs of a run, written to a run folder that can be read offline.

A backtest, or a paper/live run read back from its state database (``StateStore.trades()`` and
``StateStore.equity_samples()``), leaves four files in one folder:

- ``backtest_trades.csv``: every closed trade, with the trade journal's columns and formatting
  (``engine.journal.TRADE_COLUMNS``), so one reader reads both.
- ``metrics.csv``: ``metric,value`` rows, exactly ``Metrics.as_rows()``: the numbers the run is
  judged by are computed once, in ``engine.backtest.metrics``, and only written here.
- ``equity_curve.csv``: the equity journal's columns (``engine.journal.EQUITY_COLUMNS``); a curve
  given as bare ``(ts, equity)`` points leaves cash, unrealized and open positions empty.
- ``report.html``: one self-contained page (no scripts, no external CSS, fonts or images, no
  network) with the title, the fingerprint, an equity chart, a drawdown chart, the metrics table
  and the trade table. The charts are inline SVG drawn here, so the page opens anywhere, years
  later, without a plotting library or an internet connection.

Each file is written to a temporary name in the folder and swapped in with ``os.replace``: a
reader, or an interruption, sees the old file or the new one, never half of one. The four files
are not one transaction, so ``report.html`` is written last and carries the fingerprint of the
trades: compare it with ``backtest_trades.csv`` if a folder was rewritten by a run that died. No
fsync: every file can be rebuilt from the backtest or the state database.

Everything written is a pure function of the inputs (no "generated at" time), so the same run
gives the same bytes, and a changed file means changed results.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import itertools
import json
import math
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from engine.backtest.metrics import (
    DAY_MS,
    Curve,
    FloatArray,
    IntArray,
    Metrics,
    as_curve,
    drawdown_series,
    format_value,
)
from engine.journal import EQUITY_COLUMNS, TRADE_COLUMNS, iso_utc, trade_row
from engine.messages import EquitySampled, TradeClosed

TRADES_CSV = "backtest_trades.csv"
METRICS_CSV = "metrics.csv"
EQUITY_CSV = "equity_curve.csv"
REPORT_HTML = "report.html"

METRICS_COLUMNS = ("metric", "value")
"""Header of ``metrics.csv``; its rows are ``Metrics.as_rows()`` unchanged."""

MAX_CHART_POINTS = 2_000
"""Most points one chart line gets. A 100k-sample curve drawn as is makes a page that is slow to
open and no sharper: a chart is about 900 pixels wide. Min/max per time bucket keeps every spike."""

MAX_TABLE_TRADES = 5_000
"""Most trades shown in the HTML table (the last ones); the CSV always holds all of them."""

_FINGERPRINT_CHARS = 16
_PNL_DIGITS = 8

# Chart geometry, in SVG user units (the SVG scales to the page width).
_WIDTH = 960
_LEFT, _RIGHT, _TOP, _BOTTOM = 84, 64, 14, 34
_EQUITY_HEIGHT = 320
_DRAWDOWN_HEIGHT = 170

_MINUTE_MS = 60_000
_TIME_STEPS_MS = (
    *(m * _MINUTE_MS for m in (1, 2, 5, 10, 15, 30)),
    *(h * 60 * _MINUTE_MS for h in (1, 2, 3, 6, 12)),
    *(d * DAY_MS for d in (1, 2, 7, 14, 30, 60, 90, 180, 365)),
)
"""Candidate spacings of the time axis labels; multiples of them since the epoch fall on round
UTC times (whole hours, midnight), which people read more easily than arbitrary instants."""
_MAX_TIME_TICKS = 6
_MAX_VALUE_TICKS = 8


# --- Public API -----------------------------------------------------------------------------


def write_run(
    folder: Path,
    trades: Sequence[TradeClosed],
    equity: Curve,
    metrics: Metrics,
    *,
    title: str,
    fingerprint: str | None = None,
) -> dict[str, Path]:
    """Write a run's four files into ``folder`` (created if missing) and return their paths.

    The keys are ``trades``, ``metrics``, ``equity`` and ``report``. ``equity`` is any curve
    ``metrics.as_curve`` accepts (``EquitySampled`` points, ``(ts, equity)`` pairs or a pair of
    numpy arrays); it is checked the same way, so a curve ``compute`` refused (times going
    backwards, a non-finite equity) raises the same ``ValueError`` here rather than drawing
    nonsense. ``metrics`` is written as given, never recomputed: the files show exactly the
    numbers the caller printed. ``fingerprint`` defaults to ``fingerprint(trades)``; pass another
    one (say, one that also covers the configuration and the data) to show that instead.
    Existing files of the same names are replaced.
    """
    ts, eq = as_curve(equity)
    run_fingerprint = _trades_fingerprint(trades) if fingerprint is None else fingerprint
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "trades": folder / TRADES_CSV,
        "metrics": folder / METRICS_CSV,
        "equity": folder / EQUITY_CSV,
        "report": folder / REPORT_HTML,
    }
    _write_atomic(paths["trades"], _trades_csv(trades))
    _write_atomic(paths["metrics"], _csv_text(METRICS_COLUMNS, metrics.as_rows()))
    _write_atomic(paths["equity"], _equity_csv(equity, ts, eq))
    _write_atomic(paths["report"], render_html(trades, (ts, eq), metrics, title=title, fingerprint=run_fingerprint))
    return paths


def fingerprint(trades: Sequence[TradeClosed]) -> str:
    """A short, stable hash of a run's results: equal trade lists give equal fingerprints.

    It lets two runs (a backtest before and after a refactor, the same config on two machines) be
    compared at a glance: any change in what was traded shows as a different fingerprint.

    Exactly what is hashed: for each trade, in the order given, one line holding the JSON array
    ``[symbol, side, qty, entry_ts, entry_price, exit_ts, exit_price, pnl, reason]`` written
    with ``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` and ended by ``"\\n"``;
    ``side`` is its text value (``"long"``/``"short"``), the timestamps are integers, ``qty`` and
    the prices are Python floats as ``repr`` writes them (exact: the shortest text that reads back
    as the same double), and ``pnl`` is the text ``f"{round(pnl, 8) + 0.0:.8f}"``. The lines are
    encoded as UTF-8 and the result is the first 16 hex digits of their SHA-256 (an empty list
    gives ``e3b0c44298fc1c14``, the hash of nothing).

    ``pnl`` is rounded to 1e-8 because it is a sum of products (prices, quantity, fees) whose last
    bits can differ between numpy versions or summation orders without anything having changed
    for a trader; ``+ 0.0`` turns a rounded ``-0.0`` into ``0.0``. A pnl that lands within float
    noise of a rounding boundary can still flip, which shows as a changed fingerprint, never as
    a hidden one. Fees, strategy, regime, risk and ``fill_id`` are not hashed: fees are already
    in the pnl, and the others label a trade rather than define its result.
    """
    return _trades_fingerprint(trades)


def summary_table(metrics: Metrics, width: int = 44) -> str:
    """The metrics as aligned ``name: value`` lines, for the CLI to print at the end of a run.

    Each line is ``width`` characters (longer only if a name and its value do not fit), the
    values right-aligned so their decimal points line up. The rows are ``Metrics.as_rows()``, the
    same names and formatting as ``metrics.csv`` and the HTML report. No trailing newline.
    """
    lines = []
    for name, value in metrics.as_rows():
        label = f"{name}:"
        lines.append(f"{label}{' ' * max(1, width - len(label) - len(value))}{value}")
    return "\n".join(lines)


def render_html(trades: Sequence[TradeClosed], equity: Curve, metrics: Metrics, *, title: str, fingerprint: str) -> str:
    """The text of ``report.html``: one page with everything inline, every string HTML-escaped.

    Exposed so a caller (a notebook, a web status page) can render a report without writing
    files. An empty run renders "no trades" / "no equity samples" instead of charts and tables.
    """
    ts, eq = as_curve(equity)
    span = ""
    if ts.size:
        span = f" · {_esc(iso_utc(int(ts[0])))} to {_esc(iso_utc(int(ts[-1])))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_esc(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{_esc(title)}</h1>",
        f'<p class="meta">fingerprint <code class="fp">{_esc(fingerprint)}</code> · '
        f"{len(trades):,} trades · {ts.size:,} equity samples{span}</p>",
        "<h2>Equity (USDT)</h2>",
        _equity_section(ts, eq),
        f"<h2>Drawdown (max {_esc(format_value(metrics.max_drawdown, 'pct'))}%)</h2>",
        _drawdown_section(ts, eq),
        "<h2>Metrics</h2>",
        _metrics_table(metrics),
        "<h2>Trades</h2>",
        _trades_section(trades),
        "</body>",
        "</html>",
        "",
    ]
    return "\n".join(parts)


# --- Files ----------------------------------------------------------------------------------


def _write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a unique temporary file beside ``path``, then swap it in.

    The temporary name starts with a dot and is unique, so two writers never share one and a
    file listing of the run folder does not show it as an output.
    """
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """CSV as the journals write it: ``csv.writer`` quoting, ``\\n`` line ends."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _trades_csv(trades: Sequence[TradeClosed]) -> str:
    return _csv_text(TRADE_COLUMNS, [trade_row(t) for t in trades])


def _iso_utc_many(ts: IntArray) -> list[str]:
    """``iso_utc`` of many times at once: identical strings (the tests compare them), about five
    times faster, which is what keeps a 100k-sample equity curve well under a second to write."""
    if ts.size == 0:
        return []
    text = np.datetime_as_string(ts.astype("datetime64[ms]"), unit="ms")
    return [f"{t}+00:00" for t in text.tolist()]


def _equity_csv(equity: Curve, ts: IntArray, eq: FloatArray) -> str:
    """``equity_curve.csv`` with the equity journal's columns and value formatting.

    Values are written with ``str`` of Python floats and ints, as ``csv.writer`` writes them in
    the journal; no value can contain a comma or a quote, so rows are joined directly, which is
    several times faster than ``csv.writer`` on a long curve. Points without cash, unrealized and
    open positions (bare ``(ts, equity)`` pairs or arrays) leave those three cells empty rather
    than invent values.
    """
    times = _iso_utc_many(ts)
    values = eq.tolist()
    points: Sequence[object] = [None] * len(values) if _is_arrays(equity) else equity
    lines = [",".join(EQUITY_COLUMNS)]
    for time_text, value, point in zip(times, values, points, strict=True):
        if isinstance(point, EquitySampled):
            extra = f"{float(point.cash)},{float(point.unrealized)},{int(point.open_positions)}"
        else:
            extra = ",,"
        lines.append(f"{time_text},{value},{extra}")
    lines.append("")
    return "\n".join(lines)


def _is_arrays(equity: object) -> bool:
    """Whether a curve is the ``(timestamps, equities)`` numpy pair, as ``as_curve`` decides."""
    return isinstance(equity, tuple) and len(equity) == 2 and all(isinstance(a, np.ndarray) for a in equity)


def _trades_fingerprint(trades: Sequence[TradeClosed]) -> str:
    digest = hashlib.sha256()
    for t in trades:
        pnl = f"{round(float(t.pnl), _PNL_DIGITS) + 0.0:.{_PNL_DIGITS}f}"
        fields = [
            t.symbol,
            t.side.value,
            float(t.qty),
            int(t.entry_ts),
            float(t.entry_price),
            int(t.exit_ts),
            float(t.exit_price),
            pnl,
            t.reason,
        ]
        line = json.dumps(fields, separators=(",", ":"), ensure_ascii=False) + "\n"
        digest.update(line.encode("utf-8"))
    return digest.hexdigest()[:_FINGERPRINT_CHARS]


# --- HTML -----------------------------------------------------------------------------------

_CSS = (
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#1d232a;max-width:1200px}"
    "h1{font-size:1.5em;margin:0 0 4px}h2{font-size:1.1em;margin:28px 0 8px}"
    ".meta{color:#56606b;margin:0}code{font-family:ui-monospace,Menlo,Consolas,monospace}"
    ".empty{color:#56606b;font-style:italic}.note{color:#56606b}"
    "svg{width:100%;height:auto;display:block;background:#fff}"
    "svg text{font-size:11px;fill:#56606b;font-family:system-ui,sans-serif}"
    ".grid{stroke:#e3e7eb;stroke-width:1}.axis{stroke:#9aa4ae;stroke-width:1}"
    ".equity{fill:none;stroke:#1f6feb;stroke-width:1.3;stroke-linejoin:round}"
    ".dd{fill:#f0a8a8;stroke:#c93c3c;stroke-width:1;stroke-linejoin:round}"
    "table{border-collapse:collapse;font-size:13px}"
    "th,td{padding:3px 10px;border-bottom:1px solid #e3e7eb;text-align:left;white-space:nowrap}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}th{background:#f5f7f9;position:sticky;top:0}"
    ".win{color:#137333}.loss{color:#b3261e}.trades{display:block;overflow:auto;max-height:70vh}"
)


def _esc(text: object) -> str:
    """Every string that reaches the page goes through here: strategy names, reasons and titles
    come from configuration and the venue, and must never become markup."""
    return html.escape(str(text), quote=True)


def _equity_section(ts: IntArray, eq: FloatArray) -> str:
    if ts.size == 0:
        return '<p class="empty">No equity samples: there is no curve to draw.</p>'
    if ts.size == 1:
        return (
            f'<p class="empty">Only one equity sample ({_esc(format_value(float(eq[0]), "usdt"))} USDT at '
            f"{_esc(iso_utc(int(ts[0])))}): a curve needs at least two.</p>"
        )
    index = downsample(ts, eq, MAX_CHART_POINTS)
    return _chart(
        ts,
        ts[index],
        eq[index],
        height=_EQUITY_HEIGHT,
        label="Equity curve",
        area=False,
        value_suffix="",
    )


def _drawdown_section(ts: IntArray, eq: FloatArray) -> str:
    if ts.size == 0:
        return '<p class="empty">No equity samples: there is no drawdown to draw.</p>'
    if ts.size == 1:
        return '<p class="empty">Only one equity sample: a drawdown needs at least two.</p>'
    if not eq[0] > 0.0:
        return '<p class="empty">Drawdown is undefined: the curve does not start above 0.</p>'
    depth = drawdown_series(eq) * -100.0  # percent, drawn downwards from 0
    index = downsample(ts, depth, MAX_CHART_POINTS)
    return _chart(
        ts,
        ts[index],
        depth[index],
        height=_DRAWDOWN_HEIGHT,
        label="Drawdown from the running peak, percent",
        area=True,
        value_suffix="%",
    )


def downsample(ts: IntArray, values: FloatArray, max_points: int = MAX_CHART_POINTS) -> IntArray:
    """Indices (sorted, unique) of at most ``max_points`` samples that draw like all of them.

    The span is cut into equal time buckets, one or two pixels wide, and each keeps its lowest
    and highest sample, in time order; the first and last samples are always kept. Averaging or
    taking every n-th sample would hide a one-minute crash in a year of data; min/max keeps it,
    so the chart's extremes are the curve's extremes. Time buckets rather than equal counts keep a
    densely sampled stretch from crowding out a sparse one. A curve of ``max_points`` or fewer
    samples is kept whole.
    """
    n = int(values.size)
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = max(1, (max_points - 2) // 2)
    bounds = np.linspace(float(ts[0]), float(ts[-1]), buckets + 1)[1:-1]
    edges = np.concatenate(([0], np.searchsorted(ts, bounds, side="left"), [n])).tolist()
    picks = [0, n - 1]
    for start, end in itertools.pairwise(edges):
        if end > start:
            segment = values[start:end]
            picks.append(start + int(np.argmin(segment)))
            picks.append(start + int(np.argmax(segment)))
    return np.unique(np.array(picks, dtype=np.int64))


def _chart(
    all_ts: IntArray,
    ts: IntArray,
    values: FloatArray,
    *,
    height: int,
    label: str,
    area: bool,
    value_suffix: str,
) -> str:
    """An SVG line (or area, filled down from 0) chart with UTC time labels and value labels.

    ``all_ts`` sets the time axis, so the equity and drawdown charts line up exactly.
    """
    t0, t1 = int(all_ts[0]), int(all_ts[-1])
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    lo, hi = float(np.min(values)), float(np.max(values))
    if area:
        hi = 0.0
        lo = lo * 1.05 if lo < 0.0 else -1.0
    elif hi == lo:
        pad = max(abs(hi) * 0.01, 1.0)
        lo, hi = lo - pad, hi + pad
    else:
        pad = (hi - lo) * 0.05
        lo, hi = lo - pad, hi + pad
    t_span = max(t1 - t0, 1)

    def x_of(t: float) -> float:
        return _LEFT + (t - t0) * plot_w / t_span

    def y_of(v: float) -> float:
        return _TOP + (hi - v) * plot_h / (hi - lo)

    out = [
        f'<svg viewBox="0 0 {_WIDTH} {height}" role="img" aria-label="{_esc(label)}">',
        f"<title>{_esc(label)}</title>",
    ]
    step, ticks = _value_ticks(lo, hi)
    for v in ticks:
        y = y_of(v)
        out.append(f'<line class="grid" x1="{_LEFT}" y1="{y:.1f}" x2="{_LEFT + plot_w}" y2="{y:.1f}"/>')
        text = _esc(_value_label(v, step) + value_suffix)
        out.append(f'<text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    bottom = _TOP + plot_h
    for t, text in _time_ticks(t0, t1):
        x = x_of(t)
        out.append(f'<line class="axis" x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}"/>')
        out.append(f'<text x="{x:.1f}" y="{bottom + 17}" text-anchor="middle">{_esc(text)}</text>')
    out.append(f'<text x="{_LEFT + plot_w}" y="{height - 2}" text-anchor="end">time (UTC)</text>')
    out.append(f'<line class="axis" x1="{_LEFT}" y1="{bottom}" x2="{_LEFT + plot_w}" y2="{bottom}"/>')
    xs = _LEFT + (ts - t0).astype(np.float64) * (plot_w / t_span)
    ys = _TOP + (hi - values) * (plot_h / (hi - lo))
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs.tolist(), ys.tolist(), strict=True))
    if area:
        zero = y_of(0.0)
        first, last = float(xs[0]), float(xs[-1])
        out.append(f'<polygon class="dd" points="{first:.1f},{zero:.1f} {coords} {last:.1f},{zero:.1f}"/>')
    else:
        out.append(f'<polyline class="equity" points="{coords}"/>')
    out.append("</svg>")
    return "\n".join(out)


def _value_ticks(lo: float, hi: float) -> tuple[float, list[float]]:
    """Three to eight round values (1, 2 or 5 times a power of ten apart) within ``[lo, hi]``."""
    raw = (hi - lo) / _MAX_VALUE_TICKS
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 5.0, 10.0) if m * magnitude >= raw)
    first, last = math.ceil(lo / step), math.floor(hi / step)
    return step, [k * step for k in range(first, last + 1)]


def _value_label(value: float, step: float) -> str:
    """A tick value with as many decimals as its step needs (none for steps of 1 or more)."""
    decimals = max(0, math.ceil(-math.log10(step) - 1e-9))
    return f"{value + 0.0:,.{decimals}f}"


def _time_ticks(t0: int, t1: int) -> list[tuple[int, str]]:
    """At most six labelled times on round UTC boundaries within ``[t0, t1]``.

    Dates alone once labels are a day or more apart, date and minute otherwise. A span with fewer
    than two round boundaries in it (under a couple of minutes) labels its two ends instead.
    """
    span = t1 - t0
    step = next((s for s in _TIME_STEPS_MS if span <= _MAX_TIME_TICKS * s), 0)
    if step == 0:  # decades: whole numbers of 365-day years
        step = math.ceil(span / (_MAX_TIME_TICKS * _TIME_STEPS_MS[-1])) * _TIME_STEPS_MS[-1]
    times = list(range(-(-t0 // step) * step, t1 + 1, step))
    fmt = "%Y-%m-%d" if step >= DAY_MS else "%Y-%m-%d %H:%M"
    if len(times) < 2:
        times, fmt = sorted({t0, t1}), "%Y-%m-%d %H:%M:%S"
    return [(t, datetime.fromtimestamp(t / 1000, tz=UTC).strftime(fmt)) for t in times]


def _metrics_table(metrics: Metrics) -> str:
    rows = "\n".join(
        f'<tr><th scope="row">{_esc(name)}</th><td class="n">{_esc(value)}</td></tr>'
        for name, value in metrics.as_rows()
    )
    return f'<table class="metrics">\n{rows}\n</table>'


_NUMERIC_COLUMNS = frozenset({"qty", "entry_price", "exit_price", "pnl", "fees"})


def _trades_section(trades: Sequence[TradeClosed]) -> str:
    """The trade table, newest last like the CSV; only the last ``MAX_TABLE_TRADES`` of a longer
    run, with a note saying so, so the page still opens quickly."""
    if not trades:
        return '<p class="empty">No trades: the run closed no positions.</p>'
    shown = trades[-MAX_TABLE_TRADES:]
    note = ""
    if len(trades) > len(shown):
        note = (
            f'<p class="note">Showing the last {len(shown):,} of {len(trades):,} trades; '
            f"{TRADES_CSV} has all of them.</p>\n"
        )
    head = "".join(
        f'<th class="n">{_esc(c)}</th>' if c in _NUMERIC_COLUMNS else f"<th>{_esc(c)}</th>" for c in TRADE_COLUMNS
    )
    body = []
    for t in shown:
        outcome = "win" if t.pnl > 0 else "loss" if t.pnl < 0 else ""
        cells = (
            f"<td>{_esc(iso_utc(t.entry_ts))}</td>",
            f"<td>{_esc(iso_utc(t.exit_ts))}</td>",
            f"<td>{_esc(t.symbol)}</td>",
            f"<td>{_esc(t.side.value)}</td>",
            f'<td class="n">{_esc(t.qty)}</td>',
            f'<td class="n">{_esc(t.entry_price)}</td>',
            f'<td class="n">{_esc(t.exit_price)}</td>',
            f'<td class="n {outcome}">{_esc(format_value(t.pnl, "usdt"))}</td>',
            f'<td class="n">{_esc(format_value(t.fees, "usdt"))}</td>',
            f"<td>{_esc(t.strategy)}</td>",
            f"<td>{_esc(t.regime)}</td>",
            f"<td>{_esc(t.reason)}</td>",
        )
        body.append(f"<tr>{''.join(cells)}</tr>")
    rows = "\n".join(body)
    return f'{note}<table class="trades">\n<thead><tr>{head}</tr></thead>\n<tbody>\n{rows}\n</tbody>\n</table>'
