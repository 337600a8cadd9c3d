"""The silver zone: the collected, verified zips as typed Parquet (README, "The silver zone").

Modules: ``schemas`` (the columns of every market and data type), ``convert`` (one zip to one Parquet file,
streamed and atomic), ``quality`` (what is odd inside a file), ``manifest`` (the conversion manifest and the
quality report), ``job`` (``raycollect convert``: selection, skipping, superseding, Ray tasks).
"""

from typing import Any

from raycollect.silver.schemas import TableSpec, table_spec

__all__ = ["ConversionError", "Source", "TableSpec", "convert_file", "table_spec"]


def __getattr__(name: str) -> Any:
    """``convert``'s names, imported on first use: importing it imports polars, which a driver never needs and
    which a conversion worker must import only after it has set POLARS_MAX_THREADS (``job._convert_batch``)."""
    if name in ("ConversionError", "Source", "convert_file"):
        from raycollect.silver import convert

        return getattr(convert, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
