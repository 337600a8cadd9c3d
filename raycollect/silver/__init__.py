"""The silver zone: the collected, verified zips as typed Parquet (README, "The silver zone").

Modules: ``schemas`` (the columns of every market and data type), ``convert`` (one zip to one Parquet file,
streamed and atomic), ``quality`` (what is odd inside a file), ``manifest`` (the conversion manifest and the
quality report), ``job`` (``raycollect convert``: selection, skipping, superseding, Ray tasks).
"""

from raycollect.silver.convert import ConversionError, Source, convert_file
from raycollect.silver.schemas import TableSpec, table_spec

__all__ = ["ConversionError", "Source", "TableSpec", "convert_file", "table_spec"]
