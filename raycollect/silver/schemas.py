"""The silver zone's columns per (market, data type): names as in ARCHIVE.md, one kind per column.

Kinds, and the Arrow type each becomes in the Parquet output:
- ``time``: epoch milliseconds or microseconds in the CSV (the unit found per file, by magnitude) ->
  ``timestamp[us, tz=UTC]`` (DuckDB: ``TIMESTAMP WITH TIME ZONE``);
- ``text_time``: ``YYYY-MM-DD HH:MM:SS`` (UTC) -> ``timestamp[us, tz=UTC]``;
- ``date``: ``YYYY-MM-DD`` -> ``date32``;
- ``float`` -> ``double`` (prices, quantities, ratios); ``int`` -> ``int64`` (ids, counts);
- ``bool`` (``True``/``False`` on spot, ``true``/``false`` on futures) -> ``bool``; ``str`` -> ``string``.
Every table also has ``symbol`` (from the archive key, unless the CSV has its own ``symbol`` column) and, for
kline-like types, ``interval``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from raycollect.archive import KLINE_TYPES

Kind = Literal["time", "text_time", "date", "float", "int", "bool", "str"]
TIMESTAMP = pa.timestamp("us", tz="UTC")
ARROW: dict[str, pa.DataType] = {"time": TIMESTAMP, "text_time": TIMESTAMP, "date": pa.date32(),
                                 "float": pa.float64(), "int": pa.int64(), "bool": pa.bool_(), "str": pa.string()}


def _cols(spec: str) -> tuple[tuple[str, Kind], ...]:
    """``"open_time:time open:float ..."`` -> ((name, kind), ...)."""
    return tuple((name, kind) for name, kind in (item.split(":") for item in spec.split()))  # type: ignore[misc]


_KLINES = _cols("open_time:time open:float high:float low:float close:float volume:float close_time:time "
                "quote_volume:float count:int taker_buy_volume:float taker_buy_quote_volume:float ignore:float")
_COLUMNS: dict[str, tuple[tuple[str, Kind], ...]] = {
    **{t: _KLINES for t in KLINE_TYPES},
    "trades:spot": _cols("id:int price:float qty:float quote_qty:float time:time is_buyer_maker:bool "
                         "is_best_match:bool"),
    "trades:futures_um": _cols("id:int price:float qty:float quote_qty:float time:time is_buyer_maker:bool"),
    "trades:futures_cm": _cols("id:int price:float qty:float base_qty:float time:time is_buyer_maker:bool"),
    "aggTrades:spot": _cols("agg_trade_id:int price:float quantity:float first_trade_id:int last_trade_id:int "
                            "transact_time:time is_buyer_maker:bool is_best_match:bool"),
    "aggTrades": _cols("agg_trade_id:int price:float quantity:float first_trade_id:int last_trade_id:int "
                       "transact_time:time is_buyer_maker:bool"),
    "fundingRate": _cols("calc_time:time funding_interval_hours:int last_funding_rate:float"),
    "metrics": _cols("create_time:text_time symbol:str sum_open_interest:float sum_open_interest_value:float "
                     "count_toptrader_long_short_ratio:float sum_toptrader_long_short_ratio:float "
                     "count_long_short_ratio:float sum_taker_long_short_vol_ratio:float"),
    "bookDepth": _cols("timestamp:text_time percentage:float depth:float notional:float"),
    "bookTicker": _cols("update_id:int best_bid_price:float best_bid_qty:float best_ask_price:float "
                        "best_ask_qty:float transaction_time:time event_time:time"),
    "liquidationSnapshot": _cols("time:time side:str order_type:str time_in_force:str original_quantity:float "
                                 "price:float average_price:float order_status:str last_fill_quantity:float "
                                 "accumulated_fill_quantity:float"),
    "BVOLIndex": _cols("calc_time:time symbol:str base_asset:str quote_asset:str index_value:float"),
    "EOHSummary": _cols("date:date hour:int symbol:str underlying:str type:str strike:float open:float high:float "
                        "low:float close:float volume_contracts:float volume_usdt:float best_bid_price:float "
                        "best_ask_price:float best_bid_qty:float best_ask_qty:float best_buy_iv:float "
                        "best_sell_iv:float mark_price:float mark_iv:float delta:float gamma:float vega:float "
                        "theta:float openinterest_contracts:float openinterest_usdt:float"),
}  # fmt: skip


@dataclass(frozen=True)
class TableSpec:
    """What one (market, data type) looks like in the CSV and in the silver Parquet."""

    market: str
    data_type: str
    columns: tuple[tuple[str, Kind], ...]  # in CSV order

    @property
    def names(self) -> list[str]:
        return [n for n, _ in self.columns]

    @property
    def kline(self) -> bool:
        return self.data_type in KLINE_TYPES

    @property
    def time_column(self) -> str:
        """The column that orders the rows and places them in their period (the first time column)."""
        return next(n for n, k in self.columns if k in ("time", "text_time", "date"))

    @property
    def partition_column(self) -> str:
        """The column that holds the key's symbol: ``symbol``, except in EOHSummary, whose ``symbol`` is the
        option contract and whose ``underlying`` is the key's symbol (``BTCUSDT``)."""
        return "underlying" if self.data_type == "EOHSummary" else "symbol"

    @property
    def adds_symbol(self) -> bool:
        return "symbol" not in self.names

    @property
    def schema(self) -> pa.Schema:
        fields = [pa.field(n, ARROW[k]) for n, k in self.columns]
        if self.adds_symbol:
            fields.append(pa.field("symbol", pa.string()))
        if self.kline:
            fields.append(pa.field("interval", pa.string()))
        return pa.schema(fields)


def table_spec(market: str, data_type: str) -> TableSpec:
    """The spec of ``data_type`` on ``market``; KeyError when the archive has no such type."""
    columns = _COLUMNS.get(f"{data_type}:{market}") or _COLUMNS.get(data_type)
    if columns is None:
        raise KeyError(f"no silver schema for {market}/{data_type}")
    return TableSpec(market, data_type, columns)


def data_types() -> set[str]:
    return {k.split(":")[0] for k in _COLUMNS}
