"""The collection state and the streaming driver: batch sizes, newest facts, old manifests, concurrent runs."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from raycollect.cli.main import main
from raycollect.manifest import files_glob
from raycollect.manifest.state import FACT_FILTER, read_state, refresh
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import collect_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


def run(cfg: dict, **kw) -> dict:
    return ArchiveCollectionWorkflow(cfg, show_progress=False, **kw).execute()


def rows(manifests: Path, run_id: str) -> list[tuple]:
    return duckdb.sql(f"SELECT key, status, size_bytes, sha256, expected_sha256, checksum_verified, attempts, error "
                      f"FROM read_parquet('{files_glob(manifests)}', hive_partitioning = true) "
                      f"WHERE run_id = '{run_id}' ORDER BY key").fetchall()


def newest_facts_from_every_run(manifests: Path) -> list[tuple]:
    return duckdb.sql(
        f"SELECT key, status, size_bytes, sha256, run_id FROM read_parquet('{files_glob(manifests)}', "
        f"hive_partitioning = true) WHERE {FACT_FILTER} QUALIFY row_number() OVER (PARTITION BY key ORDER BY "
        "finished_at DESC, run_id DESC) = 1 ORDER BY key").fetchall()


def state_facts(manifests: Path) -> list[tuple]:
    state = read_state(manifests)
    return [tuple(r.values()) for r in pq.read_table(state.data, columns=["key", "status", "size_bytes", "sha256",
                                                                          "run_id"]).to_pylist()]


def test_tiny_plan_batches_give_the_same_results_as_one_batch(archive, tmp_path):
    results = {}
    for name, batch_rows in (("one", 1_000_000), ("tiny", 3)):
        out = tmp_path / name
        cfg = collect_config(archive, out, downloader="http")
        first = run(cfg, plan_batch_rows=batch_rows)
        second = run(cfg, plan_batch_rows=batch_rows)
        results[name] = [[r[:6] for r in rows(out / "_manifests", x["run_id"])] for x in (first, second)]
        assert second["collection_stats"]["skipped_tasks"] == 17
    assert results["one"] == results["tiny"]


def test_the_state_equals_the_newest_row_per_key_of_all_runs(archive, tmp_path):
    cfg = collect_config(archive, tmp_path, downloader="http")
    run(cfg)
    noop = run(cfg)  # skipped files have no row; the missing and failed ones are asked again (a fact each)
    assert "skipped" not in {r[1] for r in rows(tmp_path / "_manifests", noop["run_id"])}
    data_before = read_state(tmp_path / "_manifests").data
    run({**cfg, "force_redownload": True})
    last = run({**cfg, "markets": ["spot"], "symbols": ["BTCUSDT"]})  # only skips: no row, nothing to cover
    state = read_state(tmp_path / "_manifests")
    assert state.data != data_before
    assert len(state.covers) == 3 and last["run_id"] not in state.covers
    assert state_facts(tmp_path / "_manifests") == newest_facts_from_every_run(tmp_path / "_manifests")


def test_manifests_without_a_state_are_read_as_they_are(archive, tmp_path):
    """Manifests written by raycollect 0.1 have no state/ directory: every run is read."""
    cfg = collect_config(archive, tmp_path, downloader="http")
    first = run(cfg)
    shutil.rmtree(tmp_path / "_manifests" / "state")
    second = run(cfg)
    assert second["collection_stats"]["skipped_tasks"] == 17  # from the state rebuilt out of the first run's rows
    assert "skipped" not in {r[1] for r in rows(tmp_path / "_manifests", second["run_id"])}  # skipped: no row
    assert read_state(tmp_path / "_manifests").covers == {first["run_id"], second["run_id"]}


def test_two_runs_at_once_on_one_manifest_directory_lose_no_row(archive, tmp_path):
    spot = collect_config(archive, tmp_path, downloader="http", markets=["spot"])
    futures = collect_config(archive, tmp_path, downloader="http", markets=["futures_um"])
    results: dict[str, dict] = {}
    threads = [threading.Thread(target=lambda n=n, c=c: results.__setitem__(n, run(c)))
               for n, c in (("spot", spot), ("futures", futures))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    manifests = tmp_path / "_manifests"
    assert len(rows(manifests, results["spot"]["run_id"])) == len(rows(manifests, results["futures"]["run_id"])) == 10
    third = run(collect_config(archive, tmp_path, downloader="http"))
    assert third["collection_stats"]["skipped_tasks"] == 17  # both runs' files are known to the third
    refresh(manifests)
    assert state_facts(manifests) == newest_facts_from_every_run(manifests)


def test_compact_rebuilds_the_state_from_every_run(archive, tmp_path, capsys):
    cfg = collect_config(archive, tmp_path, downloader="http")
    run(cfg)
    run({**cfg, "force_redownload": True})
    assert main(["manifest", "compact", "--manifest-directory", str(tmp_path / "_manifests")]) == 0
    assert capsys.readouterr().out.startswith("state: 20 keys from 2 finished runs in ")
    assert state_facts(tmp_path / "_manifests") == newest_facts_from_every_run(tmp_path / "_manifests")
