"""``raycollect run``, ``verify`` and ``demo``: run a collection and print what happened."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from raycollect.cli._table import format_table
from raycollect.config import WorkflowConfig
from raycollect.downloaders import DEFAULT_ENGINE, ENGINES
from raycollect.progress import human_bytes

DEMO_CONFIG = Path(__file__).resolve().parents[1] / "data" / "demo.json"


def register(sub: Any) -> None:
    r = sub.add_parser("run", help="collect the files a config asks for, on Ray (local or a cluster)")
    r.add_argument("config", help="workflow config (JSON or YAML)")
    add_run_options(r)
    r.set_defaults(func=run)

    d = sub.add_parser("demo", help="collect a sample from a bundled local archive and query its manifest")
    d.add_argument("--output-directory", help="where the demo's files land (default: ./demo-output)")
    d.add_argument("--downloader", choices=ENGINES, default=DEFAULT_ENGINE)
    d.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    d.set_defaults(func=demo)

    y = sub.add_parser("sync", help="collect what is new since the last run, per series, up to yesterday (cron)")
    y.add_argument("config", help="workflow config (JSON or YAML)")
    add_run_options(y)
    y.set_defaults(func=sync)

    v = sub.add_parser("verify", help="re-check collected files against the archive's current .CHECKSUM; "
                                      "re-fetch the ones that changed")
    v.add_argument("config", help="workflow config (JSON or YAML)")
    add_run_options(v)
    v.set_defaults(func=verify)


def add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--endpoint-url", help="S3 endpoint of the source archive (a mirror); default: AWS")
    p.add_argument("--output-directory", help="where files land (overrides the config)")
    p.add_argument("--manifest-directory", help="where manifests land (default: <output>/_manifests)")
    p.add_argument("--downloader", choices=ENGINES,
                   help=f"download engine (default: {DEFAULT_ENGINE}; overrides the config)")
    p.add_argument("--max-parallel-downloads", type=int, help="upper bound on downloader actors")
    p.add_argument("--ray-address", help="Ray cluster to use (default: RAY_ADDRESS, else a new local Ray)")
    p.add_argument("--force", action="store_true", help="fetch every file again (force_redownload)")
    p.add_argument("--no-resume", action="store_true", help="do not skip files collected before")
    p.add_argument("--strict", action="store_true", help="count missing files as failures (exit code 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    p.add_argument("--discover", action="store_true", help="list the archive and fetch only files that exist")
    p.add_argument("--reverify", action="store_true",
                   help="compare collected files with the archive's current .CHECKSUM; re-fetch changed ones")


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {
        "endpoint_url": args.endpoint_url, "output_directory": args.output_directory,
        "manifest_directory": args.manifest_directory, "downloader": args.downloader,
        "max_parallel_downloads": args.max_parallel_downloads,
    }  # fmt: skip
    if args.force:
        out["force_redownload"] = True
    if args.no_resume:
        out["enable_resume"] = False
    if args.discover:
        out["discover"] = True
    if args.reverify:
        out["reverify"] = True
    return {k: v for k, v in out.items() if v is not None}


def run(args: argparse.Namespace) -> int:
    from raycollect.workflow import ArchiveCollectionWorkflow

    config = WorkflowConfig.from_file(args.config, **_overrides(args))
    _starting("run", args.config)
    workflow = ArchiveCollectionWorkflow(config, ray_address=args.ray_address, strict=args.strict,
                                         show_progress=not args.no_progress)
    result = workflow.execute()
    print_summary(result)
    return int(result["exit_code"])


def sync(args: argparse.Namespace) -> int:
    from raycollect.manifest.schema import Status
    from raycollect.result import RunStatus
    from raycollect.selection import latest_publishable
    from raycollect.workflow import ArchiveCollectionWorkflow

    config = WorkflowConfig.from_file(args.config, **_overrides(args))
    _starting("sync", args.config)
    result = ArchiveCollectionWorkflow(config, ray_address=args.ray_address, strict=args.strict,
                                       show_progress=not args.no_progress, sync=True).execute()
    c = result.counts
    if not result.error and result.status != RunStatus.INTERRUPTED and not any(
            c.get(k) for k in (Status.SUCCESS, Status.FAILED, Status.REMOVED, Status.QUARANTINED)):
        print(f"sync: nothing new up to {latest_publishable()} ({result.planned:,} files checked, "
              f"{c.get(Status.MISSING, 0) + result.unlisted:,} not published yet) in {result.seconds:.1f}s")
        return result.exit_code
    print_summary(result)
    return result.exit_code


def _starting(command: str, config_path: str) -> None:
    """A first line at once, before planning, listing or Ray: the command is alive. Not for a sync that no one
    watches (cron: stderr is not a terminal), whose output is its one summary line."""
    if command == "sync" and not sys.stderr.isatty():
        return
    print(f"raycollect {command}: {config_path}: checking the source and planning ...", file=sys.stderr,
          flush=True)


def verify(args: argparse.Namespace) -> int:
    from raycollect.workflow import ArchiveCollectionWorkflow

    config = WorkflowConfig.from_file(args.config, **{**_overrides(args), "reverify": True})
    _starting("verify", args.config)
    workflow = ArchiveCollectionWorkflow(config, ray_address=args.ray_address, strict=args.strict,
                                         show_progress=not args.no_progress, only_collected=True)
    result = workflow.execute()
    s = result["collection_stats"]
    print(f"verify: {s['skipped_tasks']:,} unchanged, {s['successful_tasks']:,} changed in the archive and "
          f"re-fetched, {s['failed_tasks']:,} failed, {s['missing_tasks']:,} gone from the archive")
    print_summary(result)
    return int(result["exit_code"])


def print_summary(result: dict[str, Any], out: Any = None) -> None:
    from raycollect.result import RunStatus

    out = out or sys.stdout
    s = result["collection_stats"]
    secs = max(s["processing_time_seconds"], 1e-9)
    fetched = s["successful_tasks"] + s["failed_tasks"] + s["missing_tasks"]
    lines = [
        f"run {result['run_id']}: {result['status']} in {secs:.1f}s",
        f"  planned {s['total_tasks']:,}: success {s['successful_tasks']:,}, skipped {s['skipped_tasks']:,}, "
        f"missing {s['missing_tasks']:,}, failed {s['failed_tasks']:,}",
        f"  downloaded {result['total_size_formatted']} at {human_bytes(s['total_bytes'] / secs)}/s "
        f"({fetched / secs:,.0f} files/s)",
        f"  files:    {result['output_directory']}",
        f"  manifest: {result['manifest_directory']}/files/run_id={result['run_id']}/",
    ]
    changes = result.get("archive_changes") or {}
    if any(changes.values()):
        lines.append(f"  archive changes: {changes['republished']:,} re-published (fetched again, the old digest kept "
                     f"as previous_sha256), {changes['removed']:,} removed (flagged; local copies kept), "
                     f"{changes['quarantined']:,} quarantined (kept in _quarantine/, see `manifest failed`)")
    if result.get("error"):
        lines.append(f"  error: {result['error']}")
    if result["status"] == RunStatus.INTERRUPTED:
        lines.append("  interrupted: the files above were decided before the interrupt; run again to collect the "
                     "rest (everything collected so far is kept and skipped)")
    lines += [f"  note: {n}" for n in result.get("notes") or []]
    disc = result.get("discovery")
    if disc:
        lines.append(f"  discovery: {disc['available']:,} of {disc['planned']:,} planned files exist "
                     f"({disc['prefixes_listed']:,} prefixes listed); {disc['months_by_days']:,} months "
                     "collected as daily files (monthly file not published yet)")
        lines += [f"    skipped from the listing: {w}" for w in disc["invalid"][:5]]
    if len(result.get("per_node") or {}) > 1:
        lines.append("  per node: " + ", ".join(f"{node[:12]} {v['files']:,} files {human_bytes(v['bytes'])}"
                                                for node, v in result["per_node"].items()))
    if result.get("superseded"):
        lines.append("  monthly files that now cover daily files collected earlier (the daily files stay):")
        lines += [f"    {k} supersedes {n} daily files" for k, n in result["superseded"][:10]]
    if result["missing"]:
        lines.append(f"  missing ({s['missing_tasks']:,}; not in the archive, e.g. not published yet):")
        lines += [f"    {k}" for k in result["missing"][:10]]
    if result["failures"]:
        lines.append(f"  failed ({s['failed_tasks']:,}):")
        lines += [f"    {k}: {e}" for k, e in result["failures"][:10]]
    print("\n".join(lines), file=out)
    conversion = getattr(result, "conversion", None)
    if conversion is not None:
        from raycollect.cli.convert import print_conversion

        print_conversion(conversion, out)


DEMO_QUERIES = [
    ("Files and bytes per market, data type and status (this run)",
     "SELECT market, data_type, status, count(*) AS files, sum(size_bytes) AS bytes FROM files "
     "WHERE run_id = $run GROUP BY ALL ORDER BY ALL"),
    ("The real archive files, verified against their .CHECKSUM",
     "SELECT key, size_bytes, left(sha256, 16) AS sha256_prefix, checksum_verified FROM files "
     "WHERE run_id = $run AND key IN ($real) ORDER BY key"),
    ("Files that are not in the archive (status missing)",
     "SELECT key, error FROM files WHERE run_id = $run AND status = 'missing' ORDER BY key"),
]


SILVER_QUERY = ("SELECT symbol, date_trunc('day', open_time) AS day, arg_min(open, open_time) AS open, max(high) AS "
                "high, min(low) AS low, arg_max(close, open_time) AS close, round(sum(volume), 3) AS volume "
                "FROM spot_klines WHERE interval = '1h' AND open_time >= '2026-05-07' GROUP BY ALL ORDER BY ALL")


def demo(args: argparse.Namespace) -> int:
    import duckdb

    from raycollect.manifest import files_glob, sql_string, to_arrow
    from raycollect.mirror import REAL_KEYS, LocalArchive
    from raycollect.mirror.seed import seed_demo
    from raycollect.workflow import ArchiveCollectionWorkflow

    output = Path(args.output_directory or "demo-output").resolve()
    print("starting the local archive (SeaweedFS) and seeding the demo archive ...", flush=True)
    with LocalArchive() as archive:
        generated = seed_demo(archive.endpoint_url, archive.bucket)
        print(f"local archive at {archive.endpoint_url}: {generated.objects + 8:,} objects "
              f"({len(generated.written) + 4:,} zips, 4 of them real archive files)")
        config = WorkflowConfig.from_file(DEMO_CONFIG, endpoint_url=archive.endpoint_url, output_directory=str(output),
                                          downloader=args.downloader)
        print(f"collecting {config.date_range.start}..{config.date_range.end} of {', '.join(config.all_data_types)} "
              f"into {output} with {config.downloader} on a local Ray ...", flush=True)
        result = ArchiveCollectionWorkflow(config, show_progress=not args.no_progress).execute()
    print_summary(result)
    con = duckdb.connect()
    con.sql(f"CREATE VIEW files AS SELECT * FROM read_parquet({sql_string(files_glob(config.manifest_dir))}, "
            "hive_partitioning = true)")
    real = ", ".join(sql_string(k) for k in REAL_KEYS)
    for title, sql in DEMO_QUERIES:
        query = sql.replace("$run", sql_string(result["run_id"])).replace("$real", real)
        table = to_arrow(con.sql(query))
        print(f"\n-- {title}\n{query}\n{format_table(table.to_pylist(), table.column_names)}")
    if result.conversion is not None:
        from raycollect.silver.read import views
        from raycollect.silver.tables import lakehouse

        con.sql("SET TimeZone = 'UTC'")
        views(con, lakehouse(config), only=["spot_klines"])  # as `raycollect query` registers them
        table = to_arrow(con.sql(SILVER_QUERY))
        print(f"\n-- Daily candles from the silver table spot_klines (Iceberg; `raycollect query SQL --config "
              f"CONFIG` runs the same)\n{SILVER_QUERY}\n{format_table(table.to_pylist(), table.column_names)}")
    print(f"\nmanifests: {config.manifest_dir} (query them with DuckDB or pyarrow: docs/manifests.md)")
    return int(result["exit_code"])
