"""Every manifest schema, composed from one list of fields per concern, and the file statuses.

- ``PLAN_FIELDS``: what the plan knows about a file;
- ``TRANSFER_FIELDS``: what collecting it learned (a shard's result row);
- ``ARCHIVE_FIELDS``: what the archive said of the zip and its sidecar (ETag, LastModified, size), from a listing;
- ``WHERE_FIELDS``: where and how it happened.
The files manifest, a shard's result batch and the collection state are built from these lists, so
adding a column is one line here.
"""

from __future__ import annotations

from enum import Enum

import pyarrow as pa


class Status(str, Enum):
    """What became of a planned file in a run: the ``status`` column of a manifest row holds its value."""

    SUCCESS = "success"  # fetched, verified, committed
    SKIPPED = "skipped"  # already collected and verified (or matched the archive's current sidecar)
    MISSING = "missing"  # not in the archive (404, or not listed)
    FAILED = "failed"  # given up on, with the reason
    #: A zip that matched its sidecar but is not a usable archive file (cannot be opened, no file, two files), or
    #: a sidecar that names another file: kept in the quarantine folder, never at its target, never converted.
    QUARANTINED = "quarantined"
    #: A collected file the archive no longer lists: the local copy is kept, and flagged.
    REMOVED = "removed"

    def __str__(self) -> str:
        return self.value


STATUSES: tuple[str, ...] = tuple(s.value for s in Status)
#: Statuses that mean "collected": the file is at its target and (with verification) matched its sidecar.
COLLECTED: tuple[str, ...] = (Status.SUCCESS.value, Status.SKIPPED.value)
QUARANTINED, REMOVED = Status.QUARANTINED, Status.REMOVED

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
ARCHIVE_FIELDS = [
    pa.field("etag", pa.string()), pa.field("last_modified", TS),
    pa.field("checksum_etag", pa.string()), pa.field("checksum_last_modified", TS),
    pa.field("checksum_size", pa.int64()),
]  # fmt: skip
#: The listing's word on the zip's size (``size_bytes`` is what was collected: the two differ when re-published).
LISTED_SIZE = pa.field("listed_size", pa.int64())
WHERE_FIELDS = [
    pa.field("source_url", pa.string()), pa.field("target_path", pa.string()), pa.field("downloader", pa.string()),
    pa.field("node_id", pa.string()), pa.field("actor_id", pa.string()), pa.field("shard_id", pa.int64()),
]  # fmt: skip

_BY_NAME = {f.name: f for f in [*PLAN_FIELDS, *TRANSFER_FIELDS, *ARCHIVE_FIELDS, *WHERE_FIELDS]}
#: The plan row's column names, in order: every other list of them is derived from PLAN_FIELDS.
PLAN_COLUMNS = [f.name for f in PLAN_FIELDS]
#: The plan row with plain (not dictionary) types, e.g. for rows read back from manifests.
PLAN_ROW_SCHEMA = pa.schema(PLAN_FIELDS)
_FILES_ORDER = ["run_id", *PLAN_COLUMNS, "source_url", "target_path", "status", "size_bytes", "sha256",
                "expected_sha256", "previous_sha256", "checksum_verified", "attempts", "error",
                *[f.name for f in ARCHIVE_FIELDS], "downloader", "node_id", "actor_id", "shard_id", "started_at",
                "finished_at", "duration_s"]
_BY_NAME["run_id"] = pa.field("run_id", pa.string())

#: One row per planned file per run (run_id is both the hive directory and a stored column).
FILES_SCHEMA = pa.schema([_BY_NAME[n] for n in _FILES_ORDER])
#: What a shard returns for each file (the actor adds node_id and actor_id); the archive's facts from the GET answers
#: (engines that see headers), which the driver completes with the listing's.
RESULT_SCHEMA = pa.schema([pa.field("key", pa.string(), nullable=False), *TRANSFER_FIELDS, *ARCHIVE_FIELDS])
#: The newest facts per key (raycollect.manifest.state): what resume needs and what skipped rows restate, what the
#: archive said of it when it was last seen, and how many times it was replaced by new bytes (``revisions``).
STATE_COLUMNS = ["key", "status", "size_bytes", "sha256", "expected_sha256", "checksum_verified", "run_id",
                 "finished_at", *[f.name for f in ARCHIVE_FIELDS], "revisions"]
_BY_NAME["revisions"] = pa.field("revisions", pa.int32())
STATE_SCHEMA = pa.schema([_BY_NAME[n] for n in STATE_COLUMNS])
#: The state's series columns, for the ledger (``raycollect status``); resume reads STATE_COLUMNS only.
STATE_SERIES = ["market", "data_type", "partition", "symbol", "interval", "period"]

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
