"""``raycollect status``: the condition ledger per series and day (raycollect.ledger), for people and for alerts."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path
from typing import Any

from raycollect.atomic import write_text, write_with
from raycollect.config import WorkflowConfig
from raycollect.errors import ConfigurationError
from raycollect.exit_codes import EXIT_FAILED as EXIT_CONDITION  # a shown day has a --fail-on condition


def register(sub: Any) -> None:
    from raycollect.ledger import CONDITIONS

    p = sub.add_parser("status", help="the condition of every series and day: collected, holes, re-published, "
                                      "removed, degraded, quarantined, not published yet ...")
    p.add_argument("config", help="workflow config (JSON or YAML)")
    p.add_argument("--format", choices=["table", "csv", "json", "parquet"], default="table",
                   help="table: a line per series, then the days that are not plainly collected; csv, json, "
                        "parquet: one row per series and day")
    p.add_argument("--output", "-o", help="write to FILE instead of printing (needed for --format parquet)")
    for name in ("market", "data-type", "symbol", "interval"):
        p.add_argument(f"--{name}", help=f"only this {name.replace('-', ' ')}" + (" (a pattern such as '*USDT' "
                                                                                  "works)" if name == "symbol" else ""))
    p.add_argument("--since", help="only days whose facts changed on or after this date (YYYY-MM-DD)")
    p.add_argument("--fail-on", metavar="CONDITIONS",
                   help=f"exit {EXIT_CONDITION} when a shown day has one of these comma-separated conditions "
                        f"({', '.join(CONDITIONS)}), e.g. missing,removed,quarantined")
    p.add_argument("--today", help=argparse.SUPPRESS)  # a fixed 'today' (UTC), for reproducible reports and tests
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from raycollect.archive import normalize_interval, normalize_market
    from raycollect.config import WorkflowConfig
    from raycollect.ledger import CONDITIONS, Filters, ledger, series_allowed
    from raycollect.matrix import load_matrix

    fail_on = [c.strip() for c in (args.fail_on or "").split(",") if c.strip()]
    unknown = [c for c in fail_on if c not in CONDITIONS]
    if unknown:
        raise ConfigurationError(f"status: --fail-on {', '.join(unknown)}: not a condition; choose from "
                                 f"{', '.join(CONDITIONS)}")
    if args.format == "parquet" and not args.output:
        raise ConfigurationError("status: --format parquet writes a file: pass --output FILE.parquet")
    config = WorkflowConfig.from_file(args.config)
    today = _date(args.today, "today") if args.today else dt.datetime.now(dt.timezone.utc).date()
    filters = Filters(market=normalize_market(args.market) or args.market if args.market else None,
                      data_type=args.data_type, symbol=args.symbol,
                      interval=normalize_interval(args.interval) or args.interval if args.interval else None,
                      since=_date(args.since, "since") if args.since else None)
    mdir = _state_dir(config)
    days = ledger(mdir, series_allowed(config, load_matrix(config.matrix_path)), start=config.date_range.start,
                  today=today, filters=filters)
    if args.format == "parquet":
        import pyarrow.parquet as pq

        write_with(Path(args.output), lambda tmp: pq.write_table(days, tmp, compression="zstd"), durable=False)
        print(f"{days.num_rows:,} rows written to {args.output}")
    else:
        text = _render(days, args.format)
        if args.output:
            write_text(Path(args.output), text + "\n", durable=False)
        else:
            print(text)
    if fail_on:
        import sys

        import pyarrow as pa
        import pyarrow.compute as pc

        hit = days.filter(pc.is_in(days["condition"], value_set=pa.array(fail_on)))
        if hit.num_rows:
            print(f"status: {hit.num_rows:,} days with {', '.join(sorted(set(hit['condition'].to_pylist())))}",
                  file=sys.stderr)
            return EXIT_CONDITION
    return 0


def _render(days: Any, fmt: str) -> str:
    from raycollect.cli.manifest import render
    from raycollect.ledger import ranges_table, summaries
    from raycollect.manifest import table_rows

    if fmt in ("csv", "json"):
        return render(table_rows(days), days.column_names, fmt)
    if days.num_rows == 0:
        return "no series: nothing collected or listed for this selection yet (run `raycollect sync CONFIG`)"
    from raycollect.cli._table import format_table

    ranges = ranges_table(days)
    lines = summaries(days)
    if ranges:
        lines += ["", format_table(ranges, list(ranges[0]))]
    return "\n".join(lines)


def _state_dir(config: WorkflowConfig) -> str:
    """The manifests, as a local directory, with the collection state brought up to date."""
    from raycollect.manifest.state import refresh
    from raycollect.manifest.store import ManifestStore

    store = ManifestStore.for_config(config)
    mdir = store.pull(everything=True)
    try:
        refresh(mdir, publish=store.publish)
    except OSError:  # a read-only manifest directory: the newest state as it is
        pass
    return str(mdir)


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"status: --{name} {text!r} is not a date (YYYY-MM-DD)") from None
