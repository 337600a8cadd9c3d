"""Benchmark: raycollect against raw `s5cmd cp` on one local archive, in one run.

Workloads: 2,000 small zips (+ sidecars) and 40 zips of 25 MB (+ sidecars). For each: raw `s5cmd cp`
of the prefix (wildcard, no verification) as the baseline, then `raycollect run` with each engine on a
warm local Ray, verifying every SHA-256. Prints files/s, MB/s and the ratio to the baseline.
Run: make bench-collect   (or .venv/bin/python tests/bench/bench_collect.py [--small N] [--large N])
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import ray

from raycollect.binaries import s5cmd_binary
from raycollect.matrix import BUNDLED_MATRIX
from raycollect.mirror import LocalArchive, generate_archive, plan_for
from raycollect.mirror.seed import upload_tree
from raycollect.workflow import ArchiveCollectionWorkflow


def raw_s5cmd(archive: LocalArchive, prefix: str, dest: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([s5cmd_binary(), "--no-sign-request", "--endpoint-url", archive.endpoint_url, "--numworkers",
                    "64", "cp", f"s3://{archive.bucket}/{prefix}*", f"{dest}/"], check=True, capture_output=True)
    return time.perf_counter() - t0


def collect(archive: LocalArchive, out: Path, engine: str, selection: dict) -> tuple[float, dict]:
    cfg = {"workflow_type": "archive_collection", "matrix_path": str(BUNDLED_MATRIX), "output_directory": str(out),
           "endpoint_url": archive.endpoint_url, "downloader": engine, "partition_policy": "daily", **selection}
    t0 = time.perf_counter()
    result = ArchiveCollectionWorkflow(cfg, show_progress=False).execute()
    seconds = time.perf_counter() - t0
    stats = result["collection_stats"]
    assert stats["successful_tasks"] == stats["total_tasks"], result
    return seconds, stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--small", type=int, default=2000, help="small files (multiple of 40)")
    ap.add_argument("--large", type=int, default=40, help="25 MB files")
    args = ap.parse_args()
    days = args.small // 40
    small = dict(markets=["spot"], symbols=[f"S{i:02d}USDT" for i in range(40)], data_types=["aggTrades"],
                 start="2024-01-01", end=f"2024-{1 + (days - 1) // 31:02d}-{1 + (days - 1) % 31:02d}")
    large = dict(markets=["futures_um"], symbols=["BTCUSDT"], data_types=["trades"], start="2024-01-01",
                 end=f"2024-{1 + (args.large - 1) // 31:02d}-{1 + (args.large - 1) % 31:02d}")
    work = Path(tempfile.mkdtemp(prefix="raycollect-bench-"))
    try:
        with LocalArchive() as archive:
            t0 = time.perf_counter()
            src = work / "src"
            g1 = generate_archive(src, plan_for(**small, partition_policy="daily"), seed=1, rows=24)
            g2 = generate_archive(src, plan_for(**large, partition_policy="daily"), seed=2, size_bytes=25_000_000,
                                  compression="stored")
            upload_tree(archive.endpoint_url, archive.bucket, src)
            shutil.rmtree(src)
            print(f"seeded {len(g1.written):,} small + {len(g2.written)} large zips ({(g1.bytes + g2.bytes) / 1e6:,.0f}"
                  f" MB with sidecars) in {time.perf_counter() - t0:.1f}s")
            ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            collect(archive, work / "warm", "s5cmd", dict(markets=["spot"], symbols=["S00USDT"],
                    data_types=["aggTrades"], date_range={"start": "2024-01-01", "end": "2024-01-02"}))  # warm-up
            for name, sel, gen, prefix in [
                ("small", small, g1, "data/spot/daily/aggTrades/"),
                ("large", large, g2, "data/futures/um/daily/trades/"),
            ]:
                n, mb = len(gen.written), sum((gen.bytes,)) / 1e6
                base_s = raw_s5cmd(archive, prefix, work / "raw")
                shutil.rmtree(work / "raw")
                print(f"\n{name}: {n:,} zips + sidecars, {mb:,.1f} MB")
                print(f"  raw s5cmd cp (no verification) {base_s:6.2f}s  {n / base_s:8,.0f} files/s  "
                      f"{mb / base_s:8,.1f} MB/s  1.00x")
                selection = dict(markets=sel["markets"], symbols=sel["symbols"], data_types=sel["data_types"],
                                 date_range={"start": sel["start"], "end": sel["end"]})
                for engine in ("s5cmd", "boto3", "http"):
                    secs, _ = collect(archive, work / engine, engine, selection)
                    shutil.rmtree(work / engine)
                    print(f"  raycollect {engine:<5} (verified)    {secs:6.2f}s  {n / secs:8,.0f} files/s  "
                          f"{mb / secs:8,.1f} MB/s  {base_s / secs:.2f}x")
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
