"""Bitget API v2 facts for USDT-margined perpetuals ("mix"): hosts, paths, limits, codes.

Everything here is from ``../shared/venues/bitget.md`` (the official v2 docs, checked against the
official and community SDKs); nothing else in the engine spells a Bitget path or code.
"""

from __future__ import annotations

REST_HOST = "https://api.bitget.com"
WS_PUBLIC = "wss://ws.bitget.com/v2/ws/public"
WS_PRIVATE = "wss://ws.bitget.com/v2/ws/private"
WS_PUBLIC_DEMO = "wss://wspap.bitget.com/v2/ws/public"
WS_PRIVATE_DEMO = "wss://wspap.bitget.com/v2/ws/private"

PRODUCT_TYPE = "USDT-FUTURES"
MARGIN_COIN = "USDT"
SUCCESS = "00000"
DEMO_HEADER = "paptrading"
WS_LOGIN_PATH = "/user/verify"

# Paths and their documented per-endpoint limits (requests per second).
CONTRACTS = "/api/v2/mix/market/contracts"
TICKERS = "/api/v2/mix/market/tickers"
TICKER = "/api/v2/mix/market/ticker"
CANDLES = "/api/v2/mix/market/candles"
HISTORY_CANDLES = "/api/v2/mix/market/history-candles"
DEPTH = "/api/v2/mix/market/merge-depth"
FUNDING_RATE = "/api/v2/mix/market/current-fund-rate"
OPEN_INTEREST = "/api/v2/mix/market/open-interest"
SERVER_TIME = "/api/v2/public/time"
ACCOUNT = "/api/v2/mix/account/account"
ACCOUNTS = "/api/v2/mix/account/accounts"
SET_LEVERAGE = "/api/v2/mix/account/set-leverage"
SET_MARGIN_MODE = "/api/v2/mix/account/set-margin-mode"
SET_POSITION_MODE = "/api/v2/mix/account/set-position-mode"
PLACE_ORDER = "/api/v2/mix/order/place-order"
CANCEL_ORDER = "/api/v2/mix/order/cancel-order"
ORDER_DETAIL = "/api/v2/mix/order/detail"
OPEN_ORDERS = "/api/v2/mix/order/orders-pending"
FILLS = "/api/v2/mix/order/fills"
POSITIONS = "/api/v2/mix/position/all-position"
ACCOUNT_INFO = "/api/v2/spot/account/info"

RATE_LIMITS: dict[str, float] = {
    CONTRACTS: 20,
    TICKERS: 20,
    TICKER: 20,
    CANDLES: 20,
    HISTORY_CANDLES: 20,
    DEPTH: 20,
    FUNDING_RATE: 20,
    OPEN_INTEREST: 20,
    SERVER_TIME: 20,
    ACCOUNT: 10,
    ACCOUNTS: 10,
    SET_LEVERAGE: 5,
    SET_MARGIN_MODE: 5,
    SET_POSITION_MODE: 5,
    PLACE_ORDER: 10,
    CANCEL_ORDER: 10,
    ORDER_DETAIL: 10,
    OPEN_ORDERS: 10,
    FILLS: 10,
    POSITIONS: 5,
    ACCOUNT_INFO: 1,
}
"""Requests per second each endpoint allows (per IP for market data, per UID for the account)."""

CANDLES_MAX_LIMIT = 1000

GRANULARITY: dict[int, str] = {
    60_000: "1m",
    180_000: "3m",
    300_000: "5m",
    900_000: "15m",
    1_800_000: "30m",
    3_600_000: "1H",
    14_400_000: "4H",
    21_600_000: "6H",
    43_200_000: "12H",
    86_400_000: "1D",
}
"""Candle interval in ms -> the futures ``granularity`` (capital H and D: spot's strings differ)."""

# WebSocket limits: 10 messages per second per connection (pings and subscribes included), at
# most 1000 channels per connection (50 advised), 240 subscribe requests per hour per connection.
WS_PING_INTERVAL_S = 30.0
WS_MAX_MESSAGES_PER_S = 10
WS_CHANNELS_PER_CONNECTION = 50

# Error codes, grouped by what the caller must do.
AUTH_CODES = frozenset({"40001", "40002", "40003", "40006", "40009", "40010", "40011", "40012", "40014", "40037"})
TIMESTAMP_CODES = frozenset({"40004", "40005", "40008"})
DUPLICATE_CLIENT_OID_CODES = frozenset({"40708", "40786", "43118", "45034", "50060"})
ORDER_NOT_FOUND_CODES = frozenset({"40109", "40768", "22001"})
INSUFFICIENT_MARGIN_CODES = frozenset({"40762", "43012"})
INVALID_PARAMETER_CODES = frozenset({"40017", "40808", "41103", "45110", "40774"})
MAINTENANCE_CODES = frozenset({"40200", "41114", "40308"})
RATE_LIMIT_CODES = frozenset({"429", "1001"})
ENVIRONMENT_CODE = "40099"
IP_CODE = "40018"
LOGIN_REQUIRED_CODE = "30004"
NO_POSITION_CODE = "22002"
