"""Resume: drop from the plan what an earlier run already collected and verified, batch by batch.

A planned file is skipped without any request when the newest fact row for its key (the collection
state, raycollect.manifest.state) says ``success`` or ``skipped`` (or ``removed``: the copy kept) with a
verified checksum, the file at its target has the size that row recorded, (with verification on) its
sidecar has one of the two sizes a valid sidecar for that name can have, and, when the plan carries the
archive's listing (discovery, sync), the listing's size, ETag and LastModified match the state's. A
damaged sidecar (another size) sends the file to re-verification, which replaces it; a same-size damage
is found by ``raycollect verify``, which reads every sidecar. A file found at its target with no such row
is not trusted blindly: it is sent to an actor flagged ``verify_existing``, which compares it with the
archive's current ``.CHECKSUM`` and skips it only on a match. ``force_redownload`` (or
``enable_resume: false``) skips nothing. With ``reverify``, collected files go to actors flagged
``verify_existing`` too.

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

from raycollect.archive import folder_of
from raycollect.checksum import SIDECAR_FIXED_BYTES
from raycollect.manifest.schema import COLLECTED, QUARANTINED, REMOVED, STATE_SCHEMA
from raycollect.manifest.state import State
from raycollect.storage import BaseStorage

#: What a skipped row carries from the state (besides the plan's columns).
SKIP_COLUMNS = ["size_bytes", "sha256", "expected_sha256", "checksum_verified"]
#: Newest facts under which a file at its recorded size is skipped: collected, or removed from the archive (the
#: local copy is kept, and never fetched again while the archive does not list it).
KEPT = (*COLLECTED, REMOVED)


#: What resume reads of the state for every planned file (the facts a skipped row carries are read only for the
#: few rows written: ``SKIP_COLUMNS``).
RESUME_COLUMNS = ["key", "status", "size_bytes", "checksum_verified", "etag", "last_modified", "checksum_etag",
                  "checksum_last_modified"]


class StateCursor:
    """Forward-only range reads over a key-sorted state file (``columns`` of it)."""

    def __init__(self, state: State | None, columns: list[str] = RESUME_COLUMNS) -> None:
        self._schema = pa.schema([STATE_SCHEMA.field(c) for c in columns])
        self._batches: Iterator[pa.RecordBatch] | None = (
            state.read_batches(columns=columns) if state is not None else None)
        self._buf = self._schema.empty_table()
        self._done = self._batches is None

    def _more(self) -> bool:
        if self._done:
            return False
        nxt = next(self._batches, None)  # type: ignore[arg-type]
        if nxt is None:
            self._done = True
            return False
        self._buf = pa.concat_tables([self._buf, pa.Table.from_batches([nxt]).cast(self._schema)]).combine_chunks()
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
    """Split key-sorted plan batches into (to fetch, skipped with nothing new, skipped with new archive facts)."""

    def __init__(self, storage: BaseStorage, state: State | None, *, resume: bool, verify: bool,
                 reverify: bool = False) -> None:
        self.storage = storage
        self.resume = resume
        self.verify = verify
        self.reverify = reverify
        self.cursor = StateCursor(state if resume else None)
        self._state = state if resume else None
        self._facts: StateCursor | None = None  # SKIP_COLUMNS, read only for batches with rows to write

    def split(self, batch: pa.RecordBatch | pa.Table) -> tuple[pa.Table, pa.Table, pa.Table]:
        """(todo: the rows to fetch, with ``verify_existing``; restated: rows skipped with nothing new, which
        the state already says; learned: rows skipped whose archive facts the state did not have yet, with
        SKIP_COLUMNS from the state, to be written).

        With the listing's facts on the plan (discovery, sync), a collected file whose size, ETag or LastModified
        changed in the archive is not skipped: it goes to an actor flagged ``verify_existing``, which fetches its
        new sidecar and replaces the local copy when the bytes differ (re-published).
        """
        plan = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        n = plan.num_rows
        none = _skipped(plan.slice(0, 0))
        if not self.resume or n == 0:
            return plan.append_column("verify_existing", pa.array(np.zeros(n, bool))), none, none
        keys = plan["key"]
        state = self.cursor.rows_between(keys[0].as_py(), keys[n - 1].as_py())
        zip_size, sidecar_size = self._on_disk(plan["target"])
        present = pc.is_valid(zip_size)
        idx = pc.index_in(keys, value_set=state["key"])
        listing = "listed_size" in plan.column_names
        if self.reverify:  # collected files are re-checked against the archive, never skipped here
            skip = pa.array(np.zeros(n, bool))
        else:
            skip = self._skippable(state, idx, keys, zip_size, sidecar_size)
            if listing:
                unchanged = _unchanged(plan, state, idx)
                # A quarantined file is not at its target: it stays skipped while the archive keeps the same file.
                quarantined = pc.fill_null(pc.equal(pc.take(state["status"], idx), QUARANTINED), False)
                skip = pc.and_(pc.or_(skip, pc.and_(quarantined, _known(state, idx))), unchanged)
        keep = pc.invert(skip)
        todo = plan.filter(keep).append_column("verify_existing", present.filter(keep))
        skipped = plan.filter(skip)
        if not listing:
            return todo, skipped, none
        # New to the state: the archive's facts of a file collected before they were kept, or a removed file listed
        # again (restored). Written once as a skipped row with those facts; then restated like the rest.
        status = pc.take(state["status"], idx.filter(skip))
        learn = pc.or_(pc.is_null(pc.take(state["last_modified"], idx.filter(skip))), pc.equal(status, REMOVED))
        learn = pc.fill_null(learn, False)
        learned = skipped.filter(learn)
        return todo, skipped.filter(pc.invert(learn)), self._with_facts(learned, keys[0].as_py(), keys[n - 1].as_py())

    def _with_facts(self, rows: pa.Table, first: str, last: str) -> pa.Table:
        """``rows`` with SKIP_COLUMNS from the state (a second forward cursor, over the batch's key range)."""
        if rows.num_rows == 0:
            return _skipped(rows)
        if self._facts is None:
            self._facts = StateCursor(self._state, ["key", *SKIP_COLUMNS])
        facts = self._facts.rows_between(first, last)
        return _skipped(rows, facts.take(pc.index_in(rows["key"], value_set=facts["key"])))

    def _skippable(self, state: pa.Table, idx: pa.Array, keys: pa.ChunkedArray, zip_size: pa.Array,
                   sidecar_size: pa.Array) -> pa.Array:
        """Rows whose newest fact says collected (and verified; or removed from the archive, the local copy kept),
        at the recorded size, with a sound sidecar."""
        good = pc.is_in(state["status"], value_set=pa.array(KEPT))
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
        listed, sizes = self.storage.list_dirs(pc.unique(folder_of(targets)).to_pylist())
        sums = pc.binary_join_element_wise(targets, ".CHECKSUM", "")
        both = pa.chunked_array([*targets.chunks, *sums.chunks]) if isinstance(targets, pa.ChunkedArray) else \
            pa.chunked_array([targets, sums])
        found = pc.take(sizes, pc.index_in(both, value_set=listed))  # one hash table for zips and sidecars
        n = len(targets)
        return found.slice(0, n), found.slice(n)


def _unchanged(plan: pa.Table, state: pa.Table, idx: pa.Array) -> pa.Array:
    """Per plan row: the listing says what the state says of the file (its size, and its ETag and LastModified and
    its sidecar's where the state has them: a state from before they were kept compares on the size alone)."""
    same = pc.equal(plan["listed_size"], pc.take(state["size_bytes"], idx))
    for listed, kept in (("etag", "etag"), ("last_modified", "last_modified"), ("checksum_etag", "checksum_etag"),
                         ("checksum_last_modified", "checksum_last_modified")):
        was = pc.take(state[kept], idx)
        same = pc.and_(same, pc.or_(pc.is_null(was), pc.fill_null(pc.equal(plan[listed], was), False)))
    return pc.fill_null(same, False)


def _known(state: pa.Table, idx: pa.Array) -> pa.Array:
    """The state has the archive's facts of the row's file (a quarantined file compares on them)."""
    return pc.fill_null(pc.is_valid(pc.take(state["last_modified"], idx)), False)


def _skipped(plan_rows: pa.Table, facts: pa.Table | None = None) -> pa.Table:
    """The skipped plan rows with the state's facts attached (same order)."""
    out = plan_rows
    for name in SKIP_COLUMNS:
        column = facts[name] if facts is not None else pa.array([], STATE_SCHEMA.field(name).type)
        out = out.append_column(name, column)
    return out

