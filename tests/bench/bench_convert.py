"""Benchmark: ``raycollect convert`` against ``pandas.read_csv`` + ``to_parquet`` on the same zips, in one run.

The collection: daily trades files of at least 1 GB of zips in all, half USD-M futures (a header row,
millisecond times, ``true``/``false``), half spot (no header, microsecond times, ``True``/``False``), served
by the local archive (SeaweedFS) and collected with raycollect, so the conversion reads a real manifest.
Then, interleaved over rounds: raycollect convert (a warm local Ray, every file typed, timestamps normalised,
quality checked), once with each ``silver_compression`` in ``CODECS`` (zstd, the default, and lz4), and the
baseline a user would write: a loop of ``pandas.read_csv(zip)`` and ``DataFrame.to_parquet`` (pyarrow,
snappy), one file at a time, with the archive's column names and nothing more.
Prints rows/s, MB/s of zips, the ratio (pandas seconds / raycollect seconds) and the Parquet written.
Run: make bench-convert   (installs pandas into the venv first; pandas is used only here)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import logging
import shutil
import statistics
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

from raycollect.config import WorkflowConfig
from raycollect.matrix import BUNDLED_MATRIX
from raycollect.mirror import LocalArchive, plan_for
from raycollect.mirror.generate import sidecar_text
from raycollect.mirror.seed import upload_tree
from raycollect.silver.job import SilverJob
from raycollect.silver.schemas import table_spec
from raycollect.workflow import ArchiveCollectionWorkflow


def trades_csv(market: str, day: dt.date, rows: int, rng: np.random.Generator) -> bytes:
    """One day of trades in the archive's format for ``market`` (vectorised: seconds, not minutes)."""
    t0 = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * 1000
    times = t0 + np.sort(rng.integers(0, 86_400_000, rows))
    price = np.round(40_000 + np.cumsum(rng.normal(0, 2, rows)), 2)
    qty = np.round(rng.uniform(0.001, 5, rows), 5)
    maker = rng.random(rows) < 0.5
    cols = {"id": np.arange(10**9, 10**9 + rows), "price": price, "qty": qty, "quote_qty": np.round(price * qty, 5)}
    if market == "spot":  # microseconds from 2025, Python-style booleans, no header
        cols["time"] = times * 1000
        cols["is_buyer_maker"] = np.where(maker, "True", "False")
        cols["is_best_match"] = np.full(rows, "True")
    else:
        cols["time"] = times
        cols["is_buyer_maker"] = np.where(maker, "true", "false")
    buf = pa.BufferOutputStream()
    pcsv.write_csv(pa.table(cols), buf, pcsv.WriteOptions(include_header=market != "spot", quoting_style="none"))
    return buf.getvalue().to_pybytes()


def seed(src: Path, mb: int, files: int) -> tuple[list[dict], int]:
    """``files`` daily trades zips of about ``mb / files`` MB each; returns the plan rows and zip bytes."""
    rng = np.random.default_rng(5)
    rows_per_file = int(mb / files * 1e6 / 22)  # about 22 bytes of CSV deflated at level 1 per trade row
    half = max(1, files // 2)
    plans = [plan_for(markets=["futures_um"], symbols=["BTCUSDT"], data_types=["trades"], start="2024-03-01",
                      end=(dt.date(2024, 3, 1) + dt.timedelta(days=half - 1)).isoformat(), partition_policy="daily"),
             plan_for(markets=["spot"], symbols=["BTCUSDT"], data_types=["trades"], start="2025-03-01",
                      end=(dt.date(2025, 3, 1) + dt.timedelta(days=files - half - 1)).isoformat(),
                      partition_policy="daily")]
    rows, total = [], 0
    for plan in plans:
        for row in plan.to_pylist():
            name = row["key"].rsplit("/", 1)[1]
            path = src / row["key"]
            path.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
                zf.writestr(name[:-4] + ".csv", trades_csv(row["market"], row["period"], rows_per_file, rng))
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            (src / (row["key"] + ".CHECKSUM")).write_text(sidecar_text(row["market"], digest, name))
            total += path.stat().st_size
            rows.append(row)
    return rows, total


def pandas_convert(rows: list[dict], out_dir: Path, collected: Path) -> int:
    import pandas as pd

    n = 0
    for i, row in enumerate(rows):
        names = table_spec(row["market"], row["data_type"]).names
        header = 0 if row["market"] != "spot" else None
        df = pd.read_csv(collected / row["key"], header=header, names=names)
        df.to_parquet(out_dir / f"{i}.parquet", engine="pyarrow")
        n += len(df)
    return n


#: silver_compression values measured, every round (the default first).
DEFAULT_CODEC: str = WorkflowConfig.model_fields["silver_compression"].default
CODECS = [DEFAULT_CODEC, "lz4"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1100, help="MB of zips to convert (at least 1,000 for the target)")
    ap.add_argument("--files", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    import ray

    work = Path(tempfile.mkdtemp(prefix="raycollect-bench-convert-"))
    try:
        with LocalArchive() as archive:
            t0 = time.perf_counter()
            rows, zip_bytes = seed(work / "src", args.mb, args.files)
            upload_tree(archive.endpoint_url, archive.bucket, work / "src")
            shutil.rmtree(work / "src")
            out = work / "collected"
            cfg = {"workflow_type": "archive_collection", "matrix_path": str(BUNDLED_MATRIX),
                   "output_directory": str(out), "endpoint_url": archive.endpoint_url,
                   "markets": ["futures_um", "spot"],
                   "symbols": ["BTCUSDT"], "data_types": ["trades"], "partition_policy": "daily",
                   "date_range": {"start": "2024-03-01", "end": "2025-03-31"}, "discover": True}
            ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
            got = ArchiveCollectionWorkflow(cfg, show_progress=False).execute()
            assert got.counts["success"] == len(rows), got.counts
            print(f"seeded and collected {len(rows)} zips, {zip_bytes / 1e6:,.0f} MB in "
                  f"{time.perf_counter() - t0:.0f}s", flush=True)
            ours: dict[str, list[float]] = {codec: [] for codec in CODECS}
            sizes: dict[str, int] = {}
            theirs: list[float] = []
            total_rows = 0
            for rnd in range(args.rounds):
                for codec in CODECS if rnd % 2 == 0 else CODECS[::-1]:
                    # Both sides write into an empty directory, removed outside the timing: pandas' below, silver
                    # here (force=True converts every file again either way; over existing outputs each rename
                    # would also free the old file's pages inside the timing).
                    shutil.rmtree(out / "silver", ignore_errors=True)
                    t = time.perf_counter()
                    result = SilverJob(WorkflowConfig({**cfg, "silver_compression": codec}), force=True,
                                       show_progress=False).execute()
                    ours[codec].append(time.perf_counter() - t)
                    assert result.counts["converted"] == len(rows) and not result.failures, result
                    total_rows = result.rows
                    sizes[codec] = sum(p.stat().st_size for p in (out / "silver").rglob("*.parquet"))
                base_out = work / "pandas"
                base_out.mkdir()
                t = time.perf_counter()
                n = pandas_convert(rows, base_out, out)
                theirs.append(time.perf_counter() - t)
                sizes["pandas"] = sum(p.stat().st_size for p in base_out.rglob("*.parquet"))
                shutil.rmtree(base_out)
                assert n == total_rows, (n, total_rows)
                print(f"round {rnd + 1}: " + ", ".join(f"raycollect {c} {ours[c][-1]:.1f}s" for c in CODECS)
                      + f", pandas {theirs[-1]:.1f}s", flush=True)
            ray.shutdown()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    mb = zip_bytes / 1e6
    print(f"\n{len(rows)} zips, {mb:,.0f} MB, {total_rows:,} rows; median of {args.rounds} rounds")
    print(f"  {'run':<52} {'seconds':>8} {'spread':>13} {'rows/s':>11} {'MB/s':>6} {'x pandas':>8} {'Parquet MB':>10}")
    base = statistics.median(theirs)
    runs = [("pandas read_csv + to_parquet (snappy), one by one", theirs, sizes["pandas"])]
    runs += [(f"raycollect convert, {codec}{' (default)' if codec == DEFAULT_CODEC else ''}, warm Ray", ours[codec],
              sizes[codec]) for codec in CODECS]
    for label, ts, size in runs:
        med = statistics.median(ts)
        print(f"  {label:<52} {med:8.1f} {min(ts):6.1f}-{max(ts):<6.1f} {total_rows / med:11,.0f} {mb / med:6,.0f} "
              f"{base / med:8.2f} {size / 1e6:10,.0f}")


if __name__ == "__main__":
    main()
