"""Convert one verified archive zip into one typed Parquet file: streamed, checked, written atomically.

- The zip must hold exactly one CSV; a first line whose first character is not a digit is a header row
  (ARCHIVE.md), detected per file (after a UTF-8 byte order mark, which is dropped: a header-less file that
  starts with one keeps its first row; so does one whose first number is quoted, signed or after spaces).
- The CSV is inflated by ISA-L and cut into line-aligned blocks of about 16 MB; polars parses each block with
  explicit column types (about half the CPU of Arrow's CSV reader here), so a multi-GB trades file needs memory
  for a few blocks and one row group, not for the file.
- Epoch time columns are milliseconds or microseconds, found per file by magnitude (> 1e14 is microseconds;
  the first block decides, every later block must agree), and stored as ``timestamp[us, tz=UTC]``.
- Anything that does not parse (a wrong column count, text in a number column, mixed time units) fails the
  file with the reason and its line number; the output is written to a temporary name and renamed only when
  complete, so a failed conversion never leaves a partial table and never replaces a good one.
- Parquet: zstd by default (``silver_compression``: lz4 or snappy write faster, and larger files); ids and
  epoch times delta-encoded, floats byte-stream-split, strings dictionary-encoded (each measured faster to
  write than plain encoding, at the same size or smaller). The ``symbol`` and ``interval`` columns the key
  adds are written as one-value dictionaries (no string per row to build and hash), and no Arrow schema is
  stored: its Parquet types read back as ``TableSpec.schema`` (plain strings).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import os
import re
import secrets
import struct
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from raycollect.atomic import move
from raycollect.errors import reason
from raycollect.silver.quality import Quality

try:  # ISA-L: the same deflate, inflated about 2.6x faster than zlib (see _MemberReader)
    from isal import isal_zlib as _zlib
except ImportError:  # pragma: no cover - the wheel is a dependency; zlib is the same format, only slower
    import zlib as _zlib  # type: ignore[no-redef]
from raycollect.silver.schemas import ARROW, TIMESTAMP, TableSpec, table_spec

#: Bytes of CSV per block read (memory per file is a few blocks plus one row group).
BLOCK_BYTES = 16 << 20
#: Rows per Parquet row group: large enough for fast scans, small enough to bound memory (~100 MB for trades).
ROW_GROUP_ROWS = 1_000_000
#: Compressed bytes inflated at a time: ISA-L's output (about 3x this) then stays in the CPU's cache until it is
#: copied into its block (inflating 248 MB of CSV: 0.31 CPU-s in 128 KiB reads, 0.46 in 4 MiB ones).
READ_BYTES = 128 << 10
#: Epoch values above this are microseconds (1e14 us is 1973; 1e14 ms is the year 5138).
MICROS_ABOVE = 10**14
#: The longest line a CSV of the archive may have. Its longest rows (EOHSummary) are about 300 bytes; a "line"
#: past this is a file that is not an archive CSV (a 764 KB zip inflating to 768 MiB with no line end held the
#: whole line in memory: 2,353 MiB in the worker), so it fails here, after reading at most this much past a block.
MAX_LINE_BYTES = 1 << 20
#: The latest time a row may carry, in microseconds (the year 3000): beyond it, a value is not a time.
LATEST_US = 32_503_680_000_000_000


#: What a file that does not parse raises on its way through zipfile, the inflater, the reader and Arrow (its
#: reason is recorded: these are properties of the file, never a bug report).
_UNREADABLE: tuple[type[BaseException], ...] = (pa.ArrowException, zipfile.BadZipFile, zipfile.LargeZipFile, OSError,
                                                EOFError, ValueError, OverflowError, csv.Error, _zlib.error)


class ConversionError(Exception):
    """A file that cannot be converted; the message is the reason recorded in the conversion manifest."""


@dataclass(frozen=True)
class Source:
    """One collected zip and where it belongs."""

    key: str
    path: str  # the zip on disk
    market: str
    data_type: str
    symbol: str
    interval: str | None
    partition: str  # daily | monthly
    period: dt.date
    sha256: str | None = None  # as verified at collection: the bytes read must have it


def convert_file(src: Source, dst: Path, *, tmp_dir: Path | None = None,
                 compression: str = "zstd") -> dict[str, Any]:
    """Convert ``src`` to ``dst`` (Parquet, ``compression`` its codec); returns the facts for the conversion
    manifest (raises ConversionError).

    The output is written to a temporary file in ``tmp_dir`` (default: beside ``dst``; on the same filesystem,
    so the commit is a rename) and renamed to ``dst`` only when complete."""
    t0 = time.monotonic()
    spec = table_spec(src.market, src.data_type)
    quality = Quality.for_file(spec, src.interval, src.partition, src.period)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = (tmp_dir or dst.parent) / f".{dst.name}.{secrets.token_hex(4)}.tmp"
    strings, encodings = _encodings(spec)
    try:
        with zipfile.ZipFile(src.path) as zf:
            member = _only_csv(zf)
        with _MemberReader(src.path, member) as fh, pq.ParquetWriter(
                tmp, _write_schema(spec), compression=compression, use_dictionary=strings, column_encoding=encodings,
                store_schema=False) as writer:
            if fh.peek(len(_BOM)) == _BOM:  # a UTF-8 byte order mark is not the first character of a header
                fh.read(len(_BOM))
            file_spec, header = _file_columns(fh.peek(_FIRST_LINE_PEEK), spec)
            units = _write(_tables(fh, file_spec, spec, header), spec, src, writer, quality)
            digest = fh.sha256()
        if src.sha256 and digest != src.sha256:
            raise ConversionError(f"the zip changed on disk since it was verified (sha256 {digest[:16]}..., verified "
                                  f"{src.sha256[:16]}...): run `raycollect verify CONFIG` to fetch and verify it again")
        facts = quality.facts()  # everything that can fail runs before the output appears under its name
        move(tmp, dst)
    except BaseException as exc:
        _unlink(tmp)  # a failed conversion leaves no partial file and the previous output as it was
        if isinstance(exc, _UNREADABLE) and not isinstance(exc, ConversionError):
            raise ConversionError(reason(exc)) from None
        raise
    return {"header": header, "time_unit": units or None, "bytes_in": os.path.getsize(src.path),
            "bytes_out": dst.stat().st_size, "seconds": time.monotonic() - t0, **facts}


def _encodings(spec: TableSpec) -> tuple[list[str], dict[str, str]]:
    """Dictionary encoding for strings (their values repeat); delta for ids and times, byte-stream-split for
    floats. Measured on 8 M trades: 0.7-1.0 CPU-s to write instead of 1.1-1.25 with plain encodings, at the
    same size; on the real COIN-M aggTrades fixture 525 KB instead of 1,594 KB (plain, dictionary, zstd)."""
    strings = [f.name for f in spec.schema if pa.types.is_string(f.type)]
    encodings = {n: "DELTA_BINARY_PACKED" for n, k in spec.columns if k in ("int", "time", "text_time", "date")}
    encodings.update({n: "BYTE_STREAM_SPLIT" for n, k in spec.columns if k == "float"})
    return strings, encodings


#: The dictionary type of the columns taken from the key (one value per file).
_KEY_COLUMN = pa.dictionary(pa.int32(), pa.string())


def _write_schema(spec: TableSpec) -> pa.Schema:
    """``spec.schema`` as written: with the silver table's field ids, and the columns the key adds as dictionaries
    (``_key_column``)."""
    from raycollect.silver.tables import arrow_schema

    schema = arrow_schema(spec)
    for name in _added(spec):
        i = schema.get_field_index(name)
        schema = schema.set(i, schema.field(i).with_type(_KEY_COLUMN))
    return schema


def _added(spec: TableSpec) -> list[str]:
    """The columns taken from the key, in the order ``TableSpec.schema`` appends them."""
    return ["symbol"] * spec.adds_symbol + ["interval"] * spec.kline


def _key_column(value: str | None, rows: int) -> pa.DictionaryArray:
    """``value`` on every one of ``rows`` rows, as a one-value dictionary."""
    return pa.DictionaryArray.from_arrays(pa.repeat(pa.scalar(0, pa.int32()), rows), pa.array([value], pa.string()))


def _only_csv(zf: zipfile.ZipFile) -> zipfile.ZipInfo:
    members = [i for i in zf.infolist() if not i.is_dir()]
    if len(members) != 1 or not members[0].filename.endswith(".csv"):
        raise ConversionError(f"the zip should hold exactly one .csv, it holds {[m.filename for m in members][:5]}")
    if members[0].compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ConversionError(f"the zip's CSV is compressed with method {members[0].compress_type}, not deflate")
    return members[0]


def _open_data(path: str, info: zipfile.ZipInfo) -> io.BufferedReader:
    """``path`` opened at the first byte of the member's (compressed) data, after its local header."""
    fh = open(path, "rb")
    try:
        fh.seek(info.header_offset)
        local = fh.read(30)
        if len(local) != 30 or local[:4] != b"PK\x03\x04":
            raise ConversionError("the zip's local file header is damaged")
        name_len, extra_len = struct.unpack("<HH", local[26:30])
        fh.seek(info.header_offset + 30 + name_len + extra_len)
    except BaseException:
        fh.close()
        raise
    return fh


class _MemberReader(io.RawIOBase):
    """The zip's one CSV as a stream, inflated by ISA-L (``isal``) where installed, else by zlib.

    Why not ``ZipFile.open``: it inflates through Python's zlib, which measured 45% of a conversion here; ISA-L
    inflates the same stream about 2.6x faster. The CRC-32 is checked at the end, as ``zipfile`` does.
    """

    def __init__(self, path: str, info: zipfile.ZipInfo) -> None:
        self.fh = _open_data(path, info)  # closed in close()
        # The zip's sha256 over the bytes this reads: the headers before the member's data, the data as it is
        # read, and the rest (the central directory) at the end, so what is converted is what was verified.
        self.digest = hashlib.sha256()
        with open(path, "rb") as head:
            self.digest.update(head.read(self.fh.tell()))
        self.finished = False
        self.left = info.compress_size
        self.crc_expected = info.CRC
        self.inflate = _zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
        self.crc = 0
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def peek(self, size: int) -> bytes:
        """The next ``size`` bytes (or fewer, at the end) without consuming them."""
        while len(self.pending) < size and (chunk := self._next_chunk()):
            self.pending += chunk  # only ever a few bytes at the start: an inflated chunk is larger
        return self.pending[:size]

    def read(self, size: int = -1) -> bytes:
        """The next inflated bytes, at most ``size``: one chunk per call (a short read, as raw streams may give;
        no joining of chunks into the caller's block size, which would copy every byte again). b"" at the end."""
        if not self.pending:
            self.pending = self._next_chunk()
        if size is None or size < 0 or size >= len(self.pending):
            data, self.pending = self.pending, b""
        else:
            data, self.pending = self.pending[:size], self.pending[size:]
        return data

    def _next_chunk(self) -> bytes:
        while True:
            if self.inflate is not None and self.inflate.eof:
                return self._done()
            raw = self.fh.read(min(self.left, READ_BYTES)) if self.left > 0 else b""
            self.left -= len(raw)
            self.digest.update(raw)
            if not raw:
                if self.inflate is None:
                    return self._done()
                if self.left > 0:
                    raise ConversionError("the zip ends before its CSV does")
                chunk = self.inflate.flush()
                if not self.inflate.eof:
                    raise ConversionError("the zip's deflate stream is truncated")
            else:
                chunk = raw if self.inflate is None else self.inflate.decompress(raw)
            if chunk:
                self.crc = _zlib.crc32(chunk, self.crc)
                return chunk

    def sha256(self) -> str:
        """The whole zip's sha256 (valid once the member has been read to its end)."""
        return self.digest.hexdigest()

    def _done(self) -> bytes:
        if not self.finished:
            self.finished = True
            while rest := self.fh.read(1 << 20):
                self.digest.update(rest)
        if self.crc != self.crc_expected:
            raise ConversionError(f"the zip's CRC-32 does not match its CSV ({self.crc:08x}, expected "
                                  f"{self.crc_expected:08x})")
        return b""

    def close(self) -> None:
        self.fh.close()
        super().close()


_BOM = b"\xef\xbb\xbf"


#: What may come before a number in a CSV field: spaces, quotes, a sign.
_BEFORE_NUMBER = b' \t"+-'
#: Bytes enough to hold the first line (the longest header, EOHSummary's, is about 400 bytes).
_FIRST_LINE_PEEK = 4096


def _has_header(first: bytes) -> bool:
    """ARCHIVE.md's rule: a first line whose first character is not a digit is a header. A first field that is a
    number once spaces, quotes and a sign are set aside (``"1709..."``, `` 1709``, ``+1``) is data all the same:
    a row is never dropped as a header for its formatting."""
    return bool(first) and not first.lstrip(_BEFORE_NUMBER)[:1].isdigit()


def _file_columns(start: bytes, spec: TableSpec) -> tuple[TableSpec, bool]:
    """(the columns in the file's order, whether its first line is a header). A first line that is not a row must
    be the type's header: its names, in any order (then mapped by name); anything else fails the file with the
    line, never dropped in silence (a damaged first row) nor read by position under wrong names."""
    if not _has_header(start):
        return spec, False
    end = start.find(b"\n")
    line = (start if end < 0 else start[:end]).rstrip(b"\r").decode("utf-8", "replace")
    if end < 0 and len(start) >= _FIRST_LINE_PEEK:
        raise ConversionError(f"CSV line 1: longer than {_FIRST_LINE_PEEK:,} bytes and not a row: not the header of "
                              f"{spec.market}/{spec.data_type}")
    names = [n.strip().strip('"').lower() for n in next(csv.reader([line]), [])]
    wanted = [n.lower() for n in spec.names]
    if names == wanted:
        return spec, True
    if sorted(names) == sorted(wanted):
        kinds = dict((n.lower(), (n, k)) for n, k in spec.columns)
        return TableSpec(spec.market, spec.data_type, tuple(kinds[n] for n in names)), True
    raise ConversionError(f"CSV line 1 is neither a row nor the header of {spec.market}/{spec.data_type}: "
                          f"{line[:120]!r} (the header names {','.join(spec.names)}, in any order)")


def _tables(fh: Any, file_spec: TableSpec, spec: TableSpec, header: bool) -> Iterator[pa.Table]:
    """Typed blocks of the CSV in ``spec``'s column order (parsed in the file's, ``file_spec``); epoch time columns
    still as int64 (their unit is decided per file)."""
    line = 2 if header else 1
    try:
        for block in _blocks(fh, header):
            table, lines = _parse(block, line, file_spec)
            line += lines
            yield table if file_spec is spec else table.select(spec.names)
    except _LongLine as long:  # numbered here, where the lines before it are counted already
        raise ConversionError(f"CSV line {line + long.lines_before}: longer than {MAX_LINE_BYTES:,} bytes with no "
                              "line end: not a row of an archive CSV") from None


class _LongLine(Exception):
    """A line past MAX_LINE_BYTES, ``lines_before`` lines after the last block handed out."""

    def __init__(self, lines_before: int) -> None:
        super().__init__(lines_before)
        self.lines_before = lines_before


def _blocks(fh: Any, header: bool) -> Iterator[bytes]:
    """The CSV in line-aligned blocks of about BLOCK_BYTES, the header row, if any, dropped. Each byte is copied
    once, into its block (the first block once more, to drop the header; a partial last line once more). A line
    longer than MAX_LINE_BYTES fails the file (_LongLine) before it is held whole."""
    parts: list[bytes] = []
    size, first = 0, header
    since_newline = 0
    while True:
        chunk = fh.read(BLOCK_BYTES)
        if chunk:
            parts.append(chunk)
            size += len(chunk)
            nl = chunk.rfind(b"\n")
            since_newline = len(chunk) - nl - 1 if nl >= 0 else since_newline + len(chunk)
            if since_newline > MAX_LINE_BYTES:  # the header's line end, if still pending, is not a row's
                raise _LongLine(sum(p.count(b"\n") for p in parts) - first)
            cut = nl + 1 if size >= BLOCK_BYTES else 0
            if not cut:  # not enough yet, or no line ends in this chunk: read on
                continue
        elif not parts:
            return
        else:
            cut = len(parts[-1])
        last = parts.pop()
        block = last if not parts and cut == len(last) else b"".join([*parts, memoryview(last)[:cut]])
        rest = last[cut:]
        parts, size = ([rest], len(rest)) if rest else ([], 0)
        if first:  # the header row is the first line of the first block
            nl = block.find(b"\n")
            block = block[nl + 1:] if nl >= 0 else b""
            first = False
        if block:
            yield block
        if not chunk:
            return


#: How polars reads each kind (text times and dates as strings, then cast by Arrow as its CSV reader would).
_POLARS = {"time": pl.Int64, "text_time": pl.String, "date": pl.String, "float": pl.Float64, "int": pl.Int64,
           "bool": pl.Boolean, "str": pl.String}
#: The Arrow type of each kind straight after parsing (epoch times stay int64 until their unit is known).
_PARSED = {**ARROW, "time": pa.int64()}
_BLANK_LINE = re.compile(rb"^\r?\n", re.MULTILINE)


def _parse(block: bytes, line: int, spec: TableSpec) -> tuple[pa.Table, int]:
    """One block, typed, and the number of lines it held (``line`` is its first line's number in the file); a
    block that does not parse raises ConversionError naming the line and the problem.

    polars fills a short row with nulls and reads a blank line as a row of nulls, where Arrow's reader fails the
    row and skips the line. So a block with any null (polars has counted them already) has its blank lines
    dropped and is checked row by row (``_diagnose``). Otherwise every line was one row: no line counting."""
    schema = {n: _POLARS[k] for n, k in spec.columns}
    try:
        df: pl.DataFrame | None = _read(block, schema)
    except pl.exceptions.PolarsError as exc:
        df, error = None, exc
    if df is not None and not any(df.null_count().row(0)):
        return _typed(df, block, line, spec), df.height
    if problem := _diagnose(block, line, spec):
        raise ConversionError(problem)
    if _BLANK_LINE.search(block):
        try:
            df = _read(_BLANK_LINE.sub(b"", block), schema)
        except pl.exceptions.PolarsError as exc:
            df, error = None, exc
    if df is None:
        first = (str(error).strip().splitlines() or [""])[0]
        raise ConversionError(f"{_lines(block, line)}: {first}")
    return _typed(df, block, line, spec), block.count(b"\n") + (block[-1:] != b"\n")


def _read(block: bytes, schema: dict[str, Any]) -> pl.DataFrame:
    return pl.read_csv(block, has_header=False, schema=schema, quote_char='"')


def _typed(df: pl.DataFrame, block: bytes, line: int, spec: TableSpec) -> pa.Table:
    """polars' columns as Arrow's, in the types ``_PARSED`` names (strings, text times and dates cast by Arrow)."""
    table = df.to_arrow()
    cols = []
    for (name, kind), col in zip(spec.columns, table.columns, strict=True):
        try:
            if kind in ("str", "text_time", "date"):
                col = col.cast(pa.string())  # polars hands strings over as large_string
            if kind == "text_time":  # naive text, UTC in the archive: parsed as such, then marked UTC
                col = col.cast(pa.timestamp("us")).cast(TIMESTAMP)
            elif col.type != _PARSED[kind]:
                col = col.cast(_PARSED[kind])
        except pa.ArrowInvalid as exc:
            raise ConversionError(f"{_lines(block, line)}, column {name}: {reason(exc)}") from None
        cols.append(col)
    return pa.Table.from_arrays(cols, names=spec.names)


def _lines(block: bytes, line: int) -> str:
    last = line + max(block.count(b"\n") - (block[-1:] == b"\n"), 0)
    return f"CSV lines {line}-{last}"


_INTEGER = re.compile(r"\s*[+-]?\d+\s*\Z")
_WHAT = {"int": "an integer", "time": "an integer (epoch time)", "float": "a number", "bool": "true or false"}


def _diagnose(block: bytes, line: int, spec: TableSpec) -> str | None:
    """The first row of ``block`` that does not fit ``spec`` (column count, or a value of the wrong kind), as a
    reason naming its line; None when every row fits (empty fields are nulls, as in Arrow's reader)."""
    width = len(spec.columns)
    for n, raw in enumerate(block.decode("utf-8", "replace").split("\n"), start=line):
        raw = raw.rstrip("\r")
        if not raw:
            continue
        if len(raw) > MAX_LINE_BYTES:  # in one inflated chunk with its line end (a highly compressible "row")
            return f"CSV line {n}: longer than {MAX_LINE_BYTES:,} bytes: not a row of an archive CSV"
        row = next(csv.reader([raw]))
        if len(row) != width:
            return f"CSV line {n}: expected {width} columns, got {len(row)}: {raw[:200]}"
        for (name, kind), value in zip(spec.columns, row, strict=True):
            if value.strip() and not _fits(kind, value):
                return f"CSV line {n}, column {name}: {value[:60]!r} is not {_WHAT[kind]}"
    return None


def _fits(kind: str, value: str) -> bool:
    if kind in ("int", "time"):
        return bool(_INTEGER.match(value)) and -(2**63) <= int(value) < 2**63
    if kind == "float":
        try:
            float(value)
        except ValueError:
            return False
        return True
    if kind == "bool":
        return value.strip().lower() in ("true", "false")
    return True  # strings; text times and dates are checked by their cast


def _write(tables: Iterator[pa.Table], spec: TableSpec, src: Source, writer: pq.ParquetWriter,
           quality: Quality) -> str:
    """Normalise each block, feed the quality checks, write row groups; returns the time unit found."""
    units: dict[str, str] = {}
    floats = [n for n, k in spec.columns if k == "float"]
    pending: list[pa.Table] = []
    rows = 0
    for table in tables:
        if table.num_rows == 0:
            continue
        table = _normalise(table, spec, src, units, writer.schema)
        quality.add(table.column(spec.time_column))
        quality.add_values(table, floats)
        pending.append(table)
        rows += table.num_rows
        if rows >= ROW_GROUP_ROWS:
            writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
            pending, rows = [], 0
    if pending:
        writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
    found = set(units.values())
    return found.pop() if len(found) == 1 else ",".join(sorted(found))


def _normalise(table: pa.Table, spec: TableSpec, src: Source, units: dict[str, str], schema: pa.Schema) -> pa.Table:
    """One parsed block as written: epoch times as timestamps, the key's columns added (``schema``)."""
    cols: list[pa.ChunkedArray | pa.Array] = []
    for (name, kind), col in zip(spec.columns, table.columns, strict=True):
        cols.append(_epoch_to_timestamp(name, col, units) if kind == "time" else col)
    cols.extend(_key_column(getattr(src, name), table.num_rows) for name in _added(spec))
    return pa.Table.from_arrays(cols, schema=schema)


def _epoch_to_timestamp(name: str, col: pa.ChunkedArray, units: dict[str, str]) -> pa.ChunkedArray:
    lo, hi = pc.min_max(col).values()
    if lo.as_py() is None:
        return pa.chunked_array([pa.nulls(len(col), TIMESTAMP)])
    found = "us" if hi.as_py() > MICROS_ABOVE else "ms"
    if (hi.as_py() if found == "us" else hi.as_py() * 1000) > LATEST_US:
        unit = "microseconds" if found == "us" else "milliseconds"
        raise ConversionError(f"column {name}: {hi.as_py()} is after the year 3000 in {unit} since 1970: not a "
                              "time of the archive")
    if found == "us" and lo.as_py() <= MICROS_ABOVE:
        raise ConversionError(f"mixed time units in {name}: values from {lo.as_py()} to {hi.as_py()} (milliseconds "
                              "and microseconds in one file)")
    if units.setdefault(name, found) != found:
        raise ConversionError(f"mixed time units in {name}: {units[name]} in the first rows, {found} later")
    micros = col if found == "us" else pc.multiply_checked(col, 1000)
    return micros.cast(TIMESTAMP)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


__all__ = ["BLOCK_BYTES", "ROW_GROUP_ROWS", "ConversionError", "Source", "convert_file"]
