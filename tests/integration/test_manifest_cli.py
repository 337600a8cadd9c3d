"""Every `raycollect manifest` subcommand, on the manifest of a real run over the test archive."""

import csv as csvlib
import io
import json

import pytest

from raycollect.cli.main import main
from raycollect.manifest import Manifests
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.conftest import BAD_SIDECAR, GAP, NO_SIDECAR, collect_config

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]


@pytest.fixture(scope="module")
def collected(archive, tmp_path_factory):
    out = tmp_path_factory.mktemp("collected")
    cfg = collect_config(archive, out)
    first = ArchiveCollectionWorkflow(cfg, show_progress=False).execute()
    second = ArchiveCollectionWorkflow(cfg, show_progress=False).execute()
    (out / "c.json").write_text(json.dumps(cfg))
    return out, first["run_id"], second["run_id"]


def ask(capsys, *args):
    assert main(["manifest", *args]) == 0
    return capsys.readouterr().out


def test_summary_per_run_and_overall(collected, capsys):
    out, r1, r2 = collected
    rows = json.loads(ask(capsys, "summary", "--config", str(out / "c.json"), "--format", "json"))
    assert [r["run_id"] for r in rows] == [r1, r2, "ALL"]
    pick = [(r["files"], r["success"], r["skipped"], r["missing"], r["failed"]) for r in rows]
    assert pick == [(20, 17, 0, 1, 2), (20, 0, 17, 1, 2), (40, 17, 17, 2, 4)]
    assert rows[0]["bytes"] == rows[2]["bytes"] > 0 and rows[1]["bytes"] == 0
    table = ask(capsys, "summary", "--manifest-directory", str(out / "_manifests"))
    assert table.splitlines()[0].split()[:7] == ["run_id", "status", "files", "success", "skipped", "missing",
                                                 "failed"]
    assert table.rstrip().endswith("(3 rows)")
    # seconds: the run's wall time from its record; files/s: the files requested (not the skipped) per second
    with Manifests(str(out / "_manifests")) as m:
        recorded = {r["run_id"]: r["seconds"] for r in m.query("SELECT run_id, seconds FROM runs").to_pylist()}
    assert [r["seconds"] for r in rows[:2]] == [round(recorded[r1], 3), round(recorded[r2], 3)]
    assert rows[0]["files_per_s"] == round(20 / rows[0]["seconds"], 1)  # 17 + 1 missing (a 404) + 2 failed
    assert rows[1]["files_per_s"] == round(3 / rows[1]["seconds"], 1)  # the 17 skipped were not requested


def test_a_run_stopped_before_its_record_is_listed_as_interrupted(collected, capsys, tmp_path):
    import shutil

    out, r1, r2 = collected
    copy = tmp_path / "m"
    shutil.copytree(out / "_manifests", copy)
    shutil.rmtree(copy / "runs" / f"run_id={r2}")  # as a double Ctrl-C leaves it: rows, no run record
    rows = json.loads(ask(capsys, "query", "--manifest-directory", str(copy), "SELECT run_id, status, success, "
                          "skipped, error FROM runs ORDER BY run_id", "--format", "json"))
    # Its skipped files had no row (only the run record counts them): what it fetched or failed is what is known.
    assert [(r["run_id"], r["status"], r["skipped"]) for r in rows] == [(r1, "partial", 0), (r2, "interrupted", 0)]
    assert rows[1]["error"] == "no run record: the run was stopped before it finished"
    summary = json.loads(ask(capsys, "summary", "--manifest-directory", str(copy), "--format", "json"))
    assert [r["status"] for r in summary] == ["partial", "interrupted", None]


def test_failed_lists_reasons_per_run(collected, capsys):
    out, r1, _ = collected
    csv = ask(capsys, "failed", "--manifest-directory", str(out / "_manifests"), "--run", r1, "--format", "csv")
    assert csv.splitlines()[0] == "run_id,key,attempts,error"
    rows = list(csvlib.reader(io.StringIO(csv)))[1:]
    assert [r[:3] for r in rows] == [[r1, BAD_SIDECAR, "2"], [r1, NO_SIDECAR, "3"]]  # a mismatch is fetched twice
    assert rows[0][3].startswith("checksum mismatch: expected ") and ", got " in rows[0][3]
    assert rows[1][3] == f"checksum sidecar missing: {NO_SIDECAR}.CHECKSUM"
    everything = json.loads(ask(capsys, "failed", "--manifest-directory", str(out / "_manifests"), "--format", "json"))
    assert len(everything) == 4


def test_gaps_reports_exactly_the_absent_days(collected, capsys):
    out, _, _ = collected
    m = str(out / "_manifests")
    got = json.loads(ask(capsys, "gaps", "--manifest-directory", m, "--market", "spot", "--data-type", "aggTrades",
                         "--symbol", "ETHUSDT", "--start", "2024-01-28", "--end", "2024-02-03", "--format", "json"))
    assert got == [{"period": "2024-01-28"}, {"period": "2024-01-29"}, {"period": "2024-02-01"},
                   {"period": "2024-02-02"}]
    assert GAP.endswith("2024-02-01.zip") and NO_SIDECAR.endswith("2024-02-02.zip")
    none = ask(capsys, "gaps", "--manifest-directory", m, "--market", "spot", "--data-type", "aggTrades",
               "--symbol", "BTCUSDT", "--start", "2024-01-30", "--end", "2024-02-03")
    assert none.strip().endswith("(0 rows)")
    months = json.loads(ask(capsys, "gaps", "--manifest-directory", m, "--market", "futures_um", "--data-type",
                            "fundingRate", "--symbol", "BTCUSDT", "--start", "2024-01-15", "--end", "2024-03-01",
                            "--format", "json"))
    assert months == [{"period": "2024-01"}, {"period": "2024-02"}, {"period": "2024-03"}]


def test_gaps_of_candles_without_an_interval_is_an_error_never_a_list_of_every_day(collected, capsys):
    out, _, _ = collected
    assert main(["manifest", "gaps", "--manifest-directory", str(out / "_manifests"), "--market", "spot",
                 "--data-type", "klines", "--symbol", "BTCUSDT", "--start", "2024-01-30", "--end", "2024-02-03"]) == 2
    assert capsys.readouterr().err == ("raycollect: error: gaps: klines has a series per interval: pass --interval "
                                       "(e.g. --interval 1h); without it every day would look missing\n")


def test_query_over_files_runs_and_latest(collected, capsys):
    out, r1, _ = collected
    m = str(out / "_manifests")
    rows = json.loads(ask(capsys, "query", "--manifest-directory", m, "--format", "json",
                          "SELECT (SELECT count(*) FROM files) AS f, (SELECT count(*) FROM runs) AS r, "
                          "(SELECT count(*) FROM latest) AS l, (SELECT count(*) FROM latest WHERE run_id = "
                          f"'{r1}') AS l1"))
    # run 2 skipped the 17 collected files (no rows: nothing new) and asked the 3 others again; latest: from run 1
    assert rows == [{"f": 23, "r": 2, "l": 17, "l1": 17}]
    with Manifests(m) as api:
        latest = api.latest()
        assert latest.num_rows == 17 and set(latest["run_id"].to_pylist()) == {r1}
        assert api.summary().num_rows == 3


def test_errors_are_one_line_exit_2(collected, capsys, tmp_path):
    out, _, _ = collected
    assert main(["manifest", "query", "--manifest-directory", str(out / "_manifests"), "SELECT nope FROM files"]) == 2
    assert capsys.readouterr().err.startswith("raycollect: error: Query failed: Binder Error: ")
    assert main(["manifest", "summary", "--manifest-directory", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (f"raycollect: error: No manifests in {tmp_path}: run `raycollect run` first, "
                                       "or pass the right --manifest-directory\n")
