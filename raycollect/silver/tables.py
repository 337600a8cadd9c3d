"""The silver tables: one Apache Iceberg table per market and data type, in a catalog pyiceberg opens.

- **Warehouse**: ``silver_directory`` (default ``<output_directory>/silver``), a directory or ``s3://bucket/prefix``.
- **Catalog**: ``silver_catalog`` (pyiceberg properties: REST, Glue, SQL on Postgres, ...). With none, a SQLite
  ``SqlCatalog`` in ``<warehouse>/catalog.db``, or in the manifest directory when the warehouse is on S3
  (SQLite needs a local file). ``s3.*`` properties (endpoint, keys) reach the warehouse's FileIO; without them
  an ``s3://`` warehouse uses ``destination_endpoint_url``/``destination_region`` and the AWS credential chain.
- **Tables**: ``<silver_namespace>.<market>_<data_type>`` (``binance.spot_klines``,
  ``binance.futures_um_fundingRate``), with the columns of :mod:`raycollect.silver.schemas` and Iceberg field ids
  in column order (written into every data file, so readers map columns by id, not by name).
- **Partitioning**: identity on ``symbol`` (EOHSummary: ``underlying``, the key's symbol) and on ``interval``
  for candles (one interval is what a query reads), then ``month`` of the table's time column. Chosen by
  measurement (docs/silver.md): a day partition keeps one file per daily zip, the layout that made
  every query 19-25x slower than one file per symbol and month; a month lets compaction fold a month's daily
  files into one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from raycollect.errors import ConfigurationError
from raycollect.silver.schemas import TableSpec, table_spec

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.partitioning import PartitionSpec
    from pyiceberg.schema import Schema
    from pyiceberg.table import Table

    from raycollect.config import WorkflowConfig

#: The catalog's name for pyiceberg (it only labels the catalog object).
CATALOG_NAME = "raycollect"
#: Every table property raycollect sets. Old metadata files are pruned on commit (Iceberg keeps a JSON per
#: commit otherwise: 365 daily runs, 365 files); snapshots and data files go with `raycollect silver expire`.
TABLE_PROPERTIES = {
    "format-version": "2",
    "write.parquet.compression-codec": "zstd",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "20",
    "commit.retry.num-retries": "8",
}
#: Field ids: columns in schema order from 1; this key in an Arrow field's metadata is how Parquet carries them.
FIELD_ID_KEY = b"PARQUET:field_id"


@dataclass(frozen=True)
class Lakehouse:
    """Where the silver tables live and how to open them: picklable, so Ray tasks open the same FileIO."""

    warehouse: str  # an absolute directory or s3://bucket/prefix
    catalog_properties: dict[str, str]
    namespace: str

    @classmethod
    def sqlite(cls, warehouse: str | Path, *, db: str | Path | None = None, namespace: str = "binance") -> Lakehouse:
        """The zero-setup lakehouse: a SQLite catalog (``db``, default ``<warehouse>/catalog.db``) over a local
        warehouse, or over ``s3://`` with ``db`` local."""
        location = str(warehouse)
        if not location.startswith("s3://"):
            location = str(Path(location).expanduser().resolve())
        uri = location if location.startswith("s3://") else Path(location).as_uri()
        db = Path(db) if db is not None else Path(location) / "catalog.db"
        return cls(location, {"type": "sql", "uri": f"sqlite:///{db}", "init_catalog_tables": "true",
                              "warehouse": uri}, namespace)

    @property
    def local(self) -> bool:
        return not self.warehouse.startswith("s3://")

    def catalog(self) -> Catalog:
        from pyiceberg.catalog import load_catalog

        self.prepare_io()
        if self.local:
            Path(self.warehouse).mkdir(parents=True, exist_ok=True)
        try:
            try:
                return load_catalog(CATALOG_NAME, **self.catalog_properties)
            except Exception as exc:
                # Two processes opening a new SQL catalog at once both create its tables; the slower one fails
                # with "table iceberg_tables already exists" and opens the catalog the other made.
                if "already exists" not in str(exc):
                    raise
                return load_catalog(CATALOG_NAME, **self.catalog_properties)
        except (ValueError, ImportError, NotImplementedError) as exc:
            raise ConfigurationError(f"silver_catalog: pyiceberg cannot open it ({exc}); see docs/silver.md, "
                                     "\"Catalogs\", for the properties of each kind") from None

    def identifier(self, market: str, data_type: str) -> str:
        return f"{self.namespace}.{table_name(market, data_type)}"

    def table(self, market: str, data_type: str, *, create: bool = False, catalog: Catalog | None = None) -> Table:
        """The table of (market, data type); created (with its namespace) when ``create``, else
        ConfigurationError when there is none yet."""
        from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError

        catalog = catalog or self.catalog()
        ident = self.identifier(market, data_type)
        try:  # loaded first: creating writes a metadata file even when the table exists (an orphan every run)
            return catalog.load_table(ident)
        except NoSuchTableError:
            if not create:
                raise ConfigurationError(f"No silver table {ident}: run `raycollect convert CONFIG` first") from None
        spec = table_spec(market, data_type)
        try:
            catalog.create_namespace_if_not_exists(self.namespace)
        except Exception:  # another conversion created it a moment ago (SQLite: an IntegrityError)
            if not catalog.namespace_exists(self.namespace):
                raise
        try:
            return catalog.create_table(ident, schema=iceberg_schema(spec), partition_spec=partition_spec(spec),
                                        properties=TABLE_PROPERTIES)
        except TableAlreadyExistsError:  # another conversion created it a moment ago
            return catalog.load_table(ident)

    def tables(self, catalog: Catalog | None = None) -> list[str]:
        """The names (``spot_klines``, ...) of the tables in the namespace, sorted."""
        from pyiceberg.exceptions import NoSuchNamespaceError

        catalog = catalog or self.catalog()
        try:
            return sorted(ident[-1] for ident in catalog.list_tables(self.namespace))
        except NoSuchNamespaceError:
            return []

    def prepare_io(self) -> None:
        """Before the first S3 client of this process: against an S3 endpoint of one's own (SeaweedFS, MinIO), the
        AWS SDK under pyarrow computes checksums only where the request requires one. Its default, a checksum
        trailer on every upload, was stored inside the objects by SeaweedFS for unsigned writes (metadata files
        read back as ``726\\r\\n{...}\\r\\n0\\r\\nx-amz-checksum-crc64nvme:...``). AWS itself is left as it is."""
        if self.catalog_properties.get("s3.endpoint"):
            os.environ.setdefault("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")

    def file_io_properties(self) -> dict[str, str]:
        """The properties a task opens the warehouse's FileIO with (the s3.* keys, the catalog's own)."""
        return {k: v for k, v in self.catalog_properties.items() if k.startswith(("s3.", "py-io-impl"))}


def table_name(market: str, data_type: str) -> str:
    return f"{market}_{data_type}"


def split_table_name(name: str) -> tuple[str, str]:
    """``futures_um_fundingRate`` -> (``futures_um``, ``fundingRate``); ConfigurationError for another name."""
    from raycollect.silver.schemas import data_types

    for market in ("futures_um", "futures_cm", "options", "spot"):
        if name.startswith(market + "_") and name[len(market) + 1:] in data_types():
            return market, name[len(market) + 1:]
    raise ConfigurationError(f"{name!r} is not a silver table name: expected <market>_<data_type>, e.g. "
                             "spot_klines or futures_um_fundingRate")


def lakehouse(config: WorkflowConfig) -> Lakehouse:
    """The config's warehouse, catalog and namespace (ConfigurationError naming the fix when they cannot work)."""
    warehouse = warehouse_location(config)
    props = {str(k): str(v) for k, v in (config.silver_catalog or {}).items()}
    if not props:
        db = None
        if warehouse.startswith("s3://"):
            mdir = config.manifest_dir
            if mdir.startswith("s3://"):
                raise ConfigurationError(
                    "silver_catalog: a warehouse on s3:// with manifests on s3:// has no local place for the default "
                    "SQLite catalog; name a catalog in silver_catalog ({\"type\": \"rest\", \"uri\": ...} or "
                    "{\"type\": \"glue\"}), or set manifest_directory to a local directory")
            db = Path(mdir) / "silver_catalog.db"
        props = dict(Lakehouse.sqlite(warehouse, db=db).catalog_properties)
    props.setdefault("warehouse", warehouse if warehouse.startswith("s3://") else Path(warehouse).as_uri())
    if warehouse.startswith("s3://"):
        if config.destination_endpoint_url:
            props.setdefault("s3.endpoint", config.destination_endpoint_url)
        props.setdefault("s3.region", config.destination_region or "us-east-1")
        if config.destination_credentials == "anonymous" and "s3.access-key-id" not in props:
            props.setdefault("s3.anonymous", "true")  # the destination's, unless the catalog names its own keys
    return Lakehouse(warehouse, props, config.silver_namespace)


def warehouse_location(config: WorkflowConfig) -> str:
    text = config.silver_directory or _join(config.output_directory, "silver")
    if text.startswith("s3://"):
        bucket = text[5:].split("/", 1)[0]
        if not bucket:
            raise ConfigurationError(f"silver_directory {text!r} is not an s3://bucket/prefix URI")
        return text.rstrip("/")
    return str(Path(text).expanduser().resolve())


def _join(base: str, name: str) -> str:
    return base.rstrip("/") + "/" + name if base.startswith("s3://") else os.path.join(base, name)


# --- schemas and partitioning -------------------------------------------------------------------------------
def arrow_schema(spec: TableSpec) -> pa.Schema:
    """``spec.schema`` with each field's Iceberg id in its metadata (what a data file is written with)."""
    return pa.schema([f.with_metadata({FIELD_ID_KEY: str(i).encode()}) for i, f in enumerate(spec.schema, start=1)])


def iceberg_schema(spec: TableSpec) -> Schema:
    from pyiceberg.io.pyarrow import pyarrow_to_schema

    return pyarrow_to_schema(arrow_schema(spec))


def partition_spec(spec: TableSpec) -> PartitionSpec:
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform, MonthTransform

    ids = {f.name: i for i, f in enumerate(spec.schema, start=1)}
    key = spec.partition_column
    fields = [PartitionField(ids[key], 1000, IdentityTransform(), key)]
    if spec.kline:
        fields.append(PartitionField(ids["interval"], 1001, IdentityTransform(), "interval"))
    time = spec.time_column
    fields.append(PartitionField(ids[time], 1000 + len(fields), MonthTransform(), f"{time}_month"))
    return PartitionSpec(*fields)


__all__ = ["Lakehouse", "arrow_schema", "iceberg_schema", "lakehouse", "partition_spec", "split_table_name",
           "table_name"]
