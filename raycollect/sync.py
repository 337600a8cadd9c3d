"""``raycollect sync``: keep a collection current and in step with the archive, for cron.

Every series (market, data type, symbol, interval) is planned from the config's start to the latest day
that can be published (yesterday, UTC); ``date_range.end`` is not used. Under ``partition_policy`` auto,
every month that is over is planned as its monthly file with its days as fallbacks: discovery keeps the
days while the monthly file is not published and collects the monthly file once it is (a month that
starts before the config's start too; its days before the start are never planned).

The plan is streamed against the archive's listing (raycollect.listed_plan: a page per 1,000 keys, no GET),
which carries each object's ETag, LastModified and size. Resume then compares those with the state:
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
from typing import TYPE_CHECKING

from raycollect.plan import count_planned
from raycollect.selection import latest_publishable
from raycollect.stream import BATCH_ROWS, PlanStream

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import ArchiveMatrix


def sync_stream(config: WorkflowConfig, matrix: ArchiveMatrix, *, today: dt.date | None = None,
                rows_per_batch: int = BATCH_ROWS) -> PlanStream:
    """The plan of a sync, key-sorted, with what the listing says of every listed file."""
    from raycollect.discovery import listed_selection
    from raycollect.listed_plan import listed_plan

    today = today or dt.datetime.now(dt.timezone.utc).date()
    latest = latest_publishable(today)
    series, lister, report = listed_selection(config, matrix)
    start = config.date_range.start
    if start > latest:  # nothing can be published yet: the symbols are checked all the same
        return PlanStream(iter(()), 0, discovery=report, notes=list(report.notes))
    first = start.replace(day=1) if config.partition_policy != "daily" else start
    cfg = config.model_copy(update={"date_range": config.date_range.model_copy(update={"start": first, "end": latest})})
    plan = listed_plan(cfg, matrix, series, lister, report, today=today, rows_per_batch=rows_per_batch,
                       first_day=start if first < start else None)
    planned = count_planned(config.model_copy(update={"date_range": config.date_range.model_copy(
        update={"end": latest})}), series, today=today)
    return PlanStream(plan.batches(), planned, discovery=report, notes=list(report.notes), listed=plan)
