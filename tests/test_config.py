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
