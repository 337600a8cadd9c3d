"""An s3:// output_directory: a second bucket on the local archive server receives every verified file
and nothing unverified; resume works against the bucket; local scratch is left empty."""

import hashlib

import duckdb
import pytest

from raycollect.manifest import files_glob
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import BAD_SIDECAR, NO_SIDECAR, collect_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


def bucket_objects(s3, bucket):
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            out[obj["Key"]] = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
    return out


@pytest.mark.parametrize("engine", ["s5cmd", "boto3"])
def test_s3_destination_gets_only_verified_files(archive, tmp_path, engine):
    dest = f"collected-{engine}"
    archive.server.create_bucket(dest)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    cfg = collect_config(archive, "unused", output_directory=f"s3://{dest}/binance/", downloader=engine,
                         manifest_directory=str(tmp_path / "manifests"), destination_endpoint_url=archive.endpoint_url,
                         destination_credentials="anonymous", local_data_dir=str(scratch))
    result = ArchiveCollectionWorkflow(cfg, show_progress=False).execute()
    s = result["collection_stats"]
    assert (s["successful_tasks"], s["missing_tasks"], s["failed_tasks"]) == (17, 1, 2)
    s3 = archive.server.client()
    objects = bucket_objects(s3, dest)
    verified = {k: v for k, v in archive.generated.sha256.items() if "/daily/aggTrades/" in k}
    verified = {k: v for k, v in verified.items() if k not in (BAD_SIDECAR, NO_SIDECAR)}
    assert set(objects) == {f"binance/{k}" for k in verified} | {f"binance/{k}.CHECKSUM" for k in verified}
    for key, sha in verified.items():
        assert hashlib.sha256(objects[f"binance/{key}"]).hexdigest() == sha
    rows = duckdb.sql(f"SELECT key, target_path, status FROM read_parquet('{files_glob(tmp_path / 'manifests')}') "
                      "WHERE status = 'success'").fetchall()
    assert sorted(r[1] for r in rows) == sorted(f"s3://{dest}/binance/{k}" for k in verified)
    assert list(scratch.iterdir()) == []  # scratch cleaned, failures included

    again = ArchiveCollectionWorkflow(cfg, show_progress=False).execute()["collection_stats"]
    assert (again["skipped_tasks"], again["successful_tasks"]) == (17, 0)  # resume reads the bucket, not a disk


def test_an_s3_output_keeps_its_manifests_beside_it_by_default(archive):
    from raycollect.config import WorkflowConfig

    assert WorkflowConfig(collect_config(archive, "unused", output_directory="s3://b/p/")).manifest_dir == (
        "s3://b/p/_manifests")


def test_manifests_on_s3_are_read_by_the_cli_and_resumed_from_a_fresh_machine(archive, tmp_path, capsys):
    import json

    from raycollect.cli.main import main

    archive.server.create_bucket("mirror")
    base = dict(output_directory="s3://mirror/binance/", manifest_directory="s3://mirror/manifests",
                destination_endpoint_url=archive.endpoint_url, destination_credentials="anonymous", downloader="http")
    machine = {}
    for name in ("first", "cli", "second"):  # each with its own local scratch: nothing shared but the bucket
        (tmp_path / name).mkdir()
        machine[name] = collect_config(archive, "unused", local_data_dir=str(tmp_path / name), **base)
    first = ArchiveCollectionWorkflow(machine["first"], show_progress=False).execute()
    assert first["collection_stats"]["successful_tasks"] == 17
    assert first["manifest_directory"] == "s3://mirror/manifests"
    keys = set(bucket_objects(archive.server.client(), "mirror"))
    assert f"manifests/runs/run_id={first['run_id']}/run.parquet" in keys
    assert any(k.startswith(f"manifests/files/run_id={first['run_id']}/part-") for k in keys)
    assert any(k.startswith("manifests/state/state-") for k in keys)
    assert not [k for k in keys if k.endswith(".tmp") or "/." in k]  # only complete files, each one PUT

    path = tmp_path / "cli.json"
    path.write_text(json.dumps(machine["cli"]))
    capsys.readouterr()
    assert main(["manifest", "summary", "--config", str(path), "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary[0]["run_id"] == first["run_id"]
    assert (summary[0]["success"], summary[0]["missing"], summary[0]["failed"]) == (17, 1, 2)

    second = ArchiveCollectionWorkflow(machine["second"], show_progress=False).execute()
    s = second["collection_stats"]
    assert (s["skipped_tasks"], s["successful_tasks"]) == (17, 0)  # resumed from the manifests in the bucket
