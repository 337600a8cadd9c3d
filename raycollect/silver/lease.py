"""Which conversions are alive, so the next run can remove what a dead one wrote and never committed.

A conversion holds a lease while it writes data files: ``<manifest_directory>/silver/leases/<run_id>.lease``, a
small JSON naming the tables it writes to, rewritten every ``HEARTBEAT_SECONDS`` and removed when the run ends.
A lease left older than ``STALE_SECONDS`` belongs to a run that died (``kill -9`` of the driver, a lost node):
the next conversion deletes that run's data files that no snapshot of those tables holds, then the lease. A live
run's files are never touched (its lease is fresh), and neither is a file any snapshot holds (a run that died
after committing a table). The leases live with the manifests, not in the warehouse, whose bucket may take
nothing but tables (an S3 Tables bucket behind a REST catalog); on an ``s3://`` manifest directory a lease is an
object, rewritten, and its age is its LastModified.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raycollect.atomic import write_text

if TYPE_CHECKING:
    from raycollect.manifest.store import ManifestStore
    from raycollect.silver.tables import Lakehouse

#: How often a live run rewrites its lease.
HEARTBEAT_SECONDS = 60.0
#: A lease not rewritten for this long is a dead run's (ten heartbeats: a loaded machine may skip a few).
STALE_SECONDS = 600.0
LEASES = "leases"


class RunLease:
    """``with RunLease(store, run_id, tables):`` the run is known alive inside (``store``: the ManifestStore)."""

    def __init__(self, store: ManifestStore, run_id: str, tables: list[str]) -> None:
        self.store, self.run_id, self.tables = store, run_id, tables
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.path = Path(store.local) / "silver" / LEASES / f"{run_id}.lease"

    def __enter__(self) -> RunLease:
        self._write()
        self._thread = threading.Thread(target=self._beat, name="raycollect-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        _remove(self.store, self.path)

    def _write(self) -> None:
        write_text(self.path, json.dumps({"run_id": self.run_id, "tables": self.tables, "at": time.time()}),
                   durable=False)  # rewritten every minute
        self.store.publish(self.path)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                self._write()
            except Exception:  # noqa: BLE001 - a passing storage error: the next beat writes it again
                pass


def reap_dead_runs(store: ManifestStore, lake: Lakehouse, *, keep: str | None = None) -> int:
    """Delete the uncommitted data files of runs whose lease is stale (not ``keep``'s); returns how many."""
    from raycollect.silver.maintain import reachable_files
    from raycollect.silver.tables import split_table_name

    now = time.time()
    deleted = 0
    catalog = None
    for run_id, (path, written) in _leases(store).items():
        if run_id == keep or now - written < STALE_SECONDS:
            continue
        try:
            tables = json.loads(path.read_text()).get("tables", [])
        except (OSError, ValueError):
            tables = []
        catalog = catalog or lake.catalog()
        for name in tables:
            try:
                table = lake.table(*split_table_name(name), catalog=catalog)
            except Exception:  # noqa: BLE001 - a table that is gone holds nothing to keep
                continue
            deleted += _delete_unreached(table, lake, run_id, reachable_files(table, lake))
        _remove(store, path)
    return deleted


def _leases(store: ManifestStore) -> dict[str, tuple[Path, float]]:
    """run id -> (the lease's local path, when it was last written): LastModified on S3, else its mtime."""
    folder = Path(store.local) / "silver" / LEASES
    out: dict[str, tuple[Path, float]] = {}
    if store.remote:
        prefix = f"{store.prefix}silver/{LEASES}/"
        for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix):]
                if name.endswith(".lease") and "/" not in name:
                    local = folder / name
                    local.parent.mkdir(parents=True, exist_ok=True)
                    local.write_bytes(store.client.get_object(Bucket=store.bucket, Key=obj["Key"])["Body"].read())
                    out[name[: -len(".lease")]] = (local, obj["LastModified"].timestamp())
        return out
    for path in folder.glob("*.lease") if folder.is_dir() else []:
        out[path.name[: -len(".lease")]] = (path, path.stat().st_mtime)
    return out


def _remove(store: ManifestStore, path: Path) -> None:
    path.unlink(missing_ok=True)
    if store.remote:
        relative = path.relative_to(Path(store.local)).as_posix()
        try:
            store.client.delete_object(Bucket=store.bucket, Key=store.prefix + relative)
        except Exception:  # noqa: BLE001 - a lease left behind goes stale and is removed by the next run
            pass


def _delete_unreached(table: Any, lake: Lakehouse, run_id: str, reachable: set[str]) -> int:
    from pyarrow.fs import FileSelector, FileType

    from raycollect.silver.maintain import normal_path, table_filesystem

    table_fs, location = table_filesystem(table, lake)
    deleted = 0
    for info in table_fs.get_file_info(FileSelector(f"{location}/data", recursive=True, allow_not_found=True)):
        name = info.path.rsplit("/", 1)[-1]
        if info.type == FileType.File and name.startswith(f"{run_id}-") and normal_path(info.path) not in reachable:
            table_fs.delete_file(info.path)
            deleted += 1
    return deleted
