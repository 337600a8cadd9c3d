"""``make bench-silver``: queries over the silver tables against the per-zip layout and a hand-compacted one.

In one run, on a synthetic silver of 1-minute spot klines (``--symbols`` x ``--days``, default 300 x 365 =
109,500 daily files, 157.7 M rows), generated as Arrow and written as Parquet directly (no zips):
- (a) the per-zip layout silver had before the tables: one file per daily zip,
  ``spot/klines/<SYMBOL>/1m/<SYMBOL>-1m-<day>.parquet``, read with a glob, as its README showed;
- (b) what an expert would build by hand: one file per symbol and month in hive folders
  (``symbol=<S>/month=<YYYY-MM>/``), read with ``hive_partitioning``;
- (c) the Iceberg table ``binance.spot_klines`` as conversions and compaction leave it: the first 11 months as
  one data file per symbol and month (what compaction writes), the last month appended day by day (one commit
  per day, as a daily conversion commits), then compacted by ``raycollect.silver.maintain.compact``; queried
  as ``raycollect query`` does (catalog, the snapshot's files, a DuckDB view per table), timed from the opening
  of the catalog.
Three queries, medians of 3 runs each: one symbol's daily OHLCV over the year; every symbol's close at one
minute; a full-scan aggregate (volume per symbol). Also timed: appending one day (``--symbols`` files) to the
table and committing it, and compacting a month. Prints ratios; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from raycollect.silver.schemas import table_spec
from raycollect.silver.tables import Lakehouse, arrow_schema

SPEC = table_spec("spot", "klines")
SCHEMA = arrow_schema(SPEC)
PLAIN = SPEC.schema  # the per-zip and hive layouts: the same columns, no field ids
START = dt.date(2024, 1, 1)
MINUTE_US = 60_000_000


def symbols(n: int) -> list[str]:
    return [f"S{i:04d}USDT" for i in range(n)]


def candles(symbol: str, seed: int, days: int) -> pa.Table:
    """A year of 1m candles: a random walk that is continuous across days, as real prices are."""
    rng = np.random.default_rng(seed)
    n = days * 1440
    t0 = int(dt.datetime(START.year, START.month, START.day, tzinfo=dt.timezone.utc).timestamp()) * 1_000_000
    open_us = t0 + np.arange(n, dtype=np.int64) * MINUTE_US
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.0005, n)) * close
    volume = rng.gamma(2.0, 5.0, n)
    cols = {
        "open_time": pa.array(open_us, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "open": open_, "high": np.maximum(open_, close) + spread, "low": np.minimum(open_, close) - spread,
        "close": close, "volume": volume,
        "close_time": pa.array(open_us + MINUTE_US - 1, pa.int64()).cast(pa.timestamp("us", tz="UTC")),
        "quote_volume": volume * close, "count": rng.integers(1, 500, n), "taker_buy_volume": volume / 2,
        "taker_buy_quote_volume": volume * close / 2, "ignore": np.zeros(n),
        "symbol": pa.array([symbol] * n, pa.string()), "interval": pa.array(["1m"] * n, pa.string()),
    }  # fmt: skip
    return pa.table(cols, schema=PLAIN)


def months(days: int) -> list[tuple[int, int]]:
    """(first row, row count) of each calendar month in the range."""
    out, i = [], 0
    day = START
    end = START + dt.timedelta(days=days)
    while day < end:
        nxt = dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)
        n = (min(nxt, end) - day).days
        out.append((i * 1440, n * 1440, day))
        i += n
        day = nxt
    return out


def build_symbol(args: tuple[str, int, int, str]) -> list[tuple[str, int, int, str]]:
    """Write one symbol's (a) daily files and (b) monthly hive files; returns the (c) monthly files to publish."""
    symbol, seed, days, root = args
    base = Path(root)
    table = candles(symbol, seed, days)
    daily = base / "a" / "spot" / "klines" / symbol / "1m"
    daily.mkdir(parents=True, exist_ok=True)
    for d in range(days):
        day = START + dt.timedelta(days=d)
        pq.write_table(table.slice(d * 1440, 1440), daily / f"{symbol}-1m-{day}.parquet", compression="zstd")
    staged = []
    for first, n, day in months(days):
        part = table.slice(first, n)
        hive = base / "b" / f"symbol={symbol}" / f"month={day:%Y-%m}"
        hive.mkdir(parents=True, exist_ok=True)
        pq.write_table(part, hive / "part-0.parquet", compression="zstd")
        staged_path = base / "stage" / f"{symbol}-{day:%Y-%m}.parquet"
        staged_path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_arrays(part.columns, schema=SCHEMA), staged_path, compression="zstd",
                       store_schema=False)
        staged.append((str(staged_path), first, n, f"{day:%Y-%m}"))
    return staged


def median_time(fn, runs: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


QUERIES = {
    "one symbol, daily OHLCV over the year": (
        "SELECT date_trunc('day', open_time) AS day, arg_min(open, open_time) AS open, max(high) AS high, "
        "min(low) AS low, arg_max(close, open_time) AS close, sum(volume) AS volume FROM {t} "
        "WHERE symbol = 'S0007USDT' AND interval = '1m' GROUP BY ALL ORDER BY day"),
    "every symbol's close at one minute": (
        "SELECT symbol, close FROM {t} WHERE open_time = TIMESTAMPTZ '2024-07-01 12:00:00+00' ORDER BY symbol"),
    "full scan, volume per symbol": "SELECT symbol, sum(volume) AS volume FROM {t} GROUP BY ALL ORDER BY symbol",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=300)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--dir", help="work directory (default: a temporary one, removed at the end)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    root = Path(args.dir or tempfile.mkdtemp(prefix="raycollect-bench-silver-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        return run(root, args.symbols, args.days)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(root, ignore_errors=True)


def run(root: Path, n_symbols: int, days: int) -> int:
    import duckdb

    from raycollect.silver.commit import commit
    from raycollect.silver.datafile import publish
    from raycollect.silver.maintain import compact
    from raycollect.silver.read import views

    names = symbols(n_symbols)
    print(f"bench-silver: {n_symbols} symbols x {days} days of 1m klines = {n_symbols * days:,} daily files, "
          f"{n_symbols * days * 1440:,} rows; cpus={os.cpu_count()}; {root}", flush=True)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        staged = list(pool.map(build_symbol, [(s, i, days, str(root)) for i, s in enumerate(names)], chunksize=4))
    print(f"generated (a) {n_symbols * days:,} per-zip files and (b) {sum(len(s) for s in staged):,} hive files "
          f"in {time.perf_counter() - t0:.0f}s", flush=True)

    # (c) the table: 11 months as compaction leaves them, the last month appended a day at a time, compacted.
    warehouse = root / "c"
    lake = Lakehouse.sqlite(warehouse)
    table = lake.table("spot", "klines", create=True)
    t0 = time.perf_counter()
    last_month = staged[0][-1][3]
    files = []
    for per_symbol in staged:
        for path, _, _, month in per_symbol:
            if month != last_month:
                files.extend(publish(Path(path), table.metadata, {}, "bench-history"))
    commit(table, files, (), run_id="bench-history", operation="convert")
    print(f"(c) {len(files):,} monthly data files committed in {time.perf_counter() - t0:.1f}s", flush=True)
    append_times = []
    for per_symbol_days in _last_month_days(staged, last_month):
        t1 = time.perf_counter()
        added = []
        for path in per_symbol_days:
            added.extend(publish(path, table.metadata, {}, "bench-day"))
        commit(table, added, (), run_id="bench-day", operation="convert")
        append_times.append(time.perf_counter() - t1)
    t1 = time.perf_counter()
    compacted = compact(table, lake, min_files=8, target_bytes=128 << 20, run_id="bench-compact")
    compact_seconds = time.perf_counter() - t1
    summary = table.current_snapshot().summary.additional_properties
    print(f"(c) {len(append_times)} days appended ({n_symbols} files each, a commit each): median "
          f"{statistics.median(append_times):.2f}s, max {max(append_times):.2f}s; compaction of the month: "
          f"{compacted} partitions in {compact_seconds:.1f}s; table: {int(summary['total-data-files']):,} files, "
          f"{int(summary['total-records']):,} rows", flush=True)

    results = []
    for title, query in QUERIES.items():
        def per_zip(query: str = query) -> object:
            return duckdb.sql(query.format(t=f"read_parquet('{root}/a/spot/klines/**/*.parquet')")).fetchall()

        def hive(query: str = query) -> object:
            return duckdb.sql(query.format(t=f"read_parquet('{root}/b/**/*.parquet', hive_partitioning = true)")
                              ).fetchall()

        def tables(query: str = query) -> object:
            con = duckdb.connect()
            try:
                views(con, lake)
                return con.sql(query.format(t="spot_klines")).fetchall()
            finally:
                con.close()

        ta, ra = median_time(per_zip)
        tb, rb = median_time(hive)
        tc, rc = median_time(tables)
        same = _same(ra, rb) and _same(rb, rc)
        results.append((title, ta, tb, tc, same))
        print(f"  {title}: per-zip {ta:.2f}s, hand-compacted {tb:.2f}s, tables {tc:.2f}s; tables/hand-compacted "
              f"{tc / tb:.2f}x, per-zip/tables {ta / tc:.1f}x; same rows: {same}", flush=True)
    print("\n| query | (a) per-zip | (b) hand-compacted | (c) tables (`raycollect query`) | c/b | a/c |")
    print("|---|---|---|---|---|---|")
    for title, ta, tb, tc, _ in results:
        print(f"| {title} | {ta:.2f} s | {tb:.2f} s | {tc:.2f} s | {tc / tb:.2f}x | {ta / tc:.1f}x |")
    print(f"| append one day ({n_symbols} files) and commit | | | median {statistics.median(append_times):.2f} s, "
          f"max {max(append_times):.2f} s | | |")
    print(f"| compact a month ({compacted} partitions) | | | {compact_seconds:.1f} s | | |")
    return 0 if all(r[4] for r in results) else 1


def _same(a: object, b: object) -> bool:
    """The same rows; sums of floats may differ in their last digits with the order they were added in."""
    import math

    if len(a) != len(b):  # type: ignore[arg-type]
        return False
    for x, y in zip(a, b, strict=True):  # type: ignore[call-overload]
        for u, v in zip(x, y, strict=True):
            if isinstance(u, float) and isinstance(v, float):
                if not math.isclose(u, v, rel_tol=1e-9):
                    return False
            elif u != v:
                return False
    return True


def _last_month_days(staged: list, last_month: str):
    """Per day of the last month: each symbol's daily file, as a conversion would write it (field ids)."""
    by_day: dict[int, list[Path]] = {}
    for per_symbol in staged:
        path, _, n, month = per_symbol[-1]
        assert month == last_month
        table = pq.read_table(path)
        for d in range(n // 1440):
            out = Path(path).with_name(f"{Path(path).stem}-d{d:02d}.parquet")
            pq.write_table(table.slice(d * 1440, 1440), out, compression="zstd", store_schema=False)
            by_day.setdefault(d, []).append(out)
        Path(path).unlink()
    for d in sorted(by_day):
        yield by_day[d]


if __name__ == "__main__":
    sys.exit(main())
