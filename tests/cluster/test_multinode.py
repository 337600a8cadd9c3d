"""Multi-node behaviour on a local multi-node Ray: placement by resource, and losing a node mid-run."""

import hashlib
import json
import subprocess
import sys

import duckdb
import pytest

from raycollect.manifest import files_glob
from tests.conftest import collect_config
from tests.helpers import ROOT

pytestmark = pytest.mark.integration


def scenario(archive, tmp_path, *flags, **cfg_overrides):
    out = tmp_path / "out"
    cfg = collect_config(archive, out, **cfg_overrides)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    proc = subprocess.run([sys.executable, str(ROOT / "tests/cluster/multinode_scenario.py"), archive.endpoint_url,
                           str(out), str(path), *flags], capture_output=True, text=True, timeout=600, cwd=ROOT)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("REPORT ")), None)
    assert line, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(line[len("REPORT "):])
    rows = duckdb.sql(f"SELECT key, status, sha256, node_id FROM read_parquet('{files_glob(out / '_manifests')}') "
                      "ORDER BY key").fetchall()
    return out, report, rows


def check_destination(out, rows):
    """The manifest equals the destination: every success row is a verified file, and nothing else is there."""
    ok = {k: sha for k, status, sha, _ in rows if status == "success"}
    final = {str(p.relative_to(out)) for p in (out / "data").rglob("*") if p.is_file() and not p.name.startswith(".")}
    assert final == set(ok) | {k + ".CHECKSUM" for k in ok}
    for key, sha in ok.items():
        assert hashlib.sha256((out / key).read_bytes()).hexdigest() == sha


def test_actors_spread_over_downloader_nodes_and_survive_a_lost_node(archive, tmp_path):
    out, report, rows = scenario(archive, tmp_path, "--kill-node", batch_size=1, data_types=["klines", "aggTrades"],
                                 intervals={"klines": ["1m", "1h"]})
    assert report["error"] is None and report["killed"] in report["downloaders"]
    assert report["killed_after"] < 60 - 8, report  # removed with shards still to hand out (4 actors x 2 in flight)
    assert report["dispatch"]["replaced_actors"] >= 1  # the lost node's actors died and were replaced
    stats = report["stats"]
    assert (stats["total_tasks"], stats["successful_tasks"], stats["missing_tasks"], stats["failed_tasks"]) == (
        60, 57, 1, 2)  # every planned file accounted for, exactly as on one node
    assert len(rows) == len({r[0] for r in rows}) == 60
    nodes = {node for _, status, _, node in rows if status == "success"}
    assert report["head"] not in nodes  # the head offers no downloader resource
    assert nodes <= set(report["downloaders"]) and len(nodes) == 2
    check_destination(out, rows)
