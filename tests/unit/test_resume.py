"""Resume against the archive's listing: which collected files are skipped, fetched again, or learned."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq

from raycollect.manifest.schema import STATE_SCHEMA
from raycollect.manifest.state import State
from raycollect.resume import Resume
from raycollect.storage import LocalStorage

T = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
LATER = T + dt.timedelta(days=30)


def key(day: int) -> str:
    return f"data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-{day:02d}.zip"


def test_listed_facts_decide_between_skip_refetch_and_learn(tmp_path):
    # day: (state status, state etag, listed etag, listed LastModified, on disk)
    cases = {1: ("success", "a", "a", T, True),  # unchanged: skipped, no row
             2: ("success", "a", "b", LATER, True),  # re-published: fetched again, the local copy re-checked
             3: ("success", None, "c", T, True),  # collected before ETags were kept: learned once
             4: ("removed", "d", "d", T, True),  # listed again, same file: restored, learned
             5: ("quarantined", "e", "e", T, False),  # quarantined, unchanged: not asked again
             6: ("quarantined", "f", "g", LATER, False),  # quarantined, and a new version: asked again
             7: ("success", "h", "h", T, False)}  # unchanged in the archive, deleted here: fetched
    for day, (*_, on_disk) in cases.items():
        if on_disk:
            (tmp_path / key(day)).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / key(day)).write_bytes(b"z" * 10)
            (tmp_path / (key(day) + ".CHECKSUM")).write_bytes(b"0" * (66 + len(key(day).rsplit("/", 1)[1])))
    n = len(cases)
    state = pa.table({
        "key": [key(d) for d in cases], "status": [c[0] for c in cases.values()], "size_bytes": [10] * n,
        "sha256": ["s"] * n, "expected_sha256": ["s"] * n, "checksum_verified": [True] * n, "run_id": ["r"] * n,
        "finished_at": [T] * n, "etag": [c[1] for c in cases.values()],
        "last_modified": [T if c[1] else None for c in cases.values()], "checksum_etag": [None] * n,
        "checksum_last_modified": [None] * n, "checksum_size": [None] * n, "revisions": [0] * n,
    }).cast(STATE_SCHEMA)
    pq.write_table(state, tmp_path / "state.parquet")
    plan = pa.table({"key": [key(d) for d in cases], "checksum_key": [key(d) + ".CHECKSUM" for d in cases],
                     "target": [key(d) for d in cases], "listed_size": [10] * n,
                     "etag": [c[2] for c in cases.values()], "last_modified": [c[3] for c in cases.values()],
                     "checksum_etag": ["x"] * n, "checksum_last_modified": [T] * n, "checksum_size": [92] * n})
    resume = Resume(LocalStorage(tmp_path), State(tmp_path, tmp_path / "state.parquet"), resume=True, verify=True)
    todo, restated, learned = resume.split(plan)
    assert dict(zip(todo["key"].to_pylist(), todo["verify_existing"].to_pylist(), strict=True)) == {
        key(2): True, key(6): False, key(7): False}
    assert restated["key"].to_pylist() == [key(1), key(5)]
    assert learned["key"].to_pylist() == [key(3), key(4)]
    assert learned["sha256"].to_pylist() == ["s", "s"]  # the state's facts ride along


def write_state(tmp_path, rows: dict[int, tuple[str, int, bool]]) -> State:
    """day -> (status, size_bytes, checksum_verified)."""
    n = len(rows)
    state = pa.table({
        "key": [key(d) for d in rows], "status": [r[0] for r in rows.values()],
        "size_bytes": [r[1] for r in rows.values()], "sha256": ["s"] * n, "expected_sha256": ["s"] * n,
        "checksum_verified": [r[2] for r in rows.values()], "run_id": ["r"] * n, "finished_at": [T] * n,
        "etag": [None] * n, "last_modified": [None] * n, "checksum_etag": [None] * n,
        "checksum_last_modified": [None] * n, "checksum_size": [None] * n, "revisions": [0] * n,
    }).cast(STATE_SCHEMA)
    pq.write_table(state, tmp_path / "state.parquet", row_group_size=2)  # several batches for the cursor
    return State(tmp_path, tmp_path / "state.parquet")


def put(tmp_path, day: int, size: int = 10, sidecar: int | None = None) -> None:
    path = tmp_path / key(day)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"z" * size)
    name_len = len(key(day).rsplit("/", 1)[1])
    (tmp_path / (key(day) + ".CHECKSUM")).write_bytes(b"0" * (sidecar if sidecar is not None else 66 + name_len))


def plan_of(days: list[int]) -> pa.Table:
    return pa.table({"key": [key(d) for d in days], "checksum_key": [key(d) + ".CHECKSUM" for d in days],
                     "target": [key(d) for d in days]})


def test_without_a_listing_a_file_is_skipped_only_when_collected_verified_at_its_size_with_a_sound_sidecar(tmp_path):
    state = write_state(tmp_path, {1: ("success", 10, True), 2: ("success", 10, True), 3: ("success", 10, True),
                                   4: ("success", 10, False), 5: ("failed", 10, False), 6: ("skipped", 10, True),
                                   7: ("removed", 10, True), 8: ("success", 10, True)})
    put(tmp_path, 1)
    put(tmp_path, 2, size=9)  # shorter than collected: fetched again, the copy re-checked
    put(tmp_path, 3, sidecar=5)  # a damaged sidecar: re-verified
    put(tmp_path, 4)  # collected unverified: verified now
    put(tmp_path, 5)
    put(tmp_path, 6)
    put(tmp_path, 7)  # the archive removed it: the local copy is kept, never asked again while unlisted
    put(tmp_path, 9)  # on disk with no state row: compared with the archive's sidecar, never trusted blindly
    resume = Resume(LocalStorage(tmp_path), state, resume=True, verify=True)
    todo, restated, learned = resume.split(plan_of([1, 2, 3, 4, 5, 6, 7, 8, 9]))
    assert restated["key"].to_pylist() == [key(1), key(6), key(7)] and learned.num_rows == 0
    assert dict(zip(todo["key"].to_pylist(), todo["verify_existing"].to_pylist(), strict=True)) == {
        key(2): True, key(3): True, key(4): True, key(5): True, key(8): False, key(9): True}
    # Without verification, the sidecar and the verified flag do not matter; the size still does.
    plain = Resume(LocalStorage(tmp_path), state, resume=True, verify=False)
    assert plain.split(plan_of([2, 3, 4]))[1]["key"].to_pylist() == [key(3), key(4)]


def test_resume_off_and_reverify_skip_nothing_and_batches_walk_the_state_forward(tmp_path):
    state = write_state(tmp_path, {d: ("success", 10, True) for d in range(1, 7)})
    for d in range(1, 7):
        put(tmp_path, d)
    off = Resume(LocalStorage(tmp_path), state, resume=False, verify=True).split(plan_of([1, 2]))
    assert off[0]["verify_existing"].to_pylist() == [False, False] and off[1].num_rows == 0  # as if nothing existed
    again = Resume(LocalStorage(tmp_path), state, resume=True, verify=True, reverify=True).split(plan_of([1, 2]))
    assert again[0]["verify_existing"].to_pylist() == [True, True]  # each compared with the archive's sidecar
    resume = Resume(LocalStorage(tmp_path), state, resume=True, verify=True)
    skipped = [resume.split(plan_of(days))[1]["key"].to_pylist() for days in ([1], [2, 3], [5, 6])]
    assert skipped == [[key(1)], [key(2), key(3)], [key(5), key(6)]]
