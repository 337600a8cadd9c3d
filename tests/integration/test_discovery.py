"""Discovery, monthly-by-daily, re-verification and manifest queries on an archive with real-world gaps."""

import hashlib
import json
from pathlib import Path

import pytest

from raycollect.cli.main import main
from raycollect.manifest import Manifests
from raycollect.mirror import LocalArchive, Quirks, generate_archive, plan_for
from raycollect.mirror.generate import sidecar_text, zip_bytes
from raycollect.workflow import ArchiveCollectionWorkflow
from tests.helpers import MATRIX

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("ray_local")]

K = "data/spot/{p}/klines/{s}/1h/{s}-1h-{d}.zip"
FEB_MONTHLY = K.format(p="monthly", s="BTCUSDT", d="2024-02")  # not published yet: its days are
GAPS = [K.format(p="daily", s="ETHUSDT", d=d) for d in ("2024-03-05", "2024-03-06")]
# Junk inside the planned key range (directories are listed from the first planned key on: junk that sorts
# before it is never seen, and could not be planned anyway).
JUNK = ["data/spot/daily/klines/ETHUSDT/1h/ETHUSDT-1h-2024-13-01.zip",
        "data/spot/daily/klines/ETHUSDT/1h/ETHUSDT-1h-2024-03-01.zip.part",
        "data/spot/monthly/klines/bad-sym/1h/bad-sym-1h-2024-01.zip"]
REUPLOADED = K.format(p="daily", s="BTCUSDT", d="2024-03-02")


@pytest.fixture(scope="module")
def gappy(tmp_path_factory):
    src = tmp_path_factory.mktemp("gappy")
    spot = plan_for(markets=["spot"], symbols=["BTCUSDT", "ETHUSDT", "BTCBUSD"], data_types=["klines"],
                    intervals={"klines": ["1h"]}, start="2024-01-01", end="2024-03-10", partition_policy="both")
    ticker = plan_for(markets=["futures_um"], symbols=["BTCUSDT"], data_types=["bookTicker"], start="2024-03-25",
                      end="2024-03-31", partition_policy="daily")  # the plan stops at 03-30 (discontinued)
    generate_archive(src, spot, seed=5, quirks=Quirks(missing=frozenset({FEB_MONTHLY, *GAPS})))
    generate_archive(src, ticker, seed=6)
    for junk in JUNK:  # listings are untrusted: these must be reported and never used
        (src / junk).parent.mkdir(parents=True, exist_ok=True)
        (src / junk).write_bytes(b"junk")
    with LocalArchive() as server:
        server.upload_tree(src)
        yield server


def config(server, out, **kw):
    cfg = {"workflow_type": "archive_collection", "matrix_path": str(MATRIX), "output_directory": str(out),
           "markets": ["spot"], "symbols": ["*USDT"], "quote_assets": ["USDT"], "data_types": ["klines"],
           "intervals": {"klines": ["1h"]}, "date_range": {"start": "2024-01-01", "end": "2024-03-10"},
           "endpoint_url": server.endpoint_url, "batch_size": 25}
    cfg.update(kw)
    return cfg


def run(cfg, **kw):
    return ArchiveCollectionWorkflow(cfg, show_progress=False, **kw).execute()


def test_discovery_plans_exactly_what_exists_and_fills_months_by_days(gappy, tmp_path, capsys):
    cfg = config(gappy, tmp_path)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    assert main(["plan", str(path)]) == 0  # a symbol pattern turns discovery on
    out = capsys.readouterr().out
    # BTC: Jan monthly, Feb as 29 days, Mar 1-10 days; ETH: Jan, Feb monthly, Mar 1-10 minus 2 gaps.
    assert "spot    klines     daily         49         47" in out
    assert "spot    klines     monthly        3          3" in out
    assert "50 of 52 planned files exist" in out
    assert "1 months collected as daily files" in out

    result = run(cfg)
    disc = result["discovery"]
    assert (disc["planned"], disc["available"], disc["months_by_days"]) == (52, 50, 1)
    assert result["discovery"]["symbols"] == {"spot/klines": ["BTCUSDT", "ETHUSDT"]}  # BTCBUSD filtered out
    assert sorted(result["discovery"]["invalid"]) == [
        f"key {JUNK[1]!r}: does not follow the archive grammar",
        f"key {JUNK[0]!r}: does not follow the archive grammar",
        "symbol folder 'data/spot/monthly/klines/bad-sym/': not a valid symbol"]
    s = result["collection_stats"]
    assert (s["total_tasks"], s["successful_tasks"], s["missing_tasks"], s["failed_tasks"]) == (52, 50, 2, 0)
    with Manifests(tmp_path / "_manifests") as m:
        rows = {r["key"]: r for r in m.query("SELECT * FROM files").to_pylist()}
    assert {k for k, r in rows.items() if r["status"] == "missing"} == set(GAPS)
    assert all(rows[k]["attempts"] == 0 and rows[k]["error"] == "not listed in the archive (discovery)"
               for k in GAPS)  # never requested
    assert FEB_MONTHLY not in rows
    feb_days = [k for k in rows if "/daily/" in k and "BTCUSDT-1h-2024-02-" in k]
    assert len(feb_days) == 29 and all(rows[k]["status"] == "success" for k in feb_days)
    assert not any("ETHUSDT-1h-2024-02-" in k for k in rows)  # ETH's monthly file exists: no days

    # The monthly file appears later: a rerun collects it and says which days it supersedes.
    feb_plan = plan_for(markets=["spot"], symbols=["BTCUSDT"], data_types=["klines"], intervals={"klines": ["1h"]},
                        start="2024-02-01", end="2024-02-29", partition_policy="monthly")
    late = tmp_path / "late"
    generate_archive(late, feb_plan, seed=9)
    gappy.upload_tree(late)
    again = run(cfg)
    assert again["collection_stats"]["successful_tasks"] == 1
    assert again["superseded"] == [(FEB_MONTHLY, 29)]
    assert (tmp_path / FEB_MONTHLY).exists()


def test_discontinued_type_is_planned_only_while_it_existed(gappy, tmp_path):
    result = run(config(gappy, tmp_path, markets=["futures_um"], symbols=["BTCUSDT"], quote_assets=None,
                        data_types=["bookTicker"], intervals=None, discover=True,
                        date_range={"start": "2024-03-25", "end": "2024-04-05"}))
    s = result["collection_stats"]
    assert (s["total_tasks"], s["successful_tasks"], s["missing_tasks"]) == (6, 6, 0)  # 03-25 .. 03-30


def test_reverify_replaces_a_republished_file_and_keeps_the_rest(gappy, tmp_path, capsys):
    cfg = config(gappy, tmp_path, symbols=["BTCUSDT"], quote_assets=None, discover=False, partition_policy="daily",
                 date_range={"start": "2024-03-01", "end": "2024-03-03"})
    assert run(cfg)["collection_stats"]["successful_tasks"] == 3
    old = (tmp_path / REUPLOADED).read_bytes()
    new = zip_bytes(Path(REUPLOADED).name[:-4] + ".csv", b"1,2,3\n", __import__("datetime").date(2024, 3, 2))
    src = tmp_path / "republish"
    (src / REUPLOADED).parent.mkdir(parents=True)
    (src / REUPLOADED).write_bytes(new)
    (src / (REUPLOADED + ".CHECKSUM")).write_text(
        sidecar_text("spot", hashlib.sha256(new).hexdigest(), Path(REUPLOADED).name))
    gappy.upload_tree(src)

    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    assert main(["verify", str(path), "--no-progress"]) == 0
    assert "verify: 2 unchanged, 1 changed in the archive and re-fetched, 0 failed, 0 gone" in capsys.readouterr().out
    assert (tmp_path / REUPLOADED).read_bytes() == new
    with Manifests(tmp_path / "_manifests") as m:
        row = m.query(f"SELECT * FROM latest WHERE key = '{REUPLOADED}'").to_pylist()[0]
    assert row["previous_sha256"] == hashlib.sha256(old).hexdigest()
    assert row["sha256"] == row["expected_sha256"] == hashlib.sha256(new).hexdigest()
