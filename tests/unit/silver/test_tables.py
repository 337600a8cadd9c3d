"""The silver tables' rules: names, schemas with field ids, partitioning, where the catalog lives, and how a
written Parquet file becomes data files (on a real pyiceberg SQL catalog in a temporary directory)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raycollect.config import WorkflowConfig
from raycollect.errors import ConfigurationError
from raycollect.silver.datafile import PartitionMismatch, publish
from raycollect.silver.schemas import table_spec
from raycollect.silver.tables import (
    Lakehouse,
    arrow_schema,
    iceberg_schema,
    lakehouse,
    partition_spec,
    split_table_name,
    table_name,
)
from tests.helpers import base_config

UTC = dt.timezone.utc


def test_table_names_round_trip_for_every_market_and_type():
    for market, data_type in [("spot", "klines"), ("futures_um", "fundingRate"), ("futures_cm", "aggTrades"),
                              ("options", "BVOLIndex"), ("futures_um", "premiumIndexKlines")]:
        assert split_table_name(table_name(market, data_type)) == (market, data_type)
    with pytest.raises(ConfigurationError, match="'spot_nothing' is not a silver table name"):
        split_table_name("spot_nothing")


def test_schemas_carry_field_ids_in_column_order_and_iceberg_types():
    spec = table_spec("spot", "klines")
    arrow = arrow_schema(spec)
    assert [f.metadata[b"PARQUET:field_id"] for f in arrow] == [str(i).encode() for i in range(1, 15)]
    schema = iceberg_schema(spec)
    got = [(f.field_id, f.name, str(f.field_type)) for f in schema.fields]
    assert got[0] == (1, "open_time", "timestamptz") and got[8] == (9, "count", "long")
    assert got[-2:] == [(13, "symbol", "string"), (14, "interval", "string")]
    assert str(iceberg_schema(table_spec("options", "EOHSummary")).find_field("date").field_type) == "date"


def test_partitioning_is_symbol_then_interval_for_candles_then_month_of_the_time_column():
    def fields(market: str, data_type: str) -> list[tuple[str, str]]:
        return [(f.name, str(f.transform)) for f in partition_spec(table_spec(market, data_type)).fields]

    assert fields("spot", "klines") == [("symbol", "identity"), ("interval", "identity"),
                                        ("open_time_month", "month")]
    assert fields("futures_um", "trades") == [("symbol", "identity"), ("time_month", "month")]
    assert fields("futures_um", "metrics") == [("symbol", "identity"), ("create_time_month", "month")]
    assert fields("options", "EOHSummary") == [("underlying", "identity"), ("date_month", "month")]


def test_the_default_catalog_lives_beside_a_local_warehouse_or_in_local_manifests(tmp_path):
    lake = lakehouse(WorkflowConfig(base_config(output_directory=str(tmp_path))))
    assert lake.warehouse == str(tmp_path / "silver")
    assert lake.catalog_properties["uri"] == f"sqlite:///{tmp_path / 'silver' / 'catalog.db'}"
    s3 = lakehouse(WorkflowConfig(base_config(output_directory=str(tmp_path), silver_directory="s3://b/wh",
                                              destination_endpoint_url="http://127.0.0.1:9")))
    assert s3.catalog_properties["uri"] == f"sqlite:///{tmp_path / '_manifests' / 'silver_catalog.db'}"
    assert (s3.catalog_properties["s3.endpoint"], s3.catalog_properties["warehouse"]) == ("http://127.0.0.1:9",
                                                                                         "s3://b/wh")
    with pytest.raises(ConfigurationError, match="no local place for the default SQLite catalog"):
        lakehouse(WorkflowConfig(base_config(output_directory="s3://b/out", silver_directory="s3://b/wh")))
    named = lakehouse(WorkflowConfig(base_config(output_directory=str(tmp_path), silver_directory="s3://b/wh",
                                                 silver_catalog={"type": "rest", "uri": "http://h:8181"})))
    assert named.catalog_properties["type"] == "rest" and "sqlite" not in str(named.catalog_properties)


def _lake(tmp_path) -> Lakehouse:
    return Lakehouse.sqlite(tmp_path / "wh")


def _candles(tmp_path, symbol: str, times: list[dt.datetime], name: str = "c.parquet"):
    spec = table_spec("spot", "klines")
    n = len(times)
    cols = {f.name: pa.array([1.0] * n) for f in spec.schema if pa.types.is_floating(f.type)}
    cols.update(open_time=pa.array(times, pa.timestamp("us", tz="UTC")),
                close_time=pa.array(times, pa.timestamp("us", tz="UTC")), count=pa.array([1] * n, pa.int64()),
                symbol=pa.array([symbol] * n), interval=pa.array(["1h"] * n))
    path = tmp_path / name
    pq.write_table(pa.table({f.name: cols[f.name] for f in spec.schema}, schema=arrow_schema(spec)), path,
                   store_schema=False)
    return path


def test_a_file_with_rows_in_two_months_becomes_one_data_file_per_month(tmp_path):
    lake = _lake(tmp_path)
    table = lake.table("spot", "klines", create=True)
    path = _candles(tmp_path, "BTCUSDT", [dt.datetime(2024, 1, 31, 23, tzinfo=UTC),
                                          dt.datetime(2024, 2, 1, 0, tzinfo=UTC)])  # a stray row of the next day
    files = publish(path, table.metadata, {}, "run1", symbol="BTCUSDT")
    assert sorted((f.partition[2], f.record_count) for f in files) == [(648, 1), (649, 1)]  # 2024-01, 2024-02
    assert all("/data/symbol=BTCUSDT/interval=1h/open_time_month=" in f.file_path for f in files)
    assert not path.exists()  # consumed


def test_a_file_whose_symbol_column_contradicts_its_key_is_refused(tmp_path):
    lake = _lake(tmp_path)
    table = lake.table("spot", "klines", create=True)
    path = _candles(tmp_path, "BTCUSDT", [dt.datetime(2024, 1, 2, tzinfo=UTC)])
    with pytest.raises(PartitionMismatch, match="its symbol column says 'BTCUSDT', its key says 'SPOOFUSDT'"):
        publish(path, table.metadata, {}, "run1", symbol="SPOOFUSDT")
    assert not path.exists() and not list((tmp_path / "wh").rglob("*.parquet"))


def test_a_missing_table_is_a_configuration_error_naming_convert(tmp_path):
    with pytest.raises(ConfigurationError, match=r"No silver table binance\.spot_klines: run `raycollect convert"):
        _lake(tmp_path).table("spot", "klines")


def test_as_of_takes_a_snapshot_id_or_a_time_and_names_what_is_wrong(tmp_path):
    from raycollect.silver.commit import commit
    from raycollect.silver.read import resolve_snapshot

    lake = _lake(tmp_path)
    table = lake.table("spot", "klines", create=True)
    first = commit(table, publish(_candles(tmp_path, "BTCUSDT", [dt.datetime(2024, 1, 2, tzinfo=UTC)]),
                                  table.metadata, {}, "r1"), (), run_id="r1", operation="convert")
    assert resolve_snapshot(table, str(first)) == first
    assert resolve_snapshot(table, dt.datetime.now(UTC).isoformat()) == first
    with pytest.raises(ConfigurationError, match="had no snapshot at 2020-01-01"):
        resolve_snapshot(table, "2020-01-01")
    with pytest.raises(ConfigurationError, match="has no snapshot 1234567890123456"):
        resolve_snapshot(table, "1234567890123456")
    with pytest.raises(ConfigurationError, match="expected a snapshot id or a time"):
        resolve_snapshot(table, "yesterday-ish")
