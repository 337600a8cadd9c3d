"""Reading the silver tables with no setup: DuckDB views over a snapshot's data files, and a Python API.

``views`` registers one DuckDB view per table (``spot_klines``, ``futures_um_fundingRate``, ...) over the data
files of its current snapshot (or the one ``as_of`` names): ``read_parquet`` of the explicit file list on a
local warehouse, an Arrow dataset on S3. Neither needs a DuckDB extension, so it works offline. The file list
comes from the snapshot's manifests (pyiceberg), so a reader sees one snapshot whole, never a conversion's
files half-committed.

Python: ``table(config, market, data_type)`` is the pyiceberg ``Table``; ``scan(...)`` filters by symbols and a
time range (pruned by partition and file statistics) and returns Arrow, a DuckDB relation, a polars LazyFrame
or a Ray Dataset.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from raycollect.atomic import write_text
from raycollect.errors import ConfigurationError
from raycollect.manifest.query import sql_string
from raycollect.silver.tables import Lakehouse, lakehouse, split_table_name

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from raycollect.config import WorkflowConfig

    #: A config as ``table`` and ``scan`` take it: the model, its dict, or its file's path.
    ConfigLike = WorkflowConfig | dict[str, Any] | str | Path


Output = Literal["arrow", "duckdb", "polars", "ray"]


def table(config: ConfigLike, market: str, data_type: str) -> Table:
    """The pyiceberg ``Table`` of (market, data type) in the config's catalog."""
    return lakehouse(_config(config)).table(market, data_type)


def scan(config: ConfigLike, market: str, data_type: str, *,
         symbols: list[str] | None = None, start: str | dt.date | dt.datetime | None = None,
         end: str | dt.date | dt.datetime | None = None, interval: str | None = None,
         columns: list[str] | None = None, as_of: str | int | None = None, to: Output = "arrow") -> Any:
    """Rows of (market, data type) for ``symbols`` (all when None) with the time column in ``[start, end)`` (UTC;
    a date is its midnight), as ``to`` says: ``arrow`` (pyarrow.Table), ``duckdb`` (a relation), ``polars`` (a
    LazyFrame) or ``ray`` (a Ray Dataset)."""
    from pyiceberg.expressions import AlwaysTrue, And, EqualTo, GreaterThanOrEqual, In, LessThan

    from raycollect.silver.schemas import table_spec

    cfg = _config(config)
    tbl = table(cfg, market, data_type)
    spec = table_spec(market, data_type)
    time = spec.time_column
    expr: Any = AlwaysTrue()
    if symbols:
        expr = And(expr, In(spec.partition_column, list(symbols)))
    if interval:
        expr = And(expr, EqualTo("interval", interval))
    for bound, op in ((start, GreaterThanOrEqual), (end, LessThan)):
        if bound is not None:
            expr = And(expr, op(time, _iso(bound, date_only=dict(spec.columns).get(time) == "date")))
    snapshot_id = resolve_snapshot(tbl, as_of) if as_of is not None else None
    selected = tuple(columns) if columns else ("*",)
    if to == "polars":
        import polars as pl

        frame = pl.scan_iceberg(tbl, snapshot_id=snapshot_id)
        return _polars_filter(frame, spec, symbols, interval, start, end).select(list(columns) if columns else pl.all())
    if to == "ray":
        try:
            import ray.data
        except ImportError as exc:
            raise ConfigurationError(f"scan(to='ray') needs Ray Data ({exc}): pip install 'raycollect[data]' "
                                     "(or 'ray[data]')") from None

        lake = lakehouse(cfg)
        return ray.data.read_iceberg(table_identifier=lake.identifier(market, data_type), row_filter=expr,
                                     selected_fields=selected, snapshot_id=snapshot_id,
                                     catalog_kwargs={"name": "raycollect", **lake.catalog_properties})
    result = tbl.scan(row_filter=expr, selected_fields=selected, snapshot_id=snapshot_id)
    if to == "arrow":
        return result.to_arrow()
    if to == "duckdb":  # a relation over the rows, on a connection of its own
        name = f"{market}_{data_type}"
        return result.to_duckdb(table_name=name).table(name)
    raise ConfigurationError(f"scan(to={to!r}): expected arrow, duckdb, polars or ray")


def _polars_filter(frame: Any, spec: Any, symbols: list[str] | None, interval: str | None, start: Any,
                   end: Any) -> Any:
    import polars as pl

    if symbols:
        frame = frame.filter(pl.col(spec.partition_column).is_in(list(symbols)))
    if interval:
        frame = frame.filter(pl.col("interval") == interval)
    time = pl.col(spec.time_column)
    if start is not None:
        frame = frame.filter(time >= _datetime(start))
    if end is not None:
        frame = frame.filter(time < _datetime(end))
    return frame


def _datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    return _datetime(dt.datetime.fromisoformat(str(value)))


def _iso(value: Any, *, date_only: bool) -> str:
    when = _datetime(value)
    return when.date().isoformat() if date_only else when.isoformat()


def resolve_snapshot(tbl: Table, as_of: str | int) -> int:
    """A snapshot id from ``as_of``: a snapshot id, or a time (ISO 8601, UTC unless it says otherwise; a date is
    its end, 23:59:59.999) meaning the snapshot current then. ConfigurationError when there is none."""
    text = str(as_of).strip()
    if text.isdigit() and len(text) > 13:  # snapshot ids are large; epoch milliseconds have 13 digits
        if tbl.metadata.snapshot_by_id(int(text)) is None:
            raise ConfigurationError(f"{tbl.name()[-1]} has no snapshot {text} (expired, or from another table): "
                                     "`raycollect silver history TABLE` lists them")
        return int(text)
    try:
        if text.isdigit():
            millis = int(text)
        else:
            when = dt.datetime.fromisoformat(text)
            if len(text) == 10:
                when = when + dt.timedelta(days=1) - dt.timedelta(milliseconds=1)
            millis = int(_datetime(when).timestamp() * 1000)
    except ValueError:
        raise ConfigurationError(f"--as-of {text!r}: expected a snapshot id or a time (2026-12-04T08:00:00, "
                                 "2026-12-04)") from None
    snapshot = tbl.snapshot_as_of_timestamp(millis)
    if snapshot is None:
        raise ConfigurationError(f"{tbl.name()[-1]} had no snapshot at {text}: its history starts later "
                                 "(`raycollect silver history TABLE`)")
    return snapshot.snapshot_id


def views(con: Any, lake: Lakehouse, *, as_of: str | int | None = None, only: list[str] | None = None) -> list[str]:
    """Register a view per table on the DuckDB connection ``con``; returns the names."""
    catalog = lake.catalog()
    names = lake.tables(catalog)
    for name in names:
        if only is not None and name not in only:
            continue
        market, data_type = split_table_name(name)
        tbl = lake.table(market, data_type, catalog=catalog)
        snapshot_id = resolve_snapshot(tbl, as_of) if as_of is not None else None
        _register(con, name, tbl, snapshot_id, lake)
    return [n for n in names if only is None or n in only]


def data_files(tbl: Table, snapshot_id: int | None = None, cache: Path | None = None) -> list[str]:
    """The data files of a snapshot (the current one by default), as paths DuckDB and Arrow read. With ``cache``
    (a directory), the list is kept there per table and snapshot: a snapshot never changes, and reading its
    manifests costs about 0.2 s per 3,600 files, on every query otherwise."""
    from raycollect.silver.datafile import local_path

    snapshot = tbl.current_snapshot() if snapshot_id is None else tbl.metadata.snapshot_by_id(snapshot_id)
    if snapshot is None:
        return []
    kept = cache / f"{tbl.metadata.table_uuid}-{snapshot.snapshot_id}.files" if cache is not None else None
    if kept is not None and kept.is_file():
        return kept.read_text(encoding="utf-8").splitlines()
    out = []
    for task in tbl.scan(snapshot_id=snapshot.snapshot_id).plan_files():
        path = task.file.file_path
        out.append(local_path(path) or path)
    if kept is not None:
        try:
            write_text(kept, "\n".join(out), durable=False)  # a cache: rebuilt if lost
        except OSError:
            pass  # a read-only warehouse: no cache, the same answer
    return out


def cache_dir(lake: Lakehouse) -> Path:
    """Where file lists are cached: beside a local warehouse, else in the user's cache."""
    if lake.local:
        return Path(lake.warehouse) / ".raycollect-cache"
    import hashlib

    digest = hashlib.sha256(f"{lake.catalog_properties.get('uri')}|{lake.warehouse}".encode()).hexdigest()[:16]
    return Path.home() / ".cache" / "raycollect" / "silver" / digest


def _register(con: Any, name: str, tbl: Table, snapshot_id: int | None, lake: Lakehouse) -> None:
    from pyiceberg.io.pyarrow import schema_to_pyarrow

    files = data_files(tbl, snapshot_id, cache_dir(lake))
    ident = '"' + name.replace('"', '""') + '"'
    schema = schema_to_pyarrow(tbl.schema(), include_field_ids=False)
    if not files:
        con.register(f"_empty_{name}", schema.empty_table())
        con.execute(f"CREATE OR REPLACE TEMP VIEW {ident} AS SELECT * FROM \"_empty_{name}\"")
        return
    if lake.local:
        listing = "[" + ", ".join(sql_string(f) for f in files) + "]"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {ident} AS {_local_select(tbl, listing, files)}")
        return
    import pyarrow.dataset as ds

    from raycollect.silver.maintain import table_filesystem

    fs, _ = table_filesystem(tbl, lake)
    dataset = ds.dataset([f.split("://", 1)[-1] for f in files], schema=schema, format="parquet", filesystem=fs)
    con.register(f"_files_{name}", dataset)
    con.execute(f"CREATE OR REPLACE TEMP VIEW {ident} AS SELECT * FROM \"_files_{name}\"")


#: A partition value that reads the same in a path as in the file (``BTCUSDT``, ``1m``, ``2024-07``).
_PLAIN_VALUE = r"[A-Za-z0-9_.-]+"


def _local_select(tbl: Table, listing: str, files: list[str]) -> str:
    """The view's query over local data files. Their folders name the partition (``symbol=BTCUSDT/interval=1m/
    open_time_month=2024-07``), so DuckDB reads them as hive partitions and a filter on ``symbol`` (or
    ``interval``) skips the other files without opening them (measured in ``make bench-silver``); the month
    column is left out, so the view has the table's columns only. Where a value would read differently in a
    path (not letters, digits, ``_ . -``), the files are read as they are."""
    spec = tbl.metadata.spec()
    names = [f.name for f in spec.fields]
    from raycollect.silver.datafile import local_path

    base = re.escape((local_path(tbl.metadata.location) or "").rstrip("/") + "/data")
    shape = re.compile(base + "".join(rf"/{re.escape(n)}={_PLAIN_VALUE}" for n in names) + r"/[^/]+")
    plain = all(shape.fullmatch(f) for f in files)
    if not plain:
        return f"SELECT * FROM read_parquet({listing}, hive_partitioning = false)"
    types = ", ".join(f"{sql_string(n)}: 'VARCHAR'" for n in names)
    schema = tbl.schema()
    extra = [f.name for f in spec.fields if schema.find_field(f.source_id).name != f.name]
    exclude = f" EXCLUDE ({', '.join(_quote(n) for n in extra)})" if extra else ""
    return f"SELECT *{exclude} FROM read_parquet({listing}, hive_partitioning = true, hive_types = {{{types}}})"


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _config(config: ConfigLike) -> WorkflowConfig:
    from raycollect.config import WorkflowConfig

    if isinstance(config, WorkflowConfig):
        return config
    if isinstance(config, dict):
        return WorkflowConfig(config)
    return WorkflowConfig.from_file(config)


__all__ = ["data_files", "resolve_snapshot", "scan", "table", "views"]
