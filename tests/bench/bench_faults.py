"""Benchmark: every engine under a fault mix, against a real S3 server behind tests/fault_proxy.py.

The mix (per request, from the trust issue): 10% 503 SlowDown, 2% 500, 5% connection resets, 3% truncated
bodies, 2% flipped bytes, 0.3% 25-s stalls; `.CHECKSUM` GETs also 2% 404 and 2% damaged; timeout_seconds 20.
For each engine: a first run (failed %, seconds), then a rerun through the same faults (what is left),
and the temporary files left in the output tree. Targets: failed <= 3% on the first run, no engine slower
than 2.5x the fastest, the rerun completes everything, 0 temporary files.
Run: make bench-faults   (or .venv/bin/python tests/bench/bench_faults.py [--files N] [--engines ...])
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

import ray

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from raycollect.matrix import BUNDLED_MATRIX
from raycollect.mirror import LocalArchive, generate_archive, plan_for
from raycollect.mirror.seed import upload_tree
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.fault_proxy import FaultProxy, Mix

MIX = Mix(slowdown=0.10, error500=0.02, reset=0.05, truncate=0.03, flip=0.02, stall=0.003, sidecar_404=0.02,
          sidecar_damaged=0.02)


def temporary_files(out: Path) -> int:
    return sum(1 for p in out.rglob("*") if p.is_file() and "_manifests" not in p.parts
               and (".raycollect-staging" in p.parts or not p.name.endswith((".zip", ".zip.CHECKSUM"))))


def run(endpoint: str, out: Path, engine: str, selection: dict) -> tuple[float, dict]:
    cfg = {"workflow_type": "archive_collection", "matrix_path": str(BUNDLED_MATRIX), "output_directory": str(out),
           "endpoint_url": endpoint, "downloader": engine, "partition_policy": "daily", "timeout_seconds": 20,
           "max_parallel_downloads": 4, **selection}
    t0 = time.perf_counter()
    result = ArchiveCollectionWorkflow(cfg, show_progress=False).execute()
    return time.perf_counter() - t0, result["collection_stats"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000, help="small files (multiple of 25)")
    ap.add_argument("--engines", nargs="+", default=["s5cmd", "boto3", "http"])
    args = ap.parse_args()
    days = args.files // 25
    sel = dict(markets=["spot"], symbols=[f"F{i:02d}USDT" for i in range(25)], data_types=["aggTrades"])
    dates = {"start": "2024-01-01", "end": f"2024-{1 + (days - 1) // 31:02d}-{1 + (days - 1) % 31:02d}"}
    work = Path(tempfile.mkdtemp(prefix="raycollect-bench-faults-"))
    table = []
    try:
        with LocalArchive() as archive:
            gen = generate_archive(work / "src", plan_for(**sel, start=dates["start"], end=dates["end"],
                                                          partition_policy="daily"), seed=3, rows=24)
            upload_tree(archive.endpoint_url, archive.bucket, work / "src")
            n = len(gen.written)
            print(f"seeded {n:,} zips + sidecars; fault mix {MIX}")
            ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            for i, engine in enumerate(args.engines):
                out = work / engine
                with FaultProxy(archive.endpoint_url, mix=MIX, seed=100 + i, stall_seconds=25) as proxy:
                    secs, first = run(proxy.endpoint_url, out, engine, {**sel, "date_range": dates})
                    faults = dict(proxy.injected)
                    rsecs, again = run(proxy.endpoint_url, out, engine, {**sel, "date_range": dates})
                row = (engine, first["failed_tasks"], 100 * first["failed_tasks"] / n, secs, again["failed_tasks"],
                       rsecs, temporary_files(out), sum(faults.values()))
                table.append(row)
                print(f"  {engine:<5} first run: {first['failed_tasks']:,} of {n:,} failed ({row[2]:.2f}%) in "
                      f"{secs:.1f}s; rerun: {again['failed_tasks']} failed, {again['successful_tasks']} fetched in "
                      f"{rsecs:.1f}s; temporary files left: {row[6]}; faults injected: {faults}", flush=True)
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    fastest = min(r[3] for r in table)
    print(f"\n{'engine':<7}{'failed %':>9}{'seconds':>9}{'x fastest':>11}{'rerun failed':>14}{'temp files':>12}")
    for engine, _, pct, secs, refailed, _, temps, _ in table:
        print(f"{engine:<7}{pct:>9.2f}{secs:>9.1f}{secs / fastest:>11.2f}{refailed:>14}{temps:>12}")


if __name__ == "__main__":
    main()
