"""Resume: drop from the plan what an earlier run already collected and verified, batch by batch.

A planned file is skipped without any request when the newest fact row for its key (the collection
state, raycollect.manifest.state) says ``success`` or ``skipped`` with a verified checksum, the file at
its target has the size that row recorded, and (with verification on) its sidecar has one of the two
sizes a valid sidecar for that name can have. A damaged sidecar (another size) sends the file to
re-verification, which replaces it; a same-size damage is found by ``raycollect verify``, which reads
every sidecar. A file found at its target with no such row is not trusted blindly: it is sent to an
actor flagged ``verify_existing``, which compares it with the archive's current ``.CHECKSUM`` and skips
it only on a match. ``force_redownload`` (or ``enable_resume: false``) skips nothing. With ``reverify``,
collected files go to actors flagged ``verify_existing`` too.

Cost: plan batches arrive in key order and the state file is sorted by key, so the two are merge-joined
with one forward pass over the state (memory: one plan batch plus one state batch); the destination is
listed once per directory of a batch (``os.scandir``, or one S3 listing). No Python object is built per
planned file except the directory listing's entries, which live for one directory.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from raycollect.checksum import SIDECAR_FIXED_BYTES
from raycollect.manifest.schema import COLLECTED, STATE_SCHEMA
from raycollect.manifest.state import State
from raycollect.storage import BaseStorage

#: What a skipped row carries from the state (besides the plan's columns).
SKIP_COLUMNS = ["size_bytes", "sha256", "expected_sha256", "checksum_verified"]


class StateCursor:
    """Forward-only range reads over a key-sorted state file."""

    def __init__(self, state: State | None) -> None:
        self._batches: Iterator[pa.RecordBatch] | None = state.read_batches() if state is not None else None
        self._buf = STATE_SCHEMA.empty_table()
        self._done = self._batches is None

    def _more(self) -> bool:
        if self._done:
            return False
        nxt = next(self._batches, None)  # type: ignore[arg-type]
        if nxt is None:
            self._done = True
            return False
        self._buf = pa.concat_tables([self._buf, pa.Table.from_batches([nxt]).cast(STATE_SCHEMA)]).combine_chunks()
        return True

    def rows_between(self, first: str, last: str) -> pa.Table:
        """State rows with ``first <= key <= last``; calls must come in increasing, non-overlapping ranges."""
        while True:
            keys = _Keys(self._buf["key"])
            lo = bisect.bisect_left(keys, first)  # type: ignore[call-overload]
            if lo == len(keys) and self._more():
                self._buf = self._buf.slice(lo)
                continue
            hi = bisect.bisect_right(keys, last)  # type: ignore[call-overload]
            if hi == len(keys) and self._more():
                self._buf = self._buf.slice(lo)
                continue
            out = self._buf.slice(lo, hi - lo)
            self._buf = self._buf.slice(hi)
            return out


class _Keys:
    """A read-only sequence view of an Arrow string array, for ``bisect`` (one scalar per probe)."""

    def __init__(self, keys: pa.ChunkedArray | pa.Array) -> None:
        self.arr = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys

    def __len__(self) -> int:
        return len(self.arr)

    def __getitem__(self, i: int) -> str:
        return self.arr[i].as_py()


class Resume:
    """Split key-sorted plan batches into (to fetch, skipped)."""

    def __init__(self, storage: BaseStorage, state: State | None, *, resume: bool, verify: bool,
                 reverify: bool = False) -> None:
        self.storage = storage
        self.resume = resume
        self.verify = verify
        self.reverify = reverify
        self.cursor = StateCursor(state if resume else None)

    def split(self, batch: pa.RecordBatch | pa.Table) -> tuple[pa.Table, pa.Table]:
        """(todo: the batch's rows to fetch, with ``verify_existing``; skipped: the rows skipped, with
        SKIP_COLUMNS from the state)."""
        plan = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        n = plan.num_rows
        if not self.resume or n == 0:
            return plan.append_column("verify_existing", pa.array(np.zeros(n, bool))), _skipped(plan.slice(0, 0))
        keys = plan["key"]
        state = self.cursor.rows_between(keys[0].as_py(), keys[n - 1].as_py())
        zip_size, sidecar_size = self._on_disk(plan["target"])
        present = pc.is_valid(zip_size)
        idx = pc.index_in(keys, value_set=state["key"])
        if self.reverify:  # collected files are re-checked against the archive, never skipped here
            skip = pa.array(np.zeros(n, bool))
        else:
            skip = self._skippable(state, idx, keys, zip_size, sidecar_size)
        keep = pc.invert(skip)
        todo = plan.filter(keep).append_column("verify_existing", present.filter(keep))
        skipped_plan = plan.filter(skip)
        facts = state.take(idx.filter(skip)).select(SKIP_COLUMNS)
        return todo, _skipped(skipped_plan, facts)

    def _skippable(self, state: pa.Table, idx: pa.Array, keys: pa.ChunkedArray, zip_size: pa.Array,
                   sidecar_size: pa.Array) -> pa.Array:
        """Rows whose newest fact says collected (and verified), at the recorded size, with a sound sidecar."""
        good = pc.is_in(state["status"], value_set=pa.array(COLLECTED))
        if self.verify:
            good = pc.and_(good, pc.fill_null(state["checksum_verified"], False))
        row_good = pc.fill_null(pc.take(good, idx), False)
        skip = pc.and_(row_good, pc.fill_null(pc.equal(zip_size, pc.take(state["size_bytes"], idx)), False))
        if not self.verify:
            return skip
        name_len = pc.binary_length(pc.replace_substring_regex(keys, pattern=r"^.*/", replacement=""))
        expected = pc.add(name_len.cast(pa.int64()), SIDECAR_FIXED_BYTES)
        valid = pc.or_(pc.equal(sidecar_size, expected), pc.equal(sidecar_size, pc.add(expected, 1)))
        return pc.and_(skip, pc.fill_null(valid, False))

    def _on_disk(self, targets: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
        """(zip size, sidecar size) per target, null where absent; one listing per directory."""
        listed, sizes = self.storage.list_dirs(pc.unique(_dirname(targets)).to_pylist())
        sums = pc.binary_join_element_wise(targets, ".CHECKSUM", "")
        both = pa.chunked_array([*targets.chunks, *sums.chunks]) if isinstance(targets, pa.ChunkedArray) else \
            pa.chunked_array([targets, sums])
        found = pc.take(sizes, pc.index_in(both, value_set=listed))  # one hash table for zips and sidecars
        n = len(targets)
        return found.slice(0, n), found.slice(n)


def _dirname(paths: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """``a/b/c.zip`` -> ``a/b/`` (column-wise)."""
    return pc.replace_substring_regex(paths, pattern=r"[^/]*$", replacement="")


def _skipped(plan_rows: pa.Table, facts: pa.Table | None = None) -> pa.Table:
    """The skipped plan rows with the state's facts attached (same order)."""
    out = plan_rows
    for name in SKIP_COLUMNS:
        column = facts[name] if facts is not None else pa.array([], STATE_SCHEMA.field(name).type)
        out = out.append_column(name, column)
    return out

