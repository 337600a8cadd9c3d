"""Questions about manifests (summary, failed, gaps, latest, free SQL), on manifests written here, no run."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from raycollect.errors import ConfigurationError
from raycollect.manifest import ManifestWriter, write_run_record
from raycollect.manifest.query import Manifests, sql_string, with_columns
from raycollect.manifest.rows import RowBuilder

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
TS = pa.timestamp("us", tz="UTC")


def key(day: int, partition: str = "daily") -> str:
    if partition == "monthly":
        return "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02.zip"
    return f"data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-{day:02d}.zip"


def write_run(mdir, run_id: str, files: dict[str, tuple[str, dt.date, str]], *, recorded: bool = True,
              at: dt.datetime = T) -> None:
    """``files``: key -> (partition, period, status)."""
    n = len(files)
    plan = pa.table({"market": ["spot"] * n, "data_type": ["klines"] * n,
                     "partition": [p for p, _, _ in files.values()], "symbol": ["BTCUSDT"] * n,
                     "interval": ["1h"] * n, "period": [d for _, d, _ in files.values()], "key": list(files),
                     "target": list(files)})
    statuses = [s for _, _, s in files.values()]
    results = pa.table({"key": list(files), "status": statuses,
                        "size_bytes": [100 if s == "success" else None for s in statuses],
                        "attempts": pa.array([1] * n, pa.int32()),
                        "error": [f"HTTP 500 for {k}" if s == "failed" else None for k, (_, _, s) in files.items()],
                        "started_at": pa.array([at] * n, TS), "finished_at": pa.array([at] * n, TS)})
    writer = ManifestWriter(mdir, run_id)
    writer.add(RowBuilder(run_id=run_id, source_base="s3://b/", target_base="/o/", downloader="curl").rows(
        plan, results, shard_id=0))
    writer.flush()
    if recorded:
        write_run_record(mdir, run_id, {"status": "partial" if "failed" in statuses else "success", "seconds": 2.0,
                                        "success": statuses.count("success"), "failed": statuses.count("failed")})


@pytest.fixture
def manifests(tmp_path):
    day = {d: ("daily", dt.date(2024, 1, d), "success") for d in (1, 2, 4)}
    write_run(tmp_path, "r1", {key(1): day[1], key(2): day[2], key(3): ("daily", dt.date(2024, 1, 3), "failed"),
                               key(4): day[4]})
    write_run(tmp_path, "r2", {key(3): ("daily", dt.date(2024, 1, 3), "success"),
                               key(0, "monthly"): ("monthly", dt.date(2024, 2, 1), "success")},
              at=T + dt.timedelta(hours=1))
    write_run(tmp_path, "r3", {key(5): ("daily", dt.date(2024, 1, 5), "failed")}, recorded=False,
              at=T + dt.timedelta(hours=2))
    with Manifests(tmp_path) as m:
        yield m


def test_summary_counts_each_run_and_all_and_a_run_without_record_is_interrupted(manifests):
    got = {r["run_id"]: r for r in manifests.summary().to_pylist()}
    assert [got[r]["status"] for r in ("r1", "r2", "r3")] == ["partial", "success", "interrupted"]
    figures = [tuple(got[r][c] for c in ("files", "success", "failed", "bytes")) for r in ("r1", "r2", "r3", "ALL")]
    assert figures == [(4, 3, 1, 300), (2, 2, 0, 200), (1, 0, 1, 0), (7, 5, 2, 500)]
    assert got["r1"]["files_per_s"] == 2.0  # 4 requested in the recorded 2 s


def test_failed_lists_each_failure_with_its_reason(manifests):
    assert manifests.failed().select(["run_id", "key", "error"]).to_pylist() == [
        {"run_id": "r1", "key": key(3), "error": f"HTTP 500 for {key(3)}"},
        {"run_id": "r3", "key": key(5), "error": f"HTTP 500 for {key(5)}"}]
    assert manifests.failed("r3").num_rows == 1


def test_latest_holds_the_newest_collected_row_per_key_and_gaps_the_days_with_none(manifests):
    latest = manifests.latest()
    assert latest["key"].to_pylist() == sorted([key(1), key(2), key(3), key(4), key(0, "monthly")])
    assert {r["key"]: r["run_id"] for r in latest.to_pylist()}[key(3)] == "r2"  # failed in r1, collected in r2
    gaps = manifests.gaps(market="spot", data_type="klines", symbol="BTCUSDT", interval="1h",
                          start=dt.date(2024, 1, 1), end=dt.date(2024, 2, 3))
    # 2024-01-05 failed; February is held by its monthly file
    assert gaps["period"].to_pylist() == [f"2024-01-{d:02d}" for d in range(5, 32)]
    with pytest.raises(ConfigurationError, match="gaps: --end 2024-01-01 is before --start 2024-01-02"):
        manifests.gaps(market="spot", data_type="klines", symbol="BTCUSDT", interval="1h",
                       start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 1))


def test_free_sql_reads_the_views_and_writes_nothing_not_even_in_the_manifests(manifests, tmp_path_factory):
    assert manifests.query("SELECT count(DISTINCT key) AS n FROM files").to_pylist() == [{"n": 6}]
    part = next((manifests.dir / "files" / "run_id=r1").glob("*.parquet"))
    before = part.read_bytes()
    outside = tmp_path_factory.mktemp("elsewhere") / "out.csv"
    for sql in (f"COPY (SELECT 1) TO {sql_string(str(part))} (FORMAT parquet)",
                f"COPY (SELECT 1) TO {sql_string(str(outside))}", "SELECT 1; COPY files TO 'x.csv'"):
        with pytest.raises(ConfigurationError, match=r"^Query failed: only SELECT queries run here \(this one is a "
                                                     r"COPY statement\): manifests are read, never written$"):
            manifests.query(sql)
    assert part.read_bytes() == before and not outside.exists()
    with pytest.raises(ConfigurationError, match=r"^Query failed: Permission Error: Cannot access file \"/etc/passwd"):
        manifests.query("SELECT * FROM read_csv('/etc/passwd')")
    with pytest.raises(ConfigurationError, match=r"^Query failed: Parser Error: syntax error at or near \"SELEC\""):
        manifests.query("SELEC 1")


def test_no_manifest_is_a_clear_error_and_quotes_are_doubled(tmp_path):
    with pytest.raises(ConfigurationError, match=r"No manifests in .*: run `raycollect run` first"):
        Manifests(tmp_path)
    assert sql_string("it's") == "'it''s'"


def test_with_columns_adds_what_older_files_lack_as_typed_nulls():
    import duckdb

    con = duckdb.connect()
    con.register("old", pa.table({"key": ["k"]}))
    src = with_columns(con, "old", [pa.field("key", pa.string()), pa.field("etag", pa.string()),
                                    pa.field("last_modified", TS)])
    assert con.sql(f"SELECT key, etag, typeof(last_modified) FROM {src}").fetchall() == [("k", None,
                                                                                      "TIMESTAMP WITH TIME ZONE")]
    assert with_columns(con, "old", [pa.field("key", pa.string())]) == "old"
