"""Silver you can trust: hostile and odd archive files with valid sidecars, served by SeaweedFS, collected and
converted on a real local Ray. None corrupts a table, exhausts memory or hides behind "internal error"."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from raycollect.cli.main import main
from tests.conftest import collect_config
from tests.helpers import one_line_zip
from tests.integration.silver_helpers import (
    candles,
    collect,
    convert,
    data_files,
    own_series,
    publish,
    publish_zip,
    sql,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]
DAY = dt.date(2024, 3, 1)
HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
          "taker_buy_quote_volume,ignore")


def key(symbol: str, day: dt.date | str) -> str:
    return f"data/spot/daily/klines/{symbol}/1h/{symbol}-1h-{day}.zip"


def config_file(tmp_path: Path, cfg: dict) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_a_one_line_bomb_fails_with_its_line_length_and_the_other_files_convert(archive, tmp_path, capsys):
    publish(archive, key("ZZBOMBUSDT", DAY), candles(DAY, 24))
    bomb = key("ZZBOMBUSDT", DAY + dt.timedelta(days=1))
    publish_zip(archive, bomb, one_line_zip(bomb.rsplit("/", 1)[1]))  # 1 GiB inflated, about 1 MB as a zip
    cfg = own_series(archive, tmp_path, "ZZBOMBUSDT", "2024-03-01", "2024-03-02")
    assert collect(cfg).counts["success"] == 2  # its sidecar matches: verified
    assert main(["convert", config_file(tmp_path, cfg), "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "1 converted, 0 unchanged, 1 failed" in out
    assert f"failed: {bomb}: CSV line 1: longer than 1,048,576 bytes with no line end" in out
    assert sql(cfg, "SELECT count(*) FROM spot_klines") == [(24,)]


def test_a_monthly_file_that_fails_leaves_its_days_in_silver(archive, tmp_path):
    days = [DAY, DAY + dt.timedelta(days=1)]
    for day in days:
        publish(archive, key("ZZMFAILUSDT", day), candles(day, 24))
    cfg = own_series(archive, tmp_path, "ZZMFAILUSDT", "2024-03-01", "2024-03-02", partition_policy="daily")
    collect(cfg)
    assert convert(cfg).rows == 48
    publish(archive, "data/spot/monthly/klines/ZZMFAILUSDT/1h/ZZMFAILUSDT-1h-2024-03.zip",
            candles(days[0], 24) + "not,a,candle\n")  # verified, and broken
    both = {**cfg, "partition_policy": "both"}
    collect(both)
    result = convert(both)
    assert (result.counts["failed"], result.counts["superseded"]) == (1, 0)
    assert sql(cfg, "SELECT count(*), count(DISTINCT open_time) FROM spot_klines") == [(48, 48)]  # nothing lost
    # and the month fixed upstream replaces its days, each row once
    publish(archive, "data/spot/monthly/klines/ZZMFAILUSDT/1h/ZZMFAILUSDT-1h-2024-03.zip",
            candles(days[0], 24) + candles(days[1], 24) + candles(DAY + dt.timedelta(days=2), 24))
    collect({**both, "reverify": True}, only_collected=True)
    fixed = convert(both)
    assert (fixed.counts["converted"], fixed.counts["superseded"]) == (1, 2)
    assert sql(cfg, "SELECT count(*), count(DISTINCT open_time) FROM spot_klines") == [(72, 72)]


def test_every_source_row_is_in_silver_once_whatever_the_order_of_day_and_month_conversions(archive, tmp_path):
    days = [DAY + dt.timedelta(days=i) for i in range(3)]
    for day in days:
        publish(archive, key("ZZONCEUSDT", day), candles(day, 24))
    publish(archive, "data/spot/monthly/klines/ZZONCEUSDT/1h/ZZONCEUSDT-1h-2024-03.zip",
            "".join(candles(d, 24) for d in days))
    month = own_series(archive, tmp_path, "ZZONCEUSDT", "2024-03-01", "2024-03-03", partition_policy="both")
    collect(month)
    convert(month)
    for policy, force in (("daily", False), ("daily", True), ("both", True), ("daily", False)):
        convert({**month, "partition_policy": policy}, force=force)
        assert sql(month, "SELECT count(*), count(DISTINCT open_time) FROM spot_klines") == [(72, 72)], policy


def test_a_header_in_another_order_is_read_by_name_and_a_damaged_first_row_fails(archive, tmp_path, capsys):
    swapped = HEADER.replace("open,high", "high,open")
    t0 = int(dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc).timestamp()) * 1000
    publish(archive, key("ZZHDRUSDT", DAY), f"{swapped}\n{t0},50000,40000,0.5,1.5,10,{t0 + 3_599_999},15,7,5,7.5,0\n")
    damaged = key("ZZHDRUSDT", DAY + dt.timedelta(days=1))
    publish(archive, damaged, "X" + candles(DAY + dt.timedelta(days=1), 2))
    cfg = own_series(archive, tmp_path, "ZZHDRUSDT", "2024-03-01", "2024-03-02")
    collect(cfg)
    assert main(["convert", config_file(tmp_path, cfg), "--no-progress"]) == 3
    assert f"failed: {damaged}: CSV line 1 is neither a row nor the header of spot/klines: 'X17" in \
        capsys.readouterr().out
    assert sql(cfg, "SELECT open, high FROM spot_klines") == [(40000.0, 50000.0)]


def test_a_symbol_column_that_contradicts_the_key_fails_the_file(archive, tmp_path, capsys):
    spoof = "data/futures/um/daily/metrics/ZZSPOOFUSDT/ZZSPOOFUSDT-metrics-2024-03-01.zip"
    publish(archive, spoof, "create_time,symbol,sum_open_interest,sum_open_interest_value,"
                            "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,count_long_short_ratio,"
                            "sum_taker_long_short_vol_ratio\n2024-03-01 00:05:00,BTCUSDT,1,2,3,4,5,6\n")
    cfg = collect_config(archive, tmp_path, markets=["futures_um"], symbols=["ZZSPOOFUSDT"], data_types=["metrics"],
                         date_range={"start": "2024-03-01", "end": "2024-03-01"})
    collect(cfg)
    assert main(["convert", config_file(tmp_path, cfg), "--no-progress"]) == 3
    assert f"failed: {spoof}: its symbol column says 'BTCUSDT', its key says 'ZZSPOOFUSDT'" in capsys.readouterr().out
    assert sql(cfg, "SELECT count(*) FROM futures_um_metrics") == [(0,)]


def test_glob_characters_in_the_output_directory_are_a_path_not_a_pattern(archive, tmp_path, capsys):
    publish(archive, key("ZZGLOBUSDT", DAY), candles(DAY, 5))
    cfg = own_series(archive, tmp_path / "out[1]" / "a*", "ZZGLOBUSDT", "2024-03-01", "2024-03-01")
    other = own_series(archive, tmp_path / "out1" / "ab", "ZZGLOBUSDT", "2024-03-01", "2024-03-01")
    collect(other)  # a collection whose path the pattern would match
    collect(cfg)
    path = config_file(tmp_path, cfg)
    assert main(["convert", path, "--no-progress"]) == 0
    assert "1 converted" in capsys.readouterr().out
    assert main(["manifest", "summary", "--config", path, "--format", "json"]) == 0
    runs = [r for r in json.loads(capsys.readouterr().out) if r.get("run_id") not in (None, "ALL", "all")]
    assert len(runs) == 1  # this collection's run only, not the other's
    assert sql(cfg, "SELECT count(*) FROM spot_klines") == [(5,)]


def test_a_silver_directory_that_is_a_file_is_refused_before_ray_with_one_line(archive, tmp_path, capsys):
    publish(archive, key("ZZFILEUSDT", DAY), candles(DAY, 2))
    (tmp_path / "silver-file").write_text("not a directory")
    cfg = own_series(archive, tmp_path, "ZZFILEUSDT", "2024-03-01", "2024-03-01",
                     silver_directory=str(tmp_path / "silver-file"))
    collect(cfg)
    assert main(["convert", config_file(tmp_path, cfg), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"raycollect: error: silver_directory {tmp_path / 'silver-file'} is a file, not a directory: "
                       "point silver_directory at a directory (it is created if missing)")


def test_a_zip_rewritten_on_disk_after_verification_fails_its_conversion(archive, tmp_path, capsys):
    publish(archive, key("ZZDISKUSDT", DAY), candles(DAY, 24))
    cfg = own_series(archive, tmp_path, "ZZDISKUSDT", "2024-03-01", "2024-03-01")
    collect(cfg)
    assert convert(cfg).rows == 24
    local = tmp_path / key("ZZDISKUSDT", DAY)
    import zipfile

    with zipfile.ZipFile(local, "w", zipfile.ZIP_DEFLATED) as zf:  # changed locally, never verified
        zf.writestr(local.name[:-4] + ".csv", candles(DAY, 3, first_price=999.0))
    assert main(["convert", config_file(tmp_path, cfg), "--force", "--no-progress"]) == 3
    assert "the zip changed on disk since it was verified" in capsys.readouterr().out
    assert sql(cfg, "SELECT count(*), min(open) FROM spot_klines") == [(24, 1.0)]  # the verified rows stay


def test_user_sql_cannot_write_files_or_read_outside_the_manifests(archive, tmp_path, capsys):
    publish(archive, key("ZZSQLUSDT", DAY), candles(DAY, 2))
    cfg = own_series(archive, tmp_path, "ZZSQLUSDT", "2024-03-01", "2024-03-01")
    collect(cfg)
    path = config_file(tmp_path, cfg)
    target = tmp_path / "written.csv"
    for query in (f"COPY (SELECT 1) TO '{target}'", "SELECT * FROM read_csv('/etc/passwd')", "INSTALL httpfs"):
        assert main(["manifest", "query", "--config", path, query]) == 2, query
        assert "raycollect: error: Query failed:" in capsys.readouterr().err
    assert not target.exists()
    assert main(["manifest", "query", "--config", path, "SELECT count(*) AS n FROM files", "--format", "csv"]) == 0
    assert capsys.readouterr().out == "n\n1\n"
    convert(cfg)
    assert main(["query", f"COPY (SELECT 1) TO '{target}'", "--config", path]) == 2
    assert not target.exists()
    capsys.readouterr()
    [data] = data_files(cfg, "spot_klines")  # inside the sandbox's warehouse: a COPY there would overwrite it
    before = Path(data).read_bytes()
    assert main(["query", f"COPY (SELECT 1 AS x) TO '{data}' (FORMAT parquet)", "--config", path]) == 2
    assert capsys.readouterr().err.strip() == ("raycollect: error: query: only SELECT queries run here (this one is a "
                                               "COPY statement): the tables are read, never written")
    assert Path(data).read_bytes() == before


def test_damaged_streams_huge_lines_and_impossible_times_are_reasons_never_internal_errors(archive, tmp_path,
                                                                                           capsys):
    import io
    import zipfile

    day = [DAY + dt.timedelta(days=i) for i in range(3)]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(key("ZZODDUSDT", day[0]).rsplit("/", 1)[1][:-4] + ".csv", candles(day[0], 24) * 20)
    damaged = bytearray(buf.getvalue())
    damaged[60:90] = b"\xff" * 30  # inside the deflate stream; the sidecar matches these bytes
    publish_zip(archive, key("ZZODDUSDT", day[0]), bytes(damaged))
    publish(archive, key("ZZODDUSDT", day[1]), candles(day[1], 2) + "9" * (5 << 20) + "\n")
    t = 285_000_000_000_000_000  # microseconds: the year 11000
    publish(archive, key("ZZODDUSDT", day[2]), f"{t},1,2,0.5,1.5,10,{t + 3_599_999_999},15,7,5,7.5,0\n")
    cfg = own_series(archive, tmp_path, "ZZODDUSDT", "2024-03-01", "2024-03-03")
    collect(cfg)
    assert main(["convert", config_file(tmp_path, cfg), "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "0 converted, 0 unchanged, 3 failed" in out and "internal error" not in out
    assert f"failed: {key('ZZODDUSDT', day[0])}: IsalError: Error -1 Invalid deflate block found" in out
    assert f"failed: {key('ZZODDUSDT', day[1])}: CSV line 3: longer than 1,048,576 bytes" in out
    assert (f"failed: {key('ZZODDUSDT', day[2])}: column open_time: 285000000000000000 is after the year 3000 in "
            "microseconds since 1970") in out
    assert sql(cfg, "SELECT count(*) FROM spot_klines") == [(0,)]  # nothing of a failed file is visible


def test_non_finite_values_and_empty_files_are_kept_and_reported(archive, tmp_path, capsys):
    rows = candles(DAY, 3).splitlines()
    rows[1] = rows[1].replace(",2,", ",nan,", 1)
    rows[2] = rows[2].replace(",10,", ",1e309,", 1)
    publish(archive, key("ZZNANUSDT", DAY), "\n".join(rows) + "\n")
    publish(archive, key("ZZNANUSDT", DAY + dt.timedelta(days=1)), "")
    cfg = own_series(archive, tmp_path, "ZZNANUSDT", "2024-03-01", "2024-03-02")
    collect(cfg)
    result = convert(cfg)
    assert (result.counts["converted"], result.rows, result.quality) == (
        2, 3, {"missing_rows": 2, "nonfinite_rows": 1, "empty_files": 1})
    path = config_file(tmp_path, cfg)
    assert main(["manifest", "quality", "--config", path, "--format", "json"]) == 0
    report = {r["period"]: r for r in json.loads(capsys.readouterr().out)}
    assert (report["2024-03-01"]["nonfinite_rows"], report["2024-03-02"]["rows"]) == (2, 0)
    assert sql(cfg, "SELECT count(*), count(*) FILTER (isnan(high)), count(*) FILTER (isinf(volume)) "
                    "FROM spot_klines") == [(3, 1, 1)]
