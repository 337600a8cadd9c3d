"""Helpers of the silver tests: series of their own uploaded to the local archive, and reads of the tables."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from io import BytesIO
from pathlib import Path

import boto3
import duckdb
from botocore import UNSIGNED
from botocore.config import Config

from raycollect.config import WorkflowConfig
from raycollect.mirror.generate import sidecar_text
from raycollect.silver.job import SilverJob
from raycollect.silver.read import views
from raycollect.silver.tables import lakehouse, split_table_name
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import collect_config


def collect(cfg: dict, **kw):
    return ArchiveCollectionWorkflow(cfg, show_progress=False, **kw).execute()


def convert(cfg: dict, **kw):
    return SilverJob(WorkflowConfig(cfg), show_progress=False, **kw).execute()


def sql(cfg: dict, query: str, as_of: str | int | None = None) -> list[tuple]:
    """``query`` over the config's silver tables (a DuckDB view per table, as `raycollect query` makes them)."""
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        views(con, lakehouse(WorkflowConfig(cfg)), as_of=as_of)
        return con.sql(query).fetchall()
    finally:
        con.close()


def data_files(cfg: dict, name: str) -> list[str]:
    from raycollect.silver.read import data_files as current

    lake = lakehouse(WorkflowConfig(cfg))
    return sorted(current(lake.table(*split_table_name(name))))


def candles(day: dt.date, hours: int, first_price: float = 1.0) -> str:
    t0 = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()) * 1000
    return "".join(f"{t0 + h * 3_600_000},{first_price + h},2,0.5,1.5,10,{t0 + (h + 1) * 3_600_000 - 1},15,7,5,7.5,0\n"
                   for h in range(hours))


def publish(archive, key: str, csv_text: str) -> str:
    """Upload a zip holding ``csv_text`` and its sidecar at ``key`` (again: a re-publication); its sha256."""
    name = key.rsplit("/", 1)[1]
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(name[:-4] + ".csv", csv_text)
    return publish_zip(archive, key, buf.getvalue())


def publish_zip(archive, key: str, payload: bytes) -> str:
    """Upload the zip ``payload`` and a sidecar that matches it at ``key``; its sha256."""
    name = key.rsplit("/", 1)[1]
    digest = hashlib.sha256(payload).hexdigest()
    s3 = boto3.client("s3", endpoint_url=archive.endpoint_url, region_name="us-east-1",
                      config=Config(signature_version=UNSIGNED))
    s3.put_object(Bucket=archive.bucket, Key=key, Body=payload)
    s3.put_object(Bucket=archive.bucket, Key=key + ".CHECKSUM", Body=sidecar_text("spot", digest, name).encode())
    return digest


def own_series(archive, tmp_path: Path, symbol: str, start: str, end: str, **kw) -> dict:
    return collect_config(archive, tmp_path, markets=["spot"], symbols=[symbol], data_types=["klines"],
                          intervals={"klines": ["1h"]}, date_range={"start": start, "end": end}, **kw)


