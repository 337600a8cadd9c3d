"""Manifest rows from plan rows and what happened to them, built column-wise (no Python per row)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raycollect.manifest.schema import ARCHIVE_FIELDS, FILES_SCHEMA, PLAN_COLUMNS, Status

_ARCHIVE = {f.name for f in ARCHIVE_FIELDS}


def _const(value: object, n: int, type_: pa.DataType) -> pa.Array:
    """``n`` copies of ``value`` (a dictionary of one, expanded in C++)."""
    if value is None:
        return pa.nulls(n, type_)
    return pa.DictionaryArray.from_arrays(pa.array(np.zeros(n, np.int32)), pa.array([value], type_)).cast(type_)


class RowBuilder:
    """Knows the run-wide columns (run id, source, destination, engine) and fills in the rest."""

    def __init__(self, *, run_id: str, source_base: str, target_base: str, downloader: str) -> None:
        self.run_id = run_id
        self.source_base = source_base  # e.g. s3://data.binance.vision/ or http://host:port/bucket/
        self.target_base = target_base
        self.downloader = downloader

    def rows(self, plan_rows: pa.Table, results: pa.Table | None = None, *, shard_id: int | None = None,
             status: Status | None = None, error: str | None = None, attempts: int = 0) -> pa.Table:
        """Rows for ``plan_rows``: with a shard's ``results`` (same order), or all decided as ``status``."""
        n = plan_rows.num_rows
        cols: dict[str, pa.Array | pa.ChunkedArray] = {
            c: plan_rows[c].cast(FILES_SCHEMA.field(c).type) for c in PLAN_COLUMNS}
        cols["run_id"] = _const(self.run_id, n, pa.string())
        cols["source_url"] = pc.binary_join_element_wise(self.source_base, plan_rows["key"], "")
        cols["target_path"] = pc.binary_join_element_wise(self.target_base, plan_rows["target"], "")
        cols["downloader"] = _const(self.downloader, n, pa.string())
        cols["shard_id"] = _const(shard_id, n, pa.int64())
        for f in ARCHIVE_FIELDS:  # what the listing said of the file and its sidecar (discovery, sync)
            if f.name in plan_rows.column_names:
                cols[f.name] = plan_rows[f.name]
        if results is not None:
            for name in results.column_names:
                if name == "key":
                    continue
                if name in cols and name in _ARCHIVE:  # the GET answer's word, else the listing's
                    cols[name] = pc.coalesce(results[name], cols[name])
                else:
                    cols[name] = results[name]
        else:
            now = np.datetime64(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None), "us")
            ts = pa.array(np.full(n, now), FILES_SCHEMA.field("started_at").type)
            cols.update(status=_const(status, n, pa.string()), error=_const(error, n, pa.string()),
                        attempts=_const(attempts, n, pa.int32()), started_at=ts, finished_at=ts,
                        duration_s=_const(0.0, n, pa.float64()))
            for name in ("size_bytes", "sha256", "expected_sha256", "checksum_verified"):
                if name in plan_rows.column_names:  # a skipped row restates the state's facts
                    cols[name] = plan_rows[name]
            if "checksum_verified" not in cols:
                cols["checksum_verified"] = _const(False, n, pa.bool_())
        return pa.table({f.name: cols[f.name] if f.name in cols else pa.nulls(n, f.type) for f in FILES_SCHEMA},
                        schema=FILES_SCHEMA)
