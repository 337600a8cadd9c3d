"""The state's garbage collection keeps the newest pointers, their data, and any newer (concurrent) data."""

import json
import time

from raycollect.manifest.state import KEEP_POINTERS, _collect_garbage, _stamp


def test_old_pointers_and_their_unreferenced_data_go_and_fresh_data_stays(tmp_path):
    names = []
    for _ in range(KEEP_POINTERS + 2):
        stamp = _stamp()
        data = f"data-{stamp}.parquet"
        (tmp_path / data).write_bytes(b"x")
        (tmp_path / f"state-{stamp}.json").write_text(json.dumps({"data": data, "covers": []}))
        names.append((f"state-{stamp}.json", data))
        time.sleep(0.002)  # stamps are per microsecond: keep them apart
    kept_pointer_data = names[-KEEP_POINTERS][1]
    # A pointer that reuses older data (a rerun that only skipped files) keeps that data alive.
    (tmp_path / names[-1][0]).write_text(json.dumps({"data": names[0][1], "covers": []}))
    fresh = f"data-{_stamp()}.parquet"  # written by a concurrent run whose pointer is not there yet
    (tmp_path / fresh).write_bytes(b"x")
    _collect_garbage(tmp_path)
    left = sorted(p.name for p in tmp_path.iterdir())
    assert [n for n in left if n.startswith("state-")] == [p for p, _ in names[-KEEP_POINTERS:]]
    assert names[0][1] in left and kept_pointer_data in left and fresh in left
    assert names[1][1] not in left  # older than every kept pointer and named by none
