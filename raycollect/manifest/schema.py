"""Every manifest schema, composed from one list of fields per concern, and the file statuses.

- ``PLAN_FIELDS``: what the plan knows about a file;
- ``TRANSFER_FIELDS``: what collecting it learned (a shard's result row);
- ``WHERE_FIELDS``: where and how it happened.
The files manifest, a shard's result batch and the collection state are built from these lists, so
adding a column is one line here.
"""

from __future__ import annotations

from typing import Literal, get_args

import pyarrow as pa

Status = Literal["success", "skipped", "missing", "failed"]
STATUSES: tuple[str, ...] = get_args(Status)
#: Statuses that mean "collected": the file is at its target and (with verification) matched its sidecar.
COLLECTED: tuple[str, ...] = ("success", "skipped")

TS = pa.timestamp("us", tz="UTC")

PLAN_FIELDS = [
    pa.field("market", pa.string()), pa.field("data_type", pa.string()), pa.field("partition", pa.string()),
    pa.field("symbol", pa.string()), pa.field("interval", pa.string()), pa.field("period", pa.date32()),
    pa.field("key", pa.string()),
]  # fmt: skip
TRANSFER_FIELDS = [
    pa.field("status", pa.string()),  # one of STATUSES
    pa.field("size_bytes", pa.int64()),
    pa.field("sha256", pa.string()),
    pa.field("expected_sha256", pa.string()),
    pa.field("previous_sha256", pa.string()),  # the local copy's digest when a re-verified file was replaced
    pa.field("checksum_verified", pa.bool_()),
    pa.field("attempts", pa.int32()),
    pa.field("error", pa.string()),
    pa.field("started_at", TS),
    pa.field("finished_at", TS),
    pa.field("duration_s", pa.float64()),
]
WHERE_FIELDS = [
    pa.field("source_url", pa.string()), pa.field("target_path", pa.string()), pa.field("downloader", pa.string()),
    pa.field("node_id", pa.string()), pa.field("actor_id", pa.string()), pa.field("shard_id", pa.int64()),
]  # fmt: skip

_BY_NAME = {f.name: f for f in [*PLAN_FIELDS, *TRANSFER_FIELDS, *WHERE_FIELDS]}
_FILES_ORDER = ["run_id", "market", "data_type", "partition", "symbol", "interval", "period", "key", "source_url",
                "target_path", "status", "size_bytes", "sha256", "expected_sha256", "previous_sha256",
                "checksum_verified", "attempts", "error", "downloader", "node_id", "actor_id", "shard_id",
                "started_at", "finished_at", "duration_s"]
_BY_NAME["run_id"] = pa.field("run_id", pa.string())

#: One row per planned file per run (run_id is both the hive directory and a stored column).
FILES_SCHEMA = pa.schema([_BY_NAME[n] for n in _FILES_ORDER])
#: What a shard returns for each file (the actor adds node_id and actor_id).
RESULT_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), *TRANSFER_FIELDS])
#: The newest facts per key (raycollect.manifest.state): what resume needs and what skipped rows restate.
STATE_COLUMNS = ["key", "status", "size_bytes", "sha256", "expected_sha256", "checksum_verified", "run_id",
                 "finished_at"]
STATE_SCHEMA = pa.schema([_BY_NAME[n] for n in STATE_COLUMNS])

RUNS_SCHEMA = pa.schema([
    ("run_id", pa.string()), ("status", pa.string()), ("started_at", TS), ("finished_at", TS),
    ("seconds", pa.float64()), ("planned", pa.int64()), ("success", pa.int64()), ("skipped", pa.int64()),
    ("missing", pa.int64()), ("failed", pa.int64()), ("bytes", pa.int64()), ("exit_code", pa.int32()),
    ("downloader", pa.string()), ("actors", pa.int32()), ("config_hash", pa.string()), ("config_json", pa.string()),
    ("raycollect_version", pa.string()), ("ray_version", pa.string()), ("output_directory", pa.string()),
    ("error", pa.string()),
])  # fmt: skip


def sql_list(values: tuple[str, ...]) -> str:
    """``('a', 'b')`` for SQL: statuses go into queries from the constants above, never retyped."""
    return "(" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"
