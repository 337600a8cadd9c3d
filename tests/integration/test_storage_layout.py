"""The seed's pluggable storage: a custom get_partition_path decides where files land; bad answers are refused."""

import hashlib

import duckdb
import pytest

from raycollect.manifest import files_glob
from raycollect.storage import LocalStorage
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import collect_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


def test_custom_layout_places_files_and_manifest_follows(archive, tmp_path):
    class HiveLayout(LocalStorage):  # defined here: Ray ships it to the actors by value
        def get_partition_path(self, *, market, data_type, partition, symbol, interval, period, key):
            return f"bronze/{market}/{data_type}/symbol={symbol}/date={period}/{key.rsplit('/', 1)[1]}"

    cfg = collect_config(archive, tmp_path, markets=["spot"], symbols=["BTCUSDT"])
    result = ArchiveCollectionWorkflow(cfg, storage=HiveLayout(tmp_path), show_progress=False).execute()
    assert result["collection_stats"]["successful_tasks"] == 5
    rows = duckdb.sql(f"SELECT key, target_path, sha256 FROM read_parquet('{files_glob(tmp_path / '_manifests')}') "
                      "ORDER BY key").fetchall()
    assert [r[1] for r in rows] == [
        f"{tmp_path}/bronze/spot/aggTrades/symbol=BTCUSDT/date=2024-{d}/BTCUSDT-aggTrades-2024-{d}.zip"
        for d in ("01-30", "01-31", "02-01", "02-02", "02-03")]
    for key, target, sha in rows:
        assert hashlib.sha256(open(target, "rb").read()).hexdigest() == sha == archive.generated.sha256[key]
    assert not (tmp_path / "data").exists()


def test_a_layout_that_escapes_the_destination_is_refused(archive, tmp_path):
    class Escaping(LocalStorage):
        def get_partition_path(self, **row):
            return "../outside/" + row["key"]

    out = tmp_path / "out"
    result = ArchiveCollectionWorkflow(collect_config(archive, out), storage=Escaping(out),
                                       show_progress=False).execute()
    assert result["status"] == "failed" and result["exit_code"] == 1
    assert result["error"].startswith("WorkflowError: refusing target path '../outside/data/")
    assert not (tmp_path / "outside").exists()


def test_convert_with_a_layout_of_its_own_is_refused_before_anything_is_fetched(archive, tmp_path):
    from raycollect.errors import ConfigurationError

    class Flat(LocalStorage):
        def get_partition_path(self, **row):
            return "flat/" + row["key"].rsplit("/", 1)[1]

    cfg = collect_config(archive, tmp_path, markets=["spot"], symbols=["BTCUSDT"], convert=True)
    with pytest.raises(ConfigurationError, match=r"convert: true reads each collected zip at output_directory/"):
        ArchiveCollectionWorkflow(cfg, storage=Flat(tmp_path), show_progress=False).execute()
    assert not (tmp_path / "flat").exists() and not (tmp_path / "_manifests").exists()
