"""``raycollect symbols``: every symbol of the config's markets and data types with its first and last day in the
archive, delisted ones included (raycollect.lifetimes)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import Any


def register(sub: Any) -> None:
    p = sub.add_parser("symbols", help="every symbol per market and data type, delisted ones included, with its "
                                       "first and last day in the archive")
    p.add_argument("config", help="workflow config (JSON or YAML): its markets, data types, intervals and symbols "
                                  "(patterns such as '*USDT' list what they match)")
    p.add_argument("--alive-on", help="only symbols with files on or before and on or after this day (YYYY-MM-DD)")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table", help="output format")
    p.add_argument("--endpoint-url", help="S3 endpoint of the archive (a mirror); default: AWS")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from raycollect.cli.manifest import render
    from raycollect.config import WorkflowConfig
    from raycollect.discovery import DiscoveryReport, Lister, check_symbols
    from raycollect.errors import ConfigurationError
    from raycollect.lifetimes import alive, lifetimes
    from raycollect.manifest import table_rows
    from raycollect.matrix import load_matrix
    from raycollect.preflight import check_source
    from raycollect.selection import resolve

    config = WorkflowConfig.from_file(args.config, endpoint_url=args.endpoint_url)
    alive_on = None
    if args.alive_on:
        try:
            alive_on = dt.date.fromisoformat(args.alive_on)
        except ValueError:
            raise ConfigurationError(f"symbols: --alive-on {args.alive_on!r} is not a date (YYYY-MM-DD)") from None
    check_source(config.bucket, config.endpoint_url, config.region)
    lister = Lister.for_config(config)
    series = check_symbols(resolve(config, load_matrix(config.matrix_path)), lister, config.quote_assets,
                           DiscoveryReport())
    today = dt.datetime.now(dt.timezone.utc).date()
    items = [(s.entry, sym, s.interval) for s in series for sym in s.symbols]
    table = lifetimes(lister, items, today)
    if alive_on is not None:
        living = alive(table, alive_on)
        table = table.filter(pa.array([(r["market"], r["data_type"], r["symbol"]) in living
                                       for r in table.select(["market", "data_type", "symbol"]).to_pylist()],
                                      pa.bool_()))
    rows = table_rows(table.sort_by([("market", "ascending"), ("data_type", "ascending"),
                                     ("symbol", "ascending")]))
    print(render(rows, table.column_names, args.format))
    return 0
