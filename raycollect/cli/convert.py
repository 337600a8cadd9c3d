"""``raycollect convert``: the collected, verified zips of a config's selection as typed Parquet (silver)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from raycollect.cli._table import format_table
from raycollect.progress import human_bytes


def register(sub: Any) -> None:
    c = sub.add_parser("convert", help="convert the collected zips of a config into the silver Iceberg tables")
    c.add_argument("config", help="workflow config (JSON or YAML)")
    c.add_argument("--output-directory", help="where the collected zips are (overrides the config)")
    c.add_argument("--manifest-directory", help="where the manifests are (default: <output>/_manifests)")
    c.add_argument("--silver-directory", help="the warehouse of the silver tables (default: <output>/silver)")
    c.add_argument("--force", action="store_true", help="convert every file again, even when unchanged")
    c.add_argument("--ray-address", help="Ray cluster to use (default: RAY_ADDRESS, else a new local Ray)")
    c.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from raycollect.config import WorkflowConfig
    from raycollect.silver.job import SilverJob

    overrides = {"output_directory": args.output_directory, "manifest_directory": args.manifest_directory,
                 "silver_directory": args.silver_directory}
    config = WorkflowConfig.from_file(args.config, **{k: v for k, v in overrides.items() if v is not None})
    print(f"raycollect convert: {args.config}: selecting collected files ...", file=sys.stderr, flush=True)
    result = SilverJob(config, ray_address=args.ray_address, force=args.force,
                       show_progress=not args.no_progress).execute()
    print_conversion(result)
    return result.exit_code


def print_conversion(result: Any, out: Any = None) -> None:
    from raycollect.silver.manifest import ConversionStatus as CS

    out = out or sys.stdout
    c = result.counts
    rate = result.rows / max(result.seconds, 1e-9)
    print(f"convert {result.run_id}: {c[CS.CONVERTED]:,} converted, {c[CS.SKIPPED]:,} unchanged, {c[CS.FAILED]:,} "
          f"failed, {c[CS.SUPERSEDED]:,} superseded by monthly files; {result.rows:,} rows from "
          f"{human_bytes(result.bytes_in)} of zips to {human_bytes(result.bytes_out)} of Parquet in "
          f"{result.seconds:.1f}s ({rate:,.0f} rows/s)", file=out)
    if result.unverified:
        print(f"  left out: {result.unverified:,} collected files not verified against a .CHECKSUM (collected with "
              "download_checksum: false): silver holds verified files only; set download_checksum: true and run "
              "`raycollect verify CONFIG` to check them", file=out)
    for key, reason in result.failures[:20]:
        print(f"  failed: {key}: {reason}", file=out)
    if len(result.failures) > 20:
        print(f"  ... and {len(result.failures) - 20:,} more: raycollect manifest quality shows them all", file=out)
    if result.quality:
        rows = [{"issue": k, "files": v} for k, v in sorted(result.quality.items())]
        print("quality (files with each issue; `raycollect manifest quality --config CONFIG` lists them):", file=out)
        print(format_table(rows, ["issue", "files"]), file=out)
    for name, snapshot in sorted(result.snapshots.items()):
        compacted = result.compacted.get(name)
        more = f", {compacted:,} partitions compacted" if compacted else ""
        print(f"  table {name}: snapshot {snapshot}{more}", file=out)
    print(f"silver: Iceberg tables in {result.silver_directory} (`raycollect query \"SELECT ...\" --config CONFIG`)   "
          f"conversion manifest: {result.manifest_directory}/silver/", file=out)
