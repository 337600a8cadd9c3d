"""Symbols over time: each symbol's first and last day in the archive, from the listing (delisted ones too).

The exchange's live API lists only symbols trading today, so a backtest built on it never sees the ones
that were delisted (survivorship bias). The archive keeps their folders. Per symbol folder, two small
listings find its lifetime without reading the folder:
- the first key (one request with ``MaxKeys=1``: keys sort by date inside a folder);
- the last day, by a binary search over dates with ``StartAfter``: "is there a file on or after day d?"
  (about 12 requests for ten years of daily files).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from raycollect.archive import archive_key, format_period, parse_key

LIFETIME_SCHEMA = pa.schema([
    ("market", pa.string()), ("data_type", pa.string()), ("symbol", pa.string()), ("interval", pa.string()),
    ("partition", pa.string()), ("first_day", pa.date32()), ("last_day", pa.date32()),
])  # fmt: skip


def lifetime(lister: Any, entry: Any, symbol: str, interval: str | None, today: dt.date
             ) -> tuple[str, dt.date, dt.date] | None:
    """(partition, first day, last day) of ``symbol``'s files for ``entry`` (its daily folder when it has one,
    else its monthly folder; a monthly file's last day is its month's last), or None when the folder is empty."""
    partition = "daily" if "daily" in entry.partitions_for(interval) else "monthly"
    probe = archive_key(entry.market, partition, entry.data_type, symbol, interval, today)
    folder = probe.rsplit("/", 1)[0] + "/"
    stem = probe[: -len(format_period(partition, today) + ".zip")]  # .../BTCUSDT-1m-

    def first_on_or_after(day: dt.date | None) -> dt.date | None:
        after = None if day is None else stem + format_period(partition, day)
        _, objects = lister.objects(folder, after, max_keys=1)
        for key in objects["key"].to_pylist():
            parsed = parse_key(key.removesuffix(".CHECKSUM"))
            return parsed.period if parsed is not None else None
        return None

    first = first_on_or_after(None)
    if first is None:
        return None
    lo, hi = first, today  # invariant: a file exists on or after lo; none after hi
    step = (lambda d, n: _add_months(d, n)) if partition == "monthly" else (lambda d, n: d + dt.timedelta(days=n))
    while _count(lo, hi, partition) > 0:
        mid = step(lo, max(1, _count(lo, hi, partition) // 2))
        if first_on_or_after(mid) is not None:
            lo = mid
        else:
            hi = step(mid, -1)
    last = lo
    if partition == "monthly":
        last = _add_months(last, 1) - dt.timedelta(days=1)
    return partition, first, last


def _count(lo: dt.date, hi: dt.date, partition: str) -> int:
    if partition == "monthly":
        return (hi.year - lo.year) * 12 + hi.month - lo.month
    return (hi - lo).days


def _add_months(day: dt.date, n: int) -> dt.date:
    month = day.year * 12 + day.month - 1 + n
    return dt.date(month // 12, month % 12 + 1, 1)


def lifetimes(lister: Any, items: list[tuple[Any, str, str | None]], today: dt.date) -> pa.Table:
    """LIFETIME_SCHEMA rows for ``items`` of (matrix entry, symbol, interval), listed in parallel."""

    def one(item: tuple[Any, str, str | None]) -> dict[str, Any] | None:
        entry, symbol, interval = item
        found = lifetime(lister, entry, symbol, interval, today)
        if found is None:
            return None
        partition, first, last = found
        return {"market": entry.market, "data_type": entry.data_type, "symbol": symbol, "interval": interval,
                "partition": partition, "first_day": first, "last_day": last}

    rows = [r for r in lister.map(one, items) if r is not None]
    return pa.Table.from_pylist(rows, schema=LIFETIME_SCHEMA)


def alive(table: pa.Table, day: dt.date) -> set[tuple[str, str, str]]:
    """(market, data type, symbol) with a file on or before ``day`` and on or after it."""
    return {(r["market"], r["data_type"], r["symbol"]) for r in table.to_pylist()
            if r["first_day"] <= day <= r["last_day"]}
