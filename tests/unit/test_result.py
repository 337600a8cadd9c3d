"""A run's status and exit code, and the seed's result dict, from counts alone (no run)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest

from raycollect.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNEXPECTED
from raycollect.models import IngestionMetadata
from raycollect.result import RunResult, exit_code_of, run_status

T = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)


def result(counts: dict[str, int], **kw) -> RunResult:
    status = kw.pop("status", None) or run_status(counts, strict=kw.get("strict", False), error=kw.get("error"),
                                                  interrupted=False)
    return RunResult(run_id="r1", status=status, planned=sum(counts.values()), counts=counts, total_bytes=2048,
                     seconds=2.0, output_directory="/out", manifest_directory="/out/_manifests",
                     metadata=IngestionMetadata(task_id="r1", status=status, created_at=T, updated_at=T), **kw)


@pytest.mark.parametrize(("counts", "strict", "status", "code"), [
    ({"success": 3, "skipped": 1}, False, "success", EXIT_OK),
    ({"success": 3, "missing": 2}, False, "success", EXIT_OK),  # not in the archive: a fact, not a failure
    ({"success": 3, "missing": 2}, True, "partial", EXIT_FAILED),  # unless the run is strict
    ({"success": 3, "failed": 1}, False, "partial", EXIT_FAILED),
    ({"success": 3, "quarantined": 1}, False, "partial", EXIT_FAILED),
    ({"success": 3, "removed": 4}, False, "success", EXIT_OK),  # the local copies are kept
])
def test_failed_quarantined_and_strict_missing_files_make_a_run_partial(counts, strict, status, code):
    assert run_status(counts, strict=strict, error=None, interrupted=False) == status
    assert result(counts, strict=strict).exit_code == code
    assert exit_code_of(status, counts, strict=strict, error=None) == code


def test_an_interrupt_outranks_an_error_and_an_error_outranks_failed_files():
    counts = {"success": 1, "failed": 1}
    assert run_status(counts, strict=False, error="OSError: disk", interrupted=True) == "interrupted"
    assert run_status(counts, strict=False, error="OSError: disk", interrupted=False) == "failed"
    assert result(counts, status="interrupted").exit_code == EXIT_INTERRUPTED
    assert result(counts, error="OSError: disk").exit_code == EXIT_UNEXPECTED


def test_a_failed_conversion_fails_a_collection_that_succeeded():
    ok = result({"success": 2})
    assert ok.exit_code == EXIT_OK
    conversion = SimpleNamespace(counts={"converted": 1, "failed": 1}, wrote=True)
    assert RunResult(**{**ok.__dict__, "conversion": conversion}).exit_code == EXIT_FAILED


def test_the_seed_dict_keeps_the_original_keys_and_figures():
    r = result({"success": 3, "skipped": 1, "failed": 1}, failures=(("k", "HTTP 500"),), tried=4)
    seed = r.to_seed_dict()
    assert seed["collection_stats"] == {"total_tasks": 5, "successful_tasks": 3, "failed_tasks": 1,
                                        "skipped_tasks": 1, "missing_tasks": 0, "total_bytes": 2048,
                                        "processing_time_seconds": 2.0}
    assert (seed["status"], seed["exit_code"], seed["success_rate"]) == ("partial", EXIT_FAILED, 80.0)
    assert (seed["storage_zones_used"], seed["failures"], seed["total_size_formatted"]) == (
        ["bronze"], [("k", "HTTP 500")], "2.0 KB")
    assert r["run_id"] == "r1" and r.get("nothing", 7) == 7
    assert r.files_per_second == 2.0  # 4 requested in 2 s; the skipped one was never requested
