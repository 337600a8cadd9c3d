import pickle

import pytest

from raycollect.config import WorkflowConfig
from raycollect.errors import ConfigurationError, WorkflowError
from tests.helpers import base_config


def test_seed_defaults_and_accessors():
    cfg = WorkflowConfig(base_config())
    assert (cfg.batch_size, cfg.max_parallel_downloads, cfg.timeout_seconds) == (100, 8, 300)
    assert (cfg.enable_batch_mode, cfg.enable_resume, cfg.download_checksum, cfg.force_redownload) == (
        True, True, True, False)
    assert (cfg.bucket, cfg.region, cfg.endpoint_url, cfg.downloader) == (
        "data.binance.vision", "ap-northeast-1", None, "curl")
    assert cfg.partition_policy == "auto"
    assert cfg.get("batch_size") == 100
    assert cfg.get("no_such_key", "fallback") == "fallback"
    d = cfg.to_dict()
    assert d["date_range"] == {"start": "2024-01-01", "end": "2024-01-02"}
    assert WorkflowConfig(d) == cfg
    assert cfg.manifest_dir.endswith("out/_manifests")


def test_aliases_and_month_interval():
    cfg = WorkflowConfig(base_config(markets=["um_futures", "cm_futures"], symbols={
        "um_futures": ["BTCUSDT"], "cm_futures": ["BTCUSD_PERP"]}, intervals={"klines": ["1M", "1h"]}))
    assert cfg.markets == ["futures_um", "futures_cm"]
    assert cfg.symbols_for("futures_cm") == ["BTCUSD_PERP"]
    assert cfg.intervals == {"klines": ["1mo", "1h"]}


def test_yaml_and_json_files(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "workflow_type: archive_collection\nmatrix_path: m.json\noutput_directory: out\nmarkets: [spot]\n"
        "symbols: [BTCUSDT]\ndata_types: [trades]\n")
    (tmp_path / "m.json").write_text("{}")
    cfg = WorkflowConfig.from_file(tmp_path / "c.yaml")
    assert cfg.matrix_path == str(tmp_path / "m.json")  # found beside the config file
    assert cfg.data_types == ["trades"]


def test_errors_survive_pickling_across_processes():
    for exc in (ConfigurationError("Missing required configuration: ['matrix_path']"), WorkflowError("boom")):
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)


@pytest.mark.parametrize("name", ["jobs/example.json", "jobs/cluster_example.json", "raycollect/data/demo.json"])
def test_shipped_example_configs_are_valid(name):
    from tests.helpers import ROOT

    cfg = WorkflowConfig.from_file(ROOT / name)
    assert cfg.markets and cfg.data_types
    assert cfg.symbols_for(cfg.markets[0])


def test_relative_dates():
    import datetime as dt

    from raycollect.config import resolve_date

    today = dt.date(2026, 11, 26)
    assert resolve_date("latest", today) == resolve_date("yesterday", today) == dt.date(2026, 11, 25)
    assert resolve_date("-30d", today) == dt.date(2026, 10, 27)
    assert resolve_date("2024-01-02", today) == "2024-01-02"  # left to the date parser
    cfg = WorkflowConfig(base_config(date_range={"start": "-3d", "end": "latest"}))
    now = dt.datetime.now(dt.timezone.utc).date()
    assert (cfg.date_range.start, cfg.date_range.end) == (now - dt.timedelta(days=3), now - dt.timedelta(days=1))


def test_a_field_of_the_seed_that_does_nothing_says_so_and_the_log_level_is_checked():
    import pytest

    from raycollect.errors import ConfigurationError

    with pytest.warns(FutureWarning, match="enable_monitoring is deprecated and does nothing: metrics events go to"):
        WorkflowConfig(base_config(enable_monitoring=True))
    assert WorkflowConfig(base_config(logging={"level": "debug"})).logging == {"level": "DEBUG"}
    with pytest.raises(ConfigurationError, match=r"logging\.level 'LOUD' is not a level"):
        WorkflowConfig(base_config(logging={"level": "LOUD"}))
