"""Tests of engine.config: defaults, the four layers, coercion, validation and secret masking."""

import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.config import DEFAULTS_PATH, Config, ConfigError, _coerce, load_config


@pytest.fixture(autouse=True)
def _no_stray_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in an empty directory so a developer's own ./.env cannot leak in."""
    monkeypatch.chdir(tmp_path)


def load(**kwargs: Any) -> Config:
    """load_config with an empty environment unless the test gives one."""
    return load_config(**{"env": {}, **kwargs})


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_have_the_shipped_values() -> None:
    config = load()
    assert config.risk.risk_per_trade_pct == 0.01
    assert config.engine.top_n_symbols == 5
    assert config.risk.max_concurrent_positions == 5
    assert config.risk.portfolio_heat_cap_pct == 0.05
    assert config.risk.max_daily_loss_pct == 0.04
    assert config.risk.default_leverage == 3
    assert config.risk.min_volume_24h_usdt == 50_000_000
    assert config.engine.mode == "paper" and config.engine.venue == "sim"
    assert config.engine.data_dir == Path("data")
    assert config.supervision.fault_inject == ()
    assert config.symbol_list() is None


def test_as_table_lists_every_key_of_the_defaults_file_with_its_value() -> None:
    shipped = tomllib.loads(DEFAULTS_PATH.read_text(encoding="utf-8"))
    expected = [(f"{section}.{key}", value) for section, table in shipped.items() for key, value in table.items()]
    assert [(key, as_toml(value)) for key, value in load().as_table()] == expected


def as_toml(value: Any) -> Any:
    """A loaded value as TOML gave it: paths are strings there and lists are lists."""
    return str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value


def test_int_in_toml_is_accepted_for_a_float_key(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", "[risk]\nstarting_equity_usdt = 25000\n")
    value = load(config_file=user).risk.starting_equity_usdt
    assert value == 25000.0 and isinstance(value, float)


def test_config_file_overrides_defaults(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", "[risk]\nrisk_per_trade_pct = 0.02\n")
    assert load(config_file=user).risk.risk_per_trade_pct == 0.02


def test_env_overrides_config_file(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", "[risk]\nrisk_per_trade_pct = 0.02\n")
    config = load(config_file=user, env={"ENGINE_RISK__RISK_PER_TRADE_PCT": "0.03"})
    assert config.risk.risk_per_trade_pct == 0.03


def test_cli_overrides_env_file_and_defaults(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", "[risk]\nrisk_per_trade_pct = 0.02\n")
    config = load(
        config_file=user, env={"ENGINE_RISK__RISK_PER_TRADE_PCT": "0.03"}, cli={"risk.risk_per_trade_pct": 0.04}
    )
    assert config.risk.risk_per_trade_pct == 0.04


def test_cli_none_means_not_given() -> None:
    config = load(env={"ENGINE_SIM__SPEED": "5"}, cli={"sim.speed": None})
    assert config.sim.speed == 5.0


def test_cli_strings_are_coerced_like_env() -> None:
    config = load(cli={"engine.symbols": "BTCUSDT, ETHUSDT", "sim.speed": "20"})
    assert config.symbol_list() == ["BTCUSDT", "ETHUSDT"]
    assert config.sim.speed == 20.0


@pytest.mark.parametrize(
    ("name", "text", "read", "expected"),
    [
        ("ENGINE_SIM__SYMBOLS", "60", lambda c: c.sim.symbols, 60),
        ("ENGINE_RISK__RISK_PER_TRADE_PCT", "0.02", lambda c: c.risk.risk_per_trade_pct, 0.02),
        ("ENGINE_ENGINE__VENUE", "bitget", lambda c: c.engine.venue, "bitget"),
        ("ENGINE_ENGINE__LOG_DIR", "/var/log/eng", lambda c: c.engine.log_dir, Path("/var/log/eng")),
        (
            "ENGINE_SUPERVISION__FAULT_INJECT",
            "BTCUSDT:feed:ticker, *:*:bar",
            lambda c: c.supervision.fault_inject,
            ("BTCUSDT:feed:ticker", "*:*:bar"),
        ),
        ("ENGINE_SUPERVISION__FAULT_INJECT", "", lambda c: c.supervision.fault_inject, ()),
    ],
)
def test_env_strings_are_coerced_to_the_key_type(name: str, text: str, read: Any, expected: Any) -> None:
    value = read(load(env={name: text}))
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("true", True),
        ("1", True),
        ("yes", True),
        ("True", True),
        ("false", False),
        ("0", False),
        ("no", False),
        (" NO ", False),
    ],
)
def test_bool_text_is_coerced(text: str, expected: bool) -> None:
    assert _coerce(text, bool, True) is expected


def test_bool_text_other_than_true_false_is_refused() -> None:
    with pytest.raises(ValueError):
        _coerce("maybe", bool, True)


def test_non_integer_env_text_for_int_key_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^sim\.symbols = '60\.5' is not allowed: expected an integer "
        r"\(from env ENGINE_SIM__SYMBOLS\)$",
    ):
        load(env={"ENGINE_SIM__SYMBOLS": "60.5"})


def test_dotenv_file_sets_values_and_secrets(tmp_path: Path) -> None:
    dotenv = write(
        tmp_path / "custom.env",
        "# my settings\n\nexport TRADING_MODE=backtest\n"
        "ENGINE_SIM__SEED = 42  # a comment\n"
        "BITGET_API_KEY=\"ab #cd\"\nBITGET_PASSPHRASE='p=q'\n",
    )
    config = load(dotenv=dotenv)
    assert config.engine.mode == "backtest"
    assert config.sim.seed == 42
    assert config.secrets.api_key == "ab #cd"
    assert config.secrets.passphrase == "p=q"


def test_dotenv_in_working_directory_is_read_by_default(tmp_path: Path) -> None:
    write(tmp_path / ".env", "ENGINE_SIM__SEED=11\n")
    assert load().sim.seed == 11


def test_real_env_beats_dotenv(tmp_path: Path) -> None:
    dotenv = write(tmp_path / ".env", "ENGINE_SIM__SEED=11\nBITGET_API_KEY=from-file\n")
    config = load(dotenv=dotenv, env={"ENGINE_SIM__SEED": "12", "BITGET_API_KEY": "from-env"})
    assert config.sim.seed == 12
    assert config.secrets.api_key == "from-env"


def test_dotenv_overrides_config_file(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", "[sim]\nseed = 10\n")
    dotenv = write(tmp_path / ".env", "ENGINE_SIM__SEED=11\n")
    assert load(config_file=user, dotenv=dotenv).sim.seed == 11


def test_malformed_dotenv_line_is_refused_without_echoing_it(tmp_path: Path) -> None:
    dotenv = write(tmp_path / ".env", "BITGET_API_KEY=ok\nsupersecretvalue\n")
    with pytest.raises(ConfigError, match="line 2: expected KEY=VALUE") as info:
        load(dotenv=dotenv)
    assert "supersecretvalue" not in str(info.value)


def test_trading_mode_sets_engine_mode() -> None:
    assert load(env={"TRADING_MODE": "live"}).engine.mode == "live"


def test_engine_mode_variable_beats_trading_mode() -> None:
    config = load(env={"TRADING_MODE": "live", "ENGINE_ENGINE__MODE": "backtest"})
    assert config.engine.mode == "backtest"


def test_bad_env_value_error_names_key_value_allowed_and_source() -> None:
    with pytest.raises(ConfigError) as info:
        load(env={"ENGINE_RISK__RISK_PER_TRADE_PCT": "1.5"})
    error = info.value
    assert str(error) == (
        "risk.risk_per_trade_pct = 1.5 is not allowed: expected a number in (0, 0.1] "
        "(from env ENGINE_RISK__RISK_PER_TRADE_PCT)"
    )
    assert (error.key, error.value) == ("risk.risk_per_trade_pct", 1.5)
    assert error.allowed == "a number in (0, 0.1]"
    assert error.source == "env ENGINE_RISK__RISK_PER_TRADE_PCT"


def test_bad_file_value_error_names_the_file(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", '[engine]\nmode = "demo"\n')
    with pytest.raises(ConfigError) as info:
        load(config_file=user)
    assert str(info.value) == (
        f"engine.mode = 'demo' is not allowed: expected one of paper, live, backtest (from config file {user})"
    )


def test_bad_cli_value_error_says_cli() -> None:
    with pytest.raises(
        ConfigError,
        match=r"risk\.default_leverage = 126 is not allowed: expected an "
        r"integer in \[1, 125\] \(from cli\)",
    ):
        load(cli={"risk.default_leverage": 126})


def test_string_in_toml_for_a_number_key_is_refused(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", '[risk]\ndefault_leverage = "3"\n')
    with pytest.raises(ConfigError, match=r"default_leverage = '3' is not allowed: expected an integer"):
        load(config_file=user)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("engine.venue", "binance"),
        ("engine.symbols", "btcusdt"),
        ("engine.symbols", "BTCUSDT,BTCUSDT"),
        ("engine.symbols", "BTCUSD"),
        ("engine.top_n_symbols", 0),
        ("risk.risk_per_trade_pct", 0.0),
        ("risk.portfolio_heat_cap_pct", 1.01),
        ("risk.max_daily_loss_pct", 0.0),
        ("risk.max_concurrent_positions", 0),
        ("risk.default_leverage", 0),
        ("risk.starting_equity_usdt", 0),
        ("paper.taker_fee", 0.01),
        ("paper.taker_fee", -0.0001),
        ("paper.slippage_bps", 500.5),
        ("sim.speed", 0),
        ("sim.speed", 10_001),
        ("sim.symbols", 0),
        ("sim.symbols", 2001),
        ("control.port", 65536),
        ("supervision.backoff_jitter", 1.0),
        ("supervision.fault_inject", ["BTCUSDT:risk:x"]),
        ("supervision.fault_inject", ["BTCUSDT:feed"]),
        ("supervision.backoff_initial_ms", 6000),
        ("strategy.timeframe", "2m"),
        ("strategy.ema_fast", 21),
        ("logging.level", "VERBOSE"),
        ("risk.starting_equity_usdt", float("inf")),
        ("sim.seed", True),
    ],
)
def test_out_of_range_value_is_refused(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load(cli={key: value})
    assert info.value.key == key


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("risk.default_leverage", 125),
        ("risk.default_leverage", 1),
        ("paper.slippage_bps", 500),
        ("paper.taker_fee", 0),
        ("sim.speed", 10_000),
        ("sim.symbols", 2000),
        ("sim.symbols", 1),
        ("control.port", 65535),
        ("supervision.backoff_jitter", 0),
        ("risk.max_daily_loss_pct", 1),
        ("engine.symbols", "1000PEPEUSDT,BTCUSDT"),
        ("strategy.ema_fast", 20),
        ("logging.level", "TRACE"),
    ],
)
def test_boundary_value_is_accepted(key: str, value: Any) -> None:
    section, name = key.split(".")
    assert getattr(getattr(load(cli={key: value}), section), name) == value


def test_ema_fast_not_below_ema_slow_names_both_sources() -> None:
    with pytest.raises(ConfigError) as info:
        load(cli={"strategy.ema_slow": 5})
    assert str(info.value).startswith(
        "strategy.ema_fast = 9 is not allowed: expected an integer below strategy.ema_slow = 5 (from defaults "
    )
    assert str(info.value).endswith("; strategy.ema_slow from cli)")


def test_unknown_key_in_file_is_refused_with_the_valid_keys(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", "[risk]\nrisk_per_trade = 0.02\n")
    with pytest.raises(ConfigError) as info:
        load(config_file=user)
    message = str(info.value)
    assert message.startswith(
        f"unknown key risk.risk_per_trade (from config file {user}); valid keys "
        "of [risk]: starting_equity_usdt, risk_per_trade_pct, "
    )
    assert message.endswith("; did you mean risk_per_trade_pct?")
    assert info.value.key == "risk.risk_per_trade"


def test_unknown_section_in_file_is_refused(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", "[secrets]\napi_key = 'x'\n")
    with pytest.raises(ConfigError, match=r"unknown section \[secrets\] .*valid sections: engine, risk"):
        load(config_file=user)


def test_key_outside_any_section_is_refused(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", 'mode = "live"\n')
    with pytest.raises(ConfigError, match=r"mode = 'live' is outside any section"):
        load(config_file=user)


def test_unknown_key_in_env_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown key risk\.max_leverage \(from env "
        r"ENGINE_RISK__MAX_LEVERAGE\); valid keys of \[risk\]: ",
    ):
        load(env={"ENGINE_RISK__MAX_LEVERAGE": "10"})


def test_unknown_section_in_env_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown section \[rsk\] .*did you mean risk\?"):
        load(env={"ENGINE_RSK__RISK_PER_TRADE_PCT": "0.02"})


def test_engine_variable_without_double_underscore_is_refused() -> None:
    with pytest.raises(ConfigError, match="ENGINE_RISK_RISK_PER_TRADE_PCT is not a setting"):
        load(env={"ENGINE_RISK_RISK_PER_TRADE_PCT": "0.02"})


def test_unknown_cli_key_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown key sim\.sped \(from cli\)"):
        load(cli={"sim.sped": 2})


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "10.0.0.1", "::", "example.com", ""])
def test_non_loopback_control_host_is_refused(host: str) -> None:
    with pytest.raises(ConfigError, match="expected a loopback address"):
        load(env={"ENGINE_CONTROL__HOST": host})


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_control_host_is_accepted(host: str) -> None:
    assert load(cli={"control.host": host}).control.host == host


def test_malformed_toml_is_refused(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", "[risk\nrisk_per_trade_pct = 0.02\n")
    with pytest.raises(ConfigError, match=f"malformed TOML in config file {user}: "):
        load(config_file=user)


def test_missing_config_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read config file .*nope\.toml: No such file"):
        load(config_file=tmp_path / "nope.toml")


def test_defaults_file_missing_a_key_is_refused(tmp_path: Path) -> None:
    text = DEFAULTS_PATH.read_text(encoding="utf-8").replace("seed = 7", "")
    with pytest.raises(ConfigError, match=r"sim\.seed is not set"):
        load(defaults=write(tmp_path / "defaults.toml", text))


def test_secrets_are_masked_in_repr_and_str() -> None:
    env = {
        "BITGET_API_KEY": "key-123",
        "BITGET_SECRET_KEY": "sec-456",
        "BITGET_PASSPHRASE": "pass-789",
        "DISCORD_WEBHOOK_URL": "https://discord.com/api/webhooks/1/tok",
    }
    config = load(env=env)
    assert config.secrets.secret_key == "sec-456"
    for text in (repr(config), str(config), f"{config}", str(config.secrets)):
        assert not any(value in text for value in env.values())
        assert "api_key='***'" in text and "discord_webhook_url='***'" in text


def test_unset_secret_shows_empty_not_masked() -> None:
    expected = "Secrets(api_key='', secret_key='', passphrase='', discord_webhook_url='')"
    assert repr(load().secrets) == expected


def test_as_table_excludes_secrets() -> None:
    table = load(env={"BITGET_API_KEY": "key-123"}).as_table()
    assert all(not key.startswith("secrets") for key, _ in table)
    assert "key-123" not in repr(table)


@given(st.floats(min_value=0, max_value=0.1, exclude_min=True))
def test_any_risk_per_trade_in_range_is_accepted(value: float) -> None:
    assert load(cli={"risk.risk_per_trade_pct": value}).risk.risk_per_trade_pct == value


@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0 < v <= 0.1))
def test_any_risk_per_trade_out_of_range_is_refused(value: float) -> None:
    with pytest.raises(ConfigError) as info:
        load(cli={"risk.risk_per_trade_pct": value})
    assert info.value.key == "risk.risk_per_trade_pct"


# --- strategy modes, regime, scanner, long dip and cross-sectional sections ----------------------


def test_new_sections_have_the_shipped_defaults() -> None:
    config = load()
    assert (config.strategy.mode, config.strategy.per_symbol) == ("regime", ())
    assert (config.strategy.bb_period, config.strategy.bb_std, config.strategy.range_stop_atr) == (20, 2.0, 1.0)
    assert config.strategy.high_vol_size_scale == 0.5
    assert (config.regime.adx_trend, config.regime.high_vol_ratio) == (25.0, 2.0)
    weights = config.scanner
    assert (weights.weight_trend, weights.weight_atr_expansion, weights.weight_momentum, weights.weight_volume) == (
        0.35,
        0.25,
        0.25,
        0.15,
    )
    assert config.long_dip.size_steps == ("1.0:0.05", "1.5:0.08", "2.0:0.12", "2.5:0.15")
    assert (config.cross_sectional.min_atr_pct, config.cross_sectional.max_atr_pct) == (0.0005, 0.05)


def test_per_symbol_overrides_the_mode_of_its_symbols_only() -> None:
    config = load(cli={"strategy.per_symbol": "BTCUSDT:long_dip, ETHUSDT:cross_sectional"})
    strategy = config.strategy
    assert strategy.per_symbol == ("BTCUSDT:long_dip", "ETHUSDT:cross_sectional")
    assert strategy.mode_of("BTCUSDT") == "long_dip"
    assert strategy.mode_of("ETHUSDT") == "cross_sectional"
    assert strategy.mode_of("SOLUSDT") == "regime"


def test_per_symbol_from_a_config_file_list_and_a_global_mode(tmp_path: Path) -> None:
    user = write(tmp_path / "user.toml", '[strategy]\nmode = "long_dip"\nper_symbol = ["1000PEPEUSDT:regime"]\n')
    strategy = load(config_file=user).strategy
    assert (strategy.mode_of("1000PEPEUSDT"), strategy.mode_of("BTCUSDT")) == ("regime", "long_dip")


def test_per_symbol_from_env_is_a_comma_separated_list() -> None:
    strategy = load(env={"ENGINE_STRATEGY__PER_SYMBOL": "BTCUSDT:cross_sectional"}).strategy
    assert strategy.mode_of("BTCUSDT") == "cross_sectional"


@pytest.mark.parametrize(
    "entry",
    ["BTCUSDT:scalping", "BTCUSDT", "btcusdt:regime", "BTCUSD:regime", "BTCUSDT:regime:extra", ":regime"],
)
def test_a_bad_per_symbol_entry_is_refused_with_the_allowed_form(entry: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(cli={"strategy.per_symbol": ["ETHUSDT:long_dip", entry]})
    error = info.value
    assert error.key == "strategy.per_symbol"
    assert str(error) == (
        f"strategy.per_symbol = ('ETHUSDT:long_dip', {entry!r}) is not allowed: expected entries "
        '"SYMBOL:MODE" with MODE one of regime, long_dip, cross_sectional (from cli)'
    )


def test_an_unknown_global_mode_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"strategy\.mode = 'grid' is not allowed: expected one of regime"):
        load(cli={"strategy.mode": "grid"})


def test_scanner_weights_not_summing_to_one_are_refused_naming_each_source() -> None:
    with pytest.raises(ConfigError) as info:
        load(env={"ENGINE_SCANNER__WEIGHT_TREND": "0.5"})
    error = info.value
    assert error.key == "scanner"
    message = str(error)
    assert message.startswith("the scanner weights must sum to 1, got 1.15 (scanner.weight_trend = 0.5 from env ")
    assert "scanner.weight_volume = 0.15 from defaults" in message


def test_scanner_weights_summing_to_one_in_another_split_are_accepted() -> None:
    cli = {"scanner.weight_trend": 0.7, "scanner.weight_atr_expansion": 0.1, "scanner.weight_momentum": 0.1}
    config = load(cli=cli | {"scanner.weight_volume": 0.1})
    assert config.scanner.weight_trend == 0.7


def test_a_scanner_weight_above_one_is_refused_by_its_own_range() -> None:
    with pytest.raises(ConfigError) as info:
        load(cli={"scanner.weight_trend": 1.5})
    assert info.value.key == "scanner.weight_trend"


@pytest.mark.parametrize(
    "steps",
    [
        "2.0:0.1, 1.0:0.05",  # depths decreasing
        "1.0:0.05, 1.0:0.08",  # a depth repeated
        "1.0:0.05, 2.0:0.0",  # a share of zero
        "1.0:0.05, 2.0:1.5",  # a share above one
        "1.0-0.05",  # not DEPTH:SHARE
        "",  # no steps
    ],
)
def test_size_steps_not_increasing_or_malformed_are_refused(steps: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(cli={"long_dip.size_steps": steps})
    assert info.value.key == "long_dip.size_steps"
    assert 'entries "DEPTH:SHARE" with increasing depths and shares in (0, 1]' in str(info.value)


def test_increasing_size_steps_are_accepted() -> None:
    config = load(cli={"long_dip.size_steps": "0.5:0.02, 1.25:0.1, 3:0.5"})
    assert config.long_dip.size_steps == ("0.5:0.02", "1.25:0.1", "3:0.5")


def test_a_size_step_share_of_one_is_accepted() -> None:
    # regression: the step pattern once required a share written 0.x, refusing 1 despite "(0, 1]"
    assert load(cli={"long_dip.size_steps": "1.0:0.5, 2.5:1.0"}).long_dip.size_steps == ("1.0:0.5", "2.5:1.0")


@pytest.mark.parametrize(("low", "high"), [(0.05, 0.05), (0.06, 0.05), (0.01, 0.001)])
def test_min_atr_pct_not_below_max_atr_pct_is_refused(low: float, high: float) -> None:
    with pytest.raises(ConfigError) as info:
        load(cli={"cross_sectional.min_atr_pct": low, "cross_sectional.max_atr_pct": high})
    error = info.value
    assert error.key == "cross_sectional.min_atr_pct"
    assert str(error).startswith(f"cross_sectional.min_atr_pct = {low} is not allowed: expected ")
    # the word before "below" is checked by the next test
    assert str(error).endswith(
        f" below cross_sectional.max_atr_pct = {high} (from cli; cross_sectional.max_atr_pct from cli)"
    )


def test_the_atr_band_order_error_calls_the_value_a_number() -> None:
    # regression: the order check once called every value "an integer"
    with pytest.raises(ConfigError) as info:
        load(cli={"cross_sectional.min_atr_pct": 0.06})
    assert "expected a number below cross_sectional.max_atr_pct = 0.05" in str(info.value)


def test_min_atr_pct_below_max_atr_pct_is_accepted() -> None:
    config = load(cli={"cross_sectional.min_atr_pct": 0.001, "cross_sectional.max_atr_pct": 0.0011})
    assert (config.cross_sectional.min_atr_pct, config.cross_sectional.max_atr_pct) == (0.001, 0.0011)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("regime.adx_trend", 0),
        ("regime.adx_trend", 100),
        ("regime.high_vol_ratio", 1.0),
        ("regime.adx_period", 1),
        ("strategy.high_vol_size_scale", 0),
        ("strategy.high_vol_size_scale", 1.01),
        ("strategy.bb_period", 1),
        ("strategy.bb_std", 0),
        ("strategy.range_stop_atr", 0),
        ("cross_sectional.min_atr_pct", 0),
    ],
)
def test_out_of_range_new_settings_are_refused(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as info:
        load(cli={key: value})
    assert info.value.key == key
