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

import datetime as dt
import difflib
import fnmatch
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.archive import SYMBOL_RE, parse_key
from raycollect.errors import ConfigurationError, WorkflowError
from raycollect.preflight import check_listing_answer, describe_aws_error, source_name
from raycollect.selection import Series
from raycollect.storage import BaseStorage

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

    def __init__(self, bucket: str, endpoint_url: str | None, region: str, *, workers: int = 32) -> None:
        from raycollect.downloaders.retry import s3_client

        self.bucket = bucket
        self.workers = workers
        self.where = source_name(endpoint_url, bucket, region)
        self.client = s3_client(endpoint_url=endpoint_url, region=region, anonymous=True, pool=workers)
        self.requests = 0

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
    listing: pa.Table | None = None  # the listed zips (LISTED_SCHEMA), for the listing snapshot

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


def intersect(plan: pa.Table, lister: Lister, storage: BaseStorage, report: DiscoveryReport) -> pa.Table:
    """The plan with a ``listed`` column and what the listing says of each listed file and its sidecar
    (ARCHIVE_FIELDS and ``listed_size``); fallback rows kept only where their monthly zip is absent.

    Each folder is listed from just before its first planned key: a directory of years of daily files returns
    only the planned part.
    ``report.listing`` gets the listed zips of every folder (LISTED_SCHEMA), for the listing snapshot.
    """
    folder_of = pc.replace_substring_regex(plan["key"], pattern=r"[^/]*$", replacement="")
    firsts = pa.table({"folder": folder_of, "key": plan["key"]}).group_by("folder").aggregate([("key", "min")])
    # The dropped last character sorts before the first planned key.
    starts = [(f, k[:-1])
              for f, k in zip(firsts["folder"].to_pylist(), firsts["key_min"].to_pylist(), strict=True)]
    tables: list[pa.Table] = []
    for _, objects in lister.map(lambda fk: lister.objects(*fk), starts):
        report.prefixes_listed += 1
        tables.append(objects)
    listing = pa.concat_tables(tables) if tables else LISTED_SCHEMA.empty_table()
    is_sum = pc.ends_with(listing["key"], ".CHECKSUM")
    sums, zips = listing.filter(is_sum), listing.filter(pc.invert(is_sum))
    zips = _valid_keys(zips, storage, report)
    report.keys_listed += zips.num_rows
    report.listing = zips
    value_set = zips["key"].combine_chunks()
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
    out = with_archive_facts(plan.append_column("listed", is_listed), zips, sums).filter(keep)
    # A monthly row whose month is collected by days is not "missing": its days stand in for it.
    if monthly_absent_with_days:
        out = out.filter(pc.invert(pc.is_in(out["key"], value_set=pa.array(sorted(monthly_absent_with_days)))))
    report.months_by_days = len(monthly_absent_with_days)
    report.planned = out.num_rows
    report.available = pc.sum(out["listed"]).as_py() or 0
    return out


def _valid_keys(zips: pa.Table, storage: BaseStorage, report: DiscoveryReport) -> pa.Table:
    """The listed zips whose keys follow the archive grammar and resolve inside the destination; the others are
    reported and never used."""
    good: list[bool] = []
    for key in zips["key"].to_pylist():
        if parse_key(key) is None:
            report.note_invalid(f"key {key!r}: does not follow the archive grammar")
            good.append(False)
            continue
        try:
            storage.check(key)
        except Exception:  # noqa: BLE001 - any refusal means: never use this key
            report.note_invalid(f"key {key!r}: would resolve outside the output directory")
            good.append(False)
            continue
        good.append(True)
    return zips.filter(pa.array(good, pa.bool_())) if not all(good) else zips


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


def listed_selection(config: Any, matrix: Any) -> tuple[list[Series], Lister, DiscoveryReport]:
    """The config's series with every symbol checked against the archive (patterns resolved)."""
    from raycollect.selection import resolve

    lister = Lister(config.bucket, config.endpoint_url, config.region, workers=config.workers_per_actor or 32)
    report = DiscoveryReport()
    series = check_symbols(resolve(config, matrix), lister, config.quote_assets, report, alive_on=config.alive_on)
    return series, lister, report


def discover_plan(
    config: Any, matrix: Any, storage: BaseStorage, *, today: Any = None
) -> tuple[pa.Table, DiscoveryReport]:
    """Check symbols, build the plan (with monthly fallbacks under auto), intersect with the listing."""
    from raycollect.plan import build_plan

    series, lister, report = listed_selection(config, matrix)
    plan = build_plan(config, matrix, today=today, series=series,
                      monthly_fallback=config.partition_policy == "auto")
    return intersect(plan, lister, storage, report), report
