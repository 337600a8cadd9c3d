"""The key grammar of the Binance public data archive: pure functions, no I/O.

```
data/{spot|futures/um|futures/cm|option}/{daily|monthly}/{dataType}/{SYMBOL}/[{interval}/]{file}.zip
kline-like types:  file = {SYMBOL}-{interval}-{YYYY-MM-DD | YYYY-MM}.zip
every other type:  file = {SYMBOL}-{dataType}-{YYYY-MM-DD | YYYY-MM}.zip
sidecar:           the same key + ".CHECKSUM"
```

This module is the reference the shipped matrix is tested against, and the parser that checks keys
coming back from a bucket listing before anything uses them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import pyarrow as pa

#: Config name of a market -> its path below ``data/`` (note the singular ``option``).
MARKET_PATHS: dict[str, str] = {
    "spot": "spot",
    "futures_um": "futures/um",
    "futures_cm": "futures/cm",
    "options": "option",
}
#: Other spellings users write (the seed's ``TradeType`` values) -> the config name.
MARKET_ALIASES: dict[str, str] = {"um_futures": "futures_um", "cm_futures": "futures_cm", "option": "options"}

PARTITIONS: tuple[str, ...] = ("daily", "monthly")

#: Every interval the archive knows, in its own spelling (the month is ``1mo``).
INTERVALS: tuple[str, ...] = (
    "1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1mo",
)  # fmt: skip
#: Config spellings that mean an archive interval.
INTERVAL_ALIASES: dict[str, str] = {"1M": "1mo"}

#: Types whose file name carries the interval instead of the type name.
KLINE_TYPES: frozenset[str] = frozenset({"klines", "indexPriceKlines", "markPriceKlines", "premiumIndexKlines"})

CHECKSUM_SUFFIX = ".CHECKSUM"

# Upper-case letters and digits, optionally one "_SUFFIX" (BTCUSD_PERP, BTCUSDT_210326, ICPUSDT_SETTLED).
# Nothing else: this string becomes a path segment and an s5cmd argument.
SYMBOL_RE = re.compile(r"[A-Z0-9]{1,32}(?:_[A-Z0-9]{1,16})?")
DATA_TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,47}")

#: An archive zip key, as a pattern that Python's ``re`` and Arrow's RE2 both read: ``parse_key`` checks one key
#: with it, the listing's snapshot takes the parts of a million keys column-wise (raycollect.listing).
KEY_PATTERN = (
    r"(?P<folder>data/(?P<market>spot|futures/um|futures/cm|option)/(?P<partition>daily|monthly)/"
    r"(?P<data_type>[A-Za-z][A-Za-z0-9]{0,47})/(?P<symbol>[A-Z0-9]{1,32}(?:_[A-Z0-9]{1,16})?)/"
    r"(?:(?P<interval>[0-9]{1,2}(?:s|m|h|d|w|mo))/)?)"
    r"(?P<file>(?P<fsymbol>[A-Z0-9_]+)-(?P<tag>[A-Za-z0-9]+)-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip)"
)
_KEY_RE = re.compile(KEY_PATTERN)
_PATH_TO_MARKET = {v: k for k, v in MARKET_PATHS.items()}


class ArchiveKey(NamedTuple):
    """One archive file, as its parts."""

    market: str
    partition: str
    data_type: str
    symbol: str
    interval: str | None
    period: dt.date

    @property
    def key(self) -> str:
        return archive_key(self.market, self.partition, self.data_type, self.symbol, self.interval, self.period)


def normalize_market(name: str) -> str | None:
    """The config name for ``name`` (aliases accepted), or None when it is not a market."""
    name = MARKET_ALIASES.get(name, name)
    return name if name in MARKET_PATHS else None


def normalize_interval(name: str) -> str | None:
    """The archive spelling for ``name`` (``1M`` -> ``1mo``), or None when it is not an interval."""
    name = INTERVAL_ALIASES.get(name, name)
    return name if name in INTERVALS else None


def is_valid_symbol(symbol: str) -> bool:
    return SYMBOL_RE.fullmatch(symbol) is not None


def format_period(partition: str, period: dt.date) -> str:
    """``YYYY-MM-DD`` for a daily file, ``YYYY-MM`` for a monthly one."""
    return period.strftime("%Y-%m-%d") if partition == "daily" else period.strftime("%Y-%m")


def file_name(data_type: str, symbol: str, interval: str | None, partition: str, period: dt.date) -> str:
    """The zip's file name: the interval stands in the name of kline-like types, the type elsewhere."""
    tag = interval if data_type in KLINE_TYPES else data_type
    if tag is None:
        raise ValueError(f"{data_type} files need an interval")
    return f"{symbol}-{tag}-{format_period(partition, period)}.zip"


def archive_key(
    market: str, partition: str, data_type: str, symbol: str, interval: str | None, period: dt.date
) -> str:
    """The object key of one archive zip."""
    if market not in MARKET_PATHS:
        raise ValueError(f"unknown market {market!r}")
    if partition not in PARTITIONS:
        raise ValueError(f"unknown partition {partition!r}")
    if not is_valid_symbol(symbol):
        raise ValueError(f"invalid symbol {symbol!r}")
    folder = f"{interval}/" if interval else ""
    name = file_name(data_type, symbol, interval, partition, period)
    return f"data/{MARKET_PATHS[market]}/{partition}/{data_type}/{symbol}/{folder}{name}"


def checksum_key(key: str) -> str:
    return key + CHECKSUM_SUFFIX


def parse_key(key: str) -> ArchiveKey | None:
    """The parts of an archive zip key, or None when ``key`` does not follow the grammar exactly.

    Used on keys that come back from a listing: anything that does not round-trip to itself (a
    mismatched symbol in the file name, a period that is not a real date, ``..``) is rejected.
    """
    m = _KEY_RE.fullmatch(key)
    if m is None:
        return None
    partition, period_text = m["partition"], m["period"]
    if (partition == "daily") != (len(period_text) == 10):
        return None
    try:
        period = dt.date.fromisoformat(period_text if partition == "daily" else period_text + "-01")
    except ValueError:
        return None
    interval = m["interval"]
    if interval is not None and interval not in INTERVALS:
        return None
    parsed = ArchiveKey(_PATH_TO_MARKET[m["market"]], partition, m["data_type"], m["symbol"], interval, period)
    try:
        return parsed if parsed.key == key else None
    except ValueError:
        return None


# --- the same, column-wise, on Arrow arrays of keys (pyarrow is imported when used: not at start-up) ---
_MONTHLY_OF_DAY = (r"-(\d{4}-\d{2})-\d{2}\.zip$", r"-\1.zip")


def folder_of(keys: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """``a/b/c.zip`` -> ``a/b/`` for each key or path."""
    import pyarrow.compute as pc

    return pc.replace_substring_regex(keys, pattern=r"[^/]*$", replacement="")


def monthly_key_of(keys: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """The key of the monthly file that holds each daily key's day (any other key as it is)."""
    import pyarrow.compute as pc

    month = pc.replace_substring_regex(keys, pattern=_MONTHLY_OF_DAY[0], replacement=_MONTHLY_OF_DAY[1])
    return pc.replace_substring(month, pattern="/daily/", replacement="/monthly/", max_replacements=1)
