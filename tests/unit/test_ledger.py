"""The ledger's words: a series' summary line and its day ranges, from hand-made per-day rows."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from raycollect.ledger import DAY_SCHEMA, ranges_table, summaries

D = dt.date(2018, 2, 6)


def days(conditions: list[str], **extra: list) -> pa.Table:
    n = len(conditions)
    cols = {"market": ["spot"] * n, "data_type": ["klines"] * n, "symbol": ["BTCUSDT"] * n, "interval": ["1m"] * n,
            "day": [D + dt.timedelta(days=i) for i in range(n)], "condition": conditions,
            "partition": ["daily"] * n, "revisions": [0] * n, "detail": [None] * n, "changed_at": [None] * n,
            "archive_first": [D] * n, "archive_last": [D + dt.timedelta(days=n - 2)] * n}
    cols.update(extra)
    return pa.table(cols).cast(DAY_SCHEMA)


def test_the_summary_line_names_counts_and_ranges_and_the_freshness():
    table = days(["collected", "collected", "missing", "missing", "re-published", "collected", "not-published"])
    assert summaries(table) == [
        "spot klines BTCUSDT 1m: 2018-02-06..2018-02-11, 4 days collected, 2 holes (2018-02-08..09), "
        "1 re-published (2018-02-10), fresh"]
    behind = days(["collected", "not-collected", "not-collected"])
    assert summaries(behind)[0].endswith(
        "1 day collected, 2 not collected (2018-02-07..08), behind: the archive has up to 2018-02-07, "
        "you have up to 2018-02-06")


def test_ranges_join_consecutive_days_of_one_condition_and_detail():
    table = days(["collected", "degraded", "degraded", "degraded", "removed"],
                 detail=[None, "420 of 1,440 rows", "420 of 1,440 rows", "no row", "gone"])
    assert [(r["first"], r["last"], r["days"], r["condition"], r["detail"]) for r in ranges_table(table)] == [
        (D + dt.timedelta(days=1), D + dt.timedelta(days=2), 2, "degraded", "420 of 1,440 rows"),
        (D + dt.timedelta(days=3), D + dt.timedelta(days=3), 1, "degraded", "no row"),
        (D + dt.timedelta(days=4), D + dt.timedelta(days=4), 1, "removed", "gone")]
