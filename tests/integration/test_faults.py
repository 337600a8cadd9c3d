"""Faults between the collector and a real S3 server (SeaweedFS behind tests/fault_proxy.py), every engine.

Each test asserts the manifest rows, the bytes at the final paths (zip and sidecar) and that no
temporary file is left anywhere in the output tree.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pytest

from raycollect.manifest import files_glob
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import BAD_SIDECAR, GAP, NO_SIDECAR, collect_config
from tests.fault_proxy import FaultProxy, Rule

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]
ENGINES = ["curl", "s5cmd", "boto3", "http"]
DAY = "data/{m}/daily/aggTrades/{s}/{s}-aggTrades-2024-{d}.zip"
PATHS = {"spot": "spot", "futures_um": "futures/um"}


def key(market: str, symbol: str, day: str) -> str:
    return DAY.format(m=PATHS[market], s=symbol, d=day)


def run(cfg: dict) -> dict:
    return ArchiveCollectionWorkflow(cfg, show_progress=False).execute()


def rows(out: Path, run_id: str) -> dict[str, dict]:
    rel = duckdb.sql(f"SELECT * FROM read_parquet('{files_glob(out / '_manifests')}', hive_partitioning=true) "
                     f"WHERE run_id = '{run_id}'")
    return {r[rel.columns.index("key")]: dict(zip(rel.columns, r, strict=True)) for r in rel.fetchall()}


def leftovers(out: Path) -> list[str]:
    """Every file in the output tree that is neither a collected file, its sidecar, nor a manifest."""
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and "_manifests" not in p.parts
                  and not p.name.endswith((".zip", ".zip.CHECKSUM"))) + sorted(
        str(p.relative_to(out)) for p in out.rglob("*") if ".raycollect-staging" in p.parts or ".part" in p.name)


def assert_collected_exactly(archive, out: Path, keys: list[str]) -> None:
    for k in keys:
        assert hashlib.sha256((out / k).read_bytes()).hexdigest() == archive.generated.sha256[k]
        assert (out / (k + ".CHECKSUM")).read_bytes() == (archive.source / (k + ".CHECKSUM")).read_bytes()


GOOD = [key("spot", "BTCUSDT", d) for d in ("01-30", "01-31", "02-01", "02-02", "02-03")] + [
    key("futures_um", "BTCUSDT", d) for d in ("01-30", "01-31", "02-01")]


def one_fault_per_file() -> list[Rule]:
    """One fault class per file, each injected into the first request(s) for it (fresh hit counters)."""
    return [
        Rule(GOOD[0], "slowdown", times=1),
        Rule(GOOD[1], "error500", times=1),
        Rule(GOOD[2], "reset", times=1),
        Rule(GOOD[3], "truncate", times=1, method="GET"),
        Rule(GOOD[4], "flip", times=1, method="GET"),
        Rule(GOOD[5] + ".CHECKSUM", "damage", times=1, method="GET"),
        Rule(GOOD[6] + ".CHECKSUM", "notfound", times=1, method="GET"),
        Rule(GOOD[7] + ".CHECKSUM", "reset", times=1),
    ]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_fault_class_is_survived_and_nothing_damaged_lands(archive, tmp_path, engine):
    rules = one_fault_per_file()
    with FaultProxy(archive.endpoint_url, rules=rules) as proxy:
        result = run(collect_config(archive, tmp_path, endpoint_url=proxy.endpoint_url, downloader=engine))
    assert [r.hits for r in rules] == [1] * len(rules)  # every fault really happened
    got = rows(tmp_path, result["run_id"])
    assert len(got) == 20
    for k in GOOD:
        assert (got[k]["status"], got[k]["checksum_verified"], got[k]["error"]) == ("success", True, None), k
    # 503 and 500 are retried inside every engine. Flipped bytes and a damaged or missing sidecar cost a round
    # with curl, boto3 and http; s5cmd sizes each object with a HEAD first and retries a body that disagrees itself.
    assert got[GOOD[0]]["attempts"] == got[GOOD[1]]["attempts"] == 1
    if engine != "s5cmd":
        assert got[GOOD[4]]["attempts"] == got[GOOD[5]]["attempts"] == got[GOOD[6]]["attempts"] == 2
    assert all(got[k]["attempts"] <= 2 for k in GOOD)
    assert_collected_exactly(archive, tmp_path, GOOD)
    assert (got[GAP]["status"], got[BAD_SIDECAR]["status"], got[NO_SIDECAR]["status"]) == (
        "missing", "failed", "failed")
    assert not (tmp_path / BAD_SIDECAR).exists() and not (tmp_path / (BAD_SIDECAR + ".CHECKSUM")).exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_sidecar_naming_another_file_every_time_quarantines_its_file_never_at_its_target(archive, tmp_path,
                                                                                            engine):
    k = GOOD[2]
    with FaultProxy(archive.endpoint_url, rules=[Rule(k + ".CHECKSUM", "damage", times=99, method="GET")]) as proxy:
        result = run(collect_config(archive, tmp_path, endpoint_url=proxy.endpoint_url, downloader=engine))
    row = rows(tmp_path, result["run_id"])[k]
    name = k.rsplit("/", 1)[1]
    assert (row["status"], row["attempts"]) == ("quarantined", 3)
    assert row["error"].startswith(f"checksum sidecar malformed sidecar (names 'ETHUSDT-1mM-R2024-02-01.zip', not "
                                   f"'{name}'): ")
    assert row["error"].endswith(f" (kept at _quarantine/{k})")
    assert not (tmp_path / k).exists() and not (tmp_path / (k + ".CHECKSUM")).exists()
    assert (tmp_path / "_quarantine" / k).read_bytes() == (archive.source / k).read_bytes()
    assert result["exit_code"] == 3 and leftovers(tmp_path) == []


@pytest.mark.parametrize("engine", ENGINES)
def test_a_stalled_response_fails_only_that_file_as_timed_out_with_its_true_attempts(archive, tmp_path, engine):
    k = GOOD[1]
    rule = Rule(k, "stall", times=99, method="GET")
    with FaultProxy(archive.endpoint_url, rules=[rule], stall_seconds=4) as proxy:
        result = run(collect_config(archive, tmp_path, endpoint_url=proxy.endpoint_url, downloader=engine,
                                    timeout_seconds=1))
    got = rows(tmp_path, result["run_id"])
    assert (got[k]["status"], got[k]["attempts"]) == ("failed", 3)
    assert "timed out" in got[k]["error"] or "Read timeout" in got[k]["error"]
    same_shard = [g for g in GOOD if g != k and g.startswith("data/spot")]
    assert all(got[g]["status"] == "success" for g in same_shard)  # the stall did not starve its shard
    assert not (tmp_path / k).exists() and leftovers(tmp_path) == []
    rerun = run(collect_config(archive, tmp_path, endpoint_url=archive.endpoint_url, downloader=engine))
    assert rows(tmp_path, rerun["run_id"])[k]["status"] == "success"
    assert_collected_exactly(archive, tmp_path, GOOD)


def test_a_damaged_sidecar_at_the_final_path_is_found_by_resume_and_replaced(archive, tmp_path):
    cfg = collect_config(archive, tmp_path, downloader="http")
    run(cfg)
    k = GOOD[3]
    original = (tmp_path / (k + ".CHECKSUM")).read_bytes()
    digest = original.split()[0].decode()
    (tmp_path / (k + ".CHECKSUM")).write_bytes(f"{digest}  ETHUSDT-1mM-R2024-02-01.zip".encode())
    second = run(cfg)
    row = rows(tmp_path, second["run_id"])[k]
    assert (row["status"], row["checksum_verified"]) == ("skipped", True)
    assert (tmp_path / (k + ".CHECKSUM")).read_bytes() == original
    assert second["collection_stats"]["skipped_tasks"] == 17 and leftovers(tmp_path) == []


def test_progress_moves_per_file_while_a_shard_is_still_running(archive, tmp_path, monkeypatch):
    from raycollect.progress import Progress

    seen: list[int] = []
    original = Progress.show_inflight

    def spy(self, files, nbytes):
        seen.append(files)
        original(self, files, nbytes)

    monkeypatch.setattr(Progress, "show_inflight", spy)
    with FaultProxy(archive.endpoint_url, rules=[Rule(GOOD[0], "stall", times=1, method="GET")],
                    stall_seconds=4) as proxy:
        cfg = collect_config(archive, tmp_path, endpoint_url=proxy.endpoint_url, downloader="http", batch_size=20,
                             max_parallel_downloads=1)  # one actor: the run keeps its one shard of 20 whole
        result = ArchiveCollectionWorkflow(cfg, show_progress=True).execute()
    assert result["collection_stats"]["successful_tasks"] == 17
    # One shard of 20 files: before it reported, the bar had already counted most of its files one by one.
    assert max(seen) >= 15, seen
