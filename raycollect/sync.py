"""``raycollect sync``: keep a collection current and in step with the archive, for cron.

Every series (market, data type, symbol, interval) is planned from the config's start to the latest day
that can be published (yesterday, UTC); ``date_range.end`` is not used. Under ``partition_policy`` auto,
every month that is over is planned as its monthly file with its days as fallbacks: discovery keeps the
days while the monthly file is not published and collects the monthly file once it is.

The plan is intersected with the archive's listing (a page per 1,000 keys, no GET), which carries each
object's ETag, LastModified and size. Resume then compares those with the collection state:
- a collected file whose size, ETag or LastModified changed is re-published: fetched again, verified against
  its new sidecar, committed (its ``previous_sha256`` kept);
- a listed file never collected (a late day, a hole filled) is collected;
- a collected file the listing no longer has is flagged ``removed`` (the workflow writes that row once);
  its local copy is kept;
- everything else is skipped with no request and no manifest row.
Planned files the archive does not list are counted, not written: on a daily cron they are mostly days not
published yet, and a row for each on every run would grow the manifest by the same files day after day.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.manifest.state import State
from raycollect.plan import PLAN_SCHEMA
from raycollect.selection import latest_publishable
from raycollect.storage import BaseStorage
from raycollect.stream import BATCH_ROWS, PlanStream


def sync_stream(config: Any, matrix: Any, storage: BaseStorage, state: State | None, *,
                today: dt.date | None = None) -> PlanStream:
    """The plan of a sync, key-sorted, with what the listing says of every listed file (``state``: unused here;
    resume compares the two)."""
    from raycollect.discovery import discover_plan, listed_selection

    today = today or dt.datetime.now(dt.timezone.utc).date()
    latest = latest_publishable(today)
    if config.date_range.start > latest:  # nothing can be published yet: the symbols are still checked
        _, _, report = listed_selection(config, matrix)
        return PlanStream(iter(()), 0, PLAN_SCHEMA.empty_table(), report, list(report.notes))
    start = config.date_range.start
    # A month that starts before the config's start is collected as its monthly file too, once published; its
    # days before the start are never planned (they only stood in for the month).
    first = start.replace(day=1) if config.partition_policy != "daily" else start
    cfg = config.model_copy(update={"date_range": config.date_range.model_copy(update={"start": first, "end": latest})})
    plan, report = discover_plan(cfg, matrix, storage, today=today)
    if first < start:
        early = pc.and_(pc.less(plan["period"], pa.scalar(start, pa.date32())),
                        pc.not_equal(plan["partition"].cast(pa.string()), "monthly"))
        plan = plan.filter(pc.invert(early))
    unlisted = plan.filter(pc.invert(plan["listed"]))
    table = plan.filter(plan["listed"]).sort_by("key")
    return PlanStream(iter(table.to_batches(max_chunksize=BATCH_ROWS)), plan.num_rows, unlisted, report,
                      list(report.notes))
