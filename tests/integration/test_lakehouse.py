"""The silver tables as a lakehouse: warehouses on S3 (SQLite and SeaweedFS's Iceberg REST catalog), zips read from
an s3:// collection on Ray, commits that race or die, compaction, expiry. Real components throughout: SeaweedFS,
a local Ray, pyiceberg's SQL catalog on SQLite."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from raycollect.cli.main import main
from raycollect.config import WorkflowConfig
from raycollect.silver.commit import CommitConflict, Replace, commit
from raycollect.silver.quality import period_bounds_us
from raycollect.silver.tables import lakehouse
from tests.conftest import LAKE_KEYS, collect_config
from tests.helpers import ROOT, wait_exited
from tests.integration.silver_helpers import candles, collect, convert, data_files, own_series, publish, sql

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]
DAY = dt.date(2024, 3, 1)


def days(n: int) -> list[dt.date]:
    return [DAY + dt.timedelta(days=i) for i in range(n)]


def series(archive, symbol: str, n: int, hours: int = 24) -> None:
    for day in days(n):
        publish(archive, f"data/spot/daily/klines/{symbol}/1h/{symbol}-1h-{day}.zip", candles(day, hours))


def table_digest(cfg: dict, name: str = "spot_klines") -> tuple[int, str]:
    """Row count and a digest of every row (sorted): equal before and after a change that must not change rows."""
    rows = sql(cfg, f"SELECT * FROM {name} ORDER BY ALL")
    return len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()


def rest_catalog(server) -> dict:
    """silver_catalog for SeaweedFS's Iceberg REST catalog (SigV4 with the S3 keys, an S3 Tables bucket)."""
    key, secret = LAKE_KEYS
    return {"type": "rest", "uri": server.iceberg_url, "warehouse": "s3://lake",
            "rest.sigv4-enabled": "true", "rest.signing-region": "us-east-1", "rest.signing-name": "s3tables",
            "client.access-key-id": key, "client.secret-access-key": secret, "client.region": "us-east-1",
            "s3.endpoint": server.endpoint_url, "s3.access-key-id": key, "s3.secret-access-key": secret,
            "s3.region": "us-east-1"}


def write_config(tmp_path: Path, cfg: dict, name: str = "config.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(cfg))
    return str(path)


def test_the_four_real_files_land_in_tables_with_their_rows_values_and_types(archive, tmp_path, capsys):
    from tests.integration.test_silver import REAL

    cfg = collect_config(archive, tmp_path, **REAL, convert=True)
    assert collect(cfg).conversion.counts["converted"] == 4
    config = write_config(tmp_path, cfg)
    assert main(["query", "SELECT count(*) AS n, min(calc_time) AS first, max(calc_time) AS last, "
                 "arg_min(last_funding_rate, calc_time) AS first_rate, typeof(any_value(funding_interval_hours)) "
                 "AS t FROM futures_um_fundingRate", "--config", config, "--format", "json"]) == 0
    [got] = json.loads(capsys.readouterr().out)
    assert (got["n"], got["first"], got["t"], got["first_rate"]) == (90, "2026-04-01T00:00:00+00:00", "BIGINT",
                                                                     -0.00003449)
    assert got["last"].startswith("2026-04-30T16:00:00")
    agg = sql(cfg, "SELECT count(*), min(agg_trade_id), max(agg_trade_id), typeof(any_value(transact_time)), "
                   "typeof(any_value(is_buyer_maker)) FROM futures_cm_aggTrades")[0]
    assert agg[0] == 105_280 and agg[2] - agg[1] + 1 >= 105_280 and agg[3:] == ("TIMESTAMP WITH TIME ZONE", "BOOLEAN")
    # pyiceberg's own scan, polars and the Python API read the same rows
    import polars as pl

    import raycollect.silver as silver

    table = silver.table(cfg, "futures_cm", "aggTrades")
    assert table.scan().to_arrow().num_rows == 105_280
    assert pl.scan_iceberg(table).select(pl.len()).collect().item() == 105_280
    got = silver.scan(cfg, "spot", "klines", symbols=["BTCUSDT"], start="2026-05-09", end="2026-05-10")
    assert got.num_rows == 24 and got.schema.field("open_time").type == pa.timestamp("us", tz="UTC")
    assert silver.scan(cfg, "spot", "klines", symbols=["ETHUSDT"]).num_rows == 0
    lazy = silver.scan(cfg, "spot", "klines", start="2026-05-09", to="polars")
    assert lazy.select(pl.len()).collect().item() == 24
    rel = silver.scan(cfg, "futures_um", "fundingRate", start="2026-04-30", to="duckdb")
    assert rel.aggregate("count(*)").fetchall() == [(3,)]
    ds = silver.scan(cfg, "spot", "klines", symbols=["BTCUSDT"], start="2026-05-08", end="2026-05-09", to="ray")
    assert ds.count() == 24


def test_a_warehouse_on_s3_with_the_default_sqlite_catalog(archive, tmp_path, capsys):
    archive.server.create_bucket("silver-lake")
    series(archive, "ZZS3WUSDT", 2)
    cfg = own_series(archive, tmp_path, "ZZS3WUSDT", "2024-03-01", "2024-03-02",
                     silver_directory="s3://silver-lake/wh", destination_endpoint_url=archive.endpoint_url,
                     destination_credentials="anonymous")
    collect(cfg)
    result = convert(cfg)
    assert (result.counts["converted"], result.rows, result.silver_directory) == (2, 48, "s3://silver-lake/wh")
    assert (tmp_path / "_manifests" / "silver_catalog.db").is_file()  # SQLite needs a local file: the manifests'
    listed = archive.server.client().list_objects_v2(Bucket="silver-lake", Prefix="wh/binance/spot_klines/data/")
    assert len(listed["Contents"]) == 2 and all(o["Key"].endswith(".parquet") for o in listed["Contents"])
    config = write_config(tmp_path, cfg)
    assert main(["query", "SELECT symbol, count(*) AS n FROM spot_klines GROUP BY ALL", "--config", config,
                 "--format", "csv"]) == 0
    assert capsys.readouterr().out == "symbol,n\nZZS3WUSDT,48\n"


def test_a_warehouse_on_s3_with_the_iceberg_rest_catalog_of_seaweedfs(archive, lake_server, tmp_path, capsys):
    series(archive, "ZZRESTUSDT", 2)
    catalog = rest_catalog(lake_server)
    cfg = own_series(archive, tmp_path, "ZZRESTUSDT", "2024-03-01", "2024-03-02", silver_directory="s3://lake",
                     silver_catalog=catalog)
    collect(cfg)
    result = convert(cfg)
    assert (result.counts["converted"], result.rows) == (2, 48)
    table = lakehouse(WorkflowConfig(cfg)).table("spot", "klines")
    assert table.metadata.location.startswith("s3://lake/")  # the catalog placed it in its table bucket
    assert table.scan(row_filter="symbol == 'ZZRESTUSDT'").to_arrow().num_rows == 48  # the catalog is shared
    assert main(["query", "SELECT count(*) AS n, min(open) AS low FROM spot_klines WHERE symbol = 'ZZRESTUSDT'",
                 "--config", write_config(tmp_path, cfg), "--format", "csv"]) == 0
    assert capsys.readouterr().out == "n,low\n48,1.0\n"
    assert convert(cfg).counts["skipped"] == 2  # the REST catalog's snapshot is the state too


def test_everything_on_s3_zips_manifests_and_tables_and_a_dead_runs_files_reaped(archive, lake_server, tmp_path,
                                                                                  monkeypatch):
    """Bronze and manifests in a bucket, tables in SeaweedFS's REST catalog: the conversion's state, its lease and
    the reaping of a dead run's files all go through S3."""
    import json as jsonlib

    import pyarrow.fs as pafs

    archive.server.create_bucket("allbronze")
    series(archive, "ZZALLS3USDT", 2, hours=6)
    catalog = rest_catalog(lake_server)
    cfg = own_series(archive, tmp_path, "ZZALLS3USDT", "2024-03-01", "2024-03-02",
                     output_directory="s3://allbronze/binance", destination_endpoint_url=archive.endpoint_url,
                     destination_credentials="anonymous", silver_directory="s3://lake", silver_catalog=catalog,
                     local_data_dir=str(tmp_path / "scratch"))
    assert collect(cfg).counts["success"] == 2
    first = convert(cfg)
    mine = "SELECT count(*) FROM spot_klines WHERE symbol = 'ZZALLS3USDT'"  # the REST catalog is shared
    assert (first.counts["converted"], sql(cfg, mine)[0][0]) == (2, 12), first
    s3 = archive.server.client()
    listed = s3.list_objects_v2(Bucket="allbronze", Prefix="binance/_manifests/silver/")
    names = [o["Key"] for o in listed.get("Contents", [])]
    assert any(n.endswith("/_commits.json") for n in names) and not [n for n in names if "/leases/" in n]
    # a run that died: its lease (in the manifests' bucket) and an uncommitted data file (in the table bucket)
    table = lakehouse(WorkflowConfig(cfg)).table("spot", "klines")
    data = table.metadata.location.rstrip("/")[len("s3://"):] + "/data/symbol=ZZALLS3USDT/interval=1h/"
    fs = pafs.S3FileSystem(access_key=LAKE_KEYS[0], secret_key=LAKE_KEYS[1], endpoint_override=lake_server.endpoint_url,
                           scheme="http", region="us-east-1")
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    orphan = data + "open_time_month=2024-03/20240101T000000000Z-dead01-000000000000.parquet"
    with fs.open_output_stream(orphan) as out:
        out.write(b"PAR1 left by a killed conversion")
    s3.put_object(Bucket="allbronze", Key="binance/_manifests/silver/leases/20240101T000000000Z-dead01.lease",
                  Body=jsonlib.dumps({"run_id": "20240101T000000000Z-dead01", "tables": ["spot_klines"]}).encode())
    import raycollect.silver.lease as lease_module

    monkeypatch.setattr(lease_module, "STALE_SECONDS", 0.0)
    assert convert(cfg).counts["skipped"] == 2  # the state lives in the bucket's manifests
    assert fs.get_file_info(orphan).type == pafs.FileType.NotFound  # the dead run's file is gone
    left = s3.list_objects_v2(Bucket="allbronze", Prefix="binance/_manifests/silver/leases/")
    assert left.get("KeyCount", 0) == 0
    assert sql(cfg, mine) == [(12,)]


def test_zips_collected_into_s3_are_converted_on_ray(archive, tmp_path):
    archive.server.create_bucket("bronze")
    series(archive, "ZZBRONZEUSDT", 3, hours=5)
    cfg = own_series(archive, tmp_path, "ZZBRONZEUSDT", "2024-03-01", "2024-03-03",
                     output_directory="s3://bronze/binance", manifest_directory=str(tmp_path / "manifests"),
                     silver_directory=str(tmp_path / "silver"), destination_endpoint_url=archive.endpoint_url,
                     destination_credentials="anonymous")
    assert collect(cfg).counts["success"] == 3
    result = convert(cfg)
    assert (result.counts["converted"], result.rows) == (3, 15)
    assert sql(cfg, "SELECT count(DISTINCT CAST(open_time AS DATE)), sum(volume) FROM spot_klines") == [(3, 150.0)]


def test_two_conversions_at_once_each_have_their_rows_exactly_once(archive, tmp_path):
    for symbol in ("ZZCC1USDT", "ZZCC2USDT"):
        series(archive, symbol, 3)
    silver = str(tmp_path / "silver")
    cfgs = [own_series(archive, tmp_path / s, s, "2024-03-01", "2024-03-03", silver_directory=silver,
                       silver_compact_min_files=100) for s in ("ZZCC1USDT", "ZZCC2USDT")]
    for cfg in cfgs:
        collect(cfg)
    results: list[object] = [None, None]

    def run(i: int) -> None:
        try:
            results[i] = convert(cfgs[i])
        except CommitConflict as exc:  # the one allowed outcome besides success: a clear error, nothing half done
            results[i] = exc
        except Exception as exc:  # noqa: BLE001 - anything else fails the test, with its words
            results[i] = f"{type(exc).__name__}: {exc}"

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert all(getattr(r, "counts", {}).get("converted") == 3 for r in results), results
    assert sql(cfgs[0], "SELECT symbol, count(*), count(DISTINCT open_time) FROM spot_klines GROUP BY ALL "
                        "ORDER BY symbol") == [("ZZCC1USDT", 72, 72), ("ZZCC2USDT", 72, 72)]


def test_a_commit_whose_file_another_writer_removed_stops_with_nothing_of_it_visible(archive, tmp_path):
    """The other half of a race (both runs' rows present: test_two_conversions_at_once...): a writer on an old
    snapshot that removes a file another writer already removed gets a clear error, and the table keeps the other
    writer's change only."""
    series(archive, "ZZRACEUSDT", 3)
    cfg = own_series(archive, tmp_path, "ZZRACEUSDT", "2024-03-01", "2024-03-02", silver_compact_min_files=100)
    collect(cfg)
    convert(cfg)
    lake = lakehouse(WorkflowConfig(cfg))
    one, two = lake.table("spot", "klines"), lake.table("spot", "klines")  # two writers, same snapshot
    base = one.current_snapshot().snapshot_id
    before = {t.file.file_path: t.file for t in one.scan().plan_files()}
    start, end = period_bounds_us("daily", DAY)
    assert commit(one, [], [Replace("ZZRACEUSDT", "1h", start, end)], run_id="r1", operation="test") != base
    [gone] = [f for path, f in before.items() if path not in {t.file.file_path for t in one.scan().plan_files()}]
    assert commit(two, [], (), removed=[], run_id="r2", operation="test") is None  # nothing to commit: no snapshot
    with pytest.raises(CommitConflict, match="another writer changed the table"):  # its file is gone: clear error
        commit(two, [], (), removed=[gone], run_id="r2", operation="test", refresh=False)
    assert sql(cfg, "SELECT count(*) FROM spot_klines") == [(24,)]  # only writer one's change


KILL_MID_COMMIT = r"""
import sys, time
from pyiceberg.catalog.sql import SqlCatalog
original = SqlCatalog._write_metadata  # a staticmethod
def write_then_hang(*args, **kwargs):
    original(*args, **kwargs)  # the new metadata file is written; the catalog still names the old one
    print("MID-COMMIT", flush=True)
    time.sleep(600)
SqlCatalog._write_metadata = staticmethod(write_then_hang)
from raycollect.cli.main import entry
entry(["convert", sys.argv[1], "--no-progress"])
"""


def test_kill_9_of_the_driver_mid_commit_leaves_the_previous_snapshot_and_the_next_run_removes_its_files(
        archive, tmp_path, monkeypatch):
    key = "data/spot/daily/klines/ZZKILLUSDT/1h/ZZKILLUSDT-1h-2024-03-01.zip"
    publish(archive, key, candles(DAY, 3))
    cfg = own_series(archive, tmp_path, "ZZKILLUSDT", "2024-03-01", "2024-03-01")
    collect(cfg)
    first = convert(cfg).snapshots["spot_klines"]
    publish(archive, key, candles(DAY, 24, first_price=100.0))
    collect({**cfg, "reverify": True}, only_collected=True)
    driver = subprocess.Popen([sys.executable, "-c", KILL_MID_COMMIT, write_config(tmp_path, cfg)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        line = driver.stdout.readline().strip()
        assert line == "MID-COMMIT", driver.stderr.read()[-3000:] if driver.poll() is not None else line
        os.kill(driver.pid, 9)
        assert wait_exited([driver.pid], 30)
    finally:
        if driver.poll() is None:
            driver.kill()
        driver.wait(timeout=30)
    table = lakehouse(WorkflowConfig(cfg)).table("spot", "klines")
    assert table.current_snapshot().snapshot_id == first
    assert sql(cfg, "SELECT count(*), min(open) FROM spot_klines") == [(3, 1.0)]  # no row of the killed run
    [committed] = data_files(cfg, "spot_klines")
    folder = Path(committed).parent
    [orphan] = [p for p in folder.iterdir() if str(p) != committed]  # the killed run's data file, uncommitted
    [lease] = list((tmp_path / "_manifests" / "silver" / "leases").iterdir())  # it died holding its lease
    import raycollect.silver.lease as lease_module

    monkeypatch.setattr(lease_module, "STALE_SECONDS", 0.0)  # instead of waiting ten minutes for it to go stale
    assert convert(cfg).rows == 24  # the next run converts the new bytes, as if nothing had happened
    assert not orphan.exists() and not lease.exists()  # and removed what the dead run wrote and never committed
    assert Path(committed).exists()  # the previous snapshot's file stays, for --as-of, until expire
    assert sql(cfg, "SELECT count(*), min(open) FROM spot_klines") == [(24, 100.0)]
    assert sql(cfg, "SELECT count(*) FROM spot_klines", as_of=first) == [(3,)]


def test_compaction_keeps_every_row_and_leaves_fewer_files(archive, tmp_path, capsys):
    series(archive, "ZZCMPUSDT", 9)
    cfg = own_series(archive, tmp_path, "ZZCMPUSDT", "2024-03-01", "2024-03-09", silver_compact_min_files=100)
    collect(cfg)
    assert convert(cfg).compacted == {}  # 9 small files: under this config's threshold
    before = table_digest(cfg)
    assert len(data_files(cfg, "spot_klines")) == 9 and before[0] == 216
    assert main(["silver", "compact", "--config", write_config(tmp_path, cfg), "--min-files", "4"]) == 0
    assert "spot_klines: 1 partitions compacted, 9 -> 1 files, 216 rows" in capsys.readouterr().out
    assert len(data_files(cfg, "spot_klines")) == 1
    assert table_digest(cfg) == before  # the same rows, values and types
    ordered = sql(cfg, "SELECT open_time FROM spot_klines")
    assert ordered == sorted(ordered)  # the month's days in time order
    # A conversion compacts by itself once a partition crosses the threshold.
    series(archive, "ZZCMP2USDT", 3)
    auto = own_series(archive, tmp_path / "auto", "ZZCMP2USDT", "2024-03-01", "2024-03-03",
                      silver_compact_min_files=3)
    collect(auto)
    result = convert(auto)
    assert (result.compacted, len(data_files(auto, "spot_klines"))) == ({"spot_klines": 1}, 1)
    assert sql(auto, "SELECT count(*), count(DISTINCT open_time) FROM spot_klines") == [(72, 72)]


def test_a_republished_day_inside_a_compacted_month_replaces_only_its_rows(archive, tmp_path):
    series(archive, "ZZREPUSDT", 4)
    cfg = own_series(archive, tmp_path, "ZZREPUSDT", "2024-03-01", "2024-03-04", silver_compact_min_files=2)
    collect(cfg)
    assert convert(cfg).compacted == {"spot_klines": 1}
    publish(archive, f"data/spot/daily/klines/ZZREPUSDT/1h/ZZREPUSDT-1h-{DAY + dt.timedelta(days=2)}.zip",
            candles(DAY + dt.timedelta(days=2), 12, first_price=500.0))  # re-published with 12 candles
    collect({**cfg, "reverify": True}, only_collected=True)
    convert(cfg)
    assert sql(cfg, "SELECT CAST(open_time AS DATE) AS d, count(*), min(open) FROM spot_klines GROUP BY ALL "
                    "ORDER BY d") == [(DAY, 24, 1.0), (DAY + dt.timedelta(days=1), 24, 1.0),
                                     (DAY + dt.timedelta(days=2), 12, 500.0), (DAY + dt.timedelta(days=3), 24, 1.0)]


def test_expire_makes_old_snapshots_unreadable_keeps_the_current_and_deletes_orphans(archive, tmp_path, capsys):
    key = "data/spot/daily/klines/ZZEXPUSDT/1h/ZZEXPUSDT-1h-2024-03-01.zip"
    publish(archive, key, candles(DAY, 3))
    cfg = own_series(archive, tmp_path, "ZZEXPUSDT", "2024-03-01", "2024-03-01")
    collect(cfg)
    old = convert(cfg).snapshots["spot_klines"]
    [old_file] = data_files(cfg, "spot_klines")
    publish(archive, key, candles(DAY, 24, first_price=7.0))
    collect({**cfg, "reverify": True}, only_collected=True)
    convert(cfg)
    config = write_config(tmp_path, cfg)
    orphan = Path(old_file).parent / "00000000T000000000Z-dead00-000000000000.parquet"
    orphan.write_bytes(b"PAR1 left by a killed conversion")
    assert main(["query", "SELECT count(*) AS n FROM spot_klines", "--config", config, "--as-of", str(old),
                 "--format", "csv"]) == 0
    assert capsys.readouterr().out == "n\n3\n"
    time.sleep(0.01)
    assert main(["silver", "expire", "--config", config, "--older-than", "0s"]) == 0
    # the old data file, its manifest and manifest list, and the orphan
    assert "spot_klines: 1 snapshots expired, 4 files deleted" in capsys.readouterr().out
    assert not Path(old_file).exists() and not orphan.exists()
    assert main(["query", "SELECT 1", "--config", config, "--as-of", str(old)]) == 2
    assert f"has no snapshot {old}" in capsys.readouterr().err
    assert sql(cfg, "SELECT count(*), min(open) FROM spot_klines") == [(24, 7.0)]
    assert main(["silver", "history", "spot_klines", "--config", config, "--format", "json"]) == 0
    [current] = json.loads(capsys.readouterr().out)
    assert (current["current"], current["operation"], current["sources"], current["total_rows"]) == (
        True, "convert", 1, 24)
