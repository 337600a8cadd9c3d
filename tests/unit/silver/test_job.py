"""How the conversion job cuts its work into Ray tasks."""

from __future__ import annotations

import pyarrow as pa

from raycollect.silver.job import BATCH_BYTES, BATCH_FILES, _batches, _existing

MB = 1 << 20


def test_large_files_go_first_and_alone_small_ones_share_a_task():
    sizes = [1 * MB, 500 * MB, 3 * MB, 90 * MB, 2 * MB] + [10_000] * (BATCH_FILES + 5)
    todo = pa.table({"key": [f"k{i}" for i in range(len(sizes))], "size_bytes": sizes})
    batches = [[row["size_bytes"] for row in batch] for batch in _batches(todo)]
    assert batches[0] == [500 * MB] and batches[1] == [90 * MB]  # the largest first, each a task of its own
    assert batches[2] == [3 * MB, 2 * MB, 1 * MB] + [10_000] * (BATCH_FILES - 3)  # then up to BATCH_FILES
    assert batches[3] == [10_000] * 8
    assert sum(len(b) for b in batches) == len(sizes)
    assert all(sum(b) < BATCH_BYTES + max(b) for b in batches)  # a task stops once it holds BATCH_BYTES


def test_outputs_are_found_by_listing_their_directories(tmp_path, monkeypatch):
    import os

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
    (tmp_path / "a" / "x.parquet").write_bytes(b"1")
    (tmp_path / "b" / "y.parquet").write_bytes(b"2")
    (tmp_path / "a" / ".x.parquet.1234.tmp").write_bytes(b"")  # a temporary is not the output
    paths = [str(tmp_path / p) for p in ("a/x.parquet", "a/y.parquet", "b/y.parquet", "c/x.parquet",
                                          "a/x.parquet/z.parquet", "a/.x.parquet")]
    listed: list[str] = []
    listdir = os.listdir
    monkeypatch.setattr(os, "listdir", lambda d: (listed.append(os.path.basename(d)), listdir(d))[1])
    assert _existing(paths) == [True, False, True, False, False, False]
    assert listed == ["a", "b", "c", "x.parquet"]  # one listing per directory, however many files it holds
