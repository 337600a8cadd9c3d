"""Benchmark: plan ~10 million files (400 symbols x 16 intervals x 5 years, daily policy).

Run by hand or with `make bench-plan`; prints seconds, rows/s and peak RSS. Targets: < 10 s, < 2 GB.
Baseline in the same process: the per-row Python expansion the seed used (on a 1% sample, scaled).
"""

from __future__ import annotations

import datetime as dt
import resource
import sys
import time
from pathlib import Path

from raycollect.archive import INTERVALS, archive_key
from raycollect.config import WorkflowConfig
from raycollect.plan import build_plan

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    symbols = [f"SYM{i:03d}USDT" for i in range(400)]
    config = WorkflowConfig(
        workflow_type="archive_collection",
        matrix_path=str(ROOT / "matrices/binance_archive_matrix.json"),
        output_directory="/tmp/unused",
        markets=["spot"],
        symbols=symbols,
        data_types=["klines"],
        intervals={"klines": list(INTERVALS)},
        date_range={"start": "2020-01-01", "end": "2024-12-31"},
        partition_policy="daily",
    )
    t0 = time.perf_counter()
    plan = build_plan(config, today=dt.date(2026, 1, 1))
    seconds = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"columnar plan: {plan.num_rows:,} rows in {seconds:.2f} s ({plan.num_rows / seconds:,.0f} rows/s), "
          f"{plan.nbytes / 1024**3:.2f} GiB in Arrow, peak RSS {peak_gb:.2f} GiB")

    # Baseline: one Python call per file (the shape of the seed's loop), on 4 symbols, scaled up by 100.
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(1827)]
    t0 = time.perf_counter()
    rows = [archive_key("spot", "daily", "klines", s, iv, d) for s in symbols[:4] for iv in INTERVALS[:13]
            for d in days]
    base = (time.perf_counter() - t0) * 100
    print(f"per-row Python baseline: {len(rows) * 100:,} rows in ~{base:.1f} s (scaled from 1%); "
          f"columnar is {base / seconds:.1f}x faster")
    ok = seconds < 10 and peak_gb < 2
    print("targets (< 10 s, < 2 GiB):", "met" if ok else "MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
