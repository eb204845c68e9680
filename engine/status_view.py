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
        reason = f" ({risk.get('reason')})" if risk.get("reason") else ""
        lines.append(f"trading: {risk.get('state')}{reason}")
    if runtime.get("halted_reason"):
        lines.append(f"HALTED by supervisor: {runtime['halted_reason']}")
    if "unavailable" in portfolio:
        lines.append(f"portfolio: {portfolio['unavailable']}")
    else:
        lines.append(
            f"equity {portfolio.get('equity')} USDT (cash {portfolio.get('cash')}, unrealized "
            f"{portfolio.get('unrealized')}, today {portfolio.get('day_pnl')}, fees {portfolio.get('fees')})"
        )
        positions = portfolio.get("positions", [])
        lines.append(f"positions: {len(positions)}")
        for p in positions:
            lines.append(
                f"  {p['symbol']:<14} {p['side']:<5} {p['qty']:.6g} @ {p['entry']:.6g}  "
                f"stop {p['stop']:.6g}  mark {p['mark']:.6g}"
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
    top = scanner.get("top", [])
    if top:
        lines.append("top by trend strength: " + ", ".join(f"{t['symbol']} {t['trend_strength']}" for t in top))
    correlation = _part(payload, "correlation")
    if correlation.get("top_pairs"):
        pairs = ", ".join(f"{p['pair']} {p['rho']}" for p in correlation["top_pairs"])
        lines.append(f"most correlated (of {correlation['symbols']} symbols): {pairs}")
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
