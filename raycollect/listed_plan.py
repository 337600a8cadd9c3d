"""The plan intersected with the archive's listing, folder by folder in key order: bounded memory at any size.

Discovery (``run --discover``, symbol patterns) and ``sync`` stream the plan (raycollect.plan.sorted_batches) and
list each folder when its batch comes: from just before its first planned key (``StartAfter``), a page per 1,000
keys. Each zip is paired with its sidecar inside the folder, so a batch carries, per listed file, ``listed`` and
what the archive says of it and its sidecar (``listed_size`` and ARCHIVE_FIELDS). Memory: one batch of the plan
and its folders' listings, whatever the number of files.

Keys from a listing are untrusted and never become paths: only planned keys (built from the archive grammar)
reach a target, and each target is checked again before anything is written (raycollect.shard). A listed key
that is not planned is read only to report it when it does not follow the archive grammar.

Under the auto policy a month planned as its monthly file also plans its days as fallbacks. The monthly folders
are listed first (they are small); fallback days whose monthly file is listed are dropped, and a monthly file
that is not listed while its days are is not reported missing (its days stand in for it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raycollect.archive import folder_of, monthly_key_of, parse_key
from raycollect.discovery import LISTED_SCHEMA, DiscoveryReport, Lister, with_archive_facts
from raycollect.listing import summarize

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import ArchiveMatrix
    from raycollect.storage import BaseStorage

class ListedPlan:
    """Iterate ``batches()`` for the listed files (key-sorted, with the listing's facts); then ``unlisted`` holds
    the planned files the archive does not list, ``report`` the counts, ``snapshot`` a row per listed folder."""

    def __init__(self, plan_batches: Iterator[pa.RecordBatch], lister: Lister, report: DiscoveryReport, *,
                 monthly_folders: list[tuple[str, str]] | None = None, first_day: Any = None) -> None:
        self.plan_batches = plan_batches
        self.first_day = first_day  # daily rows before it are dropped (a sync plans whole months from before it)
        self.lister = lister
        self.report = report
        self.unlisted_parts: list[pa.Table] = []
        self.snapshot_parts: list[pa.Table] = []
        self.monthly_listed = self._list_monthly(monthly_folders or [])
        self.months_by_days: set[str] = set()  # monthly keys not listed whose days are
        report.planned = report.available = 0

    @property
    def unlisted(self) -> pa.Table | None:
        return pa.concat_tables(self.unlisted_parts) if self.unlisted_parts else None

    @property
    def snapshot(self) -> pa.Table | None:
        return pa.concat_tables(self.snapshot_parts) if self.snapshot_parts else None

    def _list_monthly(self, folders: list[tuple[str, str]]) -> pa.Array:
        """The listed monthly keys of ``folders`` ((folder, first planned key)): fallback days depend on them."""
        found = [self._folder(f, k)[0] for f, k in folders]
        keys = pa.concat_tables(found)["key"] if found else pa.chunked_array([], pa.string())
        return keys.combine_chunks()

    def _folder(self, folder: str, first_key: str) -> tuple[pa.Table, pa.Table]:
        """(zips, sidecars) listed in ``folder`` from just before ``first_key`` (the dropped last character
        sorts before that key)."""
        _, objects = self.lister.objects(folder, first_key[:-1])
        self.report.prefixes_listed += 1
        is_sum = pc.ends_with(objects["key"], ".CHECKSUM")
        return objects.filter(pc.invert(is_sum)), objects.filter(is_sum)

    def batches(self) -> Iterator[pa.Table]:
        for batch in self.plan_batches:
            out = self._batch(pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch)
            if out.num_rows:
                yield out

    def _batch(self, plan: pa.Table) -> pa.Table:
        if self.first_day is not None:
            early = pc.and_(pc.less(plan["period"], pa.scalar(self.first_day, pa.date32())),
                            pc.not_equal(plan["partition"].cast(pa.string()), "monthly"))
            if pc.any(early).as_py():
                plan = plan.filter(pc.invert(early))
        fallback = plan["fallback"]
        if pc.any(fallback).as_py() and len(self.monthly_listed):
            covered = pc.and_(fallback, pc.is_in(monthly_key_of(plan["key"]), value_set=self.monthly_listed))
            plan = plan.filter(pc.invert(covered))  # the monthly file is listed: its days are not needed
        folders = pa.table({"folder": folder_of(plan["key"]), "key": plan["key"]}).group_by("folder").aggregate(
            [("key", "min")])
        listed = self.lister.map(lambda fk: self._folder(*fk),
                                 list(zip(folders["folder"].to_pylist(), folders["key_min"].to_pylist(), strict=True)))
        zips = pa.concat_tables([z for z, _ in listed]) if listed else LISTED_SCHEMA.empty_table()
        sums = pa.concat_tables([s for _, s in listed]) if listed else LISTED_SCHEMA.empty_table()
        zip_keys = zips["key"].combine_chunks()
        is_listed = pc.is_in(plan["key"], value_set=zip_keys)
        planned = pc.is_in(zip_keys, value_set=plan["key"].combine_chunks())  # the listed zips this plan asks for
        self._note_junk(zip_keys.filter(pc.invert(planned)))
        self.report.keys_listed += len(zip_keys)
        self.snapshot_parts.append(summarize(zips.filter(planned)))
        plan = with_archive_facts(plan.append_column("listed", is_listed), zips, sums)
        listed_fallback = pc.and_(plan["fallback"], plan["listed"])
        if pc.any(listed_fallback).as_py():
            self.months_by_days |= set(pc.unique(monthly_key_of(plan["key"].filter(listed_fallback))).to_pylist())
        absent = pc.invert(plan["listed"])
        if self.months_by_days and pc.any(absent).as_py():  # a monthly file collected as its days: not missing
            stands_in = pc.and_(absent, pc.is_in(plan["key"], value_set=pa.array(sorted(self.months_by_days))))
            plan = plan.filter(pc.invert(stands_in))
            absent = pc.invert(plan["listed"])
        self.report.months_by_days = len(self.months_by_days)
        self.report.planned += plan.num_rows
        available = int(pc.sum(plan["listed"]).as_py() or 0)
        self.report.available += available
        if available < plan.num_rows:
            self.unlisted_parts.append(plan.filter(absent))
            return plan.filter(plan["listed"])
        return plan

    def _note_junk(self, unplanned: pa.Array) -> None:
        """Report listed keys that are not planned and do not follow the archive grammar (read, never used)."""
        if len(self.report.invalid) >= 100:
            return
        for key in unplanned.to_pylist():
            if parse_key(key) is None:
                self.report.note_invalid(f"key {key!r}: does not follow the archive grammar")


def listed_plan(config: WorkflowConfig, matrix: ArchiveMatrix, series: list[Any], lister: Lister,
                report: DiscoveryReport, *, today: Any, rows_per_batch: int, first_day: Any = None) -> ListedPlan:
    """The config's plan over ``series`` (symbols checked), streamed against the listing; ``first_day``: daily
    files before it are not planned (their month's monthly file is)."""
    from raycollect.plan import partition_periods, sorted_batches

    fallback = config.partition_policy == "auto"
    monthly: list[tuple[str, str]] = []
    if fallback:
        start, end = np.datetime64(config.date_range.start, "D"), np.datetime64(config.date_range.end, "D")
        for s in series:
            months = partition_periods(s.entry, s.interval, start, end, config.partition_policy,
                                       np.datetime64(today, "D"), fallback=True)
            if len(months.get("fallback", ())):
                first = months["monthly"][0].astype(object)
                for sym in s.symbols:
                    prefix, suffix = s.entry.key_parts("monthly", sym, s.interval)
                    monthly.append((prefix[: prefix.rindex("/") + 1], f"{prefix}{first:%Y-%m}{suffix}"))
    batches = sorted_batches(config, matrix, series, today=today, rows_per_batch=rows_per_batch,
                             monthly_fallback=fallback)
    return ListedPlan(batches, lister, report, monthly_folders=monthly, first_day=first_day)


def discover_plan(config: WorkflowConfig, matrix: ArchiveMatrix, storage: BaseStorage | None = None, *,
                  today: dt.date | None = None) -> tuple[pa.Table, DiscoveryReport]:
    """The whole plan with ``listed`` and the listing's facts, materialised (``raycollect plan --discover``):
    symbols checked, monthly fallbacks under auto, every folder listed. ``storage`` is not used (kept for the
    API: listed keys never become paths here)."""
    from raycollect.discovery import listed_selection

    series, lister, report = listed_selection(config, matrix)
    today = today or dt.datetime.now(dt.timezone.utc).date()
    plan = listed_plan(config, matrix, series, lister, report, today=today, rows_per_batch=1 << 20)
    parts = list(plan.batches())
    if plan.unlisted is not None:
        parts.append(plan.unlisted)
    if not parts:
        from raycollect.plan import PLAN_SCHEMA

        return PLAN_SCHEMA.empty_table(), report
    return pa.concat_tables(parts).sort_by("key"), report
