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
