"""The silver zone: the collected, verified zips as Apache Iceberg tables (docs/silver.md).

Modules: ``schemas`` (the columns of every market and data type), ``convert`` (one zip to one Parquet file,
streamed), ``tables`` (catalog, warehouse, table schemas and partitioning), ``datafile`` (a Parquet file as
Iceberg data files), ``commit`` (one snapshot per change), ``maintain`` (compaction, expiry, history), ``read``
(DuckDB views, ``table`` and ``scan``), ``quality`` (what is odd inside a file), ``manifest`` (the conversion
manifest and the quality report), ``job`` (``raycollect convert`` on Ray).
"""

from typing import Any

from raycollect.silver.schemas import TableSpec, table_spec

__all__ = ["ConversionError", "Source", "TableSpec", "convert_file", "scan", "table", "table_spec"]


def __getattr__(name: str) -> Any:
    """``convert``'s and ``read``'s names, imported on first use: importing ``convert`` imports polars, which a
    driver never needs and which a conversion worker must import only after it has set POLARS_MAX_THREADS
    (``job._convert_batch``)."""
    if name in ("ConversionError", "Source", "convert_file"):
        from raycollect.silver import convert

        return getattr(convert, name)
    if name in ("scan", "table"):
        from raycollect.silver import read

        return getattr(read, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
