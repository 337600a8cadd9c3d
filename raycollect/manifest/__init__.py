"""Parquet manifests: the durable record of every planned file of every run, and the collection state.

Layout (hive-partitioned, so DuckDB and pyarrow read ``run_id`` as a column)::

    <manifest_directory>/files/run_id=<id>/part-00000.parquet      one row per planned file, as results arrive
    <manifest_directory>/runs/run_id=<id>/run.parquet              one row per run, written last
    <manifest_directory>/runs/run_id=<id>/ingestion_metadata.json  the seed's IngestionMetadata
    <manifest_directory>/state/state-<time>.json                   the newest facts per key (see state.py)

Modules: ``schema`` (statuses and every schema), ``rows`` (manifest rows from plan rows and results),
``writer`` (parts and run records), ``state`` (the compact collection state), ``query`` (DuckDB views).
"""

from raycollect.manifest.query import Manifests, latest_per_key, sql_string, table_rows, to_arrow
from raycollect.manifest.schema import COLLECTED, FILES_SCHEMA, RESULT_SCHEMA, RUNS_SCHEMA, STATUSES, Status
from raycollect.manifest.writer import (
    ManifestWriter,
    files_glob,
    new_run_id,
    runs_glob,
    write_ingestion_metadata,
    write_run_record,
)

__all__ = [
    "COLLECTED", "FILES_SCHEMA", "RESULT_SCHEMA", "RUNS_SCHEMA", "STATUSES", "ManifestWriter", "Manifests", "Status",
    "files_glob", "latest_per_key", "new_run_id", "runs_glob", "sql_string", "table_rows", "to_arrow",
    "write_ingestion_metadata", "write_run_record",
]  # fmt: skip
