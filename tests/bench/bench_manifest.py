"""Benchmark: manifest questions on 200 runs and 5,000,000 file rows (generated).

Prints seconds for `summary`, `gaps` and `latest` (the newest successful row of each of 1,000,000 keys),
and, as the baseline measured in the same run, a full scan `SELECT count(*) FROM files`.
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from raycollect.manifest import FILES_SCHEMA, Manifests

RUNS, ROWS, KEYS = 200, 5_000_000, 1_000_000


def make(root: Path) -> None:
    per = ROWS // RUNS
    days = np.arange(np.datetime64("2020-01-01"), np.datetime64("2020-01-01") + KEYS // 250)
    symbols = [f"S{i:03d}USDT" for i in range(250)]
    rng = np.random.default_rng(0)
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for r in range(RUNS):
        run_id = (t0 + dt.timedelta(hours=r)).strftime("%Y%m%dT%H%M%SZ") + f"-{r:06x}"
        idx = rng.integers(0, KEYS, per)
        sym = np.array(symbols)[idx % 250]
        day = days[idx // 250]
        daytext = np.datetime_as_string(day)
        key = np.char.add(np.char.add(np.char.add(np.char.add("data/spot/daily/aggTrades/", sym), "/"),
                                      np.char.add(sym, "-aggTrades-")), np.char.add(daytext, ".zip"))
        status = rng.choice(np.array(["success", "skipped", "missing", "failed"]), per, p=[0.6, 0.3, 0.05, 0.05])
        now = t0 + dt.timedelta(hours=r)
        cols = {
            "run_id": pa.array([run_id] * per), "market": pa.array(["spot"] * per),
            "data_type": pa.array(["aggTrades"] * per), "partition": pa.array(["daily"] * per),
            "symbol": pa.array(sym), "interval": pa.nulls(per, pa.string()), "period": pa.array(day, pa.date32()),
            "key": pa.array(key), "status": pa.array(status), "size_bytes": pa.array(rng.integers(1000, 10**6, per)),
            "attempts": pa.array(np.ones(per, np.int32)), "started_at": pa.array([now] * per),
            "finished_at": pa.array([now] * per), "duration_s": pa.array(np.full(per, 0.1)),
        }
        table = pa.table({f.name: cols.get(f.name, pa.nulls(per, f.type)) for f in FILES_SCHEMA}, schema=FILES_SCHEMA)
        out = root / "files" / f"run_id={run_id}"
        out.mkdir(parents=True)
        pq.write_table(table, out / "part-00000.parquet", compression="zstd")


def timed(label: str, fn) -> float:
    t0 = time.perf_counter()
    result = fn()
    s = time.perf_counter() - t0
    print(f"{label:<44} {s:7.2f} s   ({result.num_rows:,} rows)")
    return s


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="raycollect-manifest-bench-"))
    try:
        t0 = time.perf_counter()
        make(root)
        print(f"generated {RUNS} runs, {ROWS:,} rows over {KEYS:,} keys in {time.perf_counter() - t0:.1f} s")
        with Manifests(root) as m:
            base = timed("baseline: SELECT count(*) FROM files", lambda: m.query("SELECT count(*) FROM files"))
            s = timed("manifest summary", m.summary)
            g = timed("manifest gaps (1 symbol, 4000 days)", lambda: m.gaps(
                market="spot", data_type="aggTrades", symbol="S007USDT", start=dt.date(2020, 1, 1),
                end=dt.date(2030, 12, 31)))
            lt = timed("latest (one row per key, all columns)", m.latest)
            print(f"ratios to the full-scan baseline: summary {s / base:.1f}x, gaps {g / base:.1f}x, "
                  f"latest {lt / base:.1f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
