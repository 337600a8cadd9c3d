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
