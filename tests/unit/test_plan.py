import datetime as dt

import pyarrow as pa
import pytest

from raycollect.config import WorkflowConfig
from raycollect.matrix import load_matrix
from raycollect.plan import PLAN_SCHEMA, build_plan
from tests.helpers import MATRIX, base_config

TODAY = dt.date(2026, 11, 26)


@pytest.fixture(scope="module")
def matrix():
    return load_matrix(MATRIX)


def plan_of(matrix, today=TODAY, **overrides):
    return build_plan(WorkflowConfig(base_config(**overrides)), matrix, today=today)


def keys(plan):
    return plan["key"].to_pylist()


def periods(plan, partition):
    return [r["period"] for r in plan.to_pylist() if r["partition"] == partition]


def test_schema_and_columns(matrix):
    plan = plan_of(matrix, data_types=["aggTrades"], intervals=None)
    assert plan.schema == PLAN_SCHEMA
    row = plan.to_pylist()[0]
    assert row == {
        "market": "spot", "data_type": "aggTrades", "partition": "daily", "symbol": "BTCUSDT", "interval": None,
        "period": dt.date(2024, 1, 1), "key": "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip",
        "checksum_key": "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip.CHECKSUM",
        "target": "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip", "fallback": False,
    }
    assert pa.types.is_dictionary(plan.schema.field("symbol").type)


def test_auto_uses_monthly_for_whole_past_months_and_days_at_the_edges(matrix):
    plan = plan_of(matrix, date_range={"start": "2024-01-31", "end": "2024-03-01"})
    assert periods(plan, "monthly") == [dt.date(2024, 2, 1)]
    assert periods(plan, "daily") == [dt.date(2024, 1, 31), dt.date(2024, 3, 1)]
    assert "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02.zip" in keys(plan)


def test_auto_leap_february_is_whole_only_through_the_29th(matrix):
    short = plan_of(matrix, date_range={"start": "2024-02-01", "end": "2024-02-28"})
    assert periods(short, "monthly") == []
    assert len(periods(short, "daily")) == 28
    full = plan_of(matrix, date_range={"start": "2024-02-01", "end": "2024-02-29"})
    assert periods(full, "monthly") == [dt.date(2024, 2, 1)] and periods(full, "daily") == []
    non_leap = plan_of(matrix, date_range={"start": "2023-02-01", "end": "2023-02-28"})
    assert periods(non_leap, "monthly") == [dt.date(2023, 2, 1)]


def test_auto_takes_days_for_a_month_not_over_yet(matrix):
    plan = plan_of(matrix, today=dt.date(2024, 3, 31), date_range={"start": "2024-03-01", "end": "2024-03-31"})
    assert periods(plan, "monthly") == []
    assert len(periods(plan, "daily")) == 31
    plan = plan_of(matrix, today=dt.date(2024, 4, 1), date_range={"start": "2024-03-01", "end": "2024-03-31"})
    assert periods(plan, "monthly") == [dt.date(2024, 3, 1)]


@pytest.mark.parametrize(("policy", "daily", "monthly"), [
    ("daily", 60, 0), ("monthly", 0, 3), ("both", 60, 3), ("auto", 29, 1),
])
def test_policies_count_files(matrix, policy, daily, monthly):
    plan = plan_of(matrix, partition_policy=policy, date_range={"start": "2023-12-31", "end": "2024-02-28"})
    assert (len(periods(plan, "daily")), len(periods(plan, "monthly"))) == (daily, monthly)


def test_monthly_only_and_daily_only_types_use_what_exists(matrix):
    cfg = dict(markets=["futures_um"], data_types=["fundingRate", "metrics"], intervals=None,
               date_range={"start": "2024-01-15", "end": "2024-02-10"})
    for policy in ("auto", "daily", "monthly"):
        plan = plan_of(matrix, partition_policy=policy, **cfg)
        rows = plan.to_pylist()
        funding = [r["period"] for r in rows if r["data_type"] == "fundingRate"]
        metrics = [r for r in rows if r["data_type"] == "metrics"]
        assert funding == [dt.date(2024, 1, 1), dt.date(2024, 2, 1)], policy
        assert len(metrics) == 27 and {r["partition"] for r in metrics} == {"daily"}, policy


def test_weekly_klines_are_monthly_files_even_under_daily(matrix):
    plan = plan_of(matrix, partition_policy="daily", intervals={"klines": ["1w", "1d"]},
                   date_range={"start": "2024-01-30", "end": "2024-02-02"})
    assert sorted(k for k in keys(plan) if "/1w/" in k) == [
        "data/spot/monthly/klines/BTCUSDT/1w/BTCUSDT-1w-2024-01.zip",
        "data/spot/monthly/klines/BTCUSDT/1w/BTCUSDT-1w-2024-02.zip"]
    assert len([k for k in keys(plan) if "/1d/" in k]) == 4


def test_available_from_and_until_clip_the_range(matrix):
    plan = plan_of(matrix, markets=["futures_cm"], symbols=["BTCUSD_PERP"], data_types=["liquidationSnapshot"],
                   intervals=None, date_range={"start": "2023-06-20", "end": "2024-10-20"})
    ps = [r["period"] for r in plan.to_pylist()]
    assert ps[0] == dt.date(2023, 6, 25) and ps[-1] == dt.date(2024, 10, 14)
    assert len(ps) == (dt.date(2024, 10, 14) - dt.date(2023, 6, 25)).days + 1
    spot = plan_of(matrix, date_range={"start": "2017-08-01", "end": "2017-09-30"}, partition_policy="daily")
    assert periods(spot, "daily")[0] == dt.date(2017, 8, 17) and len(periods(spot, "daily")) == 45
    # The first month holds data from the 17th on: its monthly file exists and auto takes it.
    spot = plan_of(matrix, date_range={"start": "2017-08-01", "end": "2017-09-30"})
    assert periods(spot, "monthly") == [dt.date(2017, 8, 1), dt.date(2017, 9, 1)]
    assert plan_of(matrix, date_range={"start": "2017-07-01", "end": "2017-07-31"}).num_rows == 0
    before = plan_of(matrix, markets=["futures_um"], data_types=["bookTicker"], intervals=None,
                     date_range={"start": "2024-04-01", "end": "2024-04-30"})
    assert before.num_rows == 0  # discontinued 2024-03-30


def test_types_apply_to_markets_that_have_them(matrix):
    plan = plan_of(matrix, markets=["spot", "futures_um"], data_types=["klines", "fundingRate"],
                   intervals={"klines": ["1s", "1h"]}, date_range={"start": "2024-01-01", "end": "2024-01-01"})
    got = sorted(keys(plan))
    assert got == sorted([
        "data/spot/daily/klines/BTCUSDT/1s/BTCUSDT-1s-2024-01-01.zip",
        "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip",
        "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip",
        "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip",
    ])


def test_per_market_symbols_and_options_path(matrix):
    plan = plan_of(matrix, markets=["options", "futures_cm"],
                   symbols={"options": ["BTCBVOLUSDT"], "futures_cm": ["BTCUSD"]},
                   data_types=["BVOLIndex", "indexPriceKlines"], intervals={"indexPriceKlines": ["1m"]},
                   date_range={"start": "2023-07-01", "end": "2023-07-01"})
    assert sorted(keys(plan)) == [
        "data/futures/cm/daily/indexPriceKlines/BTCUSD/1m/BTCUSD-1m-2023-07-01.zip",
        "data/option/daily/BVOLIndex/BTCBVOLUSDT/BTCBVOLUSDT-BVOLIndex-2023-07-01.zip",
    ]


def test_default_interval_is_1d_and_keys_are_unique(matrix):
    plan = plan_of(matrix, intervals=None, symbols=["BTCUSDT", "ETHUSDT", "BTCUSDT"])
    assert sorted(keys(plan)) == sorted(
        f"data/spot/daily/klines/{s}/1d/{s}-1d-2024-01-0{d}.zip" for s in ("BTCUSDT", "ETHUSDT") for d in (1, 2))


def test_a_symbol_pattern_is_refused_with_how_to_resolve_it_never_planned_as_a_key(matrix):
    from raycollect.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as err:
        plan_of(matrix, markets=["spot", "futures_um"], symbols={"spot": ["BTCUSDT"], "futures_um": ["*USDT"]})
    assert "symbol pattern (such as *USDT) is resolved by listing the archive" in str(err.value)
    assert "`raycollect plan CONFIG`" in str(err.value)


def test_data_types_and_intervals_per_market_plan_only_what_each_market_is_asked_for(matrix):
    plan = plan_of(matrix, markets=["spot", "futures_um"],
                   data_types={"spot": ["klines"], "futures_um": ["fundingRate", "aggTrades", "klines"]},
                   intervals={"spot": {"klines": ["1m"]}, "futures_um": {"klines": ["1h"]}},
                   date_range={"start": "2024-01-01", "end": "2024-01-01"}, partition_policy="daily")
    got = sorted({(r["market"], r["data_type"], r["interval"]) for r in plan.to_pylist()})
    assert got == [("futures_um", "aggTrades", None), ("futures_um", "fundingRate", None),  # monthly only: its month
                   ("futures_um", "klines", "1h"), ("spot", "klines", "1m")]
    # the seed's list form is the same as before: every type on every market that has it
    both = plan_of(matrix, markets=["spot", "futures_um"], data_types=["klines", "aggTrades"],
                   intervals={"klines": ["1h"]}, date_range={"start": "2024-01-01", "end": "2024-01-01"},
                   partition_policy="daily")
    assert sorted({(r["market"], r["data_type"]) for r in both.to_pylist()}) == [
        ("futures_um", "aggTrades"), ("futures_um", "klines"), ("spot", "aggTrades"), ("spot", "klines")]


@pytest.mark.parametrize(("overrides", "message"), [
    (dict(markets=["spot"], data_types={"spot": ["fundingRate"]}),
     "Invalid data_types in configuration: 'fundingRate' is not available for market spot; it exists in: "
     "futures_cm, futures_um"),
    (dict(markets=["spot", "futures_um"], data_types={"spot": ["klines"]}),
     "no data_types given for market(s) ['futures_um']"),
    (dict(markets=["spot"], data_types={"spot": ["klines"]}, intervals={"spot": {"klines": ["1w"]},
                                                                        "futures_um": {"klines": ["1h"]}}),
     "Invalid intervals in configuration: intervals given for market(s) ['futures_um'] that are not in markets "
     "['spot']"),
])
def test_per_market_mistakes_are_named(matrix, overrides, message):
    from raycollect.errors import ConfigurationError

    with pytest.raises(ConfigurationError) as err:
        plan_of(matrix, **overrides)
    assert message in str(err.value)
