"""``raycollect plan``: expand a config into the list of archive files (optionally after a listing)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from raycollect.cli._table import format_table
from raycollect.exit_codes import EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser("plan", help="expand a config into the list of archive files (no downloads)")
    p.add_argument("config", help="workflow config (JSON or YAML)")
    p.add_argument("--output", "-o", help="write the plan to FILE (.parquet, .csv or .jsonl)")
    p.add_argument("--discover", action="store_true", help="list the archive: print planned vs available")
    p.add_argument("--endpoint-url", help="S3 endpoint of the archive (a mirror); default: AWS")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import load_matrix
    from raycollect.plan import build_plan, summarize, write_plan
    from raycollect.selection import effective_range

    config = WorkflowConfig.from_file(args.config, endpoint_url=args.endpoint_url,
                                      discover=True if args.discover else None)
    matrix = load_matrix(config.matrix_path)
    config, notes = effective_range(config, matrix)
    started = time.perf_counter()
    if config.uses_discovery:
        from raycollect.listed_plan import discover_plan
        from raycollect.preflight import check_source
        from raycollect.storage import make_storage

        check_source(config.bucket, config.endpoint_url, config.region)
        plan, report = discover_plan(config, matrix, make_storage(config))
        notes += report.notes
        elapsed = time.perf_counter() - started
        print(format_table(summarize(plan).to_pylist(), ["market", "data_type", "partition", "files", "available"]))
        print(f"discovery: {report.prefixes_listed:,} prefixes listed, {report.keys_listed:,} zips seen, "
              f"{report.available:,} of {plan.num_rows:,} planned files exist, "
              f"{report.months_by_days:,} months collected as daily files")
        for what in report.invalid[:10]:
            print(f"  skipped from the listing: {what}")
    else:
        plan = build_plan(config, matrix)
        elapsed = time.perf_counter() - started
        print(format_table(summarize(plan).to_pylist(), ["market", "data_type", "partition", "files"]))
    print(f"total: {plan.num_rows:,} files ({config.date_range.start} .. {config.date_range.end}, "
          f"partition_policy={config.partition_policy}, planned in {elapsed:.2f}s)")
    for note in notes:
        print(f"note: {note}")
    if args.output:
        fmt = write_plan(plan, args.output)
        print(f"plan written to {args.output} ({fmt})")
    return EXIT_OK
