"""Expand config x matrix into the plan: a pyarrow Table with one row per archive file.

Expansion is columnar. Periods are computed once per series with numpy, symbols are repeated with
numpy, and keys are built by pyarrow string kernels, so ten million rows never become ten million
Python objects. Categorical columns are dictionary-encoded (a few bytes a row instead of a string).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raycollect.archive import CHECKSUM_SUFFIX
from raycollect.config import WorkflowConfig
from raycollect.manifest.schema import PLAN_FIELDS
from raycollect.matrix import ArchiveMatrix, MatrixEntry, load_matrix
from raycollect.selection import Series, resolve

_DICT = pa.dictionary(pa.int32(), pa.string())


def _planned(f: pa.Field) -> pa.Field:
    """A plan row's field as the planner holds it: categories dictionary-encoded (a few bytes a row), the key and
    the period as they are; only ``interval`` may be null (types without an interval folder)."""
    kind = f.type if f.name in ("key", "period") else _DICT
    return pa.field(f.name, kind, nullable=f.name == "interval")


PLAN_SCHEMA = pa.schema(
    [
        *(_planned(f) for f in PLAN_FIELDS),  # market, data_type, partition, symbol, interval, period (the day, or
        # the first day of the month), key
        pa.field("checksum_key", pa.string(), nullable=False),
        pa.field("target", pa.string(), nullable=False),  # relative to output_directory; mirrors the key
        # A daily file planned only to stand in for its month's monthly file, should discovery find that
        # monthly file absent (auto policy with discovery); dropped when the monthly file is listed.
        pa.field("fallback", pa.bool_(), nullable=False),
    ]
)


def build_plan(
    config: WorkflowConfig,
    matrix: ArchiveMatrix | None = None,
    *,
    today: dt.date | None = None,
    series: list[Series] | None = None,
    monthly_fallback: bool = False,
) -> pa.Table:
    """The plan for ``config``; ``today`` (UTC) decides which months are over (auto policy).

    ``series`` replaces the config's own selection (discovery resolves symbol patterns first);
    ``monthly_fallback`` adds, under the auto policy, the daily files of every month planned as a
    monthly file, flagged ``fallback`` (discovery keeps them only when the monthly file is absent).
    """
    if series is None and config.has_symbol_patterns:
        from raycollect.errors import ConfigurationError

        raise ConfigurationError("build_plan: a symbol pattern (such as *USDT) is resolved by listing the archive: "
                                 "plan with raycollect.listed_plan.discover_plan(config, matrix) or "
                                 "`raycollect plan CONFIG`, or name the symbols")
    matrix = matrix or load_matrix(config.matrix_path)
    today = today or dt.datetime.now(dt.timezone.utc).date()
    chosen = series if series is not None else resolve(config, matrix)
    batches = list(_batches(chosen, config, today, monthly_fallback))
    return pa.Table.from_batches(batches, schema=PLAN_SCHEMA)


def sorted_batches(
    config: WorkflowConfig,
    matrix: ArchiveMatrix,
    series: list[Series],
    *,
    today: dt.date | None = None,
    rows_per_batch: int = 65_536,
    monthly_fallback: bool = False,
) -> Iterator[pa.RecordBatch]:
    """The plan in key order, one directory after another, in batches of about ``rows_per_batch`` rows.

    Nothing is materialised: directories are enumerated (one per series, partition and symbol), sorted by
    their key prefix, and each is expanded only when the consumer reaches it, so a resume can merge-join
    the plan with the key-sorted collection state and list each directory once. Small directories are
    coalesced into one batch; a directory is never cut across two batches. ``monthly_fallback``: as in
    ``build_plan`` (a month's fallback days share their folder with the other days: merged in key order).
    """
    today = today or dt.datetime.now(dt.timezone.utc).date()
    start, end = np.datetime64(config.date_range.start, "D"), np.datetime64(config.date_range.end, "D")
    dirs: list[tuple[str, int, str, int]] = []
    periods_of: dict[tuple[int, str], np.ndarray] = {}
    for i, s in enumerate(series):
        periods = partition_periods(s.entry, s.interval, start, end, config.partition_policy,
                                    np.datetime64(today, "D"), fallback=monthly_fallback)
        for kind, values in periods.items():
            if len(values):
                periods_of[(i, kind)] = values
                partition = "daily" if kind == "fallback" else kind
                dirs += [(s.entry.key_parts(partition, sym, s.interval)[0], i, kind, j)
                         for j, sym in enumerate(s.symbols)]
    dirs.sort()
    pending: list[pa.RecordBatch] = []
    size = 0
    for _, group in itertools.groupby(dirs, key=lambda d: d[0]):
        parts = [_series_batch(Series(series[i].entry, series[i].interval, (series[i].symbols[j],)), kind,
                               periods_of[(i, kind)]) for _, i, kind, j in group]
        batch = parts[0] if len(parts) == 1 else _concat(parts, sort=True)
        pending.append(batch)
        size += batch.num_rows
        if size >= rows_per_batch:
            yield _concat(pending)
            pending, size = [], 0
    if pending:
        yield _concat(pending)


def count_planned(config: WorkflowConfig, series: list[Series], *, today: dt.date | None = None) -> int:
    """How many rows ``sorted_batches`` will yield, without building them."""
    today = today or dt.datetime.now(dt.timezone.utc).date()
    start, end = np.datetime64(config.date_range.start, "D"), np.datetime64(config.date_range.end, "D")
    total = 0
    for s in series:
        for values in partition_periods(s.entry, s.interval, start, end, config.partition_policy,
                                        np.datetime64(today, "D")).values():
            total += len(values) * len(s.symbols)
    return total


def _concat(batches: list[pa.RecordBatch], *, sort: bool = False) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    # Each directory has its own dictionaries: unify them so the batch has one per column.
    table = pa.Table.from_batches(batches, schema=PLAN_SCHEMA).unify_dictionaries()
    if sort:
        table = table.sort_by("key")
    return table.combine_chunks().to_batches()[0]


def _batches(series: list[Series], config: WorkflowConfig, today: dt.date, fallback: bool) -> Iterator[pa.RecordBatch]:
    start, end = np.datetime64(config.date_range.start, "D"), np.datetime64(config.date_range.end, "D")
    for s in series:
        periods = partition_periods(s.entry, s.interval, start, end, config.partition_policy,
                                    np.datetime64(today, "D"), fallback=fallback)
        for partition, values in periods.items():
            if len(values) and s.symbols:
                yield _series_batch(s, partition, values)


def partition_periods(
    entry: MatrixEntry,
    interval: str | None,
    start: np.datetime64,
    end: np.datetime64,
    policy: str,
    today: np.datetime64,
    *,
    fallback: bool = False,
) -> dict[str, np.ndarray]:
    """Periods per partition (datetime64[D] days; datetime64[M] months) for one series.

    - Types or intervals that exist only daily or only monthly use what exists, whatever the policy;
      monthly-only ones get every month the range touches (a monthly file is the only way to have
      any day of it).
    - ``auto``: monthly files for calendar months that lie wholly inside the range and are over
      (ended before ``today``); daily files for every other day.
    - Nothing before ``available_from`` or after ``available_until``.
    """
    frm = np.datetime64(entry.available_from, "D")
    until = np.datetime64(entry.available_until, "D") if entry.available_until else end
    d0, d1 = max(start, frm), min(end, until)
    days = np.arange(d0, d1 + 1, dtype="datetime64[D]") if d0 <= d1 else np.array([], dtype="datetime64[D]")
    months = np.arange(start.astype("datetime64[M]"), end.astype("datetime64[M]") + 1, dtype="datetime64[M]")
    m_first = months.astype("datetime64[D]")
    m_last = (months + 1).astype("datetime64[D]") - 1
    months = months[(m_last >= frm) & (m_first <= until)]

    parts = entry.partitions_for(interval)
    if parts == ("daily",):
        return {"daily": days}
    if parts == ("monthly",):
        return {"monthly": months}
    if policy == "daily":
        return {"daily": days}
    if policy == "monthly":
        return {"monthly": months}
    if policy == "both":
        return {"daily": days, "monthly": months}
    m_first = months.astype("datetime64[D]")
    m_last = (months + 1).astype("datetime64[D]") - 1
    whole = months[(m_first >= start) & (m_last <= end) & (m_last < today)]
    covered = np.isin(days.astype("datetime64[M]"), whole)
    out = {"monthly": whole, "daily": days[~covered]}
    if fallback:
        out["fallback"] = days[covered]
    return out


def _dict_column(values: list[str], indices: np.ndarray) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(values, pa.string()))


def _series_batch(s: Series, kind: str, periods: np.ndarray) -> pa.RecordBatch:
    partition = "daily" if kind == "fallback" else kind
    n_sym, n_per = len(s.symbols), len(periods)
    rows = n_sym * n_per
    sym_idx = np.repeat(np.arange(n_sym, dtype=np.int32), n_per)
    per_idx = np.tile(np.arange(n_per, dtype=np.int32), n_sym)
    zeros = np.zeros(rows, dtype=np.int32)
    parts = [s.entry.key_parts(partition, sym, s.interval) for sym in s.symbols]
    prefixes = pa.array([p for p, _ in parts], pa.string()).take(pa.array(sym_idx))
    suffixes = [x for _, x in parts]
    period_text = pa.array(np.datetime_as_string(periods), pa.string()).take(pa.array(per_idx))
    if len(set(suffixes)) == 1:
        suffix: pa.Array | str = suffixes[0]
    else:  # a custom matrix may put the symbol after {date}
        suffix = pa.array(suffixes, pa.string()).take(pa.array(sym_idx))
    key = pc.binary_join_element_wise(prefixes, period_text, suffix, "")
    checksum = pc.binary_join_element_wise(key, CHECKSUM_SUFFIX, "")
    if s.interval is None:
        interval = pa.DictionaryArray.from_arrays(pa.nulls(rows, pa.int32()), pa.array([], pa.string()))
    else:
        interval = _dict_column([s.interval], zeros)
    day_periods = periods.astype("datetime64[D]")
    columns = [
        _dict_column([s.market], zeros),
        _dict_column([s.data_type], zeros),
        _dict_column([partition], zeros),
        _dict_column(list(s.symbols), sym_idx),
        interval,
        pa.array(np.tile(day_periods, n_sym), pa.date32()),
        key,
        checksum,
        key,  # target mirrors the key: same buffers, no copy
        pa.array(np.full(rows, kind == "fallback")),
    ]
    return pa.RecordBatch.from_arrays(columns, schema=PLAN_SCHEMA)


def summarize(plan: pa.Table) -> pa.Table:
    """File counts by market, data type and partition, sorted; with ``available`` after discovery."""
    cols = ["market", "data_type", "partition"]
    plain = pa.table({c: plan[c].cast(pa.string()) for c in cols})
    aggs: list = [([], "count_all")]
    names = [*cols, "files"]
    if "listed" in plan.column_names:
        plain = plain.append_column("listed", plan["listed"].cast(pa.int64()))
        aggs.append(("listed", "sum"))
        names.append("available")
    return plain.group_by(cols).aggregate(aggs).rename_columns(names).sort_by([(c, "ascending") for c in cols])


def write_plan(plan: pa.Table, path: str | Path) -> str:
    """Write the plan as Parquet, CSV or JSON Lines, chosen by the file's extension, whole (raycollect.atomic: an
    interrupted write leaves no half file under the name); returns the format."""
    from raycollect.atomic import write_with

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        write_with(p, lambda tmp: pq.write_table(plan, tmp), durable=False)
        return "parquet"
    plain = plan.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_dictionary(f.type) else f.type)
                                 for f in plan.schema]))
    if suffix == ".csv":
        import pyarrow.csv as pcsv

        write_with(p, lambda tmp: pcsv.write_csv(plain, tmp), durable=False)
        return "csv"
    if suffix in (".jsonl", ".ndjson"):
        write_with(p, lambda tmp: _write_jsonl(plain, tmp), durable=False)
        return "jsonl"
    from raycollect.errors import ConfigurationError

    raise ConfigurationError(f"Cannot write the plan to {path}: use a .parquet, .csv or .jsonl file name")


def _write_jsonl(plain: pa.Table, path: Path) -> None:
    import json

    with path.open("w", encoding="utf-8") as fh:
        for batch in plain.to_batches(max_chunksize=65_536):
            for row in batch.to_pylist():
                row["period"] = row["period"].isoformat()
                fh.write(json.dumps(row, separators=(",", ":")) + "\n")
