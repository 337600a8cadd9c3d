"""How the conversion job cuts its work into Ray tasks."""

from __future__ import annotations

import pyarrow as pa

from raycollect.silver.job import BATCH_BYTES, BATCH_FILES, _batches

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
