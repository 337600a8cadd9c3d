"""``raycollect query`` and ``raycollect silver tables|history|compact|expire``: the silver tables."""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from typing import Any

from raycollect.errors import ConfigurationError


def register(sub: Any) -> None:
    q = sub.add_parser("query", help="DuckDB SQL over the silver tables (a view per table: spot_klines, ...)")
    q.add_argument("sql", help="the query; tables are named <market>_<data_type> (spot_klines, futures_um_trades)")
    _where(q)
    q.add_argument("--as-of", help="read each table as it was then: a snapshot id or a time (2026-12-04T08:00)")
    q.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format")
    q.set_defaults(func=run_query)

    s = sub.add_parser("silver", help="the silver tables: tables, history, compact, expire")
    ssub = s.add_subparsers(dest="silver_command", required=True, metavar="ACTION")
    t = ssub.add_parser("tables", help="each table with its snapshot, files and rows")
    _where(t)
    t.add_argument("--format", choices=["table", "csv", "json"], default="table")
    h = ssub.add_parser("history", help="a table's snapshots, with the run that made each")
    h.add_argument("table", help="e.g. spot_klines")
    _where(h)
    h.add_argument("--format", choices=["table", "csv", "json"], default="table")
    c = ssub.add_parser("compact", help="fold each partition's small files into files of the target size")
    c.add_argument("table", nargs="?", help="one table (default: every table)")
    _where(c)
    c.add_argument("--min-files", type=int, help="compact a partition from this many small files (default: the "
                                                 "config's silver_compact_min_files, 8)")
    e = ssub.add_parser("expire", help="remove snapshots older than --older-than and the files only they held, "
                                       "and files no snapshot holds (left by killed conversions)")
    e.add_argument("table", nargs="?", help="one table (default: every table)")
    _where(e)
    e.add_argument("--older-than", default="30d", help="age of the snapshots to remove: 30d (default), 12h, 0s")
    s.set_defaults(func=run_silver)


def _where(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--config", help="the workflow config whose silver tables to use")
    src.add_argument("--warehouse", help="a local warehouse with the default catalog (<dir>/catalog.db)")


def _lake(args: argparse.Namespace) -> Any:
    from raycollect.silver.tables import Lakehouse, lakehouse

    if args.config:
        from raycollect.config import WorkflowConfig

        config = WorkflowConfig.from_file(args.config)
        return lakehouse(config), config
    from pathlib import Path

    root = Path(args.warehouse).expanduser().resolve()
    if not (root / "catalog.db").is_file():
        raise ConfigurationError(f"--warehouse {root}: no catalog.db there; pass the warehouse a conversion wrote "
                                 "(silver_directory), or --config CONFIG")
    return Lakehouse.sqlite(root), None


def run_query(args: argparse.Namespace) -> int:
    import duckdb

    from raycollect.cli.manifest import render
    from raycollect.manifest import table_rows
    from raycollect.manifest.query import not_a_select, sandbox, to_arrow
    from raycollect.silver.read import views

    lake, _ = _lake(args)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        names = views(con, lake, as_of=args.as_of)
        if not names:
            raise ConfigurationError(f"No silver tables in {lake.warehouse}: run `raycollect convert CONFIG` first")
        # The user's SQL reads the tables' files and nothing else: no other file, no write, no extension install
        # (a query pasted from elsewhere cannot COPY ... TO a file). On S3 the views are Arrow datasets.
        sandbox(con, [lake.warehouse] if lake.local else [])
        refused = not_a_select(con, args.sql)
        if refused:
            raise ConfigurationError(f"query: {refused}: the tables are read, never written")
        try:
            table = to_arrow(con.sql(args.sql))
        except duckdb.Error as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigurationError(f"query: {first} (tables: {', '.join(names)})") from None
    finally:
        con.close()
    print(render(table_rows(table), table.column_names, args.format))
    return 0


def run_silver(args: argparse.Namespace) -> int:
    from raycollect.cli.manifest import render
    from raycollect.silver import maintain
    from raycollect.silver.tables import split_table_name

    lake, config = _lake(args)
    catalog = lake.catalog()
    names = [args.table] if getattr(args, "table", None) else lake.tables(catalog)
    if not names:
        raise ConfigurationError(f"No silver tables in {lake.warehouse}: run `raycollect convert CONFIG` first")
    tables = {n: lake.table(*split_table_name(n), catalog=catalog) for n in names}
    cmd = args.silver_command
    if cmd == "tables":
        rows = [_ids_as_text(_table_row(n, t)) for n, t in tables.items()]
        print(render(rows, list(rows[0]), args.format))
    elif cmd == "history":
        rows = [_ids_as_text(r) for r in maintain.history(tables[args.table])]
        print(render(rows, list(rows[0]) if rows else ["snapshot_id"], args.format))
    elif cmd == "compact":
        from raycollect.manifest.writer import new_run_id

        min_files = args.min_files or (config.silver_compact_min_files if config else 8)
        target = (config.silver_target_file_mb if config else 128) << 20
        run_id = new_run_id()
        for name, tbl in tables.items():
            t0 = time.monotonic()
            before = _table_row(name, tbl)
            done = maintain.compact(tbl, lake, min_files=min_files, target_bytes=target, run_id=run_id)
            after = _table_row(name, tbl)
            print(f"{name}: {done:,} partitions compacted, {before['files']:,} -> {after['files']:,} files, "
                  f"{after['rows']:,} rows, in {time.monotonic() - t0:.1f}s")
    else:
        age = maintain.parse_age(args.older_than)
        cutoff = dt.datetime.now(dt.timezone.utc) - age
        for name, tbl in tables.items():
            got = maintain.expire(tbl, lake, cutoff)
            print(f"{name}: {got['snapshots']:,} snapshots expired, {got['files']:,} files deleted "
                  f"(older than {args.older_than})")
    sys.stdout.flush()
    return 0


def _table_row(name: str, tbl: Any) -> dict[str, Any]:
    tbl.refresh()
    snap = tbl.current_snapshot()
    summary = snap.summary.additional_properties if snap and snap.summary else {}
    return {"table": name, "snapshot_id": snap.snapshot_id if snap else None,
            "snapshots": len(tbl.metadata.snapshots), "files": int(summary.get("total-data-files", 0)),
            "rows": int(summary.get("total-records", 0)), "bytes": int(summary.get("total-files-size", 0)),
            "location": tbl.metadata.location}


def _ids_as_text(row: dict[str, Any]) -> dict[str, Any]:
    """Snapshot ids as they are written (``--as-of`` takes them so), not as numbers with thousands separators."""
    return {k: str(v) if k in ("snapshot_id", "parent_id") and v is not None else v for k, v in row.items()}
