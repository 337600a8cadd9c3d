"""Benchmark: raycollect against the raw tools on one local archive, in one run, interleaved rounds.

Workloads (zips plus their sidecars, on one SeaweedFS): 4,000 small zips of 60 KB, 40 zips of 25 MB, one
zip of 1 GB. In every round and for every workload, in this order:
- raw ``s5cmd cp`` of the prefix (wildcard, 64 workers, no verification): the baseline, ratio 1.00;
- ``curl -Z`` (32 parallel transfers, to files, no verification): the practical ceiling here;
- raycollect with each engine on a warm local Ray (in this process), every SHA-256 verified, every row in
  the manifest;
- a cold ``raycollect run`` with the default engine (a fresh process: Python start, Ray start and stop).
Prints the median seconds, the spread over rounds (min-max), files/s, MB/s and the ratio of raw s5cmd's
median to each median (higher is faster).
Run: make bench-collect   (or .venv/bin/python tests/bench/bench_collect.py [--rounds 3] [--small 4000] ...)
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import logging
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import ray

from raycollect.archive import parse_key
from raycollect.binaries import s5cmd_binary
from raycollect.downloaders import DEFAULT_ENGINE, ENGINES
from raycollect.matrix import BUNDLED_MATRIX
from raycollect.mirror import LocalArchive, plan_for
from raycollect.mirror.generate import sidecar_text, zip_bytes
from raycollect.mirror.seed import upload_tree
from raycollect.workflow import ArchiveCollectionWorkflow

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Workload:
    name: str
    selection: dict  # config keys: markets, symbols, data_types, date_range, partition_policy
    prefix: str  # what raw s5cmd copies
    keys: list[str]
    mb: float = 0.0


def seed(src: Path, plan_kw: dict, size: int) -> tuple[list[str], float]:
    """Stored zips of ``size`` bytes of seeded noise at the planned keys, with real-format sidecars."""
    plan = plan_for(**plan_kw)
    keys, total = [], 0
    rng = random.Random(size)
    block = rng.randbytes(1 << 20)
    for row in plan.to_pylist():
        name = row["key"].rsplit("/", 1)[1]
        body = (block * (size // len(block) + 1))[:size]
        body = rng.randbytes(64) + body[64:]  # every zip different
        payload = zip_bytes(name[:-4] + ".csv", body, row["period"], "stored")
        path = src / row["key"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(payload)
        digest = hashlib.sha256(payload).hexdigest()
        (src / (row["key"] + ".CHECKSUM")).write_text(sidecar_text(row["market"], digest, name))
        keys.append(row["key"])
        total += len(payload)
    return keys, total / 1e6


def workloads(n_small: int, n_large: int, huge_mb: int) -> list[tuple[Workload, dict, int]]:
    def days(n: int) -> tuple[str, str]:
        end = dt.date(2024, 1, 1) + dt.timedelta(days=n - 1)
        return "2024-01-01", end.isoformat()

    symbols = [f"S{i:02d}USDT" for i in range(40)]
    s_start, s_end = days(n_small // 40)
    l_start, l_end = days(n_large)
    out = [
        (Workload("4,000 small (60 KB)" if n_small == 4000 else f"{n_small:,} small (60 KB)",
                  dict(markets=["spot"], symbols=symbols, data_types=["aggTrades"], partition_policy="daily",
                       date_range={"start": s_start, "end": s_end}), "data/spot/daily/aggTrades/", []),
         dict(markets=["spot"], symbols=symbols, data_types=["aggTrades"], start=s_start, end=s_end,
              partition_policy="daily"), 60_000),
        (Workload(f"{n_large} x 25 MB",
                  dict(markets=["futures_um"], symbols=["BTCUSDT"], data_types=["trades"], partition_policy="daily",
                       date_range={"start": l_start, "end": l_end}), "data/futures/um/daily/trades/", []),
         dict(markets=["futures_um"], symbols=["BTCUSDT"], data_types=["trades"], start=l_start, end=l_end,
              partition_policy="daily"), 25_000_000),
    ]
    if huge_mb:
        out.append((Workload(f"1 x {huge_mb / 1000:g} GB",
                             dict(markets=["futures_um"], symbols=["ETHUSDT"], data_types=["trades"],
                                  partition_policy="monthly", date_range={"start": "2024-01-01", "end": "2024-01-31"}),
                             "data/futures/um/monthly/trades/", []),
                    dict(markets=["futures_um"], symbols=["ETHUSDT"], data_types=["trades"], start="2024-01-01",
                         end="2024-01-31", partition_policy="monthly"), huge_mb * 1_000_000))
    return out


def raw_s5cmd(archive: LocalArchive, w: Workload, dest: Path) -> None:
    subprocess.run([s5cmd_binary(), "--no-sign-request", "--endpoint-url", archive.endpoint_url, "--numworkers",
                    "64", "cp", f"s3://{archive.bucket}/{w.prefix}*", f"{dest}/"], check=True, capture_output=True)


def curl_z(archive: LocalArchive, w: Workload, dest: Path) -> None:
    lines = []
    for key in w.keys:
        for k in (key, key + ".CHECKSUM"):
            lines.append(f'url = "{archive.endpoint_url}/{archive.bucket}/{k}"\noutput = "{dest / k}"\n')
    cfg = dest.parent / f"{dest.name}.curlrc"
    cfg.write_text("".join(lines))
    try:
        subprocess.run(["curl", "-sS", "--fail", "-Z", "--parallel-max", "32", "--create-dirs", "-K", str(cfg)],
                       check=True, capture_output=True)
    finally:
        cfg.unlink()


OVERRIDES: dict = {}  # --set key=value: config keys for every raycollect run of this benchmark


def config(archive: LocalArchive, w: Workload, out: Path, engine: str) -> dict:
    return {"workflow_type": "archive_collection", "matrix_path": str(BUNDLED_MATRIX), "output_directory": str(out),
            "endpoint_url": archive.endpoint_url, "downloader": engine, **w.selection, **OVERRIDES}


def warm(archive: LocalArchive, w: Workload, out: Path, engine: str) -> None:
    result = ArchiveCollectionWorkflow(config(archive, w, out, engine), show_progress=False).execute()
    assert (result.counts["success"], result.planned) == (len(w.keys), len(w.keys)), result
    _check_manifest(out, len(w.keys))


def cold(archive: LocalArchive, w: Workload, out: Path, engine: str) -> None:
    cfg = out.parent / f"{out.name}.json"
    cfg.write_text(json.dumps(config(archive, w, out, engine)))
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([str(Path(sys.executable).parent / "raycollect"), "run", str(cfg), "--no-progress"],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    cfg.unlink()
    assert proc.returncode == 0, proc.stderr[-2000:]
    _check_manifest(out, len(w.keys))


def _check_manifest(out: Path, n: int) -> None:
    import duckdb

    got = duckdb.sql(f"SELECT count(*), count(*) FILTER (checksum_verified AND sha256 = expected_sha256) FROM "
                     f"read_parquet('{out}/_manifests/files/*/*.parquet')").fetchall()[0]
    assert got == (n, n), f"manifest rows/verified {got}, expected {n}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--small", type=int, default=4000, help="small files (a multiple of 40)")
    ap.add_argument("--large", type=int, default=40, help="25 MB files")
    ap.add_argument("--huge-mb", type=int, default=1000, help="size of the single large file (0: skip)")
    ap.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    ap.add_argument("--only", nargs="+", help="workload name prefixes to run (e.g. 4,000 40 1)")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=JSON",
                    help="config overrides for every raycollect run, e.g. max_parallel_downloads=2")
    args = ap.parse_args()
    OVERRIDES.update({k: json.loads(v) for k, v in (item.split("=", 1) for item in args.set)})
    work = Path(tempfile.mkdtemp(prefix="raycollect-bench-"))
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    try:
        with LocalArchive() as archive:
            t0 = time.perf_counter()
            specs = workloads(args.small, args.large, args.huge_mb)
            if args.only:
                specs = [s for s in specs if s[0].name.startswith(tuple(args.only))]
            for w, plan_kw, size in specs:
                src = work / "src"
                w.keys, w.mb = seed(src, plan_kw, size)
                upload_tree(archive.endpoint_url, archive.bucket, src)
                shutil.rmtree(src)
            print(f"seeded {', '.join(w.name for w, _, _ in specs)} in {time.perf_counter() - t0:.0f}s", flush=True)
            base = [("raw s5cmd cp (no verification)", lambda w, d: raw_s5cmd(archive, w, d)),
                    ("curl -Z 32 (no verification)", lambda w, d: curl_z(archive, w, d)),
                    (f"raycollect run {DEFAULT_ENGINE}, cold", lambda w, d: cold(archive, w, d, DEFAULT_ENGINE))]
            engines = [(f"raycollect {e}, warm Ray", lambda w, d, e=e: warm(archive, w, d, e)) for e in args.engines]
            runners = base[:2] + engines + base[2:]

            def timed(label: str, fn, w: Workload) -> None:
                dest = work / "out"
                dest.mkdir()
                t = time.perf_counter()
                fn(w, dest)
                times[(w.name, label)].append(time.perf_counter() - t)
                shutil.rmtree(dest)
                os.sync()  # untimed: no run pays for the write-back of the one before it

            for rnd in range(1, args.rounds + 1):
                # The raw tools and the cold run first, with no Ray in this process: a user's cold run has the
                # machine to itself (a warm Ray idling beside it costs it seconds on two cores).
                for w, _, _ in specs:
                    for label, fn in base:
                        timed(label, fn, w)
                ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
                first = specs[0][0]  # warm-up: Ray's first actors start worker processes
                key = parse_key(first.keys[0])
                assert key is not None
                one = {**first.selection, "symbols": [key.symbol],
                       "date_range": {"start": str(key.period), "end": str(key.period)}}
                warm(archive, Workload("warm-up", one, "", first.keys[:1]), work / "warm-up", DEFAULT_ENGINE)
                shutil.rmtree(work / "warm-up")
                for w, _, _ in specs:
                    for label, fn in engines:
                        timed(label, fn, w)
                ray.shutdown()
                print(f"round {rnd} of {args.rounds} done", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for w, _, _ in specs:
        base = statistics.median(times[(w.name, runners[0][0])])
        n = len(w.keys)
        print(f"\n{w.name}: {n:,} zips + {n:,} sidecars, {w.mb:,.0f} MB; median of {args.rounds} rounds")
        print(f"  {'run':<34} {'seconds':>8} {'spread':>13} {'files/s':>8} {'MB/s':>7} {'x raw s5cmd':>11}")
        for label, _ in runners:
            ts = times[(w.name, label)]
            med = statistics.median(ts)
            print(f"  {label:<34} {med:8.2f} {min(ts):6.2f}-{max(ts):<6.2f} {n / med:8,.0f} {w.mb / med:7,.0f} "
                  f"{base / med:11.2f}")


if __name__ == "__main__":
    main()
