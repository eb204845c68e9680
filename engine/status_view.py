"""``engine status`` for people: the few lines that say whether all is well, then the details."""

from __future__ import annotations

from typing import Any


def _part(payload: dict[str, Any], name: str) -> dict[str, Any]:
    part = payload.get(name) or {}
    return part if isinstance(part, dict) else {}


def render(payload: dict[str, Any]) -> str:
    runtime, risk, portfolio, scanner, process = (
        _part(payload, n) for n in ("runtime", "risk", "portfolio", "scanner", "process")
    )
    lines = [f"mode {payload.get('mode')} on {payload.get('venue')}, up {runtime.get('uptime_s', '?')}s"]
    if "unavailable" in risk:
        lines.append(f"trading: unknown ({risk['unavailable']})")
    else:
        reason = f" [{risk.get('code')}] {risk.get('reason')}" if risk.get("reason") else ""
        lines.append(f"trading: {risk.get('state')}{reason}")
        lines.extend(_risk_lines(risk))
    if runtime.get("halted_reason"):
        lines.append(f"HALTED by supervisor: {runtime['halted_reason']}")
    if "unavailable" in portfolio:
        lines.append(f"portfolio: {portfolio['unavailable']}")
    else:
        lines.append(
            f"equity {portfolio.get('equity')} USDT (cash {portfolio.get('cash')}, unrealized "
            f"{portfolio.get('unrealized')}, today {portfolio.get('day_pnl')}, peak {portfolio.get('peak_equity')}, "
            f"fees {portfolio.get('fees')}, funding {portfolio.get('funding')})"
        )
        positions = portfolio.get("positions", [])
        lines.append(f"positions: {len(positions)}")
        for p in positions:
            target = f"  target {p['target']:.6g}" if p.get("target") else ""
            lines.append(
                f"  {p['symbol']:<14} {p['side']:<5} {p['qty']:.6g} @ {p['entry']:.6g}  "
                f"stop {p['stop']:.6g}{target}  mark {p['mark']:.6g}  [{p.get('strategy', '')} in "
                f"{p.get('regime') or '-'}]"
            )
    counts = runtime.get("symbols", {})
    lines.append(
        f"symbols: {counts.get('running', 0)} running, {counts.get('restarting', 0)} restarting, "
        f"{counts.get('quarantined', 0)} quarantined"
    )
    for q in runtime.get("quarantined", []):
        lines.append(f"  quarantined {q['symbol']}: {q['error']}")
    restarts = runtime.get("restarts", {})
    if restarts:
        lines.append("restarts: " + ", ".join(f"{s} x{n}" for s, n in sorted(restarts.items())))
    for role, s in sorted(runtime.get("singletons", {}).items()):
        if not s.get("alive") or s.get("restarts"):
            lines.append(
                f"  {role}: {'alive' if s.get('alive') else 'DOWN'}, {s.get('restarts')} restarts, "
                f"last error {s.get('last_error')}"
            )
    lines.extend(_scanner_lines(scanner))
    correlation = _part(payload, "correlation")
    if correlation.get("top_pairs"):
        pairs = ", ".join(f"{p['pair']} {p['rho']}" for p in correlation["top_pairs"])
        lines.append(
            f"correlation matrix of {correlation['symbols']} symbols, {correlation.get('age_s', 0):.0f}s old; "
            f"most correlated: {pairs}"
        )
    denials = risk.get("denials", {})
    if denials:
        lines.append("denials: " + ", ".join(f"{code} {n}" for code, n in sorted(denials.items())))
    latency = runtime.get("latency_us", {})
    lines.append(
        f"runtime: {runtime.get('events_routed', 0)} events, latency p50 {latency.get('p50', 0)} us "
        f"p99 {latency.get('p99', 0)} us, conflated {runtime.get('conflated_events', 0)}, deepest mailbox "
        f"{runtime.get('deepest_mailbox', 0)} (high water {runtime.get('mailbox_high_water', 0)}), undelivered "
        f"{runtime.get('undelivered', 0)}"
    )
    lines.append(
        f"process: pid {process.get('pid')}, RSS {process.get('rss_mb')} MB, {process.get('threads')} threads, "
        f"CPU {process.get('cpu_percent')}%"
    )
    return "\n".join(lines)


def _scanner_lines(scanner: dict[str, Any]) -> list[str]:
    """Regime counts, the scanner's top N with their components, and the cross-sectional book."""
    lines = []
    regimes = scanner.get("regimes", {})
    if regimes:
        lines.append("regimes: " + ", ".join(f"{name} {n}" for name, n in regimes.items()))
    top = scanner.get("top", [])
    if top:
        lines.append(f"scanner top {len(top)} of {scanner.get('ranked_from', 0)} (may enter):")
        for t in top:
            lines.append(
                f"  {t['symbol']:<14} score {t['score']:.3f}  {t['regime']:<15} trend {t['trend']:.2f}  "
                f"atr x{t['atr_expansion']:.2f}  momentum {t['momentum']:+.2%}  volume x{t['volume_spike']:.2f}"
            )
    book = scanner.get("cross_sectional")
    if book:
        state = book["reason"] or f"longs {', '.join(book['longs']) or '-'}; shorts {', '.join(book['shorts']) or '-'}"
        lines.append(f"cross-sectional ({book['arm']}): {state}")
        for arm, stats in book.get("arms", {}).items():
            lines.append(
                f"  arm {arm:<10} {stats.get('trades', 0)} trades, mean {stats.get('mean_r', 0)}R, "
                f"win rate {stats.get('win_rate', 0)}, Sharpe {stats.get('sharpe', 0)}, pulls {stats.get('pulls', 0)}"
            )
    return lines


def _risk_lines(risk: dict[str, Any]) -> list[str]:
    """Entries against the rate limits, kill-switches on now, and the pairs correlation blocks."""
    lines = []
    entries = risk.get("entries", {})
    if entries:
        lines.append("entries: " + ", ".join(f"{n} in the last {window}" for window, n in entries.items()))
    switches = risk.get("kill_switches", {})
    if switches:
        lines.append(f"kill-switches on: {risk.get('kill_switch_count', len(switches))} symbols")
        lines.extend(f"  {symbol:<14} {why}" for symbol, why in switches.items())
    held = risk.get("open_correlations", {})
    names = sorted(held)
    among = [f"{a}/{b} {held[a][b]}" for i, a in enumerate(names) for b in names[i + 1 :]]
    if among:
        lines.append("correlation among open positions: " + ", ".join(among))
    pairs = risk.get("blocked_pairs", [])
    if pairs:
        lines.append("correlation blocks: " + ", ".join(f"{p['blocks']} (with {p['open']} {p['rho']})" for p in pairs))
    return lines
