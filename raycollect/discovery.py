"""Discovery: list the archive to learn which symbols and files exist, then intersect the plan with it.

- Every listing prefix ends with ``/`` (``.../BTCUSDT/1m/`` never matches ``.../BTCUSDT/1mo/``) and uses
  ``Delimiter="/"``, so one call reads one directory; prefixes are listed in parallel.
- Symbol patterns (``*USDT``, ``BTC*``, ``*``) are matched against the symbol folders the listing
  returns, delisted symbols included (the live exchange API would miss them).
- Keys from a listing are untrusted: each must parse back to itself under the archive grammar and
  resolve inside the output directory, or it is reported and skipped.
- Auto policy: a month planned as a monthly file whose zip is not listed is collected as its daily
  files (the ``fallback`` rows of the plan); when the monthly zip is listed, those rows are dropped.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.archive import SYMBOL_RE, parse_key
from raycollect.selection import Series
from raycollect.storage import BaseStorage

T = TypeVar("T")
R = TypeVar("R")


class Lister:
    """Anonymous, paginated, parallel ListObjectsV2 over one bucket."""

    def __init__(self, bucket: str, endpoint_url: str | None, region: str, *, workers: int = 32) -> None:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        self.bucket = bucket
        self.workers = workers
        config = Config(signature_version=UNSIGNED, retries={"mode": "adaptive", "max_attempts": 8},
                        max_pool_connections=workers)
        self.client = boto3.session.Session().client("s3", endpoint_url=endpoint_url, region_name=region,
                                                     config=config)
        self.requests = 0

    def listdir(self, prefix: str) -> tuple[list[str], list[str]]:
        """(sub-folder prefixes, object keys) directly below ``prefix`` (which must end with '/')."""
        if not prefix.endswith("/"):
            raise ValueError(f"listing prefix must end with '/': {prefix!r}")
        dirs: list[str] = []
        keys: list[str] = []
        for page in self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix, Delimiter="/", PaginationConfig={"PageSize": 1000}
        ):
            self.requests += 1
            dirs += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            keys += [o["Key"] for o in page.get("Contents", [])]
        return dirs, keys

    def map(self, fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
        items = list(items)
        if len(items) <= 1:
            return [fn(i) for i in items]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(items))) as pool:
            return list(pool.map(fn, items))


@dataclass
class DiscoveryReport:
    prefixes_listed: int = 0
    keys_listed: int = 0
    symbols: dict[str, list[str]] = field(default_factory=dict)  # "market/data_type" -> matched symbols
    invalid: list[str] = field(default_factory=list)  # listed names or keys refused (first 100)
    planned: int = 0  # files planned after intersecting (a month without its monthly zip counts its days)
    available: int = 0  # planned files that exist
    months_by_days: int = 0  # monthly files absent, collected as their daily files

    def note_invalid(self, what: str) -> None:
        if len(self.invalid) < 100:
            self.invalid.append(what)


def resolve_symbols(series: list[Series], lister: Lister, quote_assets: list[str] | None,
                    report: DiscoveryReport) -> list[Series]:
    """Replace symbol patterns by the symbols the archive lists for each (market, data type)."""
    needed = {(s.market, s.data_type): s.entry for s in series if any("*" in sym for sym in s.symbols)}

    def folders(item: tuple[tuple[str, str], Any]) -> tuple[tuple[str, str], set[str]]:
        pair, entry = item
        names: set[str] = set()
        for partition in entry.partitions:
            base = entry.url_pattern.split("{symbol}")[0].format(partition=partition, data_type=entry.data_type)
            dirs, _ = lister.listdir(base)
            for d in dirs:
                name = d[len(base):].rstrip("/")
                if SYMBOL_RE.fullmatch(name):
                    names.add(name)
                else:
                    report.note_invalid(f"symbol folder {d!r}: not a valid symbol")
        return pair, names

    found = dict(lister.map(folders, needed.items()))
    report.prefixes_listed += sum(len(e.partitions) for e in needed.values())
    out: list[Series] = []
    for s in series:
        if (s.market, s.data_type) not in found:
            out.append(s)
            continue
        names = found[(s.market, s.data_type)]
        chosen: list[str] = []
        for sym in s.symbols:
            matches = sorted(n for n in names if fnmatch.fnmatchcase(n, sym)) if "*" in sym else [sym]
            chosen += [m for m in matches if not quote_assets or "*" not in sym or m.endswith(tuple(quote_assets))]
        chosen = list(dict.fromkeys(chosen))
        report.symbols[f"{s.market}/{s.data_type}"] = sorted(set(report.symbols.get(
            f"{s.market}/{s.data_type}", [])) | set(chosen))
        out.append(replace(s, symbols=tuple(chosen)))
    return out


def intersect(plan: pa.Table, lister: Lister, storage: BaseStorage, report: DiscoveryReport) -> pa.Table:
    """The plan with a ``listed`` column; fallback rows kept only where their monthly zip is absent."""
    folders = pc.unique(pc.replace_substring_regex(plan["key"], pattern=r"[^/]*$", replacement="")).to_pylist()
    listed: set[str] = set()
    for _, keys in lister.map(lister.listdir, folders):
        report.prefixes_listed += 1
        for key in keys:
            if key.endswith(".CHECKSUM"):
                continue
            report.keys_listed += 1
            if parse_key(key) is None:
                report.note_invalid(f"key {key!r}: does not follow the archive grammar")
                continue
            try:
                storage.check(key)
            except Exception:  # noqa: BLE001 - any refusal means: never use this key
                report.note_invalid(f"key {key!r}: would resolve outside the output directory")
                continue
            listed.add(key)
    value_set = pa.array(sorted(listed), pa.string())
    is_listed = pc.is_in(plan["key"], value_set=value_set)
    monthly_of_day = pc.replace_substring(
        pc.replace_substring_regex(plan["key"], pattern=r"-(\d{4}-\d{2})-\d{2}\.zip$", replacement=r"-\1.zip"),
        pattern="/daily/", replacement="/monthly/", max_replacements=1)
    fallback = plan["fallback"]
    month_listed = pc.is_in(monthly_of_day, value_set=value_set)
    drop = pc.and_(fallback, month_listed)  # the monthly file exists: its days are not needed
    keep = pc.invert(drop)
    by_days = pc.and_(pc.and_(fallback, pc.invert(month_listed)), is_listed)
    monthly_absent_with_days = set(pc.unique(monthly_of_day.filter(by_days)).to_pylist())
    out = plan.append_column("listed", is_listed).filter(keep)
    # A monthly row whose month is collected by days is not "missing": its days stand in for it.
    if monthly_absent_with_days:
        out = out.filter(pc.invert(pc.is_in(out["key"], value_set=pa.array(sorted(monthly_absent_with_days)))))
    report.months_by_days = len(monthly_absent_with_days)
    report.planned = out.num_rows
    report.available = pc.sum(out["listed"]).as_py() or 0
    return out


def discover_plan(
    config: Any, matrix: Any, storage: BaseStorage, *, today: Any = None
) -> tuple[pa.Table, DiscoveryReport]:
    """Resolve symbol patterns, build the plan (with monthly fallbacks under auto), intersect with the listing."""
    from raycollect.plan import build_plan
    from raycollect.selection import resolve

    lister = Lister(config.bucket, config.endpoint_url, config.region, workers=config.workers_per_actor)
    report = DiscoveryReport()
    series = resolve_symbols(resolve(config, matrix), lister, config.quote_assets, report)
    plan = build_plan(config, matrix, today=today, series=series,
                      monthly_fallback=config.partition_policy == "auto")
    return intersect(plan, lister, storage, report), report
