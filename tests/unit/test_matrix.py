import copy
import datetime as dt
import json

import pytest

from raycollect.archive import INTERVALS, archive_key
from raycollect.errors import ConfigurationError
from raycollect.matrix import load_matrix, parse_matrix
from tests.helpers import MATRIX

EXPECTED_PAIRS = {
    ("spot", t) for t in ("klines", "trades", "aggTrades")
} | {
    (m, t)
    for m in ("futures_um", "futures_cm")
    for t in ("klines", "trades", "aggTrades", "indexPriceKlines", "markPriceKlines", "premiumIndexKlines",
              "bookTicker", "metrics", "bookDepth", "fundingRate")
} | {("futures_cm", "liquidationSnapshot"), ("options", "BVOLIndex"), ("options", "EOHSummary")}


@pytest.fixture(scope="module")
def matrix():
    return load_matrix(MATRIX)


def test_shipped_matrix_has_exactly_the_26_real_pairs(matrix):
    assert len(EXPECTED_PAIRS) == 26
    assert set(matrix.entries) == EXPECTED_PAIRS


def test_every_pair_renders_the_archive_grammar(matrix):
    day = dt.date(2024, 2, 29)
    for entry in matrix.entries.values():
        interval = entry.intervals[0] if entry.intervals else None
        for partition in entry.partitions_for(interval):
            prefix, suffix = entry.key_parts(partition, "BTCUSDT", interval)
            text = day.isoformat() if partition == "daily" else day.strftime("%Y-%m")
            assert prefix + text + suffix == archive_key(entry.market, partition, entry.data_type, "BTCUSDT",
                                                         interval, day)


def test_partitions_and_intervals_follow_the_archive(matrix):
    assert matrix.get("futures_um", "fundingRate").partitions == ("monthly",)
    for m, t in [("futures_um", "metrics"), ("futures_um", "bookDepth"), ("futures_cm", "liquidationSnapshot"),
                 ("options", "BVOLIndex"), ("options", "EOHSummary")]:
        assert matrix.get(m, t).partitions == ("daily",), (m, t)
    for m, t in [("futures_um", "bookDepth"), ("options", "BVOLIndex"), ("spot", "trades")]:
        assert matrix.get(m, t).intervals == ()
    assert matrix.get("spot", "klines").intervals == INTERVALS
    assert "1s" not in matrix.get("futures_um", "klines").intervals
    assert "1s" not in matrix.get("futures_cm", "markPriceKlines").intervals
    for interval in ("3d", "1w", "1mo"):
        assert matrix.get("spot", "klines").partitions_for(interval) == ("monthly",)
    assert matrix.get("spot", "klines").partitions_for("1d") == ("daily", "monthly")
    assert matrix.get("options", "BVOLIndex").url_pattern.startswith("data/option/")


def test_available_dates_never_hide_a_known_real_key(matrix):
    known = [("spot", "klines", "2020-08-01"), ("options", "BVOLIndex", "2023-07-01"),
             ("futures_um", "bookDepth", "2023-01-01"), ("futures_cm", "indexPriceKlines", "2021-01-01"),
             ("futures_um", "fundingRate", "2026-04-01"), ("futures_cm", "aggTrades", "2026-05-08")]
    for m, t, day in known:
        entry = matrix.get(m, t)
        assert entry.available_from <= dt.date.fromisoformat(day)
        assert entry.available_until is None or entry.available_until >= dt.date.fromisoformat(day)
    assert matrix.get("futures_um", "bookTicker").available_until == dt.date(2024, 3, 30)
    assert matrix.get("futures_cm", "liquidationSnapshot").available_from == dt.date(2023, 6, 25)
    assert matrix.get("futures_cm", "liquidationSnapshot").available_until == dt.date(2024, 10, 14)


def _doc():
    return json.loads(MATRIX.read_text())


def _broken(mutate):
    doc = copy.deepcopy(_doc())
    mutate(doc)
    return doc


BAD_MATRICES = [
    (lambda d: d["availability_matrix"][0].update(
        url_pattern="data/spot/{partition}/klines/{sym}/{interval}/{filename}"),
     "entry 0 (spot/klines): unknown placeholder {sym} in 'url_pattern'; allowed: "
     "['data_type', 'filename', 'interval', 'partition', 'symbol']"),
    (lambda d: d["availability_matrix"][1].update(partitions=["weekly"]),
     "entry 1 (spot/trades): unknown partition 'weekly'; expected 'daily' or 'monthly'"),
    (lambda d: d["availability_matrix"][0].update(market="margin"),
     "entry 0: unknown market 'margin'; expected one of ['futures_cm', 'futures_um', 'options', 'spot']"),
    (lambda d: d["availability_matrix"][0].update(available_from="2017-13-01"),
     "entry 0 (spot/klines): 'available_from' '2017-13-01' is not a date (YYYY-MM-DD)"),
    (lambda d: d["availability_matrix"][1].update(filename_pattern="{symbol}-trades.zip"),
     "entry 1 (spot/trades): 'filename_pattern' must contain {date} exactly once"),
    (lambda d: d["availability_matrix"].append(copy.deepcopy(d["availability_matrix"][0])),
     "entry 26: duplicate entry for spot/klines"),
    (lambda d: d["availability_matrix"][0].update(intervals=["1h", "2m"]),
     "entry 0 (spot/klines): unknown interval '2m' in 'intervals'"),
    (lambda d: d["availability_matrix"][1].update(intervals=["1h"]),
     "entry 1 (spot/trades): the entry has intervals but 'url_pattern' lacks {interval}"),
    (lambda d: d["availability_matrix"][1].pop("url_pattern"), "entry 1: missing field 'url_pattern'"),
    (lambda d: d.pop("availability_matrix"), "expected an object with an 'availability_matrix' list"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_MATRICES)
def test_bad_matrix_is_a_clear_error(mutate, message):
    with pytest.raises(ConfigurationError) as err:
        parse_matrix(_broken(mutate), "m.json")
    assert str(err.value) == f"Invalid archive matrix m.json: {message}"


def test_bad_json_names_line_and_column(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{\n  "availability_matrix": [\n    {"market": "spot",}\n  ]\n}')
    with pytest.raises(ConfigurationError) as err:
        load_matrix(path)
    assert str(err.value) == f"Archive matrix {path} is not valid JSON: Expecting property name enclosed in " \
                             "double quotes at line 3 column 23"


def test_missing_matrix_file_uses_the_seed_message():
    with pytest.raises(ConfigurationError) as err:
        load_matrix("missing_matrix.json")
    assert str(err.value) == "Archive matrix file not found: missing_matrix.json"


def test_seed_style_null_interval_and_1M_are_accepted():
    doc = {"availability_matrix": [
        {"market": "spot", "data_type": "trades", "intervals": [None], "partitions": ["daily"],
         "available_from": "2020-01-01", "url_pattern": "s3://data.binance.vision/data/spot/{partition}/trades/{symbol}/{filename}",
         "filename_pattern": "{symbol}-trades-{date}.zip"},
        {"market": "um_futures", "data_type": "klines", "intervals": ["1M"], "partitions": ["monthly"],
         "available_from": "2020-01-01",
         "url_pattern": "data/futures/um/{partition}/klines/{symbol}/{interval}/{filename}",
         "filename_pattern": "{symbol}-{interval}-{date}.zip"},
    ]}
    m = parse_matrix(doc)
    assert m.get("spot", "trades").intervals == ()
    assert m.get("spot", "trades").url_pattern == "data/spot/{partition}/trades/{symbol}/{filename}"
    assert m.get("futures_um", "klines").intervals == ("1mo",)
