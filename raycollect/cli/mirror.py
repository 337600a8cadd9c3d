"""``raycollect mirror serve``: its arguments; the server itself lives in raycollect.mirror.cli."""

from __future__ import annotations

import argparse
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
    from raycollect.mirror.cli import serve as serve_archive

    return serve_archive(args)
