"""Benchmark: seed a local archive with 4,000 objects (2,000 generated zips + sidecars).

Prints generation and upload seconds and objects/s for s5cmd bulk upload, against a baseline of
sequential boto3 put_object on 400 of the same objects, on the same server in the same run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from raycollect.mirror import LocalArchive, generate_archive, plan_for
from raycollect.mirror.seed import upload_tree


def main() -> None:
    plan = plan_for(markets=["spot"], symbols=[f"S{i:02d}USDT" for i in range(40)], data_types=["aggTrades"],
                    start="2024-01-01", end="2024-02-19", partition_policy="daily")
    assert plan.num_rows == 2000
    with tempfile.TemporaryDirectory() as tmp, LocalArchive() as archive:
        t0 = time.perf_counter()
        gen = generate_archive(Path(tmp), plan, seed=1, rows=24)
        t_gen = time.perf_counter() - t0
        t0 = time.perf_counter()
        n = upload_tree(archive.endpoint_url, archive.bucket, Path(tmp))
        t_up = time.perf_counter() - t0
        print(f"generated {gen.objects:,} objects ({gen.bytes / 1e6:.1f} MB) in {t_gen:.2f}s")
        print(f"s5cmd upload: {n:,} objects in {t_up:.2f}s = {n / t_up:,.0f} objects/s")
        s3 = archive.client()
        files = sorted(p for p in Path(tmp).rglob("*") if p.is_file())[:400]
        t0 = time.perf_counter()
        for p in files:
            s3.put_object(Bucket="data.binance.vision", Key="baseline/" + str(p.relative_to(tmp)), Body=p.read_bytes())
        t_b = time.perf_counter() - t0
        print(f"baseline sequential boto3 put_object: {len(files)} objects in {t_b:.2f}s = "
              f"{len(files) / t_b:,.0f} objects/s; s5cmd is {(n / t_up) / (len(files) / t_b):.1f}x")
        print(f"seeding 4,000 objects end to end: {t_gen + t_up:.2f}s")


if __name__ == "__main__":
    main()
