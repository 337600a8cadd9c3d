"""The ``raycollect`` command line: argument parsing, exit codes, and one-line errors.

Exit codes: 0 done (nothing failed), 1 unexpected error, 2 config or matrix error, 3 some files failed.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence

from raycollect.errors import ConfigurationError, RaycollectError

EXIT_OK, EXIT_UNEXPECTED, EXIT_CONFIG, EXIT_FAILED = 0, 1, 2, 3


def _cmd_plan(args: argparse.Namespace) -> int:
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import load_matrix
    from raycollect.plan import build_plan, summarize, write_plan

    config = WorkflowConfig.from_file(args.config, endpoint_url=args.endpoint_url,
                                      discover=True if args.discover else None)
    started = time.perf_counter()
    if config.uses_discovery:
        from raycollect.discovery import discover_plan
        from raycollect.storage import make_storage

        plan, report = discover_plan(config, load_matrix(config.matrix_path), make_storage(config))
        elapsed = time.perf_counter() - started
        print(format_table(summarize(plan).to_pylist(), ["market", "data_type", "partition", "files", "available"]))
        print(f"discovery: {report.prefixes_listed:,} prefixes listed, {report.keys_listed:,} zips seen, "
              f"{report.available:,} of {plan.num_rows:,} planned files exist, "
              f"{report.months_by_days:,} months collected as daily files")
        for what in report.invalid[:10]:
            print(f"  skipped from the listing: {what}")
    else:
        plan = build_plan(config)
        elapsed = time.perf_counter() - started
        print(format_table(summarize(plan).to_pylist(), ["market", "data_type", "partition", "files"]))
    print(f"total: {plan.num_rows:,} files ({config.date_range.start} .. {config.date_range.end}, "
          f"partition_policy={config.partition_policy}, planned in {elapsed:.2f}s)")
    if args.output:
        fmt = write_plan(plan, args.output)
        print(f"plan written to {args.output} ({fmt})")
    return EXIT_OK


def format_table(rows: list[dict[str, object]], columns: Sequence[str]) -> str:
    """An aligned plain-text table; numbers right-aligned with thousands separators."""
    def cell(v: object) -> str:
        return f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else ("" if v is None else str(v))

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(b[i]) for b in body]) for i, c in enumerate(columns)]
    numeric = [any(isinstance(r.get(c), int | float) and not isinstance(r.get(c), bool) for r in rows)
               and all(r.get(c) is None or isinstance(r.get(c), int | float) for r in rows) for c in columns]

    def line(cells: Sequence[str]) -> str:
        padded = (v.rjust(w) if num else v.ljust(w) for v, w, num in zip(cells, widths, numeric, strict=True))
        return "  ".join(padded).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *(line(b) for b in body)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raycollect",
        description="Collect the Binance public data archive with Ray: every file verified against its .CHECKSUM, "
        "committed atomically, recorded in Parquet manifests.",
        epilog="Exit codes: 0 done, 1 unexpected error, 2 config or matrix error, 3 some files failed.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("plan", help="expand a config into the list of archive files (no downloads)")
    p.add_argument("config", help="workflow config (JSON or YAML)")
    p.add_argument("--output", "-o", help="write the plan to FILE (.parquet, .csv or .jsonl)")
    p.add_argument("--discover", action="store_true", help="list the archive: print planned vs available")
    p.add_argument("--endpoint-url", help="S3 endpoint of the archive (a mirror); default: AWS")
    p.set_defaults(func=_cmd_plan)

    r = sub.add_parser("run", help="collect the files a config asks for, on Ray (local or a cluster)")
    r.add_argument("config", help="workflow config (JSON or YAML)")
    _run_options(r)
    r.set_defaults(func=_lazy("raycollect.run_cli", "run"))

    d = sub.add_parser("demo", help="collect a sample from a bundled local archive and query its manifest")
    d.add_argument("--output-directory", help="where the demo's files land (default: ./demo-output)")
    d.add_argument("--downloader", choices=["s5cmd", "boto3", "http"], default="s5cmd")
    d.add_argument("--no-progress", action="store_true", help="no progress bar or progress lines")
    d.set_defaults(func=_lazy("raycollect.run_cli", "demo"))

    v = sub.add_parser("verify", help="re-check collected files against the archive's current .CHECKSUM; "
                                      "re-fetch the ones that changed")
    v.add_argument("config", help="workflow config (JSON or YAML)")
    _run_options(v)
    v.set_defaults(func=_lazy("raycollect.run_cli", "verify"))

    from raycollect.manifest_cli import add_parser as add_manifest

    add_manifest(sub, _lazy)

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
    s.set_defaults(func=_lazy("raycollect.mirror.cli", "serve"))
    return parser


def _run_options(p: argparse.ArgumentParser) -> None:
    from raycollect.run_cli import add_run_options

    add_run_options(p)


def _lazy(module: str, name: str) -> Callable[[argparse.Namespace], int]:
    """A handler imported on use, so `raycollect plan` does not pay for Ray or boto3 imports."""
    def run(args: argparse.Namespace) -> int:
        import importlib

        return int(getattr(importlib.import_module(module), name)(args))

    return run


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigurationError as exc:
        _report(args, exc)
        return EXIT_CONFIG
    except RaycollectError as exc:
        _report(args, exc)
        return EXIT_UNEXPECTED
    except KeyboardInterrupt:
        print("raycollect: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        _report(args, exc, unexpected=True)
        return EXIT_UNEXPECTED


def _report(args: argparse.Namespace, exc: BaseException, *, unexpected: bool = False) -> None:
    if getattr(args, "debug", False):
        traceback.print_exc()
    prefix = f"unexpected {type(exc).__name__}: " if unexpected else ""
    hint = " (run with --debug for the traceback)" if unexpected else ""
    print(f"raycollect: error: {prefix}{exc}{hint}", file=sys.stderr)
