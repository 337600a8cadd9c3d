"""Benchmark: a rerun with nothing to fetch over N collected files (N = 1M and 10M), and after many runs.

Setup per N: files on disk at every planned target (per directory one zip and one sidecar inode, hard-linked
under every file name: resume reads sizes, and inodes are the scarce resource at 10M files), an earlier
run's manifest with one `success` row per file (built column-wise), and a local archive (SeaweedFS) that
lists the symbol folders, for the preflight and the symbol check. Then `raycollect run` twice, each in a
fresh process: the first folds the earlier run into the collection state (the cost once after an upgrade
from manifests without a state), the second is the steady state. Prints seconds and peak RSS of each.
History: at --history-n files, the rerun after 2 runs is compared with the rerun after --history runs.
Then `raycollect sync` with nothing new (the collection ends yesterday).
Targets (2 cores): 1M < 15 s and < 600 MiB; 10M < 120 s and < 2 GB; after 100 runs within 20% of after 2;
sync with nothing new over 1M < 15 s.
Run: make bench-scale   (or .venv/bin/python tests/bench/bench_scale.py --sizes 1000000 10000000)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from raycollect.config import WorkflowConfig
from raycollect.discovery import LISTED_SCHEMA
from raycollect.manifest import ManifestWriter, new_run_id, write_run_record
from raycollect.manifest.rows import RowBuilder
from raycollect.matrix import BUNDLED_MATRIX, load_matrix
from raycollect.mirror import LocalArchive
from raycollect.plan import count_planned, sorted_batches
from raycollect.selection import resolve

ZIP_BYTES = 100


SYMBOLS = 300  # as in the independent check: 1,016,400 files of 300 symbols (about 3,388 days each)


def selection(n: int) -> dict:
    """About ``n`` daily spot files up to yesterday: 300 symbols x days, over one to three data types."""
    types = ["aggTrades"] if n <= 3_300_000 else ["aggTrades", "trades", "klines"]
    days = -(-n // (SYMBOLS * len(types)))
    end = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=days - 1)
    return {"markets": ["spot"], "symbols": [f"S{i:04d}USDT" for i in range(SYMBOLS)], "data_types": types,
            "intervals": {"klines": ["1m"]} if "klines" in types else None,
            "date_range": {"start": start.isoformat(), "end": "latest"}, "partition_policy": "daily"}


def build_collection(root: Path, cfg: dict) -> int:
    """Files on disk and one earlier run's manifest for every planned file; returns the file count."""
    config = WorkflowConfig(cfg)
    matrix = load_matrix(config.matrix_path)
    series = resolve(config, matrix)
    out = Path(cfg["output_directory"])
    run_id = new_run_id()
    writer = ManifestWriter(config.manifest_dir, run_id, flush_rows=500_000, flush_seconds=1e9)
    rows = RowBuilder(run_id=run_id, source_base="s3://data.binance.vision/", target_base=str(out) + "/",
                      downloader="s5cmd")
    made_dirs: set[str] = set()
    n = 0
    listing = pq.ParquetWriter(root / "listing.parquet", LISTED_SCHEMA, compression="zstd")
    modified = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    for batch in sorted_batches(config, matrix, series, rows_per_batch=200_000):
        table = pa.Table.from_batches([batch])
        keys = table["key"].to_pylist()
        for key in keys:  # setup only: the thing measured below never does this
            folder, name = key.rsplit("/", 1)
            if folder not in made_dirs:
                (out / folder).mkdir(parents=True, exist_ok=True)
                made_dirs.add(folder)
                (out / folder / ".zip").write_bytes(b"x" * ZIP_BYTES)
                (out / folder / ".sum").write_bytes(b"0" * 64 + b"  " + name.encode() + b"\n")
            os.link(out / folder / ".zip", out / key)
            os.link(out / folder / ".sum", out / (key + ".CHECKSUM"))
        m = table.num_rows
        digest = pa.array([hashlib.sha256(k.encode()).hexdigest() for k in keys])  # distinct, as real ones are
        table = table.append_column("size_bytes", pa.array([ZIP_BYTES] * m, pa.int64())).append_column(
            "sha256", digest).append_column("expected_sha256", digest).append_column(
            "checksum_verified", pa.array([True] * m))
        writer.add(rows.rows(table, status="success", shard_id=0))
        sums = [k + ".CHECKSUM" for k in keys]
        listed = sorted([*((k, ZIP_BYTES) for k in keys), *((s, 64 + 2 + len(s.rsplit("/", 1)[1]) - 8)
                                                             for s in sums)])
        listing.write_table(pa.table({
            "key": [k for k, _ in listed], "size": pa.array([z for _, z in listed], pa.int64()),
            "etag": [hashlib.md5(k.encode()).hexdigest() for k, _ in listed],
            "last_modified": pa.array([modified] * len(listed), LISTED_SCHEMA.field("last_modified").type)},
            schema=LISTED_SCHEMA))
        n += m
    writer.flush()
    listing.close()
    for folder in made_dirs:
        (out / folder / ".zip").unlink()
        (out / folder / ".sum").unlink()
    write_run_record(config.manifest_dir, run_id, {"status": "success", "planned": n, "success": n})
    assert n == count_planned(config, series)
    return n


def timed_run(config_path: Path, command: str = "run", listing: Path | None = None) -> tuple[float, float, str]:
    """(seconds, peak RSS in MiB, summary line) of `raycollect run` (or sync) in a fresh process; with ``listing``,
    the archive's listing is served from that Parquet file (tests/bench/listing_stub.py)."""
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so a child would report its parent's peak.
    stub = (f"sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r}); "
            f"import tests.bench.listing_stub as stub; stub.install({str(listing)!r}); ") if listing else ""
    code = ("import sys, time; t = time.perf_counter(); " + stub + "from raycollect.cli.main import main; "
            "rc = main([sys.argv[2], sys.argv[1], '--no-progress']); "
            "hwm = next(x for x in open('/proc/self/status') if x.startswith('VmHWM')).split()[1]; "
            "print(f'BENCH {time.perf_counter() - t:.3f} {hwm}'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, str(config_path), command], capture_output=True, text=True)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCH ")), None)
    if proc.returncode != 0 or line is None:
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    _, secs, rss = line.split()
    planned = next((x.strip() for x in proc.stdout.splitlines() if x.strip().startswith(("planned ", "sync: "))), "")
    return float(secs), int(rss) / 1024, planned


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def seed_symbols(archive: LocalArchive, cfg: dict, work: Path) -> None:
    """One file per symbol folder, so the archive lists every symbol of the selection."""
    from raycollect.mirror.seed import upload_tree

    src = work / "seed"
    for t in cfg["data_types"]:
        for s in cfg["symbols"]:
            sub = f"data/spot/daily/{t}/{s}/" + ("1m/" if t == "klines" else "")
            (src / sub).mkdir(parents=True, exist_ok=True)
            (src / sub / "placeholder.txt").write_text("x")
    upload_tree(archive.endpoint_url, archive.bucket, src)
    shutil.rmtree(src)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--history", type=int, default=100, help="earlier runs for the history comparison")
    ap.add_argument("--history-n", type=int, default=100_000, help="files for the history comparison")
    args = ap.parse_args()
    report = []
    with LocalArchive() as archive:
        for n in [*args.sizes, *([-args.history_n] if args.history else [])]:
            history = n < 0
            n = abs(n)
            work = Path(tempfile.mkdtemp(prefix="raycollect-bench-scale-", dir=os.environ.get("BENCH_DIR")))
            try:
                cfg = {"workflow_type": "archive_collection", "matrix_path": str(BUNDLED_MATRIX),
                       "output_directory": str(work / "out"), "endpoint_url": archive.endpoint_url,
                       **{k: v for k, v in selection(n).items() if v is not None}}
                seed_symbols(archive, cfg, work)
                path = work / "c.json"
                path.write_text(json.dumps(cfg))
                t0 = time.perf_counter()
                files = build_collection(work, cfg)
                print(f"\nN = {files:,}: collection built in {time.perf_counter() - t0:.0f}s", flush=True)
                s1, r1, p1 = timed_run(path)
                print(f"  first rerun (folds the earlier run into the state): {s1:6.1f}s  peak {r1:6.0f} MiB  {p1}",
                      flush=True)
                before = tree_bytes(work / "out" / "_manifests")
                s2, r2, p2 = timed_run(path)
                grew = tree_bytes(work / "out" / "_manifests") - before
                print(f"  rerun, nothing to fetch:                             {s2:6.1f}s  peak {r2:6.0f} MiB  {p2}",
                      flush=True)
                print(f"  manifest growth of that no-op rerun: {grew / 1024:,.1f} KiB", flush=True)
                if not history:
                    from tests.bench.listing_stub import split

                    listing = work / "listing"
                    split(work / "listing.parquet", listing)
                    manifests = work / "out" / "_manifests"
                    for label in ("sync, first (learns every file's ETag once):", "sync, nothing changed:"):
                        before = tree_bytes(manifests)
                        s3, r3, p3 = timed_run(path, "sync", listing)
                        grew = tree_bytes(manifests) - before
                        print(f"  {label:<52}{s3:6.1f}s  peak {r3:6.0f} MiB  manifest +{grew / 1024:,.1f} KiB  {p3}",
                              flush=True)
                    report.append((files, s1, r1, s2, r2))
                    continue
                for _ in range(args.history - 3):
                    timed_run(path)
                s3, r3, _ = timed_run(path)
                print(f"  rerun after {args.history} runs:                          {s3:6.1f}s  peak {r3:6.0f} MiB "
                      f" ({100 * (s3 / s2 - 1):+.0f}% vs after 2)", flush=True)
                report.append((files, s1, r1, s3, r3))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    print(f"\n{'files':>12}{'1st rerun s':>13}{'MiB':>7}{'rerun s':>9}{'MiB':>7}")
    for files, s1, r1, s2, r2 in report:
        print(f"{files:>12,}{s1:>13.1f}{r1:>7.0f}{s2:>9.1f}{r2:>7.0f}")


if __name__ == "__main__":
    main()
