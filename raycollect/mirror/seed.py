"""Fill a local archive: upload a directory tree fast (s5cmd), the real files, or the demo archive."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from raycollect.binaries import s5cmd_binary
from raycollect.errors import MirrorError
from raycollect.mirror.fixtures import REAL_KEYS, real_fixtures_root
from raycollect.mirror.generate import GeneratedArchive, Quirks, generate_archive, plan_for

#: What the demo archive holds (the real files are served at their own keys on top of it).
DEMO_SELECTION: dict = {
    "markets": ["spot", "futures_um", "futures_cm"],
    "symbols": {"spot": ["BTCUSDT", "ETHUSDT"], "futures_um": ["BTCUSDT", "ETHUSDT"], "futures_cm": ["BTCUSD_PERP"]},
    "data_types": ["klines", "aggTrades", "fundingRate"],
    "intervals": {"klines": ["1h", "1d"]},
    "start": "2026-03-01",
    "end": "2026-05-09",
}
#: A gap the demo shows as `missing`: ETHUSDT spot aggTrades were not published that day.
DEMO_MISSING = frozenset({"data/spot/daily/aggTrades/ETHUSDT/ETHUSDT-aggTrades-2026-05-03.zip"})


def upload_tree(endpoint_url: str, bucket: str, root: Path, *, prefix: str = "", workers: int = 64) -> int:
    """Upload every file below ``root`` to ``s3://bucket/<prefix><relative path>``; returns the file count."""
    files = sum(1 for p in root.rglob("*") if p.is_file())
    if files == 0:
        return 0
    # argv, no shell: the wildcard is expanded by s5cmd itself, relative paths are kept below the bucket.
    cmd = [s5cmd_binary(), "--no-sign-request", "--endpoint-url", endpoint_url, "--numworkers", str(workers),
           "cp", f"{root}/*", f"s3://{bucket}/{prefix}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise MirrorError(f"Uploading {root} to {endpoint_url}/{bucket} failed (s5cmd exit {proc.returncode}): "
                          f"{proc.stderr.strip()[-500:]}")
    return files


def seed_real(endpoint_url: str, bucket: str) -> int:
    """Upload the four real archive files and their sidecars at their real keys."""
    return upload_tree(endpoint_url, bucket, real_fixtures_root() / "data", prefix="data/", workers=8)


def generate_demo(root: Path, *, seed: int = 7) -> GeneratedArchive:
    """The demo archive's generated part; the real files' keys are left for the real files."""
    plan = plan_for(**DEMO_SELECTION)
    return generate_archive(root, plan, seed=seed, rows=48, quirks=Quirks(missing=DEMO_MISSING | set(REAL_KEYS)))


def seed_demo(endpoint_url: str, bucket: str) -> GeneratedArchive:
    with tempfile.TemporaryDirectory(prefix="raycollect-demo-") as tmp:
        generated = generate_demo(Path(tmp))
        upload_tree(endpoint_url, bucket, Path(tmp))
    seed_real(endpoint_url, bucket)
    return generated
