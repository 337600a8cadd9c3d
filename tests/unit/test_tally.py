"""The tallies' rules on batches of rows: counts per status, failures sampled, bytes and nodes of a collection."""

from __future__ import annotations

import pyarrow as pa

from raycollect.tally import SAMPLE, RunTally, Tally


def rows(statuses: list[str], **columns) -> pa.Table:
    n = len(statuses)
    base = {"key": [f"k{i}" for i in range(n)], "status": statuses, "error": [None] * n}
    return pa.table({**base, **columns})


def test_counts_add_up_over_batches_and_failures_keep_their_reason():
    tally = Tally()
    assert tally.add(rows(["success", "failed", "success"], error=[None, "HTTP 500", None])) == {
        "success": 2, "failed": 1}
    tally.add(rows(["failed"], error=[None]))
    tally.add(rows([]).slice(0, 0))
    assert tally.counts == {"success": 2, "failed": 2}
    assert tally.failures == [("k1", "HTTP 500"), ("k0", "")]


def test_failures_are_sampled_however_many_fail():
    tally = Tally()
    for _ in range(3):
        tally.add(rows(["failed"] * 600, error=["x"] * 600))
    assert tally.counts["failed"] == 1800 and len(tally.failures) == SAMPLE


def test_a_collection_counts_bytes_of_successes_requests_nodes_and_republished_files():
    tally = RunTally()
    tally.add(rows(["success", "success", "skipped", "missing", "failed"],
                   attempts=[1, 2, 0, 1, None], size_bytes=[100, 50, 999, None, None],
                   node_id=["n1", "n2", "n1", None, None], partition=["daily", "monthly", "daily", "daily", "daily"],
                   previous_sha256=[None, "ab" * 32, None, None, None]))
    assert (tally.bytes, tally.tried, tally.republished, tally.monthly_collected) == (150, 3, 1, True)
    assert tally.per_node == {"n1": [1, 100], "n2": [1, 50]}  # a skipped file was not collected there
    assert tally.missing == ["k3"]
