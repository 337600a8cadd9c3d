"""The silver zone end to end: collect from the local archive (SeaweedFS) on a real local Ray, then convert into
the Iceberg tables (the default SQLite catalog beside a local warehouse).

Series of their own (ZZ* symbols) are uploaded by each test, so re-publishing one changes no other test's data.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from raycollect.cli.main import main
from raycollect.silver.manifest import conversion_glob
from tests.conftest import collect_config
from tests.fault_proxy import FaultProxy, Rule
from tests.integration.silver_helpers import candles, collect, convert, data_files, own_series, publish, sql

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]
REAL = dict(markets=["spot", "futures_um", "futures_cm"],
            symbols={"spot": ["BTCUSDT"], "futures_um": ["BTCUSDT"], "futures_cm": ["BTCUSD_PERP"]},
            data_types=["klines", "fundingRate", "aggTrades"], intervals={"klines": ["1h"]},
            date_range={"start": "2026-04-01", "end": "2026-05-09"}, partition_policy="auto", discover=True)


def test_real_files_collected_and_converted_in_one_run_then_skipped(archive, tmp_path):
    cfg = collect_config(archive, tmp_path, **REAL, convert=True)
    result = collect(cfg)
    assert result.counts["success"] == 4 and result["storage_zones_used"] == ["bronze", "silver"]
    conv = result.conversion
    assert (conv.counts, conv.rows) == ({"converted": 4, "skipped": 0, "failed": 0, "superseded": 0},
                                        24 + 24 + 90 + 105_280)
    assert sorted(conv.snapshots) == ["futures_cm_aggTrades", "futures_um_fundingRate", "spot_klines"]
    got = sql(cfg, "SELECT count(*), min(open_time), max(close_time), any_value(symbol), any_value(interval), "
                   "typeof(any_value(open_time)), typeof(any_value(count)) FROM spot_klines")[0]
    assert got == (48, dt.datetime(2026, 5, 8, tzinfo=dt.timezone.utc),
                   dt.datetime(2026, 5, 9, 23, 59, 59, 999999, tzinfo=dt.timezone.utc), "BTCUSDT", "1h",
                   "TIMESTAMP WITH TIME ZONE", "BIGINT")
    agg = sql(cfg, "SELECT count(*), count(*) FILTER (is_buyer_maker), typeof(any_value(is_buyer_maker)) "
                   "FROM futures_cm_aggTrades")
    assert agg[0][0] == 105_280 and 0 < agg[0][1] < 105_280 and agg[0][2] == "BOOLEAN"
    files = {n: data_files(cfg, n) for n in conv.snapshots}
    again = convert(collect_config(archive, tmp_path, **REAL))
    assert again.counts == {"converted": 0, "skipped": 4, "failed": 0, "superseded": 0}
    assert again.snapshots == {} and {n: data_files(cfg, n) for n in conv.snapshots} == files  # nothing committed
    # The manifest holds the 4 conversions only: a rerun that changes nothing adds no row (a daily cron over an
    # unchanged collection would otherwise grow it by the whole collection every day).
    manifest = duckdb.sql(f"SELECT status, count(*) FROM read_parquet('{conversion_glob(tmp_path / '_manifests')}') "
                          "GROUP BY ALL").fetchall()
    assert manifest == [("converted", 4)]


def test_a_republished_zip_is_converted_again_and_its_output_replaced(archive, tmp_path):
    key = "data/spot/daily/klines/ZZRUSDT/1h/ZZRUSDT-1h-2024-03-01.zip"
    first = publish(archive, key, candles(dt.date(2024, 3, 1), 3))
    cfg = own_series(archive, tmp_path, "ZZRUSDT", "2024-03-01", "2024-03-01")
    collect(cfg)
    one = convert(cfg)
    assert (one.counts["converted"], one.rows) == (1, 3)
    [out] = data_files(cfg, "spot_klines")
    assert pq.ParquetFile(out).metadata.row_group(0).column(0).compression == "ZSTD"  # the default codec
    second = publish(archive, key, candles(dt.date(2024, 3, 1), 24, first_price=100.0))  # fixed upstream
    verified = collect({**cfg, "reverify": True}, only_collected=True)
    assert verified.counts["success"] == 1  # re-fetched: the archive's bytes changed
    two = convert({**cfg, "silver_compression": "lz4"})  # the codec of files converted from now on
    assert (two.counts["converted"], two.counts["skipped"], two.rows) == (1, 0, 24)
    assert sql(cfg, "SELECT count(*), min(open) FROM spot_klines") == [(24, 100.0)]  # replaced, not added
    assert sql(cfg, "SELECT count(*), min(open) FROM spot_klines", as_of=one.snapshots["spot_klines"]) == [(3, 1.0)]
    [new] = data_files(cfg, "spot_klines")
    assert pq.ParquetFile(new).metadata.row_group(0).column(0).compression == "LZ4"
    rows = duckdb.sql(f"SELECT sha256, rows FROM read_parquet('{conversion_glob(tmp_path / '_manifests')}') "
                      f"WHERE key = '{key}' AND status = 'converted' ORDER BY converted_at").fetchall()
    assert rows == [(first, 3), (second, 24)]
    assert convert(cfg).counts["skipped"] == 1


def test_a_symbol_pattern_converts_what_it_collected_after_the_run_and_on_its_own(archive, tmp_path, capsys):
    day = dt.date(2024, 3, 1)
    for symbol, hours in (("ZZPAAUSDT", 2), ("ZZPABUSDT", 3), ("ZZPACBTC", 4)):
        publish(archive, f"data/spot/daily/klines/{symbol}/1h/{symbol}-1h-2024-03-01.zip", candles(day, hours))
    cfg = own_series(archive, tmp_path, "ZZPA*", "2024-03-01", "2024-03-01", quote_assets=["USDT"], convert=True)
    result = collect(cfg)  # a pattern is resolved by listing the archive to collect, by the manifest to convert
    assert (result.counts["success"], result.conversion.counts["converted"], result.conversion.rows) == (2, 2, 5)
    got = sql(cfg, "SELECT symbol, count(*) FROM spot_klines GROUP BY ALL ORDER BY symbol")
    assert got == [("ZZPAAUSDT", 2), ("ZZPABUSDT", 3)]  # ZZPACBTC is not a USDT symbol: neither collected nor made
    config_file = tmp_path / "pattern.json"
    config_file.write_text(json.dumps({**cfg, "quote_assets": None}))
    assert main(["convert", str(config_file), "--force", "--no-progress"]) == 0  # only what the manifest holds
    assert "2 converted" in capsys.readouterr().out



def test_a_sync_with_convert_converts_every_day_it_collected_past_the_configs_end(archive, tmp_path):
    days = [dt.date(2024, 1, 30), dt.date(2024, 1, 31), dt.date(2024, 2, 1), dt.date(2024, 2, 2)]
    for day in days:
        publish(archive, f"data/spot/daily/klines/ZZSYNCUSDT/1h/ZZSYNCUSDT-1h-{day}.zip", candles(day, 2))
    cfg = own_series(archive, tmp_path, "ZZSYNCUSDT", "2024-01-30", "2024-01-31", partition_policy="auto",
                     convert=True)
    result = collect(cfg, sync=True, today=dt.date(2024, 2, 3))  # sync does not stop at date_range.end
    assert result.counts["success"] == 4  # January's monthly file is not published: its days stand in for it
    assert (result.conversion.counts["converted"], result.conversion.rows) == (4, 8)
    assert sql(cfg, "SELECT CAST(open_time AS DATE) AS day, count(*) FROM spot_klines GROUP BY ALL ORDER BY day") \
        == [(day, 2) for day in days]



def test_unverified_zips_are_left_out_and_said_until_verify_checks_them(archive, tmp_path, capsys):
    for day in (1, 2):
        publish(archive, f"data/spot/daily/klines/ZZUNVUSDT/1h/ZZUNVUSDT-1h-2024-03-0{day}.zip",
                candles(dt.date(2024, 3, day), 3))
    cfg = own_series(archive, tmp_path, "ZZUNVUSDT", "2024-03-01", "2024-03-02", download_checksum=False)
    assert collect(cfg).counts["success"] == 2
    config_file = tmp_path / "unverified.json"
    config_file.write_text(json.dumps(cfg))
    assert main(["convert", str(config_file), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "0 converted" in out and "left out: 2 collected files not verified against a .CHECKSUM" in out
    assert collect({**cfg, "convert": True})["conversion"]["unverified"] == 2  # in the result's dict too
    config_file.write_text(json.dumps({**cfg, "download_checksum": True}))
    assert main(["verify", str(config_file), "--no-progress"]) == 0
    capsys.readouterr()
    result = convert({**cfg, "download_checksum": True})
    assert (result.counts["converted"], result.unverified, result.rows) == (2, 0, 6)


HOLD_STAGING = r"""
import sys, time
from pathlib import Path
from raycollect.staging import StagingArea
area = StagingArea(Path(sys.argv[1]), "convert-999").open()  # as a conversion task holds its own
tmp = area.shard_dir() / ".ZZKUSDT-1h-2024-03-01.parquet.0badcafe.tmp"
tmp.write_bytes(b"PAR1 half a Parquet file")
print(tmp, flush=True)
time.sleep(300)
"""


def test_what_a_killed_conversion_task_left_is_swept_by_the_next_run_and_a_live_ones_is_not(archive, tmp_path):
    key = "data/spot/daily/klines/ZZKUSDT/1h/ZZKUSDT-1h-2024-03-01.zip"
    publish(archive, key, candles(dt.date(2024, 3, 1), 24))
    cfg = own_series(archive, tmp_path, "ZZKUSDT", "2024-03-01", "2024-03-01")
    collect(cfg)
    staging = tmp_path / "silver" / ".raycollect-staging"
    task = subprocess.Popen([sys.executable, "-c", HOLD_STAGING, str(staging)], stdout=subprocess.PIPE, text=True)
    try:
        left = Path(task.stdout.readline().strip())
        assert left.read_bytes() == b"PAR1 half a Parquet file"
        assert convert(cfg).counts["converted"] == 1
        assert left.exists()  # its owner is alive: never touched
        task.kill()  # the worker dies mid-file, as under the OOM killer
        task.wait(timeout=30)
    finally:
        if task.poll() is None:
            task.kill()
            task.wait(timeout=30)
    assert convert(cfg).counts == {"converted": 0, "skipped": 1, "failed": 0, "superseded": 0}
    assert not staging.exists()  # swept, the staging root with it
    [out] = data_files(cfg, "spot_klines")
    assert sorted(p.name for p in Path(out).parent.iterdir()) == [Path(out).name]  # no temporary beside it
    assert pq.read_table(out).num_rows == 24


def test_days_a_monthly_file_holds_are_superseded_and_their_output_removed(archive, tmp_path):
    days = [dt.date(2024, 3, 1), dt.date(2024, 3, 2)]
    for day in days:
        publish(archive, f"data/spot/daily/klines/ZZMUSDT/1h/ZZMUSDT-1h-{day}.zip", candles(day, 24))
    cfg = own_series(archive, tmp_path, "ZZMUSDT", "2024-03-01", "2024-03-02", partition_policy="daily")
    collect(cfg)
    assert convert(cfg).counts["converted"] == 2
    publish(archive, "data/spot/monthly/klines/ZZMUSDT/1h/ZZMUSDT-1h-2024-03.zip",
            candles(days[0], 24) + candles(days[1], 24))
    both = {**cfg, "partition_policy": "both"}
    assert collect(both)["superseded"] == []  # "both" asks for the days beside the month: no note to make
    result = convert(both)
    assert (result.counts["converted"], result.counts["superseded"]) == (1, 2)
    [monthly] = data_files(cfg, "spot_klines")  # the days' files are out of the snapshot that put the month in
    assert sql(cfg, "SELECT count(*), count(DISTINCT open_time) FROM spot_klines") == [(48, 48)]
    assert pq.read_table(monthly).num_rows == 48
    assert convert(both).counts == {"converted": 0, "skipped": 1, "failed": 0, "superseded": 0}
    # A config for one day of that month adds nothing beside the monthly file (no row twice).
    assert convert(cfg).counts == {"converted": 0, "skipped": 0, "failed": 0, "superseded": 0}
    assert sql(cfg, "SELECT count(*) FROM spot_klines") == [(48,)]


def test_a_corrupt_csv_fails_with_its_reason_and_quality_lists_it(archive, tmp_path, capsys):
    bad = "data/spot/daily/klines/ZZQUSDT/1h/ZZQUSDT-1h-2024-03-02.zip"
    publish(archive, "data/spot/daily/klines/ZZQUSDT/1h/ZZQUSDT-1h-2024-03-01.zip", candles(dt.date(2024, 3, 1), 3))
    publish(archive, bad, candles(dt.date(2024, 3, 2), 2) + "not,a,candle\n")  # its sidecar matches: verified
    cfg = own_series(archive, tmp_path, "ZZQUSDT", "2024-03-01", "2024-03-02")
    collect(cfg)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    assert main(["convert", str(path), "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "1 converted, 0 unchanged, 1 failed" in out
    assert f"failed: {bad}: CSV line 3: expected 12 columns, got 3: not,a,candle\n" in out
    assert sql(cfg, "SELECT CAST(open_time AS DATE), count(*) FROM spot_klines GROUP BY ALL") == [
        (dt.date(2024, 3, 1), 3)]  # nothing of the failed file
    assert main(["manifest", "quality", "--config", str(path), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(r["period"], r["status"], r["rows"], r["expected_rows"], r["missing_rows"]) for r in report] == [
        ("2024-03-01", "converted", 3, 24, 21), ("2024-03-02", "failed", None, None, None)]
    assert report[1]["error"] == "CSV line 3: expected 12 columns, got 3: not,a,candle"


def _conversion_workers() -> list[int]:
    """The pids of this session's Ray workers running a conversion batch now: children of its raylet whose title
    (Ray sets it to the task's name while the task runs) is ``ray::_convert_batch``."""
    import ray

    raylet = ray._private.worker._global_node.all_processes["raylet"][0].process.pid
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            title = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == raylet and title.startswith(b"ray::_convert_batch"):
            found.append(int(proc.name))
    return found


def test_a_conversion_worker_killed_mid_file_has_its_batch_tried_again_and_converted(archive, tmp_path, caplog):
    """The zip is read from an s3:// bronze through a proxy that holds its first GET; the worker is killed (as by the
    OOM killer) while it waits. The dispatcher tries the batch again on a new worker: no failed row, nothing lost."""
    archive.server.create_bucket("killbronze")
    key = "data/spot/daily/klines/ZZKILLUSDT/1h/ZZKILLUSDT-1h-2024-03-01.zip"
    publish(archive, key, candles(dt.date(2024, 3, 1), 24))
    cfg = own_series(archive, tmp_path, "ZZKILLUSDT", "2024-03-01", "2024-03-01",
                     output_directory="s3://killbronze/binance", destination_endpoint_url=archive.endpoint_url,
                     destination_credentials="anonymous", local_data_dir=str(tmp_path / "scratch"),
                     manifest_directory=str(tmp_path / "manifests"), silver_directory=str(tmp_path / "silver"))
    assert collect(cfg).counts["success"] == 1
    held = Rule(key.rsplit("/", 1)[1], "stall", times=1, method="GET")
    killed: list[int] = []
    with FaultProxy(archive.endpoint_url, rules=[held], stall_seconds=60) as proxy:

        def kill_the_worker_while_its_get_is_held() -> None:
            deadline = time.monotonic() + 60
            while not killed and time.monotonic() < deadline:
                if held.hits:
                    for pid in _conversion_workers():
                        os.kill(pid, signal.SIGKILL)
                        killed.append(pid)
                time.sleep(0.1)

        killer = threading.Thread(target=kill_the_worker_while_its_get_is_held)
        killer.start()
        with caplog.at_level(logging.WARNING, logger="raycollect.silver.job"):
            result = convert({**cfg, "destination_endpoint_url": proxy.endpoint_url})
        killer.join()
    assert len(killed) == 1 and held.hits == 1
    assert (result.counts, result.rows) == ({"converted": 1, "skipped": 0, "failed": 0, "superseded": 0}, 24)
    assert "1 conversion batches were tried again (their worker died); 0 given up" in caplog.text
    assert sql(cfg, "SELECT count(*), count(DISTINCT open_time) FROM spot_klines WHERE symbol = 'ZZKILLUSDT'") == \
        [(24, 24)]
    assert convert(cfg).counts["skipped"] == 1  # committed once: the next run has nothing to do
