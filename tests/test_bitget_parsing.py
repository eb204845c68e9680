"""Bitget v2 JSON -> engine messages (``adapters.bitget.parsing``), specified against the protocol
reference ``shared/venues/bitget.md``: the REST envelope (section 3), the public REST shapes
(section 5), the WebSocket frames (section 7) and the string-or-number traps (section 8)."""

from __future__ import annotations

import binascii
import itertools

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.bitget.errors import (
    BitgetError,
    DuplicateClientOid,
    InsufficientMargin,
    RateLimited,
    ServerError,
)
from adapters.bitget.parsing import (
    PONG,
    Event,
    ParseError,
    Push,
    book,
    candles,
    checksum,
    envelope,
    frame,
    instruments,
    ticker,
    trades,
)
from engine.messages import BarClosed, BookUpdated, TickerUpdated, TradesReceived
from engine.ports import Instrument

PLACE_ORDER = "/api/v2/mix/order/place-order"
CONTRACTS = "/api/v2/mix/market/contracts"
MINUTE = 60_000


def body(**fields: object) -> bytes:
    return orjson.dumps(fields)


def contract(symbol: str = "BTCUSDT", **overrides: object) -> dict[str, object]:
    """A ``contracts`` item as Bitget sends it: every number a string."""
    item: dict[str, object] = {
        "symbol": symbol,
        "baseCoin": symbol.removesuffix("USDT"),
        "quoteCoin": "USDT",
        "minTradeNum": "0.001",
        "priceEndStep": "1",
        "volumePlace": "3",
        "pricePlace": "1",
        "sizeMultiplier": "0.001",
        "symbolType": "perpetual",
        "minTradeUSDT": "5",
        "symbolStatus": "normal",
        "limitOpenTime": "-1",
        "fundInterval": "8",
        "maxLever": "125",
    }
    item.update(overrides)
    return item


def rest_ticker(symbol: str = "BTCUSDT", **overrides: object) -> dict[str, object]:
    """A REST ``tickers`` item: keyed by ``symbol``, every number a string."""
    item: dict[str, object] = {
        "symbol": symbol,
        "lastPr": "94233.7",
        "askPr": "94233.8",
        "bidPr": "94233.6",
        "bidSz": "2.5",
        "askSz": "1.1",
        "high24h": "95000",
        "low24h": "93000",
        "ts": "1735680000456",
        "change24h": "0.0123",
        "baseVolume": "41234.5",
        "quoteVolume": "3890000000.5",
        "usdtVolume": "3890000000.5",
        "fundingRate": "0.0001",
        "markPrice": "94233.9",
    }
    item.update(overrides)
    return item


# --- envelope (section 3) -----------------------------------------------------------------------


def test_a_success_envelope_returns_its_data() -> None:
    raw = body(code="00000", msg="success", requestTime=1695793701269, data=[{"symbol": "BTCUSDT"}])

    assert envelope(200, raw, CONTRACTS) == [{"symbol": "BTCUSDT"}]


@pytest.mark.parametrize("request_time", [1695793701269, "1695793701269"])
def test_request_time_may_be_a_number_or_a_string(request_time: object) -> None:
    raw = body(code="00000", msg="success", requestTime=request_time, data={"ts": "1695793701269"})

    assert envelope(200, raw) == {"ts": "1695793701269"}


def test_a_duplicate_client_oid_code_raises_duplicate_client_oid_naming_the_path() -> None:
    raw = body(code="40786", msg="Duplicate clientOid", requestTime=1695793701269, data=None)

    with pytest.raises(DuplicateClientOid) as caught:
        envelope(400, raw, PLACE_ORDER)

    assert caught.value.code == "40786"
    assert caught.value.path == PLACE_ORDER
    assert caught.value.retryable is False
    assert PLACE_ORDER in str(caught.value)
    assert "Duplicate clientOid" in str(caught.value)


def test_an_error_code_with_http_200_still_raises() -> None:
    raw = body(code="40762", msg="The order amount exceeds the balance", requestTime=1695793701269, data=None)

    with pytest.raises(InsufficientMargin) as caught:
        envelope(200, raw, PLACE_ORDER)

    assert caught.value.code == "40762"
    assert f"40762 on {PLACE_ORDER}" in str(caught.value)


def test_http_429_raises_a_retryable_rate_limit() -> None:
    raw = body(code="429", msg="Too Many Requests", requestTime=1695793701269, data=None)

    with pytest.raises(RateLimited) as caught:
        envelope(429, raw, CONTRACTS)

    assert caught.value.retryable is True
    assert caught.value.http_status == 429


def test_http_503_with_an_html_body_raises_a_retryable_server_error_quoting_the_body() -> None:
    html = b"<html><head><title>503 Service Temporarily Unavailable</title></head></html>"

    with pytest.raises(ServerError) as caught:
        envelope(503, html, CONTRACTS)

    assert caught.value.retryable is True
    assert caught.value.code == "503"
    assert "503 Service Temporarily Unavailable" in caught.value.message
    assert CONTRACTS in str(caught.value)


@pytest.mark.parametrize("raw", [b"", b"<html>maintenance</html>", b"[]", b"null"])
def test_a_200_body_without_an_envelope_raises_instead_of_returning_none(raw: bytes) -> None:
    with pytest.raises(BitgetError) as caught:
        envelope(200, raw, CONTRACTS)

    assert caught.value.retryable is False
    assert CONTRACTS in str(caught.value)


# --- instruments (section 5.1 + 5.2) ------------------------------------------------------------


def test_tick_is_price_end_step_scaled_by_price_place() -> None:
    [eth] = instruments([contract("ETHUSDT", pricePlace="1", priceEndStep="5")], [])

    assert eth.tick_size == pytest.approx(0.5)


def test_an_instrument_carries_lot_min_qty_volume_and_funding_from_contract_and_ticker() -> None:
    contracts = [contract("BTCUSDT", pricePlace="1", priceEndStep="1", sizeMultiplier="0.001", minTradeNum="0.002")]
    tickers = [rest_ticker("BTCUSDT", usdtVolume="3890000000.5", quoteVolume="1", fundingRate="-0.000125")]

    [btc] = instruments(contracts, tickers)

    assert btc == Instrument("BTCUSDT", pytest.approx(0.1), 0.001, 0.002, 3890000000.5, -0.000125)


@pytest.mark.parametrize("usdt_volume", [None, ""])
def test_volume_falls_back_to_quote_volume_without_usdt_volume(usdt_volume: str | None) -> None:
    item = rest_ticker("BTCUSDT", quoteVolume="1234567.5")
    if usdt_volume is None:
        del item["usdtVolume"]
    else:
        item["usdtVolume"] = usdt_volume

    [btc] = instruments([contract("BTCUSDT")], [item])

    assert btc.volume_24h_usdt == 1234567.5


def test_tickers_keyed_by_inst_id_are_matched_too() -> None:
    item = rest_ticker(usdtVolume="777.0", fundingRate="0.0003")
    item["instId"] = item.pop("symbol")

    [btc] = instruments([contract("BTCUSDT")], [item])

    assert (btc.volume_24h_usdt, btc.funding_rate) == (777.0, 0.0003)


def test_a_contract_without_a_ticker_has_zero_volume_and_funding() -> None:
    [sol] = instruments([contract("SOLUSDT")], [rest_ticker("BTCUSDT")])

    assert (sol.volume_24h_usdt, sol.funding_rate) == (0.0, 0.0)


def test_contracts_not_normal_or_not_perpetual_are_left_out() -> None:
    contracts = [
        contract("BTCUSDT"),
        contract("LUNAUSDT", symbolStatus="maintain"),
        contract("FTTUSDT", symbolStatus="off"),
        contract("BTCUSDT_250328", symbolType="delivery"),
    ]

    assert [i.symbol for i in instruments(contracts, [])] == ["BTCUSDT"]


def test_instruments_are_sorted_by_symbol() -> None:
    contracts = [contract("XRPUSDT"), contract("BTCUSDT"), contract("ETHUSDT")]

    assert [i.symbol for i in instruments(contracts, [])] == ["BTCUSDT", "ETHUSDT", "XRPUSDT"]


def test_a_contract_missing_price_place_raises_parse_error_naming_the_field() -> None:
    broken = contract("BTCUSDT")
    del broken["pricePlace"]

    with pytest.raises(ParseError, match="pricePlace"):
        instruments([broken], [])


# --- ticker (sections 5.2 and 7.3) --------------------------------------------------------------

WS_TICKER_ITEM = {
    "instId": "ETHUSDT",
    "lastPr": "3120.55",
    "bidPr": "3120.50",
    "askPr": "3120.60",
    "bidSz": "14.2",
    "askSz": "3.8",
    "open24h": "3050.10",
    "high24h": "3141.00",
    "low24h": "3040.20",
    "change24h": "0.02309",
    "fundingRate": "0.000100",
    "nextFundingTime": "1735689600000",
    "markPrice": "3120.48",
    "indexPrice": "3121.02",
    "holdingAmount": "201345.12",
    "baseVolume": "88123.4",
    "quoteVolume": "272001234.5",
    "openUtc": "3061.00",
    "symbolType": 1,
    "symbol": "ETHUSDT",
    "deliveryPrice": "0",
    "ts": "1735680000123",
}


def test_the_ws_ticker_item_parses_to_exact_values() -> None:
    assert ticker(WS_TICKER_ITEM, recv_ns=42) == TickerUpdated(
        "ETHUSDT", 1735680000123, 3120.55, 3120.50, 3120.60, 272001234.5, 0.0001, 42
    )


def test_a_rest_ticker_keyed_by_symbol_parses() -> None:
    parsed = ticker(rest_ticker("BTCUSDT"))

    assert parsed == TickerUpdated("BTCUSDT", 1735680000456, 94233.7, 94233.6, 94233.8, 3890000000.5, 0.0001)


def test_ticker_numbers_may_be_json_numbers() -> None:
    item = {"symbol": "BTCUSDT", "lastPr": 94233.7, "bidPr": 94233.6, "askPr": 94233.8, "ts": 1735680000456}
    item |= {"usdtVolume": 3890000000.5, "fundingRate": 0.0001}

    assert ticker(item) == TickerUpdated("BTCUSDT", 1735680000456, 94233.7, 94233.6, 94233.8, 3890000000.5, 0.0001)


def test_a_ticker_without_bid_raises_parse_error_naming_bid_pr() -> None:
    item = dict(WS_TICKER_ITEM)
    del item["bidPr"]

    with pytest.raises(ParseError, match="bidPr"):
        ticker(item)


def test_a_ticker_without_any_symbol_raises_parse_error() -> None:
    item = {k: v for k, v in WS_TICKER_ITEM.items() if k not in ("instId", "symbol")}

    with pytest.raises(ParseError, match="symbol"):
        ticker(item)


# --- candles (sections 5.3 and 7.3) -------------------------------------------------------------


def test_seven_and_eight_field_rows_parse_from_the_first_six_fields() -> None:
    rows = [
        ["1735680000000", "94210.5", "94250.0", "94190.1", "94233.7", "12.345", "1163180.2"],
        ["1735680060000", "94233.7", "94260.0", "94220.0", "94255.1", "3.5", "329892.8", "329892.8"],
    ]

    assert candles(rows, "BTCUSDT", MINUTE) == [
        BarClosed("BTCUSDT", MINUTE, 1735680000000, 94210.5, 94250.0, 94190.1, 94233.7, 12.345),
        BarClosed("BTCUSDT", MINUTE, 1735680060000, 94233.7, 94260.0, 94220.0, 94255.1, 3.5),
    ]


def test_candles_come_out_oldest_first_whatever_the_row_order() -> None:
    rows = [
        ["1735680120000", "3", "3", "3", "3", "1", "3"],
        ["1735680000000", "1", "1", "1", "1", "1", "1"],
        ["1735680060000", "2", "2", "2", "2", "1", "2"],
    ]

    bars = candles(rows, "BTCUSDT", MINUTE)

    assert [b.open_ts for b in bars] == [1735680000000, 1735680060000, 1735680120000]
    assert [b.close for b in bars] == [1.0, 2.0, 3.0]


def test_a_repeated_candle_keeps_the_later_row() -> None:
    rows = [
        ["1735680000000", "100", "101", "99", "100.5", "1.0", "100.5"],
        ["1735680000000", "100", "102", "98", "101.5", "2.0", "203.0"],
    ]

    [bar] = candles(rows, "BTCUSDT", MINUTE)

    assert (bar.high, bar.low, bar.close, bar.volume) == (102.0, 98.0, 101.5, 2.0)


def test_a_five_field_candle_row_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="5 fields"):
        candles([["1735680000000", "1", "2", "0.5", "1.5"]], "BTCUSDT", MINUTE)


@pytest.mark.parametrize(
    "row",
    [
        ["1735680000000", "94210.5", "n/a", "94190.1", "94233.7", "12.345", "1163180.2"],
        ["not-a-ts", "94210.5", "94250.0", "94190.1", "94233.7", "12.345", "1163180.2"],
        ["1735680000000", "94210.5", "94250.0", None, "94233.7", "12.345", "1163180.2"],
    ],
)
def test_a_non_numeric_candle_value_raises_parse_error(row: list[str | None]) -> None:
    with pytest.raises(ParseError, match="not numeric"):
        candles([row], "BTCUSDT", MINUTE)


# --- book (sections 5.4 and 7.3) ----------------------------------------------------------------


def test_a_books5_item_with_string_levels_parses_best_first() -> None:
    item = {
        "asks": [["94234.0", "1.5"], ["94234.5", "0.2"]],
        "bids": [["94233.5", "0.357"], ["94233.0", "4"]],
        "checksum": 0,
        "seq": 1304314508780744705,
        "ts": "1735680031588",
    }

    assert book(item, "BTCUSDT", recv_ns=7) == BookUpdated(
        "BTCUSDT", 1735680031588, ((94233.5, 0.357), (94233.0, 4.0)), ((94234.0, 1.5), (94234.5, 0.2)), 7
    )


def test_a_merge_depth_item_with_numeric_levels_parses() -> None:
    item = {
        "asks": [[94234.0, 1.5], [94234.5, 0.2]],
        "bids": [[94233.5, 0.357]],
        "ts": "1735680031588",
        "scale": "0.1",
        "precision": "scale0",
        "isMaxPrecision": "YES",
    }

    parsed = book(item, "BTCUSDT")

    assert parsed.bids == ((94233.5, 0.357),)
    assert parsed.asks == ((94234.0, 1.5), (94234.5, 0.2))


def test_null_bids_are_an_empty_side() -> None:
    parsed = book({"asks": [["94234.0", "1.5"]], "bids": None, "ts": "1735680031588"}, "BTCUSDT")

    assert parsed.bids == ()
    assert parsed.asks == ((94234.0, 1.5),)


def test_a_level_that_is_not_a_price_size_pair_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="asks"):
        book({"asks": [["94234.0"]], "bids": [], "ts": "1735680031588"}, "BTCUSDT")


# --- trades (section 7.3) -----------------------------------------------------------------------


def test_trades_come_out_oldest_first_as_single_trade_bars() -> None:
    items = [
        {"ts": "1735680031650", "price": "94235.5", "size": "0.5", "side": "sell", "tradeId": "2"},
        {"ts": "1735680031601", "price": "94234.0", "size": "0.012", "side": "buy", "tradeId": "1"},
    ]

    assert trades(items, "BTCUSDT", recv_ns=9) == [
        TradesReceived("BTCUSDT", 1735680031601, 94234.0, 94234.0, 94234.0, 94234.0, 0.012, 1, 9),
        TradesReceived("BTCUSDT", 1735680031650, 94235.5, 94235.5, 94235.5, 94235.5, 0.5, 1, 9),
    ]


def test_a_trade_without_size_raises_parse_error() -> None:
    with pytest.raises(ParseError, match="size"):
        trades([{"ts": "1735680031601", "price": "94234.0", "side": "buy"}], "BTCUSDT")


# --- checksum (section 7.3) ---------------------------------------------------------------------


def test_checksum_of_the_first_documented_example_is_negative() -> None:
    # "43231.1:4:43232.8:9:43231:6:43232.9:8" -> unsigned 2790465500 -> signed -1504501796
    bids = [["43231.1", "4"], ["43231", "6"]]
    asks = [["43232.8", "9"], ["43232.9", "8"]]

    assert checksum(bids, asks) == -1504501796


def test_checksum_of_the_second_documented_example() -> None:
    # "3366.1:7:3366.8:9:3368:8:3372:8"
    bids = [["3366.1", "7"], ["3368", "8"]]
    asks = [["3366.8", "9"], ["3372", "8"]]

    assert checksum(bids, asks) == 831078360


def test_a_side_that_runs_out_is_skipped() -> None:
    # bid1, ask1, then only asks: "43231.1:4:43232.8:9:43232.9:8"
    expected = binascii.crc32(b"43231.1:4:43232.8:9:43232.9:8")
    expected -= (1 << 32) if expected >= 1 << 31 else 0

    assert checksum([["43231.1", "4"]], [["43232.8", "9"], ["43232.9", "8"]]) == expected


def test_only_the_first_25_levels_of_each_side_count() -> None:
    bids = [[f"{100 - i}.5", "1"] for i in range(30)]
    asks = [[f"{101 + i}.5", "1"] for i in range(30)]
    deeper = [*bids[:25], *[["1.0", "999"]] * 5], [*asks[:25], *[["999.0", "999"]] * 5]
    level_25_changed = [*bids[:24], ["76.5", "2"], *bids[25:]], asks

    assert checksum(bids, asks) == checksum(*deeper)
    assert checksum(bids, asks) != checksum(*level_25_changed)


def test_checksum_uses_the_exact_strings_so_trailing_zeros_matter() -> None:
    asks = [["94234.0", "1.204"]]

    assert checksum([["94233.50", "0.357"]], asks) != checksum([["94233.5", "0.357"]], asks)


def reference_checksum(bids: list[list[str]], asks: list[list[str]]) -> int:
    """The documented definition, spelled out independently of the implementation."""
    levels = itertools.chain.from_iterable(itertools.zip_longest(bids[:25], asks[:25]))
    text = ":".join(f"{price}:{size}" for price, size in filter(None, levels))
    return int.from_bytes(binascii.crc32(text.encode()).to_bytes(4, "big"), "big", signed=True)


decimal_text = st.decimals(min_value=0, max_value=10**7, places=4, allow_nan=False, allow_infinity=False).map(str)
side = st.lists(st.lists(decimal_text, min_size=2, max_size=2), max_size=40)


@given(side, side)
def test_checksum_is_a_signed_32_bit_crc_of_the_interleaved_levels(
    bids: list[list[str]], asks: list[list[str]]
) -> None:
    value = checksum(bids, asks)

    assert -(1 << 31) <= value < 1 << 31
    assert value == reference_checksum(bids, asks)


# --- frame (section 7.2-7.4) --------------------------------------------------------------------


def push_text(channel: str, data: list[object], action: str = "snapshot", **arg: str) -> str:
    return orjson.dumps(
        {"action": action, "arg": {"instType": "USDT-FUTURES", "channel": channel, **arg}, "data": data, "ts": 17}
    ).decode()


@pytest.mark.parametrize("text", ["pong", b"pong"])
def test_the_pong_heartbeat_is_recognised(text: str | bytes) -> None:
    assert frame(text) == PONG


def test_a_subscribe_ack_is_an_event_with_its_arg() -> None:
    arg = {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "BTCUSDT"}

    assert frame(orjson.dumps({"event": "subscribe", "arg": arg})) == Event("subscribe", "", "", arg)


@pytest.mark.parametrize("code", ["30001", 30001])
def test_an_error_event_keeps_its_code_and_message(code: object) -> None:
    text = orjson.dumps({"event": "error", "code": code, "msg": "instId:FOOUSDT doesn't exist"})

    assert frame(text) == Event("error", "30001", "instId:FOOUSDT doesn't exist", {})


def test_a_successful_login_event_has_code_zero() -> None:
    parsed = frame('{"event":"login","code":0}')

    assert parsed == Event("login", "0", "", {})


def test_a_candle_push_keeps_channel_symbol_action_and_rows() -> None:
    row = ["1735680000000", "94210.5", "94250.0", "94190.1", "94233.7", "12.345", "1163180.2", "1163180.2"]
    text = (
        '{"action":"update","arg":{"instType":"USDT-FUTURES","channel":"candle1m","instId":"BTCUSDT"},'
        f'"data":[{orjson.dumps(row).decode()}],"ts":1735680031502}}'
    )

    assert frame(text) == Push("candle1m", "BTCUSDT", "update", [row], 1735680031502)


def test_a_books_update_push_keeps_its_item() -> None:
    item = {
        "asks": [["94234.0", "0"], ["94236.5", "1.204"]],
        "bids": [["94233.5", "0.357"]],
        "checksum": -1504501796,
        "seq": 1304314508780744705,
        "pseq": 1304314508780744690,
        "ts": "1735680031588",
    }
    text = orjson.dumps(
        {
            "action": "update",
            "arg": {"instType": "USDT-FUTURES", "channel": "books", "instId": "BTCUSDT"},
            "data": [item],
            "ts": 1735680031590,
        }
    )

    parsed = frame(text)

    assert parsed == Push("books", "BTCUSDT", "update", [item], 1735680031590)
    assert parsed.data[0]["seq"] == 1304314508780744705


def test_a_trade_push_feeds_the_trade_parser() -> None:
    item = {"ts": "1735680031601", "price": "94234.0", "size": "0.012", "side": "buy", "tradeId": "1255321234567890123"}
    parsed = frame(push_text("trade", [item], action="update", instId="BTCUSDT"))

    assert isinstance(parsed, Push)
    assert (parsed.channel, parsed.symbol, parsed.action) == ("trade", "BTCUSDT", "update")
    assert trades(parsed.data, parsed.symbol)[0].close == 94234.0


def test_a_ticker_push_feeds_the_ticker_parser() -> None:
    text = orjson.dumps(
        {
            "action": "snapshot",
            "arg": {"instType": "USDT-FUTURES", "channel": "ticker", "instId": "ETHUSDT"},
            "data": [WS_TICKER_ITEM],
            "ts": 1735680000130,
        }
    )

    parsed = frame(text)

    assert parsed == Push("ticker", "ETHUSDT", "snapshot", [WS_TICKER_ITEM], 1735680000130)
    assert ticker(parsed.data[0]).last == 3120.55


def test_a_private_orders_push_uses_default_as_its_symbol() -> None:
    order = {
        "orderId": "1266012345678901234",
        "clientOid": "eng-BTCUSDT-000042",
        "instId": "BTCUSDT",
        "status": "partially_filled",
        "accBaseVolume": "0.004",
    }

    assert frame(push_text("orders", [order], instId="default")) == Push("orders", "default", "snapshot", [order], 17)


def test_a_private_fill_push_keeps_its_item() -> None:
    fill = {"orderId": "1266012345678901234", "tradeId": "1266012345678999999", "symbol": "BTCUSDT"}

    assert frame(push_text("fill", [fill], instId="default")) == Push("fill", "default", "snapshot", [fill], 17)


def test_the_account_push_uses_coin_as_its_symbol() -> None:
    account = {"marginCoin": "USDT", "available": "962.4", "equity": "1000.94", "usdtEquity": "1000.94"}

    parsed = frame(push_text("account", [account], coin="default"))

    assert parsed == Push("account", "default", "snapshot", [account], 17)


def test_a_push_without_action_is_a_snapshot() -> None:
    text = '{"arg":{"instType":"USDT-FUTURES","channel":"books5","instId":"BTCUSDT"},"data":[],"ts":5}'

    assert frame(text) == Push("books5", "BTCUSDT", "snapshot", [], 5)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"action":"update","arg":{"channel":"trade"', id="malformed JSON"),
        pytest.param('[{"channel":"trade"}]', id="a JSON list"),
        pytest.param('{"action":"update","arg":{"instId":"BTCUSDT"},"data":[],"ts":1}', id="arg without channel"),
        pytest.param('{"action":"update","data":[],"ts":1}', id="no arg"),
        pytest.param('{"action":"update","arg":{"channel":"trade","instId":"BTCUSDT"},"ts":1}', id="no data list"),
    ],
)
def test_a_frame_that_is_not_a_pong_event_or_push_raises_parse_error(text: str) -> None:
    with pytest.raises(ParseError):
        frame(text)


# --- known gaps: malformed items that escape as something other than ParseError -----------------
# The module promises "a malformed item raises ParseError naming what was wrong, so the stream can
# count and skip it". These inputs are outside the documented shapes, but break that promise.


def test_a_contract_missing_symbol_raises_parse_error() -> None:
    broken = contract("BTCUSDT")
    del broken["symbol"]

    with pytest.raises(ParseError, match="symbol"):
        instruments([broken], [])


def test_a_push_with_a_non_numeric_ts_raises_parse_error() -> None:
    text = '{"action":"update","arg":{"channel":"trade","instId":"BTCUSDT"},"data":[],"ts":"soon"}'

    with pytest.raises(ParseError):
        frame(text)


def test_a_null_candle_row_raises_parse_error() -> None:
    with pytest.raises(ParseError):
        candles([None], "BTCUSDT", MINUTE)  # type: ignore[list-item]
