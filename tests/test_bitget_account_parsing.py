"""Private Bitget items (fills, positions) as what reconciliation and the ledger need."""

from __future__ import annotations

import pytest

from adapters.bitget.parsing import ParseError, VenueFill, VenuePosition, venue_fill, venue_position
from engine.messages import Side

FILL = {
    "orderId": "1266012345678901234", "clientOid": "eng-BTCUSDT-000042", "tradeId": "1266012345678999999",
    "symbol": "BTCUSDT", "side": "buy", "orderType": "limit", "posMode": "one_way_mode", "price": "94000",
    "baseVolume": "0.004", "quoteVolume": "376.0", "profit": "0", "tradeSide": "open", "tradeScope": "maker",
    "feeDetail": [{"feeCoin": "USDT", "deduction": "no", "totalDeductionFee": "0", "totalFee": "-0.0752"}],
    "cTime": "1735680031700", "uTime": "1735680031700",
}  # fmt: skip


def test_a_one_way_fill_keeps_its_ids_side_size_price_and_the_fee_paid() -> None:
    assert venue_fill(FILL) == VenueFill(
        "1266012345678999999", "1266012345678901234", "eng-BTCUSDT-000042", "BTCUSDT", 1735680031700, Side.LONG,
        0.004, 94000.0, 0.0752, False,
    )  # fmt: skip


def test_a_one_way_sell_that_closes_is_a_sell() -> None:
    fill = venue_fill(FILL | {"side": "sell", "tradeSide": "close"})
    assert (fill.side, fill.closing) == (Side.SHORT, True)


@pytest.mark.parametrize(("side", "trade"), [("buy", Side.SHORT), ("sell", Side.LONG)])
def test_a_hedge_mode_close_trades_against_the_position_its_side_names(side: str, trade: Side) -> None:
    fill = venue_fill(FILL | {"posMode": "hedge_mode", "side": side, "tradeSide": "close"})
    assert (fill.side, fill.closing) == (trade, True)


def test_a_hedge_mode_open_trades_in_the_direction_of_its_side() -> None:
    assert venue_fill(FILL | {"posMode": "hedge_mode", "side": "sell", "tradeSide": "open"}).side is Side.SHORT


def test_the_fee_is_the_sum_of_the_fee_details_paid() -> None:
    details = [{"totalFee": "-0.05"}, {"totalFee": "-0.02"}]
    assert venue_fill(FILL | {"feeDetail": details}).fee == pytest.approx(0.07)


def test_a_fill_without_fee_details_paid_nothing() -> None:
    assert venue_fill(FILL | {"feeDetail": None}).fee == 0.0


def test_the_misspelt_client_oid_of_some_pushes_is_read_too() -> None:
    item = {k: v for k, v in FILL.items() if k != "clientOid"} | {"clientOId": "eng-1"}
    assert venue_fill(item).client_oid == "eng-1"


@pytest.mark.parametrize(
    ("change", "problem"),
    [({"tradeId": ""}, "tradeId"), ({"side": "long"}, "buy or sell"), ({"baseVolume": "x"}, "baseVolume"),
     ({"feeDetail": [{"totalFee": "lots"}]}, "feeDetail")],
)  # fmt: skip
def test_a_malformed_fill_is_a_parse_error_naming_the_field(change: dict[str, object], problem: str) -> None:
    with pytest.raises(ParseError, match=problem):
        venue_fill(FILL | change)


POSITION = {
    "marginCoin": "USDT", "symbol": "BTCUSDT", "holdSide": "long", "total": "0.004", "available": "0.004",
    "openPriceAvg": "94000", "markPrice": "94235.5", "leverage": 10, "marginMode": "crossed",
}  # fmt: skip


def test_a_position_keeps_its_side_size_entry_and_mark() -> None:
    assert venue_position(POSITION) == VenuePosition("BTCUSDT", Side.LONG, 0.004, 94000.0, 94235.5)


def test_a_pushed_position_names_its_symbol_by_inst_id_and_may_lack_a_mark() -> None:
    item = {k: v for k, v in POSITION.items() if k not in ("symbol", "markPrice")} | {"instId": "ETHUSDT"}
    assert venue_position(item | {"holdSide": "short"}) == VenuePosition("ETHUSDT", Side.SHORT, 0.004, 94000.0, 0.0)


def test_a_position_without_a_hold_side_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="holdSide"):
        venue_position(POSITION | {"holdSide": "net"})
