"""Files with valid sidecars that are hostile or odd: each fails with a reason that names it (never "internal
error"), or converts exactly, and none exhausts memory."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from raycollect.silver.convert import MAX_LINE_BYTES, ConversionError, Source, convert_file
from tests.helpers import ROOT, one_line_zip

KLINE = "data/futures/um/daily/klines/BTCUSDT/1h/BTCUSDT-1h-2024-01-01.zip"
HEADER = ("open_time,open,high,low,close,volume,close_time,quote_volume,count,taker_buy_volume,"
          "taker_buy_quote_volume,ignore")
T0 = 1704067200000


def row(t: int, o: float = 1.0, h: float = 2.0) -> str:
    return f"{t},{o},{h},0.5,1.5,10,{t + 3_599_999},15,7,5,7.5,0"


def write_zip(tmp_path: Path, text: bytes | str, name: str = "BTCUSDT-1h-2024-01-01.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name[:-4] + ".csv", text)
    return path


def src(path: Path, sha256: str | None = None) -> Source:
    import datetime as dt

    return Source(KLINE, str(path), "futures_um", "klines", "BTCUSDT", "1h", "daily", dt.date(2024, 1, 1), sha256)


def test_a_header_in_another_order_is_mapped_by_name(tmp_path):
    swapped = HEADER.replace("open,high", "high,open")
    path = write_zip(tmp_path, swapped + "\n" + row(T0, o=40000.0, h=50000.0).replace(",40000.0,50000.0,",
                                                                                    ",50000.0,40000.0,") + "\n")
    facts = convert_file(src(path), tmp_path / "o.parquet")
    got = pq.read_table(tmp_path / "o.parquet").to_pylist()[0]
    assert (facts["header"], got["open"], got["high"]) == (True, 40000.0, 50000.0)


def test_a_header_that_names_other_columns_fails_the_file(tmp_path):
    path = write_zip(tmp_path, HEADER.replace("ignore", "extra") + "\n" + row(T0) + "\n")
    with pytest.raises(ConversionError, match=r"^CSV line 1 is neither a row nor the header of futures_um/klines: "
                                              r"'open_time,.*,extra'"):
        convert_file(src(path), tmp_path / "o.parquet")


def test_a_damaged_first_row_is_never_dropped_as_a_header(tmp_path):
    path = write_zip(tmp_path, "X" + row(T0) + "\n" + row(T0 + 3_600_000) + "\n")
    with pytest.raises(ConversionError, match=r"^CSV line 1 is neither a row nor the header .*'X1704067200000,1.0"):
        convert_file(src(path), tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()


def test_a_line_with_no_end_is_numbered_across_blocks_and_after_a_header(tmp_path, monkeypatch):
    from raycollect.silver import convert

    monkeypatch.setattr(convert, "BLOCK_BYTES", 200)  # many blocks before the long line
    rows = "\n".join(row(T0 + i * 3_600_000) for i in range(20))
    for text, line in ((rows + "\n", 21), (HEADER + "\n" + rows + "\n", 22), (HEADER + "\n", 2)):
        body = text.encode() + b"9" * (3 << 20)  # 3 MiB with no line end, in chunks of its own
        path = write_zip(tmp_path, body)
        with pytest.raises(ConversionError, match=rf"^CSV line {line}: longer than {MAX_LINE_BYTES:,} bytes with "
                                                  "no line end"):
            convert_file(src(path), tmp_path / "o.parquet")


def test_a_line_past_the_limit_fails_with_its_number(tmp_path):
    path = write_zip(tmp_path, row(T0) + "\n" + row(T0 + 3_600_000) + "\n" + "9" * (5 << 20) + "\n")
    with pytest.raises(ConversionError, match=rf"^CSV line 3: longer than {MAX_LINE_BYTES:,} bytes: not a row"):
        convert_file(src(path), tmp_path / "o.parquet")


BOMB = r"""
import json, resource, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from tests.unit.silver.test_convert_hostile import src
from raycollect.silver.convert import ConversionError, convert_file
try:
    convert_file(src(Path(sys.argv[1])), Path(sys.argv[2]))
    error = None
except ConversionError as exc:
    error = str(exc)
print(json.dumps({"error": error, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def test_a_one_line_zip_bomb_of_a_gibibyte_fails_with_bounded_memory(tmp_path):
    """1 GiB of digits with no line end, deflated to about 1 MB: read in a process of its own, whose peak is
    measured (the reader once kept the whole line: 2,353 MiB for 768 MiB)."""
    name = "BTCUSDT-1h-2024-01-01.zip"
    path = tmp_path / name
    path.write_bytes(one_line_zip(name))
    assert path.stat().st_size < 2 << 20
    done = subprocess.run([sys.executable, "-c", BOMB, str(path), str(tmp_path / "o.parquet"), str(ROOT)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["error"] == f"CSV line 1: longer than {MAX_LINE_BYTES:,} bytes with no line end: not a row of an " \
                           "archive CSV"
    assert got["peak_mib"] < 600, got


def test_a_damaged_deflate_stream_is_a_property_of_the_file(tmp_path):
    path = write_zip(tmp_path, "\n".join(row(T0 + i * 3_600_000) for i in range(24)) * 50 + "\n")
    data = bytearray(path.read_bytes())
    data[60:90] = b"\xff" * 30  # inside the compressed data, after the local header
    path.write_bytes(bytes(data))
    with pytest.raises(ConversionError) as err:
        convert_file(src(path), tmp_path / "o.parquet")
    assert "internal error" not in str(err.value) and str(err.value)


def test_a_time_in_the_year_11000_fails_with_the_column_and_value(tmp_path):
    far = 285_000_000_000_000_000  # microseconds: the year 11000
    path = write_zip(tmp_path, row(far) + "\n")
    with pytest.raises(ConversionError, match=r"^column open_time: 285000000000000000 is after the year 3000 in "
                                              r"microseconds since 1970"):
        convert_file(src(path), tmp_path / "o.parquet")
    assert not (tmp_path / "o.parquet").exists()  # nothing visible for a failed conversion


def test_bytes_changed_on_disk_after_verification_fail_the_file(tmp_path):
    path = write_zip(tmp_path, row(T0) + "\n")
    verified = hashlib.sha256(path.read_bytes()).hexdigest()
    assert convert_file(src(path, verified), tmp_path / "o.parquet")["rows"] == 1  # the bytes read are verified
    path = write_zip(tmp_path, row(T0, o=7.0) + "\n")  # rewritten locally after the collection verified it
    with pytest.raises(ConversionError, match=r"^the zip changed on disk since it was verified"):
        convert_file(src(path, verified), tmp_path / "o2.parquet")
    assert not (tmp_path / "o2.parquet").exists()


def test_non_finite_numbers_are_kept_and_counted(tmp_path):
    text = "\n".join([row(T0), row(T0 + 3_600_000).replace(",1.0,", ",nan,", 1),
                      row(T0 + 7_200_000).replace(",2.0,", ",inf,", 1),
                      row(T0 + 10_800_000).replace(",10,", ",1e309,")])
    facts = convert_file(src(write_zip(tmp_path, text + "\n")), tmp_path / "o.parquet")
    assert (facts["rows"], facts["nonfinite_rows"]) == (4, 3)
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 4  # kept as written
    empty = convert_file(src(write_zip(tmp_path, "", name="BTCUSDT-1h-2024-01-02.zip")), tmp_path / "e.parquet")
    assert (empty["rows"], empty["nonfinite_rows"]) == (0, 0)
