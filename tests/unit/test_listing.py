"""The listing snapshot's rows (first and last period, holes) and the removed split, on hand-made listings."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from raycollect.discovery import listed_table, with_archive_facts
from raycollect.listing import read_snapshot, summarize, write_snapshot

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
DAILY = "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-{}.zip"
MONTHLY = "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-{}.zip"


def zips(keys: list[str]) -> pa.Table:
    n = len(keys)
    return listed_table({"key": keys, "size": [10] * n, "etag": ['"e"'] * n, "last_modified": [T] * n})


def test_a_folder_gives_its_first_and_last_period_and_the_holes_between():
    days = ["2024-01-01", "2024-01-02", "2024-01-05", "2024-01-07"]
    months = ["2023-11", "2024-02"]
    rows = summarize(zips([DAILY.format(d) for d in days] + [MONTHLY.format(m) for m in months]), T).to_pylist()
    by = {r["market"]: r for r in rows}
    spot, um = by["spot"], by["futures_um"]
    assert (spot["data_type"], spot["symbol"], spot["interval"], spot["partition"]) == ("klines", "BTCUSDT", "1m",
                                                                                         "daily")
    assert (spot["first_period"], spot["last_period"], spot["files"]) == (dt.date(2024, 1, 1), dt.date(2024, 1, 7), 4)
    assert spot["holes"] == [dt.date(2024, 1, 3), dt.date(2024, 1, 4), dt.date(2024, 1, 6)]
    assert (um["interval"], um["first_period"], um["last_period"]) == (None, dt.date(2023, 11, 1), dt.date(2024, 2, 1))
    assert um["holes"] == [dt.date(2023, 12, 1), dt.date(2024, 1, 1)]


def test_keys_outside_the_archives_grammar_never_reach_the_snapshot():
    odd = ["data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-1-4.zip",  # a period that is not ISO
           "data/spot/daily/klines/btcusdt/1m/btcusdt-1m-2024-01-04.zip",  # a symbol the archive never spells
           "data/spot/daily/klines/BTCUSDT/7x/BTCUSDT-7x-2024-01-04.zip",  # no such interval shape
           "data/spot/daily/klines/../../1m/BTCUSDT-1m-2024-01-04.zip"]
    rows = summarize(zips([DAILY.format("2024-01-02"), *odd]), T).to_pylist()
    assert [(r["folder"], r["files"]) for r in rows] == [("data/spot/daily/klines/BTCUSDT/1m/", 1)]


def test_a_new_snapshot_replaces_the_folders_it_listed_and_keeps_the_others(tmp_path):
    write_snapshot(tmp_path, summarize(zips([DAILY.format("2024-01-01"), MONTHLY.format("2024-01")])))
    write_snapshot(tmp_path, summarize(zips([DAILY.format("2024-01-01"), DAILY.format("2024-01-03")])))
    got = {r["market"]: (r["last_period"], r["files"]) for r in read_snapshot(tmp_path).to_pylist()}
    assert got == {"spot": (dt.date(2024, 1, 3), 2), "futures_um": (dt.date(2024, 1, 1), 1)}
    assert len(list((tmp_path / "listing").glob("snapshot-*.parquet"))) == 1  # rewritten, not grown


def test_the_plan_gets_the_listed_facts_of_each_file_and_its_sidecar():
    k1, k2 = DAILY.format("2024-01-01"), DAILY.format("2024-01-02")
    listed = listed_table({"key": [k1, k1 + ".CHECKSUM"], "size": [10, 93], "etag": ['"a"', '"s"'],
                           "last_modified": [T, T]})
    plan = pa.table({"key": [k1, k2]})
    out = with_archive_facts(plan, listed.slice(0, 1), listed.slice(1, 1)).to_pylist()
    assert out[0] == {"key": k1, "listed_size": 10, "etag": "a", "last_modified": T, "checksum_etag": "s",
                      "checksum_last_modified": T, "checksum_size": 93}
    assert out[1]["etag"] is None and out[1]["listed_size"] is None
