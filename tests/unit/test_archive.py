import datetime as dt

import pytest

from raycollect.archive import archive_key, checksum_key, file_name, normalize_interval, normalize_market, parse_key

# Every real key listed in shared/ARCHIVE.md, with its parts.
REAL_KEYS = [
    ("data/spot/monthly/klines/ADABKRW/1h/ADABKRW-1h-2020-08.zip",
     ("spot", "monthly", "klines", "ADABKRW", "1h", dt.date(2020, 8, 1))),
    ("data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip",
     ("spot", "daily", "klines", "BTCUSDT", "1h", dt.date(2026, 5, 8))),
    ("data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2026-05-08.zip",
     ("spot", "daily", "aggTrades", "BTCUSDT", None, dt.date(2026, 5, 8))),
    ("data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2026-04.zip",
     ("futures_um", "monthly", "fundingRate", "BTCUSDT", None, dt.date(2026, 4, 1))),
    ("data/futures/cm/daily/aggTrades/BTCUSD_PERP/BTCUSD_PERP-aggTrades-2026-05-08.zip",
     ("futures_cm", "daily", "aggTrades", "BTCUSD_PERP", None, dt.date(2026, 5, 8))),
    ("data/option/daily/BVOLIndex/BTCBVOLUSDT/BTCBVOLUSDT-BVOLIndex-2023-07-01.zip",
     ("options", "daily", "BVOLIndex", "BTCBVOLUSDT", None, dt.date(2023, 7, 1))),
    ("data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2023-01-01.zip",
     ("futures_um", "daily", "bookDepth", "BTCUSDT", None, dt.date(2023, 1, 1))),
    ("data/futures/cm/daily/indexPriceKlines/BTCUSD/1m/BTCUSD-1m-2021-01-01.zip",
     ("futures_cm", "daily", "indexPriceKlines", "BTCUSD", "1m", dt.date(2021, 1, 1))),
]


@pytest.mark.parametrize(("key", "parts"), REAL_KEYS)
def test_real_keys_render_exactly(key, parts):
    assert archive_key(*parts) == key
    assert checksum_key(key) == key + ".CHECKSUM"
    assert file_name(parts[2], parts[3], parts[4], parts[1], parts[5]) == key.rsplit("/", 1)[1]


@pytest.mark.parametrize(("key", "parts"), REAL_KEYS)
def test_real_keys_parse_back(key, parts):
    assert tuple(parse_key(key)) == parts


@pytest.mark.parametrize(
    "bad",
    [
        "data/SPOT/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip",  # case matters
        "data/spot/daily/klines/BTCUSDT/1h/ETHUSDT-1h-2026-05-08.zip",  # symbol differs in the name
        "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-02-30.zip",  # not a date
        "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05.zip",  # monthly period in a daily folder
        "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-01.zip",
        "data/spot/daily/klines/../1h/BTCUSDT-1h-2026-05-08.zip",
        "data/spot/daily/klines/BTCUSDT/2m/BTCUSDT-2m-2026-05-08.zip",  # not an archive interval
        "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2026-05-08.zip.CHECKSUM",
        "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-trades-2026-05-08.zip",  # type differs in the name
        "/data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2026-05-08.zip",
        "data/spot/daily/aggTrades/btcusdt/btcusdt-aggTrades-2026-05-08.zip",
    ],
)
def test_parse_rejects_keys_off_the_grammar(bad):
    assert parse_key(bad) is None


def test_month_interval_and_market_aliases():
    assert normalize_interval("1M") == "1mo"
    assert normalize_interval("1mo") == "1mo"
    assert normalize_interval("2m") is None
    assert normalize_market("um_futures") == "futures_um"
    assert normalize_market("cm_futures") == "futures_cm"
    assert normalize_market("futures") is None
    assert archive_key("spot", "monthly", "klines", "BTCUSDT", "1mo", dt.date(2024, 1, 1)) == (
        "data/spot/monthly/klines/BTCUSDT/1mo/BTCUSDT-1mo-2024-01.zip"
    )


@pytest.mark.parametrize("symbol", ["../BTC", "BTC/USDT", "BTC USDT", "btcusdt", "BTC\nUSDT", "A_B_C", "'X'", ""])
def test_unsafe_symbols_never_render(symbol):
    with pytest.raises(ValueError, match="invalid symbol"):
        archive_key("spot", "daily", "trades", symbol, None, dt.date(2024, 1, 1))
