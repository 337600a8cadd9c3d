"""Resume: drop from the plan what an earlier run already collected and verified.

A planned file is skipped without any request when the newest manifest row for its key says
``success`` (or ``skipped``) with a verified checksum, the file at its target path has the size
that row recorded, and (with verification on) its sidecar has one of the two sizes a valid sidecar for
that name can have. A damaged sidecar (another size) sends the file to re-verification, which replaces
it; a same-size damage is found by ``raycollect verify``, which reads every sidecar.
A file found on disk with no such row is not trusted blindly: it is sent to an
actor flagged ``verify_existing``, which compares it with the archive's current ``.CHECKSUM`` and
skips it only on a match. ``force_redownload`` (or ``enable_resume: false``) skips nothing.
With ``reverify``, collected files are not skipped here either: they go to actors flagged
``verify_existing`` too, are compared with the archive's current ``.CHECKSUM``, and re-fetched if it changed.
"""

from __future__ import annotations

import posixpath

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.checksum import sidecar_sizes
from raycollect.manifest import latest_per_key
from raycollect.storage import BaseStorage

SKIP_COLUMNS = ["key", "size_bytes", "sha256", "expected_sha256", "checksum_verified"]


def split_for_resume(
    plan: pa.Table, storage: BaseStorage, manifest_dir: str, *, resume: bool, verify: bool, reverify: bool = False
) -> tuple[pa.Table, pa.Table]:
    """(todo: the plan rows to send, with a ``verify_existing`` column; skipped: the plan rows skipped, with
    SKIP_COLUMNS from their manifest row)."""
    empty_done = pa.table({c: pa.array([], t) for c, t in
                           zip(SKIP_COLUMNS, [pa.string(), pa.int64(), pa.string(), pa.string(), pa.bool_()],
                               strict=True)})
    if not resume or plan.num_rows == 0:
        todo = plan.append_column("verify_existing", pa.array([False] * plan.num_rows, pa.bool_()))
        return todo, _with_plan(plan.slice(0, 0), empty_done)
    targets = plan["target"].to_pylist()
    present = storage.sizes(targets)  # one stat per file locally; one listing per folder on S3
    skip = [False] * plan.num_rows
    done = empty_done
    latest = latest_per_key(manifest_dir)
    if latest is not None:
        good = pc.is_in(latest["status"], pa.array(["success", "skipped"]))
        if verify:
            good = pc.and_(good, pc.fill_null(latest["checksum_verified"], False))
        latest = latest.filter(good)
        index = {k: i for i, k in enumerate(latest["key"].to_pylist())}
        sizes = latest["size_bytes"].to_pylist()
        done_rows: list[int] = []
        for i, key in enumerate(plan["key"].to_pylist()):
            j = index.get(key)
            if j is None:
                continue
            found = present.get(targets[i])
            if found is None or found[0] != sizes[j] or reverify:
                continue
            if verify and found[1] not in sidecar_sizes(posixpath.basename(key)):
                continue  # a missing or damaged sidecar: re-verify the file and replace the sidecar
            skip[i] = True
            done_rows.append(j)
        done = latest.take(pa.array(done_rows, pa.int64())).select(SKIP_COLUMNS).cast(empty_done.schema)
    keep = [i for i, s in enumerate(skip) if not s]
    todo = plan.take(pa.array(keep, pa.int64()))
    existing = [targets[i] in present for i in keep]
    skipped_plan = plan.filter(pa.array(skip))  # plan order, as done_rows was filled
    return todo.append_column("verify_existing", pa.array(existing, pa.bool_())), _with_plan(skipped_plan, done)


def _with_plan(plan_rows: pa.Table, done: pa.Table) -> pa.Table:
    """The skipped plan rows with their manifest facts attached (same order)."""
    out = plan_rows
    for name in SKIP_COLUMNS[1:]:
        out = out.append_column(name, done[name])
    return out
