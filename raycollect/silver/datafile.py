"""A written Parquet file becomes one or more Iceberg data files in the warehouse (on a Ray task or the driver).

The file was written locally with the table's field ids (``tables.arrow_schema``). Here its footer gives the
Iceberg statistics (row count, bounds, null counts: what readers prune by) and the partition (symbol,
interval, month). A file whose rows fall in two months (a daily file's stray row from the next day) is split
into one file per month, since an Iceberg data file belongs to one partition. The result is moved to
``<table location>/data/<partition path>/<run_id>-<token>.parquet``: renamed on a local warehouse, uploaded
through pyiceberg's FileIO on S3. Nothing is visible to readers until the driver commits the returned
``DataFile`` objects; a file whose commit never comes is an orphan, removed by `raycollect silver expire`.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from raycollect.atomic import move

if TYPE_CHECKING:
    from pyiceberg.manifest import DataFile
    from pyiceberg.table.metadata import TableMetadata

#: Bytes per read when a file is uploaded to an S3 warehouse.
_COPY_BYTES = 8 << 20


class PartitionMismatch(ValueError):
    """The file's rows say another symbol than its key (the key is the truth)."""


def publish(tmp: Path, meta: TableMetadata, io_properties: dict[str, str], run_id: str, *,
            symbol: str | None = None) -> list[DataFile]:
    """``tmp`` (a local Parquet file with field ids) as data files of the table ``meta`` describes; ``tmp`` is
    consumed. ``symbol``: the key's symbol, which the partition's must equal (else PartitionMismatch)."""
    from pyiceberg.io.pyarrow import (
        compute_statistics_plan,
        data_file_statistics_from_parquet_metadata,
        parquet_path_to_id_mapping,
    )

    schema, spec = meta.schema(), meta.spec()
    parquet_meta = pq.read_metadata(tmp)
    stats = data_file_statistics_from_parquet_metadata(parquet_meta, compute_statistics_plan(schema, meta.properties),
                                                       parquet_path_to_id_mapping(schema))
    try:
        partition = stats.partition(spec, schema)
    except ValueError:  # rows of more than one partition: one file per partition
        return [f for part in _split(tmp, meta) for f in publish(part, meta, io_properties, run_id, symbol=symbol)]
    if symbol is not None and partition[0] is not None and partition[0] != symbol:
        _unlink(tmp)
        raise PartitionMismatch(f"its {spec.fields[0].name} column says {partition[0]!r}, its key says {symbol!r}: "
                                "the key is the truth, so the file is refused")
    path = f"{meta.location.rstrip('/')}/data/{spec.partition_to_path(partition, schema)}/" \
           f"{run_id}-{secrets.token_hex(6)}.parquet"
    size = _move(tmp, path, io_properties)
    return [data_file(path, size, partition, meta, stats)]


def data_file(path: str, size: int, partition: Any, meta: TableMetadata, stats: Any) -> DataFile:
    from pyiceberg.manifest import DataFile, DataFileContent, FileFormat

    return DataFile.from_args(content=DataFileContent.DATA, file_path=path, file_format=FileFormat.PARQUET,
                              partition=partition, file_size_in_bytes=size, sort_order_id=None,
                              spec_id=meta.default_spec_id, equality_ids=None, key_metadata=None,
                              **stats.to_serialized_dict())


def local_path(location: str) -> str | None:
    """The local path of a ``file://`` or plain location; None for an object store."""
    if location.startswith("file://"):
        return location[len("file://"):]
    return location if "://" not in location else None


def _move(tmp: Path, path: str, io_properties: dict[str, str]) -> int:
    size = tmp.stat().st_size
    target = local_path(path)
    try:
        if target is not None:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            move(tmp, Path(target))
        else:
            from pyiceberg.io import load_file_io

            io = load_file_io(io_properties, path)
            with open(tmp, "rb") as src, io.new_output(path).create(overwrite=True) as out:
                while chunk := src.read(_COPY_BYTES):
                    out.write(chunk)
    finally:
        _unlink(tmp)
    return size


def _split(tmp: Path, meta: TableMetadata) -> list[Path]:
    """``tmp``'s rows, one file per partition value (the same columns and codec); ``tmp`` is removed."""
    from pyiceberg.transforms import MonthTransform

    spec, schema = meta.spec(), meta.schema()
    table = pq.read_table(tmp)
    keys = []
    for field in spec.fields:
        column = table.column(schema.find_field(field.source_id).name)
        if isinstance(field.transform, MonthTransform):  # months since 1970, as Iceberg counts them
            column = pc.add(pc.multiply(pc.subtract(pc.year(column), 1970), 12), pc.subtract(pc.month(column), 1))
        keys.append(column.cast(pa.string()))
    tag = pc.binary_join_element_wise(*[pc.fill_null(k, "\x00") for k in keys], "|")
    codec = pq.ParquetFile(tmp).metadata.row_group(0).column(0).compression.lower() if table.num_rows else "zstd"
    out = []
    for value in pc.unique(tag).to_pylist():
        part = tmp.with_name(f"{tmp.name}.{len(out)}.parquet")
        pq.write_table(table.filter(pc.equal(tag, value)), part, compression=codec, store_schema=False)
        out.append(part)
    _unlink(tmp)
    return out


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
