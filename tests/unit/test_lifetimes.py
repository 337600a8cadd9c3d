"""A symbol's lifetime by binary search over dates, against a scripted listing: every probe is checked."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from raycollect.discovery import listed_table
from raycollect.lifetimes import alive, lifetime, lifetimes
from raycollect.matrix import load_matrix
from tests.helpers import MATRIX

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)


class Listing:
    """``objects`` over a fixed sorted key list, as S3 answers ``StartAfter``/``MaxKeys``; counts requests."""

    def __init__(self, keys: list[str]) -> None:
        self.keys = sorted(keys)
        self.requests = 0

    def objects(self, prefix: str, start_after: str | None = None, *, max_keys: int | None = None):
        self.requests += 1
        got = [k for k in self.keys if k.startswith(prefix) and (start_after is None or k > start_after)]
        got = got[:max_keys] if max_keys else got
        n = len(got)
        return [], listed_table({"key": got, "size": [1] * n, "etag": ["e"] * n, "last_modified": [T] * n})

    def map(self, fn, items):
        return [fn(i) for i in items]


def daily(symbol: str, first: dt.date, last: dt.date, holes: tuple[dt.date, ...] = ()) -> list[str]:
    out = []
    d = first
    while d <= last:
        if d not in holes:
            k = f"data/spot/daily/klines/{symbol}/1h/{symbol}-1h-{d}.zip"
            out += [k, k + ".CHECKSUM"]
        d += dt.timedelta(days=1)
    return out


@pytest.mark.parametrize(("first", "last"), [
    (dt.date(2017, 8, 17), dt.date(2026, 12, 4)), (dt.date(2020, 1, 1), dt.date(2020, 1, 1)),
    (dt.date(2021, 3, 1), dt.date(2022, 7, 9)), (dt.date(2026, 12, 4), dt.date(2026, 12, 4)),
])  # fmt: skip
def test_the_first_and_last_day_are_found_in_a_few_requests(first, last):
    entry = load_matrix(MATRIX).get("spot", "klines")
    listing = Listing(daily("BTCUSDT", first, last, holes=(last - dt.timedelta(days=2),)) +
                      daily("BTCUSDTX", first, dt.date(2026, 12, 4)))  # a neighbour folder never counts
    assert lifetime(listing, entry, "BTCUSDT", "1h", dt.date(2026, 12, 5)) == ("daily", first, last)
    assert listing.requests <= 16  # ten years of days: about 12 probes, not 3,400 keys


def test_an_empty_folder_has_no_lifetime_and_alive_keeps_those_living_that_day():
    entry = load_matrix(MATRIX).get("spot", "klines")
    listing = Listing(daily("AUSDT", dt.date(2024, 1, 1), dt.date(2024, 1, 3)) +
                      daily("BUSDT", dt.date(2024, 1, 2), dt.date(2024, 1, 9)))
    assert lifetime(listing, entry, "NOPEUSDT", "1h", dt.date(2024, 1, 10)) is None
    table = lifetimes(listing, [(entry, s, "1h") for s in ("AUSDT", "BUSDT", "NOPEUSDT")], dt.date(2024, 1, 10))
    assert table.num_rows == 2 and isinstance(table, pa.Table)
    assert alive(table, dt.date(2024, 1, 1)) == {("spot", "klines", "AUSDT")}
    assert alive(table, dt.date(2024, 1, 3)) == {("spot", "klines", "AUSDT"), ("spot", "klines", "BUSDT")}
    assert alive(table, dt.date(2024, 1, 5)) == {("spot", "klines", "BUSDT")}
