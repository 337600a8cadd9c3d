"""``make bench-raydata``: convert large trades zips with raycollect's own Ray tasks and with Ray Data, in one run.

The question (issue 22): should conversion run on Ray Data (``read_binary_files`` + ``map_batches``) instead of
raycollect's tasks? Both convert the same zips with the same converter (``convert_file``: streamed, typed, checked);
what differs is how the work reaches it. raycollect's task opens the zip where it lies and streams it; Ray Data's
``read_binary_files`` reads each whole zip into a block first (memory of the zip's size, held in the object store
and copied to the worker that maps it). Each side runs on a fresh local Ray, one CPU per file, a fresh worker
process per file (``max_calls=1``), whose peak RSS (``ru_maxrss``) is reported. Prints wall time (median of
rounds) and the largest worker peak of each.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_convert import trades_csv  # the same generator as make bench-convert

from raycollect.silver.convert import Source, convert_file


def _ours(path: str, out: str) -> dict:
    import resource

    src = Source("k", path, "futures_um", "trades", "BTCUSDT", None, "daily", dt.date(2024, 3, 1))
    facts = convert_file(src, Path(out))
    return {"rows": facts["rows"], "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _from_bytes(batch: dict) -> dict:
    """A Ray Data map: the zip arrives as bytes (read_binary_files), is written to scratch, and converted."""
    import resource

    rows = []
    for data, path in zip(batch["bytes"], batch["path"], strict=True):
        scratch = Path(tempfile.mkdtemp())
        local = scratch / Path(path).name
        local.write_bytes(data)
        src = Source("k", str(local), "futures_um", "trades", "BTCUSDT", None, "daily", dt.date(2024, 3, 1))
        rows.append(convert_file(src, scratch / "o.parquet")["rows"])
        shutil.rmtree(scratch)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": np.array(rows), "peak_mib": np.array([peak] * len(rows))}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--rows", type=int, default=12_000_000, help="trades per file (12 M: a zip of about 250 MB)")
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    os.environ.setdefault("POLARS_MAX_THREADS", "1")
    root = Path(tempfile.mkdtemp(prefix="raycollect-bench-raydata-"))
    try:
        rng = np.random.default_rng(7)
        paths = []
        for i in range(args.files):
            name = f"BTCUSDT-trades-2024-03-{i + 1:02d}"
            path = root / f"{name}.zip"
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                zf.writestr(name + ".csv", trades_csv("futures_um", dt.date(2024, 3, 1), args.rows, rng))
            paths.append(str(path))
        size = sum(os.path.getsize(p) for p in paths)
        print(f"bench-raydata: {args.files} futures trades zips of {args.rows:,} rows, {size / 1e6:,.0f} MB of zips; "
              f"cpus={os.cpu_count()}", flush=True)
        import ray

        ray.init(num_cpus=os.cpu_count() or 2, include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING)
        ours_t, ours_peak, data_t, data_peak = [], [], [], []
        for _ in range(args.rounds):
            task = ray.remote(num_cpus=1, max_calls=1)(_ours)
            t0 = time.perf_counter()
            got = ray.get([task.remote(p, str(root / f"ours-{i}.parquet")) for i, p in enumerate(paths)])
            ours_t.append(time.perf_counter() - t0)
            ours_peak.append(max(g["peak_mib"] for g in got))
            t0 = time.perf_counter()
            import ray.data

            ds = ray.data.read_binary_files(paths, include_paths=True).map_batches(
                _from_bytes, batch_size=1, num_cpus=1, max_calls=1)
            out = ds.take_all()
            data_t.append(time.perf_counter() - t0)
            data_peak.append(max(r["peak_mib"] for r in out))
            assert sorted(r["rows"] for r in out) == sorted(g["rows"] for g in got)
        ray.shutdown()
        print(f"raycollect tasks: {statistics.median(ours_t):.1f}s (rounds {', '.join(f'{t:.1f}' for t in ours_t)}), "
              f"largest worker peak {max(ours_peak):,.0f} MiB")
        print(f"Ray Data:         {statistics.median(data_t):.1f}s (rounds {', '.join(f'{t:.1f}' for t in data_t)}), "
              f"largest worker peak {max(data_peak):,.0f} MiB")
        print(f"ratio (Ray Data / tasks): time {statistics.median(data_t) / statistics.median(ours_t):.2f}x, "
              f"peak {max(data_peak) / max(ours_peak):.2f}x")
        return 0
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
