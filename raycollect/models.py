"""The seed's data models: enums, the matrix-to-DataType mapping, DataIngestionTask, IngestionMetadata.

``DataType`` is coarse metadata for catalogues; it is never a path segment. Keys keep the archive's
own type names (``aggTrades``, ``markPriceKlines``, ...).
"""

from __future__ import annotations

import datetime as dt
from enum import Enum

from pydantic import BaseModel, Field


class Exchange(str, Enum):
    BINANCE = "binance"
    COINBASE = "coinbase"
    KRAKEN = "kraken"


class DataType(str, Enum):
    KLINES = "klines"
    FUNDING_RATES = "funding_rates"
    LIQUIDATIONS = "liquidations"
    ORDER_BOOK = "order_book"
    TRADES = "trades"
    TICKER = "ticker"
    METRICS = "metrics"
    VOLATILITY = "volatility"
    SUMMARY = "summary"


class Interval(str, Enum):
    SEC_1 = "1s"
    MIN_1 = "1m"
    MIN_3 = "3m"
    MIN_5 = "5m"
    MIN_15 = "15m"
    MIN_30 = "30m"
    HOUR_1 = "1h"
    HOUR_2 = "2h"
    HOUR_4 = "4h"
    HOUR_6 = "6h"
    HOUR_8 = "8h"
    HOUR_12 = "12h"
    DAY_1 = "1d"
    DAY_3 = "3d"
    WEEK_1 = "1w"
    MONTH_1 = "1M"  # the seed's spelling; the archive's folder is "1mo" (see archive.normalize_interval)


class TradeType(str, Enum):
    SPOT = "spot"
    UM_FUTURES = "um_futures"
    CM_FUTURES = "cm_futures"
    OPTIONS = "options"


class DataZone(str, Enum):
    BRONZE = "bronze"
    SILVER = "silver"
    GOLD = "gold"


#: Archive type name -> coarse DataType (the seed's mapping, extended with premiumIndexKlines).
MATRIX_DATA_TYPE_MAP: dict[str, DataType] = {
    "klines": DataType.KLINES,
    "indexPriceKlines": DataType.KLINES,
    "markPriceKlines": DataType.KLINES,
    "premiumIndexKlines": DataType.KLINES,
    "trades": DataType.TRADES,
    "aggTrades": DataType.TRADES,
    "fundingRate": DataType.FUNDING_RATES,
    "liquidationSnapshot": DataType.LIQUIDATIONS,
    "bookDepth": DataType.ORDER_BOOK,
    "bookTicker": DataType.TICKER,
    "metrics": DataType.METRICS,
    "BVOLIndex": DataType.VOLATILITY,
    "EOHSummary": DataType.SUMMARY,
}

#: Config market name -> the seed's TradeType.
MARKET_TRADE_TYPE: dict[str, TradeType] = {
    "spot": TradeType.SPOT,
    "futures_um": TradeType.UM_FUTURES,
    "futures_cm": TradeType.CM_FUTURES,
    "options": TradeType.OPTIONS,
}


def map_matrix_data_type(data_type: str) -> DataType | None:
    """The coarse DataType of an archive type name, or None for a name the seed did not know."""
    return MATRIX_DATA_TYPE_MAP.get(data_type)


class DataIngestionTask(BaseModel):
    """One unit of ingestion as the seed described it: a data type of a market, for some symbols."""

    exchange: Exchange = Exchange.BINANCE
    data_type: DataType
    trade_type: TradeType
    symbols: list[str]
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    interval: Interval | None = None
    force_update: bool = False
    enable_validation: bool = True
    target_zone: DataZone = DataZone.BRONZE


class IngestionMetadata(BaseModel):
    """The seed's record of one ingestion run; raycollect persists it beside the manifests."""

    task_id: str
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime
    records_processed: int = 0
    bytes_processed: int = 0
    errors: list[str] = Field(default_factory=list)
    source_files: list[str] = Field(default_factory=list)
    output_files: list[str] = Field(default_factory=list)
