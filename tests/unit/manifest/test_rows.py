"""Manifest rows from plan rows, column-wise: a shard's results, or every row decided at once."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from raycollect.manifest.rows import RowBuilder
from raycollect.manifest.schema import FILES_SCHEMA, Status

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
TS = pa.timestamp("us", tz="UTC")
KEYS = [f"data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-0{d}.zip" for d in (1, 2, 3)]


def plan(**extra) -> pa.Table:
    n = len(KEYS)
    return pa.table({"market": ["spot"] * n, "data_type": ["klines"] * n, "partition": ["daily"] * n,
                     "symbol": ["BTCUSDT"] * n, "interval": ["1h"] * n,
                     "period": [dt.date(2024, 1, d) for d in (1, 2, 3)], "key": KEYS,
                     "target": [f"binance/{k}" for k in KEYS], **extra})


BUILDER = RowBuilder(run_id="r1", source_base="http://127.0.0.1:9/bucket/", target_base="/data/",
                     downloader="curl")


def test_a_shards_results_become_rows_with_where_the_file_came_from_and_went():
    results = pa.table({"key": KEYS, "status": ["success", "failed", "missing"], "size_bytes": [10, None, None],
                        "sha256": ["a" * 64, None, None], "attempts": pa.array([1, 3, 1], pa.int32()),
                        "error": [None, "HTTP 500 for k", "NoSuchKey: k"], "node_id": ["n1"] * 3})
    rows = BUILDER.rows(plan(), results, shard_id=7)
    assert rows.schema == FILES_SCHEMA
    got = rows.to_pylist()
    assert [r["status"] for r in got] == ["success", "failed", "missing"]
    assert got[0]["source_url"] == f"http://127.0.0.1:9/bucket/{KEYS[0]}"
    assert got[0]["target_path"] == f"/data/binance/{KEYS[0]}"
    assert {(r["run_id"], r["downloader"], r["shard_id"], r["node_id"]) for r in got} == {("r1", "curl", 7, "n1")}
    assert (got[1]["error"], got[1]["attempts"], got[1]["size_bytes"]) == ("HTTP 500 for k", 3, None)


def test_the_get_answers_archive_facts_win_over_the_listings_and_fill_in_where_absent():
    listed = plan(etag=['"l1"', '"l2"', '"l3"'], last_modified=pa.array([T] * 3, TS))
    results = pa.table({"key": KEYS, "status": ["success"] * 3, "etag": ['"g1"', None, None],
                        "last_modified": pa.array([None] * 3, TS)})
    rows = BUILDER.rows(listed, results, shard_id=0)
    assert rows["etag"].to_pylist() == ['"g1"', '"l2"', '"l3"']
    assert rows["last_modified"].to_pylist() == [T] * 3


def test_rows_decided_at_once_carry_the_status_reason_and_the_states_facts():
    skipped = plan(size_bytes=[10, 20, 30], sha256=["a", "b", "c"], checksum_verified=[True, True, False])
    rows = BUILDER.rows(skipped, status=Status.SKIPPED).to_pylist()
    assert [(r["status"], r["size_bytes"], r["sha256"], r["checksum_verified"], r["attempts"]) for r in rows] == [
        ("skipped", 10, "a", True, 0), ("skipped", 20, "b", True, 0), ("skipped", 30, "c", False, 0)]
    assert rows[0]["shard_id"] is None and rows[0]["started_at"] == rows[0]["finished_at"]
    lost = BUILDER.rows(plan(), shard_id=3, status=Status.FAILED, error="shard failed 3 times", attempts=3)
    assert set(zip(lost["status"].to_pylist(), lost["error"].to_pylist(), lost["attempts"].to_pylist(),
                   lost["checksum_verified"].to_pylist(), strict=True)) == {
        ("failed", "shard failed 3 times", 3, False)}
    assert lost["shard_id"].to_pylist() == [3, 3, 3]
