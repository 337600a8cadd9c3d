"""The archive changing under its users, on SeaweedFS and a real local Ray: re-published, removed, late and odd
files, found by `sync`'s listing (no GET of what did not change), healed, and told by `raycollect status`."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import boto3
import duckdb
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from raycollect.cli.main import main
from raycollect.listing import REMOVED_ERROR
from raycollect.manifest.writer import files_glob
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.helpers import zip_of
from tests.integration.silver_helpers import candles, collect, own_series, publish, publish_zip, sql

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]
MARCH = [dt.date(2024, 3, d) for d in range(1, 10)]


def key(symbol: str, day: dt.date) -> str:
    return f"data/spot/daily/klines/{symbol}/1h/{symbol}-1h-{day}.zip"


def sync(cfg: dict, today: str):
    return ArchiveCollectionWorkflow(cfg, show_progress=False, sync=True,
                                     today=dt.date.fromisoformat(today)).execute()


def delete(archive, *keys: str) -> None:
    s3 = boto3.client("s3", endpoint_url=archive.endpoint_url, region_name="us-east-1",
                      config=Config(signature_version=UNSIGNED))
    for k in keys:
        s3.delete_object(Bucket=archive.bucket, Key=k)
        s3.delete_object(Bucket=archive.bucket, Key=k + ".CHECKSUM")


def rows(out: Path, run_id: str) -> dict[str, dict]:
    got = duckdb.sql(f"SELECT * FROM read_parquet('{files_glob(out / '_manifests')}', hive_partitioning = true, "
                     f"union_by_name = true) WHERE run_id = '{run_id}'").fetchall()
    names = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{files_glob(out / '_manifests')}', "
                       "hive_partitioning = true, union_by_name = true)").fetchall()
    return {r[[n[0] for n in names].index("key")]: dict(zip([n[0] for n in names], r, strict=True)) for r in got}


def config_file(tmp_path: Path, cfg: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_sync_recollects_republished_flags_removed_collects_late_and_status_tells_each(archive, tmp_path, capsys):
    sym = "ZZCHGUSDT"
    first_digest = {}
    for day in MARCH[:7]:
        if day.day == 5:
            continue  # a hole: never published
        hours = 7 if day.day == 6 else 24  # 03-06 published with 7 of its 24 candles (#413)
        first_digest[day] = publish(archive, key(sym, day), candles(day, hours))
    cfg = own_series(archive, tmp_path, sym, "2024-03-01", "2024-03-09", partition_policy="daily", convert=True)
    out = Path(cfg["output_directory"])

    first = sync(cfg, "2024-03-09")  # 03-08 is not published yet
    assert (first.counts["success"], first.exit_code) == (6, 0)
    assert sql(cfg, "SELECT count(*) FROM spot_klines") == [(5 * 24 + 7,)]
    time.sleep(0.05)
    between = dt.datetime.now(dt.timezone.utc).isoformat()

    republished = [MARCH[1], MARCH[2], MARCH[3]]  # new bytes and a new sidecar, as binance-public-data#405
    new_digest = {day: publish(archive, key(sym, day), candles(day, 24, first_price=100.0)) for day in republished}
    delete(archive, key(sym, MARCH[0]), key(sym, MARCH[6]))  # removed from the archive
    publish(archive, key(sym, MARCH[7]), candles(MARCH[7], 24))  # 03-08, published late

    second = sync(cfg, "2024-03-10")
    got = rows(out, second.run_id)
    assert second.counts["success"] == 4 and second.counts["removed"] == 2 and second.exit_code == 0
    assert second["archive_changes"] == {"republished": 3, "removed": 2, "quarantined": 0}
    assert {k for k, r in got.items() if r["status"] == "success"} == {key(sym, d) for d in [*republished, MARCH[7]]}
    for day in republished:
        r = got[key(sym, day)]
        assert (r["sha256"], r["previous_sha256"]) == (new_digest[day], first_digest[day])
        assert r["etag"] and r["last_modified"] is not None and r["checksum_etag"]
    for day in (MARCH[0], MARCH[6]):
        r = got[key(sym, day)]
        assert (r["status"], r["error"], r["sha256"]) == ("removed", REMOVED_ERROR, first_digest[day])
        assert (out / key(sym, day)).is_file()  # the local copy is kept
    assert not (out / key(sym, MARCH[4])).exists()

    # silver serves the new rows, and the old ones as of before the sync
    q = "SELECT min(open) FROM spot_klines WHERE open_time::DATE BETWEEN DATE '2024-03-02' AND DATE '2024-03-04'"
    assert sql(cfg, q) == [(100.0,)]
    assert sql(cfg, q, as_of=between) == [(1.0,)]
    assert sql(cfg, "SELECT count(*) FROM spot_klines") == [(6 * 24 + 7,)]  # 03-01 and 03-07 stay: kept locally

    third = sync(cfg, "2024-03-10")  # nothing changed: no request, no row
    assert (third.counts.get("success", 0), third.counts.get("removed", 0), third.counts["skipped"]) == (0, 0, 5)
    assert not (out / "_manifests" / "files" / f"run_id={third.run_id}").exists()

    path = config_file(tmp_path, cfg)
    assert main(["status", path, "--today", "2024-03-10"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0] == (
        "spot klines ZZCHGUSDT 1h: 2024-03-02..2024-03-08, 5 days collected, 1 hole (2024-03-05), "
        "3 re-published (2024-03-02..04), 1 degraded (2024-03-06), 2 removed (2024-03-01, 2024-03-07), fresh")
    assert main(["status", path, "--today", "2024-03-10", "--format", "json"]) == 0
    days = json.loads(capsys.readouterr().out)
    assert [(d["day"], d["condition"]) for d in days] == [
        ("2024-03-01", "removed"), ("2024-03-02", "re-published"), ("2024-03-03", "re-published"),
        ("2024-03-04", "re-published"), ("2024-03-05", "missing"), ("2024-03-06", "degraded"),
        ("2024-03-07", "removed"), ("2024-03-08", "collected"), ("2024-03-09", "not-published")]
    assert [d["revisions"] for d in days[1:4]] == [1, 1, 1] and days[5]["detail"] == "7 of 24 rows"
    assert main(["status", path, "--today", "2024-03-10", "--fail-on", "missing,quarantined"]) == 3
    assert capsys.readouterr().err == "status: 1 days with missing\n"
    assert main(["status", path, "--today", "2024-03-10", "--format", "json", "--since",
                 second.metadata.created_at.date().isoformat()]) == 0
    assert {d["day"] for d in json.loads(capsys.readouterr().out)} >= {"2024-03-01", "2024-03-02", "2024-03-08"}

    publish(archive, key(sym, MARCH[4]), candles(MARCH[4], 24))  # the hole filled upstream: healed by the next sync
    assert sync(cfg, "2024-03-10").counts["success"] == 1
    assert main(["status", path, "--today", "2024-03-10", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[4]["condition"] == "collected"


def test_odd_files_are_quarantined_with_their_reason_and_never_reach_silver(archive, tmp_path, capsys):
    sym = "ZZODDUSDT"
    good, two, empty, misnamed = MARCH[:4]
    publish(archive, key(sym, good), candles(good, 24))
    publish_zip(archive, key(sym, two), zip_of({"a.csv": candles(two, 24), "b.csv": candles(two, 24)}))  # #449
    publish_zip(archive, key(sym, empty), zip_of({}))
    publish(archive, key(sym, misnamed), candles(misnamed, 24))
    s3 = boto3.client("s3", endpoint_url=archive.endpoint_url, region_name="us-east-1",
                      config=Config(signature_version=UNSIGNED))
    body = s3.get_object(Bucket=archive.bucket, Key=key(sym, misnamed) + ".CHECKSUM")["Body"].read().decode()
    s3.put_object(Bucket=archive.bucket, Key=key(sym, misnamed) + ".CHECKSUM",  # #469: a non-padded day
                  Body=body.replace("2024-03-04", "2024-3-4").encode())
    cfg = own_series(archive, tmp_path, sym, "2024-03-01", "2024-03-04", convert=True)
    out = Path(cfg["output_directory"])
    result = collect(cfg)
    assert (result.counts["success"], result.counts["quarantined"], result.exit_code) == (1, 3, 3)
    got = rows(out, result.run_id)
    fetched = got[key(sym, good)]  # a plain run lists nothing: the archive's facts come from the GET answers
    assert fetched["etag"] and fetched["last_modified"] is not None and fetched["checksum_etag"]
    name = key(sym, good).rsplit("/", 1)[1]
    assert fetched["checksum_size"] == len(f"{fetched['sha256']}  {name}")  # a spot sidecar: no newline
    reasons = {day: got[key(sym, day)]["error"] for day in (two, empty, misnamed)}
    assert reasons[two] == f"holds 2 files ('a.csv', 'b.csv'), not one (kept at _quarantine/{key(sym, two)})"
    assert reasons[empty] == f"empty zip: it holds no file (kept at _quarantine/{key(sym, empty)})"
    assert reasons[misnamed].startswith("checksum sidecar malformed sidecar (names 'ZZODDUSDT-1h-2024-3-4.zip', "
                                        "not 'ZZODDUSDT-1h-2024-03-04.zip')")
    for day in (two, empty, misnamed):
        assert not (out / key(sym, day)).exists() and (out / "_quarantine" / key(sym, day)).is_file()
    assert sql(cfg, "SELECT count(*), min(open_time)::DATE, max(open_time)::DATE FROM spot_klines") == [
        (24, good, good)]
    assert main(["manifest", "failed", "--config", config_file(tmp_path, cfg), "--format", "json"]) == 0
    listed = {r["key"] for r in json.loads(capsys.readouterr().out)}
    assert listed == {key(sym, d) for d in (two, empty, misnamed)}
    # a rerun asks for them again (the archive may have fixed them) and they stay out of silver
    again = collect(cfg)
    assert again.counts["quarantined"] == 3 and sql(cfg, "SELECT count(*) FROM spot_klines") == [(24,)]


def test_symbols_lists_a_delisted_symbol_with_its_last_day_and_alive_on_leaves_it_out(archive, tmp_path, capsys):
    for day in MARCH[:3]:
        publish(archive, key("ZZLIFEAUSDT", day), candles(day, 24))  # delisted after 03-03
    for day in MARCH:
        publish(archive, key("ZZLIFEBUSDT", day), candles(day, 24))
    cfg = own_series(archive, tmp_path, "ZZLIFE*", "2024-03-01", "2024-03-09")
    assert main(["symbols", config_file(tmp_path, cfg), "--format", "json"]) == 0
    got = {r["symbol"]: (r["first_day"], r["last_day"]) for r in json.loads(capsys.readouterr().out)}
    assert got == {"ZZLIFEAUSDT": ("2024-03-01", "2024-03-03"), "ZZLIFEBUSDT": ("2024-03-01", "2024-03-09")}
    assert main(["symbols", config_file(tmp_path, cfg), "--alive-on", "2024-03-05", "--format", "json"]) == 0
    assert [r["symbol"] for r in json.loads(capsys.readouterr().out)] == ["ZZLIFEBUSDT"]

    alive = collect({**cfg, "alive_on": "2024-03-05"})
    assert alive.counts["success"] == 9  # ZZLIFEBUSDT's nine days; ZZLIFEAUSDT was gone by 03-05
    assert {p.parent.parent.name for p in Path(cfg["output_directory"]).rglob("*.zip")} == {"ZZLIFEBUSDT"}
    assert any("alive_on 2024-03-05: 1 of 2 symbols" in n for n in alive.notes)
    earlier = collect({**cfg, "output_directory": str(tmp_path / "b"), "alive_on": "2024-03-02"})
    assert earlier.counts["success"] == 12  # both were alive on 03-02
