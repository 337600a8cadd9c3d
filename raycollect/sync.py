"""``raycollect sync``: keep a collection current, for cron.

For every series (market, data type, symbol, interval) the plan starts the day after its newest
collected period (from the collection state), or at the config's start for a series never collected,
and ends at the latest day that can be published (yesterday, UTC); ``date_range.end`` is not used.
Under ``partition_policy`` auto (or both), every month that is over and whose monthly file is not
collected yet is planned as its monthly file, with its uncollected days as fallbacks: discovery keeps the
days while the monthly file is not published and collects the monthly file once it is. Everything goes
through discovery, and each directory is listed from its first planned key on (``StartAfter``), so a
sync over millions of collected files lists a page per directory.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raycollect.manifest.schema import COLLECTED, sql_list
from raycollect.manifest.state import State
from raycollect.plan import PLAN_SCHEMA, _series_batch
from raycollect.selection import Series, latest_publishable
from raycollect.storage import BaseStorage
from raycollect.stream import BATCH_ROWS, PlanStream


def newest_collected(state: State | None) -> dict[tuple[str, str], str]:
    """{(series directory with the partition as '*', partition): newest collected period text}."""
    if state is None or state.data is None:
        return {}
    import duckdb

    con = duckdb.connect()
    try:
        rows = con.execute(
            "SELECT regexp_replace(regexp_replace(key, '/[^/]*$', ''), '^(data/.+?)/(daily|monthly)/', '\\1/*/') "
            "AS series, regexp_extract(key, '/(daily|monthly)/', 1) AS part, "
            "max(regexp_extract(key, '(\\d{4}-\\d{2}(-\\d{2})?)\\.zip$', 1)) AS newest "
            f"FROM read_parquet(?) WHERE status IN {sql_list(COLLECTED)} GROUP BY ALL", [str(state.data)]
        ).fetchall()
    finally:
        con.close()
    return {(series, part): newest for series, part, newest in rows}


def _series_id(prefix: str, partition: str) -> str:
    folder = prefix.rsplit("/", 1)[0]
    return folder.replace(f"/{partition}/", "/*/", 1)


def _month_end(month: np.datetime64) -> np.datetime64:
    return (month + 1).astype("datetime64[D]") - 1


def sync_stream(config: Any, matrix: Any, storage: BaseStorage, state: State | None, *,
                today: dt.date | None = None) -> PlanStream:
    from raycollect.discovery import intersect, listed_selection

    today = today or dt.datetime.now(dt.timezone.utc).date()
    latest = np.datetime64(latest_publishable(today), "D")
    start = np.datetime64(config.date_range.start, "D")
    policy = config.partition_policy
    series, lister, report = listed_selection(config, matrix)
    newest = newest_collected(state)
    batches: list[pa.RecordBatch] = []
    for s in series:
        parts = s.entry.partitions_for(s.interval)
        want_monthly = "monthly" in parts and (policy != "daily" or parts == ("monthly",))
        want_daily = "daily" in parts and (policy != "monthly" or parts == ("daily",))
        frm = max(start, np.datetime64(s.entry.available_from, "D"))
        until = min(latest, np.datetime64(s.entry.available_until, "D")) if s.entry.available_until else latest
        for sym in s.symbols:
            one = Series(s.entry, s.interval, (sym,))
            sid = _series_id(s.entry.key_parts(parts[0], sym, s.interval)[0], parts[0])
            nd, nm = newest.get((sid, "daily")), newest.get((sid, "monthly"))
            last_month = np.datetime64(nm, "M") if nm else None
            ends = ([np.datetime64(nd, "D")] if nd else []) + ([_month_end(last_month)] if last_month else [])
            covered = max(ends) if ends else None  # the newest day collected, as a day or within a month
            months = np.array([], dtype="datetime64[M]")
            if want_monthly and frm <= until:
                months = np.arange(frm.astype("datetime64[M]"), until.astype("datetime64[M]") + 1,
                                   dtype="datetime64[M]")
                ends = (months + 1).astype("datetime64[D]") - 1
                keep = ends < np.datetime64(today, "D")  # over: a monthly file can exist
                if last_month is not None:
                    keep &= months > last_month
                months = months[keep]
                if len(months):
                    batches.append(_series_batch(one, "monthly", months))
            if want_daily:
                day0 = covered + 1 if covered is not None else frm
                days = np.arange(max(day0, frm), until + 1, dtype="datetime64[D]")
                if len(days):
                    in_month = np.isin(days.astype("datetime64[M]"), months) if policy != "both" else \
                        np.zeros(len(days), bool)
                    if (~in_month).any():
                        batches.append(_series_batch(one, "daily", days[~in_month]))
                    if in_month.any():
                        batches.append(_series_batch(one, "fallback", days[in_month]))
    plan = pa.Table.from_batches(batches, schema=PLAN_SCHEMA) if batches else PLAN_SCHEMA.empty_table()
    plan = intersect(plan, lister, storage, report)
    # A monthly file not listed yet is not missing: its month is (or was) collected as days.
    plan = plan.filter(pc.or_(plan["listed"], pc.not_equal(plan["partition"].cast(pa.string()), "monthly")))
    report.planned = plan.num_rows
    unlisted = plan.filter(pc.invert(plan["listed"]))
    table = plan.filter(plan["listed"]).sort_by("key")
    return PlanStream(iter(table.to_batches(max_chunksize=BATCH_ROWS)), plan.num_rows, unlisted, report,
                      list(report.notes))
