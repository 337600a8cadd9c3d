"""The generator's files follow the real archive's format (checked against the real fixtures too)."""

import csv
import datetime as dt
import hashlib
import io
import itertools
import zipfile

import pytest

from raycollect.mirror import REAL_KEYS, Quirks, generate_archive, plan_for, real_fixtures_root
from raycollect.mirror.content import HEADERS


def read_csv(path):
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert names == [path.name[:-4] + ".csv"]
        text = zf.read(names[0]).decode()
    assert "\r" not in text and text.endswith("\n")
    return list(csv.reader(io.StringIO(text)))


def one(tmp_path, **sel):
    plan = plan_for(**sel)
    gen = generate_archive(tmp_path, plan, seed=3)
    return gen, [tmp_path / k for k in gen.written]


def test_real_fixtures_are_packaged_and_match_their_sidecars():
    root = real_fixtures_root()
    for key in REAL_KEYS:
        data = (root / key).read_bytes()
        assert (root / (key + ".CHECKSUM")).read_text().split()[0] == hashlib.sha256(data).hexdigest()


def test_spot_kline_matches_the_real_file_shape(tmp_path):
    gen, paths = one(tmp_path, markets=["spot"], symbols=["BTCUSDT"], data_types=["klines"],
                     intervals={"klines": ["1h"]}, start="2026-05-08", end="2026-05-08", partition_policy="daily")
    ours = read_csv(paths[0])
    real = read_csv(real_fixtures_root() / REAL_KEYS[0])
    assert len(ours) == len(real) == 24  # no header, one row per hour
    assert [len(r) for r in ours] == [12] * 24
    assert [len(r[0]) for r in ours] == [len(r[0]) for r in real] == [16] * 24  # microseconds in 2026
    opens = [int(r[0]) for r in ours]
    assert opens == sorted(opens) and opens[0] == int(real[0][0])
    side = (tmp_path / (gen.written[0] + ".CHECKSUM")).read_bytes()
    assert side == f"{gen.sha256[gen.written[0]]}  BTCUSDT-1h-2026-05-08.zip".encode()  # spot: no newline


def test_spot_before_2025_is_milliseconds_and_booleans_are_capitalised(tmp_path):
    _, paths = one(tmp_path, markets=["spot"], symbols=["ETHUSDT"], data_types=["aggTrades"],
                   start="2024-12-31", end="2025-01-01", partition_policy="daily")
    old, new = read_csv(paths[0]), read_csv(paths[1])
    assert all(len(r[5]) == 13 for r in old) and all(len(r[5]) == 16 for r in new)
    assert {r[6] for r in old + new} <= {"True", "False"} and {r[7] for r in old} == {"True"}
    assert all(len(r) == 8 for r in old + new)


@pytest.mark.parametrize(("market", "symbol", "dtype", "day", "header"), [
    ("futures_um", "BTCUSDT", "klines", "2022-04-30", False),
    ("futures_um", "BTCUSDT", "klines", "2022-05-01", True),
    ("futures_um", "BTCUSDT", "trades", "2022-08-09", False),
    ("futures_um", "BTCUSDT", "trades", "2022-08-10", True),
    ("futures_cm", "BTCUSD_PERP", "aggTrades", "2026-05-08", True),
    ("futures_um", "BTCUSDT", "metrics", "2024-01-01", True),
    ("futures_um", "BTCUSDT", "bookDepth", "2024-01-01", True),
    ("options", "BTCBVOLUSDT", "BVOLIndex", "2024-01-01", True),
    ("options", "BTCUSDT", "EOHSummary", "2024-01-01", True),
    ("futures_cm", "BTCUSD_PERP", "liquidationSnapshot", "2024-01-01", True),
    ("futures_cm", "BTCUSD_PERP", "bookTicker", "2024-01-01", True),
])
def test_headers_and_columns_per_type(tmp_path, market, symbol, dtype, day, header):
    gen, paths = one(tmp_path, markets=[market], symbols=[symbol], data_types=[dtype], start=day, end=day,
                     partition_policy="daily", intervals={"klines": ["1h"]} if dtype == "klines" else None)
    rows = read_csv(paths[0])
    expected = HEADERS["trades_cm" if (market == "futures_cm" and dtype == "trades") else dtype].split(",")
    assert (rows[0] == expected) is header
    assert rows[1 if header else 0][0][0].isdigit()
    assert {len(r) for r in rows} == {len(expected)}
    if "true" in {v for r in rows for v in r} | {"false"}:
        assert not {"True", "False"} & {v for r in rows for v in r}
    assert (tmp_path / (gen.written[0] + ".CHECKSUM")).read_text().endswith(".zip\n")  # futures: newline


def test_monthly_funding_rate_like_the_real_one(tmp_path):
    _, paths = one(tmp_path, markets=["futures_um"], symbols=["BTCUSDT"], data_types=["fundingRate"],
                   start="2026-04-01", end="2026-04-30")
    ours, real = read_csv(paths[0]), read_csv(real_fixtures_root() / REAL_KEYS[2])
    assert ours[0] == real[0] == ["calc_time", "funding_interval_hours", "last_funding_rate"]
    assert len(ours) == len(real) == 91
    assert ours[1][0] == real[1][0] == "1775001600000"


def test_quirks_and_determinism(tmp_path):
    plan = plan_for(markets=["spot"], symbols=["BTCUSDT"], data_types=["klines"],
                    intervals={"klines": ["1m", "1mo"]}, start="2024-01-01", end="2024-02-29", partition_policy="both")
    keys = plan["key"].to_pylist()
    gap, monthly = keys[4], "data/spot/monthly/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01.zip"
    nosum, bad = keys[10], keys[11]
    assert gap == "data/spot/daily/klines/BTCUSDT/1m/BTCUSDT-1m-2024-01-05.zip" and monthly in keys
    q = Quirks(missing=frozenset({gap, monthly}), no_checksum=frozenset({nosum}), bad_checksum=frozenset({bad}))
    a = generate_archive(tmp_path / "a", plan, seed=1, quirks=q)
    b = generate_archive(tmp_path / "b", plan, seed=1, quirks=q)
    assert sorted(a.omitted) == [gap, monthly] and len(a.written) == len(keys) - 2
    assert not (tmp_path / "a" / gap).exists() and not (tmp_path / "a" / (gap + ".CHECKSUM")).exists()
    assert (tmp_path / "a" / nosum).exists() and not (tmp_path / "a" / (nosum + ".CHECKSUM")).exists()
    claimed = (tmp_path / "a" / (bad + ".CHECKSUM")).read_text().split()[0]
    assert claimed != hashlib.sha256((tmp_path / "a" / bad).read_bytes()).hexdigest()
    assert b.sha256 == a.sha256
    assert all((tmp_path / "a" / k).read_bytes() == (tmp_path / "b" / k).read_bytes() for k in a.written)
    assert (tmp_path / "a/data/spot/monthly/klines/BTCUSDT/1mo/BTCUSDT-1mo-2024-02.zip").exists()
    c = generate_archive(tmp_path / "c", plan.slice(0, 5), seed=2)
    assert all(c.sha256[k] != a.sha256[k] for k in c.sha256 if k in a.sha256)  # another seed, other bytes


def test_size_target_and_stored_compression(tmp_path):
    plan = plan_for(markets=["futures_um"], symbols=["BTCUSDT"], data_types=["trades"], start="2024-01-01",
                    end="2024-01-01", partition_policy="daily")
    gen = generate_archive(tmp_path, plan, size_bytes=2_000_000, compression="stored")
    size = (tmp_path / gen.written[0]).stat().st_size
    assert 2_000_000 <= size < 2_001_000
    times = [int(r[4]) for r in read_csv(tmp_path / gen.written[0])[1:]]
    assert times == sorted(times) and dt.datetime.fromtimestamp(times[-1] / 1000, dt.timezone.utc).day == 1


def test_generated_candles_fill_their_month_and_join_up_day_to_day(tmp_path):
    _, files = one(tmp_path, markets=["spot"], symbols=["BTCUSDT"], data_types=["klines"],
                   intervals={"klines": ["1h"]}, start="2026-04-01", end="2026-05-09", partition_policy="auto")
    by_name = {f.name: read_csv(f) for f in files}
    assert len(by_name["BTCUSDT-1h-2026-04.zip"]) == 720  # every hour of April, not a sample of it
    days = [by_name[f"BTCUSDT-1h-2026-05-0{d}.zip"] for d in range(1, 10)]
    assert all(len(d) == 24 for d in days)
    for before, after in itertools.pairwise(days):
        close, next_open = float(before[-1][4]), float(after[0][1])
        assert abs(next_open / close - 1) < 0.02, (close, next_open)  # no jump between consecutive days
    assert 70_000 < float(days[-1][-1][4]) < 90_000  # near the real BTCUSDT files beside them (about 80,000)
