"""``raycollect mirror serve``: run a seeded local archive (SeaweedFS) in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any


def register(sub: Any) -> None:
    m = sub.add_parser("mirror", help="a local archive: SeaweedFS serving real and generated archive files")
    msub = m.add_subparsers(dest="mirror_command", required=True, metavar="ACTION")
    s = msub.add_parser("serve", help="start a local S3 archive on 127.0.0.1 and serve until Ctrl-C")
    s.add_argument("--port", type=int, help="S3 port (default: a free one)")
    s.add_argument("--data-dir", help="keep SeaweedFS data here (default: a temporary directory, removed on exit)")
    s.add_argument("--seed", choices=["demo", "real", "none"], default="demo",
                   help="demo: generated demo archive plus the real files (default); real: only the 4 real files")
    s.add_argument("--upload", action="append", default=[], metavar="DIR",
                   help="also upload DIR (a tree holding data/...) at its relative paths; repeatable")
    s.add_argument("--bucket", default="data.binance.vision", help="bucket name (default: data.binance.vision)")
    s.set_defaults(func=serve)


def serve(args: argparse.Namespace) -> int:
    from raycollect.errors import MirrorError
    from raycollect.mirror.seed import seed_demo, seed_real, upload_tree
    from raycollect.mirror.server import LocalArchive

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for d in args.upload:
        if not Path(d).is_dir():
            raise MirrorError(f"--upload {d}: not a directory")
    started = time.perf_counter()
    with LocalArchive(port=args.port, data_dir=args.data_dir, bucket=args.bucket) as archive:
        url, bucket = archive.endpoint_url, archive.bucket
        objects = 0
        if args.seed == "demo":
            objects += seed_demo(url, bucket).objects + 8
        elif args.seed == "real":
            objects += seed_real(url, bucket)
        for d in args.upload:
            objects += upload_tree(url, bucket, Path(d))
        print(f"local archive ready in {time.perf_counter() - started:.1f}s: {url} (bucket {bucket}, "
              f"{objects:,} objects seeded, pid {archive.pid})")
        print("  collector:  raycollect run CONFIG --endpoint-url " + url)
        print(f"  s5cmd:      s5cmd --no-sign-request --endpoint-url {url} ls 's3://{bucket}/data/*'")
        print(f"  AWS CLI:    aws s3 ls --no-sign-request --endpoint-url {url} s3://{bucket}/data/")
        print("Ctrl-C (or SIGTERM) stops the server and removes its temporary data.", flush=True)
        while not stop.wait(0.5):
            pass
    print("local archive stopped", file=sys.stderr)
    return 0
