"""Converting zips to typed Parquet: the four real archive files, generated files of every type, bad input."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raycollect.archive import parse_key
from raycollect.matrix import BUNDLED_MATRIX, load_matrix
from raycollect.mirror import REAL_KEYS, generate_archive, plan_for, real_fixtures_root
from raycollect.mirror.content import has_header, time_factor
from raycollect.silver import convert
from raycollect.silver.convert import ConversionError, Source, convert_file
from raycollect.silver.schemas import TIMESTAMP, table_spec

UTC = dt.timezone.utc


def source(key: str, path: Path | str) -> Source:
    a = parse_key(key)
    assert a is not None, key
    return Source(key, str(path), a.market, a.data_type, a.symbol, a.interval, a.partition, a.period)


def real(name: str) -> str:
    return next(k for k in REAL_KEYS if k.endswith(name))


def convert_real(tmp_path: Path, name: str) -> tuple[dict, pa.Table]:
    key = real(name)
    facts = convert_file(source(key, real_fixtures_root() / key), tmp_path / "out.parquet")
    return facts, pq.read_table(tmp_path / "out.parquet")


def test_real_spot_klines_no_header_microseconds(tmp_path):
    facts, t = convert_real(tmp_path, "BTCUSDT-1h-2026-05-08.zip")
    assert (facts["rows"], facts["header"], facts["time_unit"]) == (24, False, "us")
    assert t.schema == table_spec("spot", "klines").schema and t.schema.field("open_time").type == TIMESTAMP
    first, last = t.slice(0, 1).to_pylist()[0], t.slice(23, 1).to_pylist()[0]
    assert first["open_time"] == dt.datetime(2026, 5, 8, tzinfo=UTC)
    assert first["close_time"] == dt.datetime(2026, 5, 8, 0, 59, 59, 999999, tzinfo=UTC)
    assert (first["open"], first["volume"], first["count"], first["symbol"], first["interval"]) == (
        80006.0, 958.06006, 67626, "BTCUSDT", "1h")
    assert (last["open_time"], last["close"]) == (dt.datetime(2026, 5, 8, 23, tzinfo=UTC), 80193.17)
    assert (facts["expected_rows"], facts["missing_rows"], facts["duplicate_rows"]) == (24, 0, 0)
    assert (facts["out_of_order_rows"], facts["out_of_period_rows"]) == (0, 0)


def test_real_funding_rate_header_milliseconds(tmp_path):
    facts, t = convert_real(tmp_path, "BTCUSDT-fundingRate-2026-04.zip")
    assert (facts["rows"], facts["header"], facts["time_unit"]) == (90, True, "ms")
    assert t.schema.names == ["calc_time", "funding_interval_hours", "last_funding_rate", "symbol"]
    assert t.slice(0, 1).to_pylist()[0] == {"calc_time": dt.datetime(2026, 4, 1, tzinfo=UTC),
                                            "funding_interval_hours": 8, "last_funding_rate": -0.00003449,
                                            "symbol": "BTCUSDT"}
    assert t["calc_time"][-1].as_py() == dt.datetime(2026, 4, 30, 16, tzinfo=UTC)
    assert facts["expected_rows"] is None  # not candles


def test_real_coinm_agg_trades_header_and_lowercase_booleans(tmp_path):
    facts, t = convert_real(tmp_path, "BTCUSD_PERP-aggTrades-2026-05-08.zip")
    assert (facts["rows"], facts["header"], facts["time_unit"]) == (105_280, True, "ms")
    assert t.schema.field("is_buyer_maker").type == pa.bool_() and t.schema.field("agg_trade_id").type == pa.int64()
    assert t.slice(0, 1).to_pylist()[0] == {
        "agg_trade_id": 480537903, "price": 79972.8, "quantity": 542.0, "first_trade_id": 1123474160,
        "last_trade_id": 1123474164, "transact_time": dt.datetime(2026, 5, 8, 0, 0, 0, 20000, tzinfo=UTC),
        "is_buyer_maker": False, "symbol": "BTCUSD_PERP"}
    assert t["transact_time"][-1].as_py() == dt.datetime(2026, 5, 8, 23, 59, 59, 655000, tzinfo=UTC)
    assert facts["last_time"] == dt.datetime(2026, 5, 8, 23, 59, 59, 655000, tzinfo=UTC)
    assert t["is_buyer_maker"].null_count == 0 and pa.compute.sum(t["is_buyer_maker"]).as_py() > 0


# Every (market, data type) of the archive, on days either side of each quirk's date.
GENERATED = [
    dict(markets=["spot"], symbols=["BTCUSDT"], data_types=["klines", "trades", "aggTrades"],
         intervals={"klines": ["1m", "1d"]}, start="2024-12-31", end="2025-01-01"),
    dict(markets=["futures_um"], symbols=["BTCUSDT"], data_types=[
        "klines", "indexPriceKlines", "markPriceKlines", "premiumIndexKlines", "trades", "aggTrades", "bookTicker",
        "metrics", "fundingRate"], intervals={"klines": ["1h"], "indexPriceKlines": ["1h"], "markPriceKlines": ["1h"],
                                              "premiumIndexKlines": ["1h"]}, start="2022-04-30", end="2022-05-01"),
    dict(markets=["futures_um"], symbols=["BTCUSDT"], data_types=["trades", "aggTrades", "bookDepth"],
         start="2023-01-01", end="2023-01-01"),
    dict(markets=["futures_cm"], symbols=["BTCUSD_PERP"], data_types=["klines", "trades", "aggTrades", "bookTicker",
                                                                    "liquidationSnapshot", "metrics", "bookDepth"],
         intervals={"klines": ["5m"]}, start="2023-07-01", end="2023-07-01"),
    dict(markets=["futures_cm"], symbols=["BTCUSD_PERP"],
         data_types=["markPriceKlines", "premiumIndexKlines", "fundingRate"], start="2024-01-01", end="2024-01-02"),
    dict(markets=["futures_cm"], symbols=["BTCUSD"], data_types=["indexPriceKlines"], intervals=["1m"],
         start="2024-01-01", end="2024-01-01"),
    dict(markets=["options"], symbols={"options": ["BTCBVOLUSDT"]}, data_types=["BVOLIndex"], start="2023-07-01",
         end="2023-07-01"),
    dict(markets=["options"], symbols={"options": ["BTCUSDT"]}, data_types=["EOHSummary"], start="2023-07-01",
         end="2023-07-01"),
]  # fmt: skip


def _csv(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.read(zf.namelist()[0]).decode().splitlines()


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, list[dict]]:
    root = tmp_path_factory.mktemp("gen")
    rows = []
    for sel in GENERATED:
        plan = plan_for(**sel, partition_policy="both")
        generate_archive(root, plan, seed=3, rows=30)
        rows += plan.to_pylist()
    return root, rows


def test_generated_files_of_every_type_convert_with_each_quirk(generated, tmp_path):
    root, rows = generated
    seen_types = set()
    for row in rows:
        key = row["key"]
        lines = _csv(root / key)
        header = has_header(row["market"], row["data_type"], row["period"])
        facts = convert_file(source(key, root / key), tmp_path / "o.parquet")
        t = pq.read_table(tmp_path / "o.parquet")
        spec = table_spec(row["market"], row["data_type"])
        assert t.schema == spec.schema, key
        assert (facts["header"], facts["rows"], t.num_rows) == (header, len(lines) - header, len(lines) - header), key
        if any(k == "time" for _, k in spec.columns):
            assert facts["time_unit"] == ("us" if time_factor(row["market"], row["period"]) == 1000 else "ms"), key
        first = facts["first_time"]
        if row["data_type"] != "EOHSummary":  # its ordering column is a date
            assert first.date() == row["period"] and facts["out_of_period_rows"] == 0, key
        for name, kind in spec.columns:
            if kind == "bool":
                assert t[name].null_count == 0, (key, name)
        assert t["symbol"].null_count == 0
        seen_types.add((row["market"], row["data_type"]))
    assert seen_types == set(load_matrix(BUNDLED_MATRIX).entries)  # every (market, data type) the archive has


def test_missing_candles_are_counted_from_the_interval(generated, tmp_path):
    root, rows = generated
    key = next(r["key"] for r in rows if r["key"].endswith("BTCUSDT-1m-2025-01-01.zip"))
    full = convert_file(source(key, root / key), tmp_path / "full.parquet")
    assert (full["rows"], full["expected_rows"], full["missing_rows"]) == (1440, 1440, 0)  # a whole day
    with zipfile.ZipFile(root / key) as zf:
        first_30 = zf.read(zf.namelist()[0]).decode().splitlines()[:30]  # the day's first half hour only
    facts = convert_file(source(key, zip_of(tmp_path, key, "\n".join(first_30) + "\n")), tmp_path / "o.parquet")
    got = (facts["rows"], facts["expected_rows"], facts["missing_rows"], facts["duplicate_rows"])
    assert got == (30, 1440, 1410, 0)
    assert facts["first_missing"] == dt.datetime(2025, 1, 1, 0, 30, tzinfo=UTC)


def zip_of(tmp_path: Path, key: str, text: str, *, members: int = 1) -> Path:
    name = key.rsplit("/", 1)[1]
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(members):
            zf.writestr(name[:-4] + ("" if i == 0 else f"-{i}") + ".csv", text)
    return path


KLINE = "data/spot/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip"
KLINE_HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                "taker_buy_quote_volume,ignore")
T0 = 1704067200000  # 2024-01-01 00:00 UTC in ms


def kline_line(ms: int) -> str:
    return f"{ms},1,2,0.5,1.5,10,{ms + 3599999},15,7,5,7.5,0"


def test_order_period_and_duplicates_are_found_not_fixed(tmp_path):
    times = [T0, T0 + 3_600_000, T0 + 3_600_000, T0 + 10_800_000, T0 + 7_200_000, T0 + 86_400_000]
    path = zip_of(tmp_path, KLINE, "".join(kline_line(t) + "\n" for t in times))
    facts = convert_file(source(KLINE, path), tmp_path / "o.parquet")
    assert facts["rows"] == 6 and pq.read_table(tmp_path / "o.parquet").num_rows == 6
    assert (facts["duplicate_rows"], facts["out_of_order_rows"], facts["out_of_period_rows"]) == (1, 1, 1)
    assert (facts["expected_rows"], facts["missing_rows"]) == (24, 20)  # 00, 01, 02, 03 present
    assert facts["first_missing"] == dt.datetime(2024, 1, 1, 4, tzinfo=UTC)


@pytest.mark.parametrize(("text", "members", "reason"), [
    (kline_line(T0) + "\n" + kline_line(T0 + 3_600_000) + ",extra\n", 1,
     "CSV line 2: expected 12 columns, got 13: 1704070800000,1,2,0.5,1.5,10,1704074399999,15,7,5,7.5,0,extra"),
    (kline_line(T0) + "\n" + kline_line(T0 + 3_600_000)[:20] + "\n", 1,  # a short row: never nulls
     "CSV line 2: expected 12 columns, got 4: 1704070800000,1,2,0."),
    (KLINE_HEADER + "\n" + kline_line(T0).replace(",1,2,", ",one,2,", 1) + "\n", 1,
     "CSV line 2, column open: 'one' is not a number"),
    (kline_line(T0).replace(",7,5,", ",7.5,5,", 1) + "\n", 1, "CSV line 1, column count: '7.5' is not an integer"),
    (kline_line(T0) + "\n" + kline_line(T0 * 1000 + 3_600_000_000) + "\n", 1,
     "mixed time units in open_time: values from 1704067200000 to 1704070800000000 (milliseconds and microseconds"
     " in one file)"),
    (kline_line(T0) + "\n", 2, "the zip should hold exactly one .csv, it holds ['BTCUSDT-1h-2024-01-01.csv', "
                               "'BTCUSDT-1h-2024-01-01-1.csv']"),
])  # fmt: skip
def test_a_file_that_does_not_parse_fails_with_its_reason_and_keeps_the_old_output(tmp_path, text, members, reason):
    good = tmp_path / "o.parquet"
    good.write_bytes(b"previous output")
    path = zip_of(tmp_path, KLINE, text, members=members)
    with pytest.raises(ConversionError) as err:
        convert_file(source(KLINE, path), good)
    assert str(err.value).startswith(reason), str(err.value)
    assert good.read_bytes() == b"previous output"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "o.parquet"])  # no temporary left


def test_with_a_staging_directory_the_temporary_output_is_written_there_and_renamed_into_place(tmp_path,
                                                                                             monkeypatch):
    staging, out = tmp_path / "staging", tmp_path / "out"
    staging.mkdir()
    renames: list[tuple[Path, Path]] = []
    replace = convert.os.replace
    monkeypatch.setattr(convert.os, "replace", lambda a, b: (renames.append((Path(a), Path(b))), replace(a, b)))
    good = zip_of(tmp_path, KLINE, "\n".join(kline_line(T0 + i * 1000) for i in range(10)) + "\n")
    facts = convert_file(source(KLINE, good), out / "o.parquet", tmp_dir=staging)
    assert facts["rows"] == 10 and pq.read_table(out / "o.parquet").num_rows == 10
    assert [(a.parent, a.name.startswith(".o.parquet."), b) for a, b in renames] == [
        (staging, True, out / "o.parquet")]
    assert list(staging.iterdir()) == [] and [p.name for p in out.iterdir()] == ["o.parquet"]
    bad = zip_of(tmp_path, KLINE, kline_line(T0) + "\nnot,a,candle\n")
    with pytest.raises(ConversionError):
        convert_file(source(KLINE, bad), out / "o.parquet", tmp_dir=staging)
    assert list(staging.iterdir()) == [] and pq.read_table(out / "o.parquet").num_rows == 10  # the good one stays


def test_a_staging_directory_on_another_filesystem_still_commits_the_output_whole(tmp_path, monkeypatch):
    import errno
    import os

    staging, out = tmp_path / "staging", tmp_path / "out"
    staging.mkdir()
    replace, calls = os.replace, []

    def across(a, b):  # a rename out of the staging directory crosses filesystems
        calls.append((Path(a).parent.name, Path(b).parent.name))
        if Path(a).parent == staging:
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return replace(a, b)

    monkeypatch.setattr(os, "replace", across)  # the os module both use
    good = zip_of(tmp_path, KLINE, "\n".join(kline_line(T0 + i * 1000) for i in range(10)) + "\n")
    assert convert_file(source(KLINE, good), out / "o.parquet", tmp_dir=staging)["rows"] == 10
    assert calls == [("staging", "out"), ("out", "out")]  # then copied beside the output, and renamed there
    assert pq.read_table(out / "o.parquet").num_rows == 10
    assert list(staging.iterdir()) == [] and [p.name for p in out.iterdir()] == ["o.parquet"]


def test_a_bad_row_deep_in_a_big_file_is_named_by_its_line(tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "BLOCK_BYTES", 1000)  # many blocks, so the line number crosses block edges
    rows = [kline_line(T0 + i * 1000) for i in range(500)]
    rows[377] = rows[377].replace(",1,2,", ",1,2,x", 1)  # x0.5 is not a number
    path = zip_of(tmp_path, KLINE, KLINE_HEADER + "\n" + "\n".join(rows) + "\n")
    with pytest.raises(ConversionError, match=r"^CSV line 379, column low: 'x0.5' is not a number$"):
        convert_file(source(KLINE, path), tmp_path / "o.parquet")
    rows[377] = kline_line(T0 + 377_000)[:30]
    path = zip_of(tmp_path, KLINE, "\n".join(rows) + "\n")
    with pytest.raises(ConversionError, match=r"^CSV line 378: expected 12 columns, got 7: 1704067577000,1,2,0.5,"):
        convert_file(source(KLINE, path), tmp_path / "o.parquet")


def test_the_keys_columns_are_one_value_dictionaries_that_read_back_as_strings(tmp_path, monkeypatch):
    import polars as pl

    monkeypatch.setattr(convert, "BLOCK_BYTES", 1000)  # many blocks: each has its own one-value dictionary
    monkeypatch.setattr(convert, "ROW_GROUP_ROWS", 200)
    monkeypatch.setattr(convert, "READ_BYTES", 100)  # many inflate reads, too
    rows = [kline_line(T0 + i * 1000) for i in range(500)]
    out = tmp_path / "o.parquet"
    facts = convert_file(source(KLINE, zip_of(tmp_path, KLINE, "\n".join(rows) + "\n")), out)
    meta = pq.ParquetFile(out).metadata
    assert facts["rows"] == 500 and meta.num_row_groups >= 3
    names = [meta.schema.column(i).name for i in range(meta.num_columns)]
    for name in ("symbol", "interval"):
        for rg in range(meta.num_row_groups):
            col = meta.row_group(rg).column(names.index(name))
            assert "RLE_DICTIONARY" in col.encodings and col.total_compressed_size < 200, (name, col)
    assert meta.metadata is None or b"ARROW:schema" not in meta.metadata
    t = pq.read_table(out)
    assert t.schema == table_spec("spot", "klines").schema  # plain strings, timestamp[us, tz=UTC]
    assert set(t.column("symbol").to_pylist()) == {"BTCUSDT"} and set(t.column("interval").to_pylist()) == {"1h"}
    df = pl.read_parquet(out)
    assert (df.schema["symbol"], df.schema["interval"], df.schema["open_time"]) == (
        pl.String, pl.String, pl.Datetime("us", "UTC"))
    assert df["open_time"].to_list()[-1] == dt.datetime(2024, 1, 1, 0, 8, 19, tzinfo=UTC)


def test_blocks_split_on_line_ends_and_keep_every_byte(monkeypatch):
    monkeypatch.setattr(convert, "BLOCK_BYTES", 64)
    text = b"".join(b"%d,%s\n" % (i, b"x" * (i % 50)) for i in range(300))

    class Chunks:  # a reader whose chunks end anywhere, as the inflater's do
        def __init__(self, data: bytes, size: int) -> None:
            self.data, self.size = data, size

        def read(self, _: int) -> bytes:
            out, self.data = self.data[: self.size], self.data[self.size:]
            return out

    for size in (1, 7, 64, 1000, 100_000):
        blocks = list(convert._blocks(Chunks(b"head,er\n" + text + b"300,y", size), header=True))
        assert b"".join(blocks) == text + b"300,y"
        assert all(b.endswith(b"\n") for b in blocks[:-1])
        longest = max(len(line) for line in text.splitlines())  # 53: a partial line stays for the next block
        assert all(64 - longest <= len(b) <= 64 + longest + 1 + size for b in blocks[1:-1])  # about BLOCK_BYTES
        assert len(blocks) > 10 or size >= 1000


def test_blank_lines_crlf_and_empty_fields_read_as_arrow_would(tmp_path):
    key = "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
    text = "calc_time,funding_interval_hours,last_funding_rate\r\n\r\n1704067200000,8,0.0001\r\n" \
           "1704096000000,8,\r\n\n1704124800000,8,-0.0002\r\n\r\n"
    path = zip_of(tmp_path, key, text)
    facts = convert_file(source(key, path), tmp_path / "o.parquet")
    table = pq.read_table(tmp_path / "o.parquet")
    assert facts["rows"] == 3
    assert table.column("last_funding_rate").to_pylist() == [0.0001, None, -0.0002]
    assert table.column("calc_time").to_pylist()[2] == dt.datetime(2024, 1, 1, 16, tzinfo=UTC)


def test_not_a_zip_fails_with_its_reason(tmp_path):
    path = tmp_path / "BTCUSDT-1h-2024-01-01.zip"
    path.write_bytes(b"<html>not a zip</html>")
    with pytest.raises(ConversionError, match=r"^BadZipFile: File is not a zip file$"):
        convert_file(source(KLINE, path), tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_a_header_only_file_is_an_empty_table(tmp_path):
    key = "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
    path = zip_of(tmp_path, key, "calc_time,funding_interval_hours,last_funding_rate\n")
    facts = convert_file(source(key, path), tmp_path / "o.parquet")
    t = pq.read_table(tmp_path / "o.parquet")
    assert (facts["rows"], facts["header"], t.num_rows, facts["first_time"]) == (0, True, 0, None)
    assert t.schema == table_spec("futures_um", "fundingRate").schema


def test_text_times_are_utc_timestamps(tmp_path):
    key = "data/futures/um/daily/bookDepth/BTCUSDT/BTCUSDT-bookDepth-2024-01-01.zip"
    path = zip_of(tmp_path, key, "timestamp,percentage,depth,notional\n2024-01-01 00:00:07,-5,1.5,2.5\n")
    convert_file(source(key, path), tmp_path / "o.parquet")
    assert pq.read_table(tmp_path / "o.parquet").to_pylist() == [
        {"timestamp": dt.datetime(2024, 1, 1, 0, 0, 7, tzinfo=UTC), "percentage": -5.0, "depth": 1.5,
         "notional": 2.5, "symbol": "BTCUSDT"}]


def test_every_schema_has_the_symbol_and_candles_the_interval():
    assert table_spec("futures_cm", "trades").names[3] == "base_qty"  # COIN-M: base-asset quantity
    assert table_spec("spot", "aggTrades").names[-1] == "is_best_match"
    assert table_spec("futures_um", "aggTrades").names[-1] == "is_buyer_maker"
    assert table_spec("futures_um", "markPriceKlines").schema.names[-2:] == ["symbol", "interval"]
    assert table_spec("options", "EOHSummary").schema.names.count("symbol") == 1  # its own column, kept


def test_the_member_reader_inflates_stored_and_deflated_members_and_checks_the_crc(tmp_path):
    from raycollect.silver.convert import _MemberReader

    text = "".join(kline_line(T0 + h * 3_600_000) + "\n" for h in range(24)).encode() * 50
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        path = tmp_path / f"m{method}.zip"
        with zipfile.ZipFile(path, "w", method) as zf:
            zf.writestr("BTCUSDT-1h-2024-01-01.csv", text)
        info = zipfile.ZipFile(path).infolist()[0]
        with _MemberReader(str(path), info) as fh:
            parts = [fh.read(1)]
            while chunk := fh.read(1000):
                assert len(chunk) <= 1000
                parts.append(chunk)
        assert b"".join(parts) == text
    bad = bytearray(path.read_bytes())
    crc_at = bytes(bad).index(info.CRC.to_bytes(4, "little"))  # the local header's CRC, then the central one
    for at in (crc_at, bytes(bad).rindex(info.CRC.to_bytes(4, "little"))):
        bad[at] ^= 0xFF
    (tmp_path / "crc.zip").write_bytes(bytes(bad))
    info = zipfile.ZipFile(tmp_path / "crc.zip").infolist()[0]
    with pytest.raises(ConversionError, match=r"^the zip's CRC-32 does not match its CSV"), \
            _MemberReader(str(tmp_path / "crc.zip"), info) as fh:
        while fh.read(1 << 20):
            pass


def test_a_truncated_zip_fails_with_its_reason(tmp_path):
    text = "".join(kline_line(T0 + h * 3_600_000) + "\n" for h in range(24))
    path = zip_of(tmp_path, KLINE, text * 200)
    data = path.read_bytes()
    info = zipfile.ZipFile(path).infolist()[0]
    cut = tmp_path / "cut.zip"
    cut.write_bytes(data[: info.header_offset + 30 + len(info.filename) + info.compress_size // 2])
    with pytest.raises(ConversionError, match=r"^BadZipFile: File is not a zip file$"):
        convert_file(source(KLINE, cut), tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


@pytest.mark.parametrize("header", [True, False])
def test_a_byte_order_mark_is_dropped_and_never_taken_for_a_header(tmp_path, header):
    """Excel-saved CSVs start with a UTF-8 BOM: its first byte is not a digit, yet a header-less file's first line
    is a row, kept."""
    lines = [kline_line(T0 + h * 3_600_000) for h in range(3)]
    text = "\ufeff" + ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
                       "taker_buy_quote_volume,ignore\n" if header else "") + "\n".join(lines) + "\n"
    path = zip_of(tmp_path, KLINE, text)
    facts = convert_file(source(KLINE, path), tmp_path / "o.parquet")
    t = pq.read_table(tmp_path / "o.parquet")
    assert (facts["header"], facts["rows"], t.num_rows) == (header, 3, 3)
    assert t.column("open_time").to_pylist()[0] == dt.datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("first", ['"{t}","1","2","0.5","1.5","10","{c}","15","7","5","7.5","0"',
                                   "+{t},1e0,2E0,0.5,1.5,1e1,{c},15,7,5,7.5,0",
                                   " {t},1,2,0.5,1.5,10,{c},15,7,5,7.5,0"])
def test_a_first_row_whose_number_is_quoted_signed_or_padded_is_data_never_dropped_as_a_header(tmp_path, first):
    rows = [first.format(t=T0, c=T0 + 3_599_999)] + [kline_line(T0 + h * 3_600_000) for h in (1, 2)]
    path = zip_of(tmp_path, KLINE, "\n".join(rows) + "\n")
    facts = convert_file(source(KLINE, path), tmp_path / "o.parquet")
    t = pq.read_table(tmp_path / "o.parquet")
    assert (facts["header"], t.num_rows, t["open"][0].as_py()) == (False, 3, 1.0)
    assert t.column("open_time").to_pylist()[0] == dt.datetime(2024, 1, 1, tzinfo=UTC)


def test_peek_gathers_bytes_across_short_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(convert, "READ_BYTES", 1)  # a stored member read a byte at a time: chunks of one byte
    path = zip_of(tmp_path, KLINE, "\ufeff" + kline_line(T0) + "\n")
    with zipfile.ZipFile(path) as zf:
        info = zf.infolist()[0]
    with convert._MemberReader(str(path), info) as fh:
        assert fh.peek(3) == b"\xef\xbb\xbf" and fh.read(3) == b"\xef\xbb\xbf"
        rest = b"".join(iter(lambda: fh.read(1 << 20), b""))
    assert rest == (kline_line(T0) + "\n").encode()


def test_duplicate_weekly_candles_are_counted_though_their_grid_is_not(tmp_path):
    key = "data/spot/monthly/klines/BTCUSDT/1w/BTCUSDT-1w-2024-01.zip"
    monday = 1704067200000  # 2024-01-01 was a Monday
    week = 7 * 86_400_000
    times = [monday, monday + week, monday + week, monday + 2 * week]
    text = "\n".join(f"{t},1,2,0.5,1.5,10,{t + week - 1},15,7,5,7.5,0" for t in times) + "\n"
    src = Source(key, str(zip_of(tmp_path, key, text)), "spot", "klines", "BTCUSDT", "1w", "monthly",
                 dt.date(2024, 1, 1))
    facts = convert_file(src, tmp_path / "o.parquet")
    assert (facts["rows"], facts["duplicate_rows"], facts["expected_rows"], facts["missing_rows"]) == (4, 1, None,
                                                                                                        None)


def test_types_without_candles_have_no_candle_facts(tmp_path):
    key = "data/futures/um/monthly/fundingRate/BTCUSDT/BTCUSDT-fundingRate-2024-01.zip"
    path = zip_of(tmp_path, key, "calc_time,funding_interval_hours,last_funding_rate\n1704067200000,8,0.1\n"
                                 "1704067200000,8,0.1\n")
    facts = convert_file(source(key, path), tmp_path / "o.parquet")
    assert (facts["rows"], facts["duplicate_rows"], facts["expected_rows"]) == (2, None, None)


@pytest.mark.parametrize("codec", ["lz4", "snappy"])
def test_the_codec_is_chosen_and_the_table_is_the_same(tmp_path, codec):
    key = real("BTCUSD_PERP-aggTrades-2026-05-08.zip")
    path = real_fixtures_root() / key
    default = convert_file(source(key, path), tmp_path / "zstd.parquet")
    chosen = convert_file(source(key, path), tmp_path / f"{codec}.parquet", compression=codec)
    codecs = {pq.ParquetFile(tmp_path / name).metadata.row_group(0).column(0).compression
              for name in ("zstd.parquet", f"{codec}.parquet")}
    assert codecs == {"ZSTD", codec.upper()}
    assert pq.read_table(tmp_path / f"{codec}.parquet").equals(pq.read_table(tmp_path / "zstd.parquet"))
    assert chosen["rows"] == default["rows"] > 0 and chosen["bytes_out"] > default["bytes_out"]
