"""How the conversion job cuts its work into Ray tasks."""

from __future__ import annotations

import pyarrow as pa

from raycollect.archive import monthly_key_of
from raycollect.silver.job import (
    BATCH_BYTES,
    BATCH_FILES,
    _batches,
    _converted_before,
    _split_done,
    _supersede,
)

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


def _sources(keys: list[str]) -> pa.Table:
    return pa.table({"key": keys, "partition": ["monthly" if "/monthly/" in k else "daily" for k in keys],
                     "sha256": ["s" + str(i) for i in range(len(keys))],
                     "table_name": ["spot_klines"] * len(keys)})


DAY = "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-03-0{}.zip"
MONTH = "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-03.zip"


def test_a_daily_key_names_the_monthly_file_of_its_month_for_every_type():
    keys = pa.array([DAY.format(1), "data/futures/um/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-12-31.zip",
                     MONTH, "data/option/daily/BVOLIndex/BTCBVOLUSDT/BTCBVOLUSDT-BVOLIndex-2023-07-01.zip"])
    assert monthly_key_of(keys).to_pylist() == [
        MONTH, "data/futures/um/monthly/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-12.zip", MONTH,
        "data/option/monthly/BVOLIndex/BTCBVOLUSDT/BTCBVOLUSDT-BVOLIndex-2023-07.zip"]


def test_days_are_held_by_a_monthly_file_of_the_selection_or_one_already_in_the_tables():
    from raycollect.silver.manifest import _NEWEST_SCHEMA

    none = _NEWEST_SCHEMA.empty_table()
    todo, held = _supersede(_sources([DAY.format(1), DAY.format(2), MONTH]), none)
    assert (todo["key"].to_pylist(), held["key"].to_pylist()) == ([MONTH], [DAY.format(1), DAY.format(2)])
    # A config for two days of a month that is in silver as its monthly file adds nothing beside it.
    done = pa.Table.from_pylist([{"key": MONTH, "status": "converted", "sha256": "m", "partition": "monthly",
                                  "table_name": "spot_klines", "snapshot_id": 1, "table_uuid": "u"}],
                                schema=_NEWEST_SCHEMA)
    todo, held = _supersede(_sources([DAY.format(1), DAY.format(2)]), done)
    assert (todo.num_rows, held["key"].to_pylist()) == (0, [DAY.format(1), DAY.format(2)])
    # Another series' month holds nothing of this one.
    other = DAY.format(1).replace("BTCUSDT", "ETHUSDT")
    assert _supersede(_sources([other]), done)[0]["key"].to_pylist() == [other]


def test_a_key_is_skipped_only_when_committed_with_the_same_sha256_to_the_same_table():
    from raycollect.silver.manifest import _NEWEST_SCHEMA

    sources = _sources([DAY.format(1), DAY.format(2), DAY.format(3)])  # sha256 s0, s1, s2
    done = pa.Table.from_pylist([
        {"key": DAY.format(1), "status": "converted", "sha256": "s0", "table_name": "spot_klines", "table_uuid": "u1"},
        {"key": DAY.format(2), "status": "converted", "sha256": "old", "table_name": "spot_klines", "table_uuid": "u1"},
        {"key": DAY.format(3), "status": "converted", "sha256": "s2", "table_name": "spot_klines", "table_uuid": "u0"},
    ], schema=_NEWEST_SCHEMA)
    todo, skipped = _split_done(sources, done, {"spot_klines": "u1"}, force=False)
    # 2 was re-published (a new sha256), 3 went into a table since dropped and made again (another uuid)
    assert (todo["key"].to_pylist(), skipped["key"].to_pylist()) == ([DAY.format(2), DAY.format(3)], [DAY.format(1)])
    assert _split_done(sources, done, {"spot_klines": "u1"}, force=True)[0].num_rows == 3
    assert _converted_before(done, {"spot_klines": "u1"}) == {DAY.format(1), DAY.format(2)}


def test_symbol_patterns_match_the_symbols_the_collection_holds_per_market_and_type():
    from raycollect.config import WorkflowConfig
    from raycollect.matrix import BUNDLED_MATRIX, load_matrix
    from raycollect.selection import resolve
    from raycollect.silver.job import _collected_series

    keys = pa.chunked_array([[
        "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip",
        "data/spot/monthly/klines/ETHUSDT/1h/ETHUSDT-1h-2026-04.zip",
        "data/spot/daily/klines/BTCFDUSD/1h/BTCFDUSD-1h-2026-05-08.zip",
        "data/spot/daily/trades/SOLUSDT/SOLUSDT-trades-2026-05-08.zip",  # another type: not a kline symbol
        "data/futures/um/daily/klines/BNBUSDT/1h/BNBUSDT-1h-2026-05-08.zip",  # another market
    ]])
    cfg = WorkflowConfig({"workflow_type": "archive_collection", "matrix_path": str(BUNDLED_MATRIX),
                          "output_directory": "out", "markets": ["spot", "futures_um"],
                          "symbols": {"spot": ["*USDT", "XRPUSDT"], "futures_um": ["BTC*"]},
                          "data_types": ["klines"], "intervals": {"klines": ["1h"]},
                          "date_range": {"start": "2026-04-01", "end": "2026-05-08"}})
    got = {(s.market, s.interval): s.symbols for s in _collected_series(resolve(cfg, load_matrix(BUNDLED_MATRIX)),
                                                                        keys, None)}
    # spot: the pattern's matches, in order, and a plain symbol only if collected; futures_um: BTC* matches none
    assert got == {("spot", "1h"): ("BTCUSDT", "ETHUSDT")}
    everything = cfg.model_copy(update={"symbols": ["*"], "markets": ["spot"]})
    got = _collected_series(resolve(everything, load_matrix(BUNDLED_MATRIX)), keys, ["FDUSD"])
    assert [s.symbols for s in got] == [("BTCFDUSD",)]  # quote_assets filters a pattern's matches


def conversion_row(key: str, status: str, **facts) -> dict:
    return {"market": "spot", "data_type": "klines", "partition": "daily", "symbol": "BTCUSDT", "interval": "1h",
            "period": "2024-03-01", "key": key, "sha256": "ab" * 32, "source_path": f"/bronze/{key}",
            "table_name": "spot_klines", "status": status, "error": None, **facts}


def test_the_conversion_tally_counts_every_status_rows_bytes_and_files_with_each_issue():
    from raycollect.silver.job import ConversionTally

    tally = ConversionTally()
    assert tally.counts == {"converted": 0, "skipped": 0, "failed": 0, "superseded": 0}
    tally.add_rows([
        conversion_row("a", "converted", rows=24, bytes_in=100, bytes_out=80, missing_rows=0, duplicate_rows=2),
        conversion_row("b", "converted", rows=0, bytes_in=10, bytes_out=5),  # an empty CSV: kept, reported
        conversion_row("c", "failed", error="line 3: not a number", bytes_in=7),
    ])
    tally.add(pa.table({"key": ["d"], "status": ["superseded"], "size_bytes": [3]}))  # decided column-wise
    assert dict(tally.counts) == {"converted": 2, "skipped": 0, "failed": 1, "superseded": 1}
    assert (tally.rows, tally.bytes_in, tally.bytes_out) == (24, 117, 85)
    assert tally.quality == {"duplicate_rows": 1, "empty_files": 1}
    assert tally.failures == [("c", "line 3: not a number")]


class _Writer:
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, row: dict) -> None:
        self.rows.append(row)


class _Progress:
    def __init__(self) -> None:
        self.added: list[tuple[int, int, int]] = []

    def add(self, files: int, nbytes: int, failed: int = 0) -> None:
        self.added.append((files, nbytes, failed))

    def tick(self) -> None:
        pass


def test_a_batch_given_up_on_fails_each_of_its_files_with_the_reason_and_changes_no_table():
    from collections import defaultdict

    from raycollect.dispatch import Shard
    from raycollect.silver.job import ConversionTally, _ConversionSink, _TableChange

    writer, progress, changes, tally = _Writer(), _Progress(), defaultdict(_TableChange), ConversionTally()
    sink = _ConversionSink(writer, tally, changes, progress, replaces=lambda key: False)
    batch = [conversion_row(k, "converted", size_bytes=9) for k in ("x", "y")]
    sink.on_lost(Shard(4, batch, attempt=3), "shard failed 3 times; last: WorkerCrashedError: died")
    assert [(r["key"], r["status"], r["error"]) for r in writer.rows] == [
        (k, "failed", "conversion lost: shard failed 3 times; last: WorkerCrashedError: died") for k in ("x", "y")]
    assert tally.counts["failed"] == 2 and not changes and progress.added == [(2, 0, 2)]
