"""``raycollect manifest summary|failed|gaps|query|compact|quality``: manifest questions on the command line."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
from typing import Any

from raycollect.cli._table import format_table
from raycollect.errors import ConfigurationError


def register(sub: Any) -> None:
    m = sub.add_parser("manifest", help="query manifests: summary, failed, gaps, query, compact, quality")
    msub = m.add_subparsers(dest="manifest_command", required=True, metavar="QUESTION")

    def common(p: argparse.ArgumentParser) -> None:
        src = p.add_mutually_exclusive_group(required=True)
        src.add_argument("--manifest-directory", help="the manifest directory")
        src.add_argument("--config", help="use this workflow config's manifest directory")
        p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format")

    common(msub.add_parser("summary", help="per run and overall: counts per status, bytes, rate"))
    f = msub.add_parser("failed", help="failed files and why")
    common(f)
    f.add_argument("--run", help="only this run_id")
    g = msub.add_parser("gaps", help="days (or months) not collected for one series")
    common(g)
    for name in ("market", "data-type", "symbol", "start", "end"):
        g.add_argument(f"--{name}", required=True)
    g.add_argument("--interval")
    q = msub.add_parser("query", help="DuckDB SQL over the views files, runs and latest")
    common(q)
    q.add_argument("sql")
    c = msub.add_parser("compact", help="rebuild the collection state (newest facts per key) from every run")
    common(c)
    qa = msub.add_parser("quality", help="silver: per series and day, missing or duplicate candles, out-of-order "
                                         "or out-of-period rows, and failed conversions")
    common(qa)
    for name in ("market", "data-type", "symbol"):
        qa.add_argument(f"--{name}", help=f"only this {name.replace('-', ' ')}")
    qa.add_argument("--all", action="store_true", help="every converted file, not only those with an issue")
    m.set_defaults(func=run)


def _manifest_dir(args: argparse.Namespace) -> str:
    """A local directory with the manifests (for s3://, the local mirror, brought up to date)."""
    from raycollect.manifest.store import ManifestStore

    if args.manifest_directory:
        store = ManifestStore(args.manifest_directory)  # s3://: AWS and its credential chain
    else:
        from raycollect.config import WorkflowConfig

        store = ManifestStore.for_config(WorkflowConfig.from_file(args.config))
    return str(store.pull(everything=True))


def _date(text: str, name: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"gaps: --{name} {text!r} is not a date (YYYY-MM-DD)") from None


def _monthly_only(data_type: str, market: str, interval: str | None) -> bool:
    from raycollect.archive import normalize_interval, normalize_market
    from raycollect.matrix import BUNDLED_MATRIX, load_matrix

    entry = load_matrix(BUNDLED_MATRIX).get(normalize_market(market) or market, data_type)
    if entry is None:
        raise ConfigurationError(f"gaps: the archive has no {data_type!r} for market {market!r}")
    return entry.partitions_for(normalize_interval(interval) if interval else None) == ("monthly",)


def run(args: argparse.Namespace) -> int:
    from raycollect.manifest import Manifests, table_rows

    if args.manifest_command == "compact":
        return compact(_manifest_dir(args))
    if args.manifest_command == "quality":
        from raycollect.archive import normalize_market
        from raycollect.silver.manifest import quality_report

        market = (normalize_market(args.market) or args.market) if args.market else None
        table = quality_report(_manifest_dir(args), market=market, data_type=args.data_type, symbol=args.symbol,
                               everything=args.all)
        print(render(table_rows(table), table.column_names, args.format))
        return 0

    with Manifests(_manifest_dir(args)) as m:
        cmd = args.manifest_command
        if cmd == "summary":
            table = m.summary()
        elif cmd == "failed":
            table = m.failed(args.run)
        elif cmd == "gaps":
            from raycollect.archive import KLINE_TYPES, normalize_interval, normalize_market

            market = normalize_market(args.market) or args.market
            interval = normalize_interval(args.interval) if args.interval else None
            if args.data_type in KLINE_TYPES and interval is None:  # each interval is a series of its own
                raise ConfigurationError(f"gaps: {args.data_type} has a series per interval: pass --interval (e.g. "
                                         "--interval 1h); without it every day would look missing")
            table = m.gaps(market=market, data_type=args.data_type, symbol=args.symbol, interval=interval,
                           start=_date(args.start, "start"), end=_date(args.end, "end"),
                           monthly=_monthly_only(args.data_type, market, interval))
        else:
            table = m.query(args.sql)
        rows = table_rows(table)
    print(render(rows, table.column_names, args.format))
    return 0


def render(rows: list[dict[str, Any]], columns: list[str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=1, default=str)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue().rstrip("\n")
    return format_table(rows, columns) + f"\n({len(rows):,} rows)"




def compact(manifest_dir: str) -> int:
    import time

    from raycollect.manifest.state import refresh, run_ids

    if not run_ids(manifest_dir):
        raise ConfigurationError(f"No manifests in {manifest_dir}: nothing to compact")
    t0 = time.perf_counter()
    state = refresh(manifest_dir, rebuild=True)
    print(f"state: {state.rows:,} keys from {len(state.covers):,} finished runs in {time.perf_counter() - t0:.1f}s "
          f"({state.data})")
    return 0
