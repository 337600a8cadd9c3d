"""`raycollect run` through its CLI entry: summary, exit codes 0 / 3 and --strict."""

import hashlib
import json

import pytest

from raycollect.cli.main import main
from tests.conftest import GAP, collect_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


def write(tmp_path, cfg):
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def test_failures_exit_3_with_reasons(archive, tmp_path, capsys):
    path = write(tmp_path, collect_config(archive, tmp_path / "out"))
    assert main(["run", path, "--no-progress"]) == 3
    out = capsys.readouterr().out
    assert "planned 20: success 17, skipped 0, missing 1, failed 2" in out
    assert "checksum mismatch: expected " in out and "checksum sidecar missing: " in out
    assert f"    {GAP}" in out


def test_missing_is_not_a_failure_unless_strict(archive, tmp_path, capsys):
    cfg = collect_config(archive, "/unused", markets=["spot"], symbols=["ETHUSDT"],
                         date_range={"start": "2024-01-30", "end": "2024-02-01"})
    path = write(tmp_path, cfg)
    out_dir = str(tmp_path / "out")
    assert main(["run", path, "--no-progress", "--output-directory", out_dir]) == 0
    assert "planned 3: success 2, skipped 0, missing 1, failed 0" in capsys.readouterr().out
    assert main(["run", path, "--no-progress", "--output-directory", out_dir, "--strict"]) == 3
    assert "planned 3: success 0, skipped 2, missing 1, failed 0" in capsys.readouterr().out
    assert main(["run", path, "--no-progress", "--output-directory", out_dir, "--force",
                 "--downloader", "boto3"]) == 0
    assert "planned 3: success 2, skipped 0, missing 1, failed 0" in capsys.readouterr().out


def test_the_demo_collects_the_bundled_archive_and_reruns_safely(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--output-directory", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "planned 156: success 155, skipped 0, missing 1, failed 0" in text
    gap = "data/spot/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2026-05-03.zip"
    assert f"{gap}  not in the archive (404 NoSuchKey)" in text
    real = out / "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip"
    assert hashlib.sha256(real.read_bytes()).hexdigest() == (real.parent / (real.name + ".CHECKSUM")).read_text()[:64]
    assert not (out / ".raycollect-staging").exists()
    # The demo converts too: every collected zip becomes typed Parquet, and a silver query shows the real days.
    assert "155 converted, 0 unchanged, 0 failed, 0 superseded by monthly files" in text
    silver = text.split("-- Daily candles from the silver table spot_klines (Iceberg", 1)[1]
    day = next(line for line in silver.splitlines() if line.startswith("BTCUSDT") and "2026-05-08" in line)
    assert day.split()[3:7] == ["80006.0", "80500.0", "79181.48", "80193.17"], day  # open high low close
