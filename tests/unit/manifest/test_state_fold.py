"""The state's fold: revisions counted across runs, archive facts kept, and manifests of older versions read."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from raycollect.manifest import ManifestWriter, write_run_record
from raycollect.manifest.rows import RowBuilder
from raycollect.manifest.state import refresh

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
KEYS = [f"data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-0{d}.zip" for d in (1, 2)]


def write_run(mdir, run_id: str, sha: list[str], previous: list[str | None], status: str = "success",
              etag: list[str | None] | None = None, shard_id: int | None = 0) -> None:
    n = len(KEYS)
    plan = pa.table({"market": ["spot"] * n, "data_type": ["klines"] * n, "partition": ["daily"] * n,
                     "symbol": ["BTCUSDT"] * n, "interval": ["1h"] * n,
                     "period": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)], "key": KEYS, "target": KEYS})
    if etag is not None:
        plan = plan.append_column("etag", pa.array(etag)).append_column(
            "last_modified", pa.array([T if e else None for e in etag], pa.timestamp("us", tz="UTC")))
    results = pa.table({"key": KEYS, "status": [status] * n, "size_bytes": [10] * n, "sha256": sha,
                        "expected_sha256": sha, "previous_sha256": pa.array(previous, pa.string()),
                        "checksum_verified": [True] * n, "attempts": pa.array([1] * n, pa.int32()),
                        "finished_at": pa.array([T] * n, pa.timestamp("us", tz="UTC"))})
    rows = RowBuilder(run_id=run_id, source_base="s3://b/", target_base="/o/", downloader="curl")
    writer = ManifestWriter(mdir, run_id)
    writer.add(rows.rows(plan, results, shard_id=shard_id) if status != "skipped" else
               rows.rows(plan.append_column("size_bytes", pa.array([10] * n)), status="skipped"))
    writer.flush()
    write_run_record(mdir, run_id, {"status": "success"})


def test_revisions_count_the_replacements_and_the_archive_facts_are_kept(tmp_path):
    write_run(tmp_path, "r1", ["a1", "b1"], [None, None], etag=["e1", "e2"])
    refresh(tmp_path)
    write_run(tmp_path, "r2", ["a2", "b1"], ["a1", None], etag=["e3", "e2"])
    write_run(tmp_path, "r3", ["a3", "b1"], ["a2", None], etag=["e4", "e2"])
    state = refresh(tmp_path)
    got = pq.read_table(state.data).to_pylist()
    assert [(r["key"], r["sha256"], r["revisions"], r["etag"], r["run_id"]) for r in got] == [
        (KEYS[0], "a3", 2, "e4", "r3"), (KEYS[1], "b1", 0, "e2", "r3")]
    assert (got[0]["symbol"], got[0]["period"], got[0]["partition"]) == ("BTCUSDT", dt.date(2024, 1, 1), "daily")


def test_rows_of_an_older_version_without_archive_facts_fold_with_them_empty(tmp_path):
    write_run(tmp_path, "r1", ["a1", "b1"], [None, None])
    part = next((tmp_path / "files").rglob("*.parquet"))
    old = pq.read_table(part)
    pq.write_table(old.drop_columns(["etag", "last_modified", "checksum_etag", "checksum_last_modified",
                                     "checksum_size"]), part)  # as raycollect 0.3 wrote it
    got = pq.read_table(refresh(tmp_path).data).to_pylist()
    assert [(r["sha256"], r["etag"], r["revisions"]) for r in got] == [("a1", None, 0), ("b1", None, 0)]


def test_a_skipped_row_is_a_fact_only_when_it_carries_archive_facts(tmp_path):
    write_run(tmp_path, "r1", ["a1", "b1"], [None, None])
    refresh(tmp_path)
    write_run(tmp_path, "r2", ["a1", "b1"], [None, None], status="skipped")  # restates: no archive facts
    assert refresh(tmp_path).rows == 2 and {r["run_id"] for r in pq.read_table(refresh(tmp_path).data).to_pylist()
                                            } == {"r1"}
    write_run(tmp_path, "r3", ["a1", "b1"], [None, None], status="skipped", etag=["e1", "e2"])  # learned
    got = pq.read_table(refresh(tmp_path).data).to_pylist()
    assert [(r["run_id"], r["status"], r["etag"]) for r in got] == [("r3", "skipped", "e1"), ("r3", "skipped", "e2")]
