"""The plan of a run as a key-sorted stream of batches, whichever way the run plans.

- plain: symbols checked against the archive's listing, then ``plan.sorted_batches`` (never materialised);
- discovery: the plan intersected with the listing (materialised: discovery lists every directory
  anyway); files that are not listed are set aside as ``unlisted``, the rest sorted and cut;
- a custom storage layout (``get_partition_path``), or ``raycollect verify`` (only collected files):
  materialised, then sorted and cut.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.errors import ConfigurationError
from raycollect.manifest.schema import COLLECTED, PLAN_COLUMNS
from raycollect.manifest.state import State
from raycollect.plan import PLAN_SCHEMA, build_plan, count_planned, sorted_batches
from raycollect.storage import BaseStorage

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import ArchiveMatrix

BATCH_ROWS = 65_536


@dataclass
class PlanStream:
    batches: Iterator[pa.RecordBatch | pa.Table]
    planned: int  # every planned file, unlisted ones included (streamed against a listing: an estimate until the
    # batches are consumed; then ``discovery.planned`` is the count)
    unlisted: pa.Table | None = None  # discovery, materialised: planned files the archive does not list
    discovery: Any = None  # DiscoveryReport
    notes: list[str] = field(default_factory=list)
    listed: Any = None  # raycollect.listed_plan.ListedPlan: its unlisted files and snapshot, once consumed

    def unlisted_files(self) -> pa.Table | None:
        """Planned files the archive does not list (after the batches are consumed, when streamed)."""
        return self.listed.unlisted if self.listed is not None else self.unlisted


def plan_stream(config: WorkflowConfig, matrix: ArchiveMatrix, storage: BaseStorage, *,
                only_collected: State | None = None, rows_per_batch: int = BATCH_ROWS,
                today: dt.date | None = None) -> PlanStream:
    """The plan in key order, batch by batch (streamed when nothing needs it whole); ``today`` (UTC, default the
    real date) decides which months are complete."""
    from raycollect.discovery import listed_selection

    today = today or dt.datetime.now(dt.timezone.utc).date()
    if config.uses_discovery:
        from raycollect.listed_plan import listed_plan

        series, lister, report = listed_selection(config, matrix)
        plan = listed_plan(config, matrix, series, lister, report, today=today, rows_per_batch=rows_per_batch)
        out = PlanStream(plan.batches(), count_planned(config, series, today=today), discovery=report,
                         notes=list(report.notes), listed=plan)
        if storage.mirrors_keys and only_collected is None:
            return out
        parts = list(out.batches)
        table = pa.concat_tables(parts) if parts else PLAN_SCHEMA.empty_table()
        out.planned = report.planned
    else:
        series, _, report = listed_selection(config, matrix)
        out = PlanStream(iter(()), 0, notes=list(report.notes))
        if storage.mirrors_keys and only_collected is None:
            out.batches = sorted_batches(config, matrix, series, today=today, rows_per_batch=rows_per_batch)
            out.planned = count_planned(config, series, today=today)
            return out
        table = build_plan(config, matrix, series=series, today=today)
        out.planned = table.num_rows
    if not storage.mirrors_keys:
        table = apply_layout(table, storage)
    if only_collected is not None:
        table = collected_only(table, only_collected)
        out.planned = table.num_rows
    table = table.sort_by("key")
    out.batches = iter(table.to_batches(max_chunksize=rows_per_batch))
    return out


def collected_only(plan: pa.Table, state: State) -> pa.Table:
    """The plan rows whose newest fact says collected (``raycollect verify``)."""
    if state.data is None:
        return plan.slice(0, 0)
    import pyarrow.parquet as pq

    facts = pq.read_table(state.data, columns=["key", "status"])
    done = facts.filter(pc.is_in(facts["status"], value_set=pa.array(COLLECTED)))["key"]
    return plan.filter(pc.is_in(plan["key"], value_set=done.combine_chunks()))


def apply_layout(plan: pa.Table, storage: BaseStorage) -> pa.Table:
    """Targets from a custom storage layout (row by row: only custom layouts pay for it), each checked."""
    targets = []
    for row in plan.select(PLAN_COLUMNS).to_pylist():
        target = storage.get_partition_path(**row)
        storage.check(target)
        targets.append(target)
    if len(set(targets)) != len(targets):
        raise ConfigurationError(f"{type(storage).__name__}.get_partition_path maps different files to one path")
    return plan.set_column(plan.schema.get_field_index("target"), "target", pa.array(targets, pa.string()))
