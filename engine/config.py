"""Settings: typed, validated and frozen, loaded once at start from four layers.

Every setting is read here, once, so the rest of the engine never touches ``os.environ`` or TOML, and
a bad value (a typo in a money setting) stops the engine before it trades instead of being ignored.
``config/default.toml`` is the single source of every key and its default; the dataclasses below add
the type and the rule of each key. Precedence, highest first: ``cli`` > environment
(``ENGINE_<SECTION>__<KEY>``, ``TRADING_MODE``) > ``.env`` file > ``config_file`` > defaults.
Secrets come only from the environment or ``.env`` and are masked whenever the config is printed.
"""

import difflib
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple, Self

from engine.control.server import is_loopback
from engine.timeframes import TIMEFRAMES_MS

DEFAULTS_PATH = Path(__file__).resolve().parent.parent / "config" / "default.toml"
ENV_PREFIX = "ENGINE_"
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL")  # loguru's
_SYMBOL = re.compile(r"[A-Z0-9]+USDT")
_MODES = ("regime", "long_dip", "cross_sectional")
_PER_SYMBOL = re.compile(rf"[A-Z0-9]+USDT:({'|'.join(_MODES)})")
_STEP = re.compile(r"[0-9]+(\.[0-9]+)?:[0-9]+(\.[0-9]+)?")
_FAULT = re.compile(r"([A-Z0-9]+USDT|\*):(feed|features|signal|\*):[^:\s]+(:[1-9][0-9]*)?")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")
_STRINGS = tuple[str, ...]  # list keys are tuples, so that a frozen Config is immutable all the way down
_KINDS: dict[Any, str] = {
    int: "an integer",
    float: "a number",
    bool: "true or false",
    str: "a string",
    Path: "a path",
    _STRINGS: "a list of strings",
}


class ConfigError(Exception):
    """One configuration problem, said so that the fix is obvious without reading code.

    ``key`` is the dotted key (or section), ``value`` what was given, ``allowed`` what would be
    accepted and ``source`` where the value came from (cli, env VAR, config file PATH, defaults PATH).
    """

    def __init__(
        self,
        message: str,
        *,
        key: str | None = None,
        value: Any = None,
        allowed: str | None = None,
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.key, self.value, self.allowed, self.source = key, value, allowed, source

    @classmethod
    def invalid(cls, key: str, value: Any, allowed: str, source: str) -> Self:
        """The error for a value that the key's type or rule refuses."""
        return cls(
            f"{key} = {value!r} is not allowed: expected {allowed} (from {source})",
            key=key,
            value=value,
            allowed=allowed,
            source=source,
        )


def _rule(allowed: str, check: Callable[[Any], bool]) -> dict[str, Any]:
    """Field metadata: the typed value must pass ``check``; ``allowed`` is told when it does not."""
    return {"allowed": allowed, "check": check}


def _between(lo: float, hi: float, bounds: str = "[]") -> dict[str, Any]:
    """A number in an interval; ``bounds`` is "[]", "(]", "[)" or "()" as in maths."""
    left, right = bounds[0], bounds[1]
    return _rule(
        f"in {left}{lo}, {hi}{right}",
        lambda v: (lo < v if left == "(" else lo <= v) and (v < hi if right == ")" else v <= hi),
    )


def _at_least(lo: float, *, strict: bool = False) -> dict[str, Any]:
    return _rule(f"{'>' if strict else '>='} {lo}", lambda v: v > lo if strict else v >= lo)


def _one_of(*choices: str) -> dict[str, Any]:
    return _rule("one of " + ", ".join(choices), lambda v: v in choices)


def _is_symbols(text: str) -> bool:
    items = [item.strip() for item in text.split(",")]
    return text == "all" or (all(_SYMBOL.fullmatch(s) for s in items) and len(set(items)) == len(items))


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """[engine]: what runs, against which venue, on which symbols, and where files go.

    mode = "paper" (paper | live | backtest); venue = "sim" (sim | bitget | bybit | bitunix);
    symbols = "all" or "BTCUSDT,ETHUSDT" (uppercase names ending in USDT, no repeats);
    data_dir = "data", log_dir = "logs" (relative to the working directory);
    top_n_symbols = 5, quote_batch_ms = 100, equity_sample_s = 10, correlation_interval_s = 600,
    correlation_window = 50 (each >= 1; the window >= 2); universe_refresh_s = 600 (>= 0; 0 = never).
    """

    mode: str = field(metadata=_one_of("paper", "live", "backtest"))
    venue: str = field(metadata=_one_of("sim", "bitget", "bybit", "bitunix"))
    symbols: str = field(
        metadata=_rule('"all" or comma-separated distinct symbols such as BTCUSDT,ETHUSDT', _is_symbols)
    )
    data_dir: Path
    log_dir: Path
    top_n_symbols: int = field(metadata=_at_least(1))
    quote_batch_ms: int = field(metadata=_at_least(1))
    equity_sample_s: int = field(metadata=_at_least(1))
    correlation_interval_s: int = field(metadata=_at_least(1))
    correlation_window: int = field(metadata=_at_least(2))
    universe_refresh_s: int = field(metadata=_at_least(0))


@dataclass(frozen=True, slots=True)
class RiskConfig:
    """[risk]: how much may be lost per trade, in total and per day. Fractions are of equity.

    starting_equity_usdt = 10000.0 (> 0); risk_per_trade_pct = 0.01 (in (0, 0.1]: more than 10% a
    trade is a typo, not a strategy); portfolio_heat_cap_pct = 0.05 and max_daily_loss_pct = 0.04
    (each in (0, 1]); max_concurrent_positions = 5 (>= 1); default_leverage = 3 (1..125, the venues'
    maximum; it sets margin, never risk); min_volume_24h_usdt = 50_000_000 (>= 0);
    max_drawdown_pct = 0.15 (in (0, 1]); max_symbol_notional_usdt = 0 and max_symbol_margin_usdt = 0
    (>= 0, 0 = no cap); leverage_per_symbol = [] (entries "SYMBOL:LEVERAGE", 1..125);
    budget_usdt = 0 (>= 0, 0 = starting_equity_usdt); max_open_share = 0.5 and
    max_total_loss_pct = 0.25 (in (0, 1]); max_entries_per_minute = 10, _hour = 60, _day = 300
    (>= 1); max_correlation = 0.8 (in (0, 1]); stale_data_s = 30 and max_spread_bps = 25 (> 0);
    min_depth_usdt = 5000 (>= 0).
    """

    starting_equity_usdt: float = field(metadata=_at_least(0, strict=True))
    risk_per_trade_pct: float = field(metadata=_between(0, 0.1, "(]"))
    portfolio_heat_cap_pct: float = field(metadata=_between(0, 1, "(]"))
    max_concurrent_positions: int = field(metadata=_at_least(1))
    max_daily_loss_pct: float = field(metadata=_between(0, 1, "(]"))
    default_leverage: int = field(metadata=_between(1, 125))
    min_volume_24h_usdt: float = field(metadata=_at_least(0))
    max_drawdown_pct: float = field(metadata=_between(0, 1, "(]"))
    max_symbol_notional_usdt: float = field(metadata=_at_least(0))
    max_symbol_margin_usdt: float = field(metadata=_at_least(0))
    leverage_per_symbol: tuple[str, ...] = field(
        metadata=_rule('entries "SYMBOL:LEVERAGE" with LEVERAGE in 1..125', lambda v: all(_is_leverage(e) for e in v))
    )
    budget_usdt: float = field(metadata=_at_least(0))
    max_open_share: float = field(metadata=_between(0, 1, "(]"))
    max_total_loss_pct: float = field(metadata=_between(0, 1, "(]"))
    max_entries_per_minute: int = field(metadata=_at_least(1))
    max_entries_per_hour: int = field(metadata=_at_least(1))
    max_entries_per_day: int = field(metadata=_at_least(1))
    max_correlation: float = field(metadata=_between(0, 1, "(]"))
    stale_data_s: float = field(metadata=_at_least(0, strict=True))
    max_spread_bps: float = field(metadata=_at_least(0, strict=True))
    min_depth_usdt: float = field(metadata=_at_least(0))

    def leverage_pairs(self) -> tuple[tuple[str, float], ...]:
        """The per-symbol leverage entries as (symbol, leverage) pairs."""
        return tuple((name, float(lev)) for name, _, lev in (e.partition(":") for e in self.leverage_per_symbol))


def _is_leverage(entry: str) -> bool:
    name, _, lev = entry.partition(":")
    return _is_symbols(name) and lev.isdigit() and 1 <= int(lev) <= 125


def _steps_increase(steps: tuple[str, ...]) -> bool:
    if not steps or not all(_STEP.fullmatch(step) for step in steps):
        return False
    pairs = [tuple(float(x) for x in step.split(":")) for step in steps]
    depths = [depth for depth, _ in pairs]
    return depths == sorted(set(depths)) and all(0.0 < share <= 1.0 for _, share in pairs)


@dataclass(frozen=True, slots=True)
class StrategyConfig:
    """[strategy]: which strategy each symbol runs, and the settings of the regime strategies.

    mode = "regime" (regime | long_dip | cross_sectional); per_symbol = [] (entries "SYMBOL:MODE"
    overriding the mode for one symbol); timeframe = "1m" (1m | 5m | 15m | 1h, the timeframe of
    the regime strategies, the scanner and the correlation matrix); ema_fast = 9 < ema_slow = 21
    (else there is no cross); atr_period = 14 and warmup_bars = 200 (>= 1); atr_stop_mult = 2.0
    (> 0); bb_period = 20 (>= 2); bb_std = 2.0 (> 0); range_stop_atr = 1.0 (> 0);
    high_vol_size_scale = 0.5 (in (0, 1]).
    """

    mode: str = field(metadata=_one_of(*_MODES))
    per_symbol: tuple[str, ...] = field(
        metadata=_rule(
            f'entries "SYMBOL:MODE" with MODE one of {", ".join(_MODES)}',
            lambda v: all(_PER_SYMBOL.fullmatch(entry) for entry in v),
        )
    )
    timeframe: str = field(metadata=_one_of(*TIMEFRAMES_MS))
    ema_fast: int = field(metadata=_at_least(1))
    ema_slow: int = field(metadata=_at_least(1))
    atr_period: int = field(metadata=_at_least(1))
    atr_stop_mult: float = field(metadata=_at_least(0, strict=True))
    warmup_bars: int = field(metadata=_at_least(1))
    bb_period: int = field(metadata=_at_least(2))
    bb_std: float = field(metadata=_at_least(0, strict=True))
    range_stop_atr: float = field(metadata=_at_least(0, strict=True))
    high_vol_size_scale: float = field(metadata=_between(0, 1, "(]"))

    def mode_of(self, symbol: str) -> str:
        """The strategy mode of ``symbol``: its per_symbol entry, else the global mode."""
        for entry in self.per_symbol:
            name, _, mode = entry.partition(":")
            if name == symbol:
                return mode
        return self.mode


@dataclass(frozen=True, slots=True)
class RegimeConfig:
    """[regime]: TRENDING when ADX > adx_trend, else RANGING; HIGH_VOLATILITY (first) when ATR >
    high_vol_ratio x its rolling median. adx_period = 14 and atr_median_window = 100 (>= 2);
    adx_trend = 25.0 (in (0, 100)); high_vol_ratio = 2.0 (> 1)."""

    adx_period: int = field(metadata=_at_least(2))
    adx_trend: float = field(metadata=_between(0, 100, "()"))
    atr_median_window: int = field(metadata=_at_least(2))
    high_vol_ratio: float = field(metadata=_at_least(1, strict=True))


@dataclass(frozen=True, slots=True)
class ScannerConfig:
    """[scanner]: the symbol score and how often it is computed.

    interval_s = 10 (>= 1); momentum_period = 10 and volume_period = 20 (>= 1); the weights
    weight_trend = 0.35, weight_atr_expansion = 0.25, weight_momentum = 0.25, weight_volume = 0.15
    (each in [0, 1], summing to 1).
    """

    interval_s: int = field(metadata=_at_least(1))
    momentum_period: int = field(metadata=_at_least(1))
    volume_period: int = field(metadata=_at_least(1))
    weight_trend: float = field(metadata=_between(0, 1))
    weight_atr_expansion: float = field(metadata=_between(0, 1))
    weight_momentum: float = field(metadata=_between(0, 1))
    weight_volume: float = field(metadata=_between(0, 1))


@dataclass(frozen=True, slots=True)
class LongDipConfig:
    """[long_dip]: the ATR dip-buying strategy. Distances are in ATRs.

    timeframe = "15m"; atr_period = 10 and high_lookback = 20 (>= 1); entry_multiplier = 0.8 (> 0);
    size_steps = ["1.0:0.05", "1.5:0.08", "2.0:0.12", "2.5:0.15"] (depth:share of budget,
    depths increasing, shares in (0, 1], interpolated linearly); budget_usdt = 5000.0 (> 0);
    max_open_share = 0.5 (in (0, 1]: of the budget in open long-dip positions);
    volatile_atr_pct = 0.03 (> 0) above which the size is cut by volatile_size_cut = 0.3 (in [0, 1));
    target_atr = 1.0, stop_atr = 1.5, trail_distance_atr = 0.5 (> 0); trail_activation_atr = 0.5 (>= 0).
    """

    timeframe: str = field(metadata=_one_of(*TIMEFRAMES_MS))
    atr_period: int = field(metadata=_at_least(1))
    high_lookback: int = field(metadata=_at_least(1))
    entry_multiplier: float = field(metadata=_at_least(0, strict=True))
    size_steps: tuple[str, ...] = field(
        metadata=_rule('entries "DEPTH:SHARE" with increasing depths and shares in (0, 1]', _steps_increase)
    )
    budget_usdt: float = field(metadata=_at_least(0, strict=True))
    max_open_share: float = field(metadata=_between(0, 1, "(]"))
    volatile_atr_pct: float = field(metadata=_at_least(0, strict=True))
    volatile_size_cut: float = field(metadata=_between(0, 1, "[)"))
    target_atr: float = field(metadata=_at_least(0, strict=True))
    stop_atr: float = field(metadata=_at_least(0, strict=True))
    trail_activation_atr: float = field(metadata=_at_least(0))
    trail_distance_atr: float = field(metadata=_at_least(0, strict=True))


@dataclass(frozen=True, slots=True)
class CrossSectionalConfig:
    """[cross_sectional]: the long/short book ranked across symbols, its arms chosen by a bandit.

    period_s = 300 (>= 10, the decision period); k = 3 (>= 1 longs and shorts each);
    min_atr_pct = 0.0005 < max_atr_pct = 0.05 (volatility band, ATR / price); min_symbols = 6 (>= 2);
    exploration = 2.0 (> 0, UCB1's c); window = 50 (>= 2, outcomes in each arm's rolling stats);
    r_clip = 1.0 (> 0: R-multiples are clipped to +/- this before becoming UCB1's [0, 1] reward).
    """

    period_s: int = field(metadata=_at_least(10))
    k: int = field(metadata=_at_least(1))
    min_atr_pct: float = field(metadata=_at_least(0, strict=True))
    max_atr_pct: float = field(metadata=_at_least(0, strict=True))
    min_symbols: int = field(metadata=_at_least(2))
    exploration: float = field(metadata=_at_least(0, strict=True))
    window: int = field(metadata=_at_least(2))
    r_clip: float = field(metadata=_at_least(0, strict=True))


@dataclass(frozen=True, slots=True)
class PaperConfig:
    """[paper]: costs of the paper fill model, so paper results are not better than live ones.
    taker_fee = 0.0006 (in [0, 0.01): 1% a fill is a typo); slippage_bps = 2.0 (in [0, 500])."""

    taker_fee: float = field(metadata=_between(0, 0.01, "[)"))
    slippage_bps: float = field(metadata=_between(0, 500))


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """[runtime]: the shared dispatcher of the per-symbol actors.
    dispatcher_workers = 1 and batch_size = 64 (each >= 1)."""

    dispatcher_workers: int = field(metadata=_at_least(1))
    batch_size: int = field(metadata=_at_least(1))


@dataclass(frozen=True, slots=True)
class SupervisionConfig:
    """[supervision]: restart intensity and backoff, so a crash loop quarantines, never spins.

    max_restarts = 5 and singleton_max_restarts = 3 (>= 1) within window_s = 60.0 (> 0);
    backoff_initial_ms = 20 (>= 1) <= backoff_max_ms = 5000; backoff_jitter = 0.2 (in [0, 1));
    fault_inject = [] (test hook; entries "SYMBOL:ROLE:EVENT", ROLE one of feed | features |
    signal | *, SYMBOL a symbol or *).
    """

    max_restarts: int = field(metadata=_at_least(1))
    window_s: float = field(metadata=_at_least(0, strict=True))
    backoff_initial_ms: int = field(metadata=_at_least(1))
    backoff_max_ms: int = field(metadata=_at_least(1))
    backoff_jitter: float = field(metadata=_between(0, 1, "[)"))
    singleton_max_restarts: int = field(metadata=_at_least(1))
    fault_inject: tuple[str, ...] = field(
        metadata=_rule(
            'entries "SYMBOL:ROLE:EVENT" with ROLE one of feed, features, signal, *',
            lambda v: all(_FAULT.fullmatch(entry) for entry in v),
        )
    )


@dataclass(frozen=True, slots=True)
class SimSettings:
    """[sim]: the built-in simulated exchange.

    symbols = 500 (1..2000); seed = 7 (>= 0); speed = 1.0 (in (0, 10000]); step_ms = 100,
    ticker_interval_ms = 200, book_interval_ms = 150, history_bars = 300 (each >= 1);
    trade_rate_per_s = 2.0 (>= 0).
    """

    symbols: int = field(metadata=_between(1, 2000))
    seed: int = field(metadata=_at_least(0))
    speed: float = field(metadata=_between(0, 10_000, "(]"))
    step_ms: int = field(metadata=_at_least(1))
    ticker_interval_ms: int = field(metadata=_at_least(1))
    book_interval_ms: int = field(metadata=_at_least(1))
    trade_rate_per_s: float = field(metadata=_at_least(0))
    history_bars: int = field(metadata=_at_least(1))


def _is_url(*schemes: str) -> dict[str, Any]:
    return _rule(
        f"a URL starting with {' or '.join(f'{s}://' for s in schemes)}",
        lambda v: isinstance(v, str) and any(v.startswith(f"{s}://") and len(v) > len(s) + 3 for s in schemes),
    )


@dataclass(frozen=True, slots=True)
class BitgetConfig:
    """[bitget]: where the Bitget adapter connects. rest_url = "https://api.bitget.com";
    ws_public_url = "wss://ws.bitget.com/v2/ws/public"; ws_private_url =
    "wss://ws.bitget.com/v2/ws/private" (the real venue; tests point them at loopback servers);
    demo = false (true: a demo-trading key, sent with the ``paptrading`` header; point the
    stream URLs at wspap.bitget.com); timeout_s = 10.0 (in (0, 120]) per REST request;
    ws_silence_s = 60 (in [5, 600]): a stream that sends nothing, not even a pong, for this long
    is treated as dropped (pings go every 30 s, so keep it above that for the private stream)."""

    rest_url: str = field(metadata=_is_url("https", "http"))
    ws_public_url: str = field(metadata=_is_url("wss", "ws"))
    ws_private_url: str = field(metadata=_is_url("wss", "ws"))
    demo: bool
    timeout_s: float = field(metadata=_between(0, 120, "(]"))
    ws_silence_s: float = field(metadata=_between(5, 600))


@dataclass(frozen=True, slots=True)
class LiveConfig:
    """[live]: what live mode needs besides keys.

    confirm = false (live mode refuses to start until this is true or --confirm-live is given);
    margin_mode = "crossed" (crossed | isolated, set on every traded symbol at start);
    adopted_stop_pct = 0.03 (in (0, 0.5]: the stop given to a venue position the engine did not
    know of, from its entry); reconcile_lookback_h = 72 (>= 1: how far back fills are compared at
    start).
    """

    confirm: bool
    margin_mode: str = field(metadata=_one_of("crossed", "isolated"))
    adopted_stop_pct: float = field(metadata=_between(0, 0.5, "(]"))
    reconcile_lookback_h: int = field(metadata=_at_least(1))


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """[control]: the status and hot add/remove endpoint. It has no TLS, so loopback only.
    host = "127.0.0.1" (127.x.x.x, ::1 or localhost; anything else is refused);
    port = 0 (0..65535; 0 picks a free port)."""

    host: str = field(metadata=_rule("a loopback address (127.x.x.x, ::1 or localhost)", is_loopback))
    port: int = field(metadata=_between(0, 65535))


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    """[logging]: level = "INFO" (a loguru level, uppercase); rotation_mb = 10 and
    retention_files = 5 (each >= 1)."""

    level: str = field(metadata=_one_of(*LOG_LEVELS))
    rotation_mb: int = field(metadata=_at_least(1))
    retention_files: int = field(metadata=_at_least(1))


_SECRET_VARS = {
    "api_key": "BITGET_API_KEY",
    "secret_key": "BITGET_SECRET_KEY",
    "passphrase": "BITGET_PASSPHRASE",
    "discord_webhook_url": "DISCORD_WEBHOOK_URL",
}


@dataclass(frozen=True, slots=True, repr=False)
class Secrets:
    """Venue credentials and the alert webhook, from the environment or ``.env`` only.

    api_key, secret_key, passphrase (BITGET_*), discord_webhook_url; each "" when unset. The repr
    shows every non-empty value as '***', so printing or logging a Config never leaks one.
    """

    api_key: str = ""
    secret_key: str = ""
    passphrase: str = ""
    discord_webhook_url: str = ""

    def __repr__(self) -> str:
        shown = (f"{f.name}={'***' if getattr(self, f.name) else ''!r}" for f in fields(self))
        return f"Secrets({', '.join(shown)})"


@dataclass(frozen=True, slots=True)
class Config:
    """All settings, one attribute per section of ``config/default.toml``, plus ``secrets``.

    Frozen, so no actor can change a setting behind the others' backs; build it with ``load_config``.
    """

    engine: EngineConfig
    risk: RiskConfig
    strategy: StrategyConfig
    regime: RegimeConfig
    scanner: ScannerConfig
    long_dip: LongDipConfig
    cross_sectional: CrossSectionalConfig
    paper: PaperConfig
    runtime: RuntimeConfig
    supervision: SupervisionConfig
    sim: SimSettings
    bitget: BitgetConfig
    live: LiveConfig
    control: ControlConfig
    logging: LoggingConfig
    secrets: Secrets

    def symbol_list(self) -> list[str] | None:
        """The configured symbols, or None for "all" (the venue's liquid universe)."""
        symbols = self.engine.symbols
        return None if symbols == "all" else [item.strip() for item in symbols.split(",")]

    def as_table(self) -> list[tuple[str, Any]]:
        """(dotted key, value) of every setting in file order, secrets excluded: for status and docs."""
        return [
            (f"{name}.{f.name}", getattr(getattr(self, name), f.name))
            for name, section in _SECTIONS.items()
            for f in fields(section)
        ]


_SECTIONS: dict[str, Any] = {f.name: f.type for f in fields(Config) if f.name != "secrets"}


class _Entry(NamedTuple):
    value: Any
    source: str
    is_text: bool  # env and cli strings are parsed to the key's type; TOML values are already typed


def load_config(
    *,
    cli: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    dotenv: Path | None = None,
    defaults: Path | None = None,
) -> Config:
    """Merge defaults < config_file < .env < env < cli, then type-check and validate every key.

    ``cli`` has dotted keys ({"sim.speed": 20}); a None value means "not given". ``env`` defaults
    to ``os.environ``; ``dotenv`` to ``./.env`` if it exists. Raises ConfigError on the first
    problem: a bad value, an unknown key or section, an unreadable or malformed file.
    """
    env = os.environ if env is None else env
    if dotenv is None and (Path.cwd() / ".env").is_file():
        dotenv = Path.cwd() / ".env"
    dotenv_vars = {} if dotenv is None else _read_dotenv(dotenv)
    defaults = DEFAULTS_PATH if defaults is None else defaults
    entries = _toml_layer(defaults, f"defaults {defaults}")
    if config_file is not None:
        entries |= _toml_layer(config_file, f"config file {config_file}")
    entries |= _env_layer(dotenv_vars, lambda name: f"{name} in .env file {dotenv}")
    entries |= _env_layer(env, lambda name: f"env {name}")
    for dotted, value in (cli or {}).items():
        if value is not None:
            section, _, key = dotted.partition(".")
            entries[_known_key(section, key, "cli")] = _Entry(value, "cli", isinstance(value, str))
    values = _validate(entries)
    _check_order(values, entries, "strategy.ema_fast", "strategy.ema_slow", strict=True)
    _check_order(values, entries, "supervision.backoff_initial_ms", "supervision.backoff_max_ms", strict=False)
    _check_order(values, entries, "cross_sectional.min_atr_pct", "cross_sectional.max_atr_pct", strict=True)
    _check_weights(values, entries)
    every_env = {**dotenv_vars, **env}
    return Config(
        **{
            name: section(**{f.name: values[f"{name}.{f.name}"] for f in fields(section)})
            for name, section in _SECTIONS.items()
        },
        secrets=Secrets(**{attr: every_env.get(var, "") for attr, var in _SECRET_VARS.items()}),
    )


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ConfigError(f"cannot read {what}: {reason}", source=what) from None


def _read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines; blank lines, # comments and an ``export`` prefix are skipped. A value in
    single or double quotes is taken literally; an unquoted one ends at " #". Line contents are never
    echoed in errors, since they may hold secrets."""
    variables = {}
    for number, line in enumerate(_read(path, f".env file {path}").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            raise ConfigError(f".env file {path}, line {number}: expected KEY=VALUE", source=str(path))
        quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "'\""
        variables[name] = value[1:-1] if quoted else value.split(" #", 1)[0].rstrip()
    return variables


def _toml_layer(path: Path, source: str) -> dict[str, _Entry]:
    try:
        data = tomllib.loads(_read(path, source))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"malformed TOML in {source}: {exc}", source=source) from None
    entries = {}
    for section, table in data.items():
        if not isinstance(table, dict):
            raise ConfigError(
                f"{section} = {table!r} is outside any section (from {source}); valid sections: {', '.join(_SECTIONS)}",
                key=section,
                source=source,
            )
        for key, value in table.items():
            entries[_known_key(section, key, source)] = _Entry(value, source, False)
    return entries


def _env_layer(env: Mapping[str, str], source: Callable[[str], str]) -> dict[str, _Entry]:
    """TRADING_MODE sets engine.mode; ENGINE_<SECTION>__<KEY> sets any key and, being specific,
    beats TRADING_MODE. Any other ENGINE_ variable is refused: it is most likely a mistyped setting."""
    entries = {}
    if "TRADING_MODE" in env:
        entries["engine.mode"] = _Entry(env["TRADING_MODE"], source("TRADING_MODE"), True)
    for name, text in env.items():
        if name.startswith(ENV_PREFIX):
            section, sep, key = name.removeprefix(ENV_PREFIX).lower().partition("__")
            if not sep:
                raise ConfigError(
                    f"{name} is not a setting: expected ENGINE_<SECTION>__<KEY>, such as "
                    "ENGINE_RISK__RISK_PER_TRADE_PCT",
                    key=name,
                    source=source(name),
                )
            entries[_known_key(section, key, source(name))] = _Entry(text, source(name), True)
    return entries


def _known_key(section: str, key: str, source: str) -> str:
    """The dotted key, or ConfigError naming it with the valid choices (and the closest one)."""
    if section in _SECTIONS:
        valid = [f.name for f in fields(_SECTIONS[section])]
        if key in valid:
            return f"{section}.{key}"
        bad, given, label, where = f"{section}.{key}", key, f"key {section}.{key}", f"keys of [{section}]"
    else:
        valid = list(_SECTIONS)
        bad, given, label, where = section, section, f"section [{section}]", "sections"
    hint = "".join(f"; did you mean {m}?" for m in difflib.get_close_matches(given, valid, n=1))
    raise ConfigError(
        f"unknown {label} (from {source}); valid {where}: {', '.join(valid)}{hint}",
        key=bad,
        allowed=", ".join(valid),
        source=source,
    )


def _coerce(raw: Any, kind: Any, is_text: bool) -> Any:
    """``raw`` as a value of ``kind``, parsing text first when ``is_text``; ValueError if it is not.
    TOML ints are accepted for float keys; bools are never taken for numbers."""
    value = raw.strip() if is_text else raw
    if is_text and kind is bool and value.lower() in _TRUE + _FALSE:
        value = value.lower() in _TRUE
    elif is_text and kind == _STRINGS:
        value = [item.strip() for item in value.split(",") if item.strip()]
    elif is_text and kind in (int, float):
        value = kind(value)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind is float and number and math.isfinite(value):
        return float(value)
    if (kind is int and number and isinstance(value, int)) or (kind is bool and isinstance(value, bool)):
        return value
    if kind is str and isinstance(value, str):
        return value
    if kind is Path and isinstance(value, str | Path):
        return Path(value)
    if kind == _STRINGS and isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"not {_KINDS[kind]}")


def _validate(entries: dict[str, _Entry]) -> dict[str, Any]:
    """Every key typed and checked against its rule, in file order; the first failure is raised."""
    values = {}
    for name, section in _SECTIONS.items():
        for f in fields(section):
            key = f"{name}.{f.name}"
            if key not in entries:
                raise ConfigError(f"{key} is not set: the defaults file must set every key", key=key)
            raw, source, is_text = entries[key]
            try:
                value = _coerce(raw, f.type, is_text)
            except ValueError:
                raise ConfigError.invalid(key, raw, _KINDS[f.type], source) from None
            if "check" in f.metadata and not f.metadata["check"](value):
                kind = f"{_KINDS[f.type]} " if f.type in (int, float) else ""
                raise ConfigError.invalid(key, value, kind + f.metadata["allowed"], source)
            values[key] = value
    return values


def _check_weights(values: dict[str, Any], entries: dict[str, _Entry]) -> None:
    """The scanner's weights make a score in [0, 1] only if they sum to 1."""
    keys = [f"scanner.{f.name}" for f in fields(ScannerConfig) if f.name.startswith("weight_")]
    total = sum(values[key] for key in keys)
    if abs(total - 1.0) > 1e-9:
        sources = "; ".join(f"{key} = {values[key]} from {entries[key].source}" for key in keys)
        raise ConfigError(f"the scanner weights must sum to 1, got {total:g} ({sources})", key="scanner")


def _check_order(values: dict[str, Any], entries: dict[str, _Entry], low: str, high: str, *, strict: bool) -> None:
    """Two keys that only make sense in order: ``low`` < ``high`` (or <= when not strict)."""
    if values[low] < values[high] or (not strict and values[low] == values[high]):
        return
    bound = f"{'below' if strict else 'at most'} {high} = {values[high]}"
    raise ConfigError.invalid(
        low,
        values[low],
        f"{_KINDS[type(values[low])]} {bound}",
        f"{entries[low].source}; {high} from {entries[high].source}",
    )
