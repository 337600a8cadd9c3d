"""Discovery: list the archive to learn which symbols exist, and what it says of each file.

- Every listing prefix ends with ``/`` (``.../BTCUSDT/1m/`` never matches ``.../BTCUSDT/1mo/``) and uses
  ``Delimiter="/"``, so one call reads one directory; prefixes are listed in parallel.
- Symbol patterns (``*USDT``, ``BTC*``, ``*``) are matched against the symbol folders the listing
  returns, delisted symbols included (the live exchange API would miss them); ``alive_on`` keeps those
  with files around that day (raycollect.lifetimes).
- Each listed object comes with its size, ETag and LastModified (``Lister.objects``); the plan is
  intersected with the listing folder by folder in raycollect.listed_plan.
"""

from __future__ import annotations

import datetime as dt
import difflib
import fnmatch
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from raycollect import defaults
from raycollect.archive import SYMBOL_RE
from raycollect.errors import ConfigurationError, WorkflowError
from raycollect.preflight import check_listing_answer, describe_aws_error, source_name
from raycollect.selection import Series

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import ArchiveMatrix

T = TypeVar("T")
R = TypeVar("R")


#: One listed object: what the archive says of it (ETag without its quotes).
LISTED_SCHEMA = pa.schema([("key", pa.string()), ("size", pa.int64()), ("etag", pa.string()),
                          ("last_modified", pa.timestamp("us", tz="UTC"))])


def listed_table(cols: dict[str, list[Any]]) -> pa.Table:
    """LISTED_SCHEMA from column lists (``etag`` as S3 quotes it; LastModified as datetimes)."""
    etags = pc.utf8_trim(pa.array(cols["etag"], pa.string()), '"')
    return pa.table({"key": pa.array(cols["key"], pa.string()), "size": pa.array(cols["size"], pa.int64()),
                     "etag": etags, "last_modified": pa.array(cols["last_modified"], LISTED_SCHEMA.field(
                         "last_modified").type)}, schema=LISTED_SCHEMA)


class Lister:
    """Anonymous, paginated, parallel ListObjectsV2 over one bucket."""

    def __init__(self, bucket: str, endpoint_url: str | None, region: str, *,
                 workers: int = defaults.LISTINGS) -> None:
        from raycollect.downloaders.retry import s3_client

        self.bucket = bucket
        self.workers = workers
        self.where = source_name(endpoint_url, bucket, region)
        self.client = s3_client(endpoint_url=endpoint_url, region=region, anonymous=True, pool=workers)
        self.requests = 0

    @classmethod
    def for_config(cls, config: WorkflowConfig) -> Lister:
        """The config's source bucket, listed with ``workers_per_actor`` requests at once (default LISTINGS)."""
        return cls(config.bucket, config.endpoint_url, config.region,
                   workers=config.workers_per_actor or defaults.LISTINGS)

    def listdir(self, prefix: str, start_after: str | None = None) -> tuple[list[str], list[str]]:
        """(sub-folder prefixes, object keys) directly below ``prefix`` (which must end with '/'), from
        ``start_after`` on when given (keys sort by date inside a directory: recent files only)."""
        dirs, objects = self.objects(prefix, start_after)
        return dirs, objects["key"].to_pylist()

    def objects(self, prefix: str, start_after: str | None = None, *, max_keys: int | None = None
                ) -> tuple[list[str], pa.Table]:
        """(sub-folder prefixes, LISTED_SCHEMA table of the objects) directly below ``prefix`` (which must end
        with '/'), from ``start_after`` on; at most ``max_keys`` objects when given (one request).

        An answer that is not S3 XML is an error (ConfigurationError), never an empty directory.
        """
        from botocore.exceptions import BotoCoreError, ClientError

        if not prefix.endswith("/"):
            raise ValueError(f"listing prefix must end with '/': {prefix!r}")
        dirs: list[str] = []
        cols: dict[str, list[Any]] = {"key": [], "size": [], "etag": [], "last_modified": []}
        extra: dict[str, Any] = {"StartAfter": start_after} if start_after else {}
        paging = {"PageSize": 1000} if max_keys is None else {"PageSize": max_keys, "MaxItems": max_keys}
        try:
            for page in self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, Delimiter="/", PaginationConfig=paging, **extra
            ):
                self.requests += 1
                check_listing_answer(page, self.where)
                dirs += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
                for o in page.get("Contents", []):
                    cols["key"].append(o["Key"])
                    cols["size"].append(o.get("Size"))
                    cols["etag"].append(o.get("ETag"))
                    cols["last_modified"].append(o.get("LastModified"))
        except (ClientError, BotoCoreError) as exc:
            cause = describe_aws_error(exc)
            if "not S3 XML" in cause:
                raise ConfigurationError(f"Source {self.where} is not usable: listing {prefix}: {cause}") from None
            raise WorkflowError(f"listing {prefix} at {self.where} failed: {cause}") from None
        return dirs, listed_table(cols)

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
    notes: list[str] = field(default_factory=list)  # symbols not planned for some (market, data type)

    def note_invalid(self, what: str) -> None:
        if len(self.invalid) < 100:
            self.invalid.append(what)


def check_symbols(series: list[Series], lister: Lister, quote_assets: list[str] | None,
                  report: DiscoveryReport, *, alive_on: dt.date | None = None) -> list[Series]:
    """Check every symbol against the symbol folders the archive lists (one listing per market, data type
    and partition), and replace patterns by the symbols they match.

    A symbol with no folder for any selected (market, data type) is a ConfigurationError that suggests the
    closest listed symbols; one that exists for some pairs only is planned there, with a note per symbol.
    """
    pairs = {(s.market, s.data_type): s.entry for s in series}

    def folders(item: tuple[tuple[str, str], Any]) -> tuple[tuple[str, str], set[str]]:
        pair, entry = item
        names: set[str] = set()
        for base in symbol_prefixes(entry):
            dirs, _ = lister.listdir(base)
            for d in dirs:
                name = d[len(base):].rstrip("/")
                if SYMBOL_RE.fullmatch(name):
                    names.add(name)
                else:
                    report.note_invalid(f"symbol folder {d!r}: not a valid symbol")
        return pair, names

    found = dict(lister.map(folders, pairs.items()))
    report.prefixes_listed += sum(len(e.partitions) for e in pairs.values())
    _name_unknown_symbols(series, found, report)
    out: list[Series] = []
    for s in series:
        chosen = choose_symbols(s.symbols, found[(s.market, s.data_type)], quote_assets)
        if alive_on is not None:
            chosen = _alive(s, chosen, lister, alive_on, report)
        label = f"{s.market}/{s.data_type}"
        report.symbols[label] = sorted(set(report.symbols.get(label, [])) | set(chosen))
        if chosen:
            out.append(replace(s, symbols=tuple(chosen)))
    return out


def _alive(s: Series, chosen: list[str], lister: Lister, day: dt.date, report: DiscoveryReport) -> list[str]:
    """``chosen`` without the symbols a pattern matched that have no file on or before ``day`` and on or after it
    (symbols named plainly stay: the user asked for them)."""
    from raycollect.lifetimes import alive, lifetimes

    named = {sym for sym in s.symbols if "*" not in sym}
    matched = [sym for sym in chosen if sym not in named]
    today = dt.datetime.now(dt.timezone.utc).date()
    living = {sym for _, _, sym in alive(lifetimes(lister, [(s.entry, sym, s.interval) for sym in matched], today),
                                         day)}
    dropped = len(matched) - len(living)
    if dropped:
        report.notes.append(f"alive_on {day}: {dropped} of {len(matched)} symbols matched for "
                            f"{s.market}/{s.data_type} had no file around that day, left out")
    return [sym for sym in chosen if sym in named or sym in living]


def symbol_prefixes(entry: Any) -> list[str]:
    """The key prefixes below which ``entry``'s symbol folders are, one per partition."""
    return [entry.url_pattern.split("{symbol}")[0].format(partition=partition, data_type=entry.data_type)
            for partition in entry.partitions]


def choose_symbols(symbols: Iterable[str], names: set[str], quote_assets: list[str] | None) -> list[str]:
    """``symbols`` as found in ``names``: a pattern (``*USDT``) becomes the names it matches (those ending in one
    of ``quote_assets``, when given), a plain symbol stays if it is there; in order, each once."""
    chosen: list[str] = []
    for sym in symbols:
        if "*" in sym:
            matches = sorted(n for n in names if fnmatch.fnmatchcase(n, sym))
            chosen += [m for m in matches if not quote_assets or m.endswith(tuple(quote_assets))]
        elif sym in names:
            chosen.append(sym)
    return list(dict.fromkeys(chosen))


def _name_unknown_symbols(series: list[Series], found: dict[tuple[str, str], set[str]],
                          report: DiscoveryReport) -> None:
    asked: dict[str, list[tuple[str, str]]] = {}
    for s in series:
        for sym in s.symbols:
            if "*" not in sym and (s.market, s.data_type) not in asked.setdefault(sym, []):
                asked[sym].append((s.market, s.data_type))
    unknown: list[str] = []
    for sym, where in asked.items():
        have = [p for p in where if sym in found[p]]
        if not have:
            everything = sorted(set().union(*(found[p] for p in where)))
            close = difflib.get_close_matches(sym, everything, n=3, cutoff=0.6)
            hint = f"closest existing: {', '.join(close)}" if close else "no similar symbol is listed"
            unknown.append(f"'{sym}' has no folder in the archive for {_pairs(where)} ({hint})")
        elif len(have) < len(where):
            missing = [p for p in where if p not in have]
            report.notes.append(f"{sym}: not in the archive for {_pairs(missing)}; planned for {_pairs(have)}")
    if unknown:
        raise ConfigurationError(f"Unknown symbol: {'; '.join(unknown)}; fix symbols in the config")


def _pairs(pairs: list[tuple[str, str]]) -> str:
    return ", ".join(f"{m}/{d}" for m, d in pairs)


def with_archive_facts(plan: pa.Table, zips: pa.Table, sums: pa.Table) -> pa.Table:
    """``plan`` with ``listed_size`` and ARCHIVE_FIELDS from the listed ``zips`` and ``sums`` (sidecars)."""
    at = pc.index_in(plan["key"], value_set=zips["key"].combine_chunks())
    at_sum = pc.index_in(pc.binary_join_element_wise(plan["key"], ".CHECKSUM", ""),
                         value_set=sums["key"].combine_chunks())
    columns = {"listed_size": zips["size"].take(at), "etag": zips["etag"].take(at),
               "last_modified": zips["last_modified"].take(at), "checksum_etag": sums["etag"].take(at_sum),
               "checksum_last_modified": sums["last_modified"].take(at_sum), "checksum_size": sums["size"].take(at_sum)}
    for name, column in columns.items():
        plan = plan.append_column(name, column)
    return plan


def listed_selection(config: WorkflowConfig, matrix: ArchiveMatrix) -> tuple[list[Series], Lister, DiscoveryReport]:
    """The config's series with every symbol checked against the archive (patterns resolved)."""
    from raycollect.selection import resolve

    lister = Lister.for_config(config)
    report = DiscoveryReport()
    series = check_symbols(resolve(config, matrix), lister, config.quote_assets, report, alive_on=config.alive_on)
    return series, lister, report
