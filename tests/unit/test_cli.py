"""Bad configs and matrices through the real CLI: exit code 2, one exact line on stderr, no traceback."""

import datetime as dt
import gc
import json
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from raycollect.cli.main import entry, main
from tests.helpers import MATRIX, base_config, write_json

SYM = ("expected upper-case letters and digits with an optional _SUFFIX, e.g. BTCUSDT, BTCUSD_PERP "
       "(or a pattern such as *USDT)")
EXTRA = ("(only options that cannot change the source, the credentials or the outcome); allowed: "
         "--log=debug|error|info|trace, --stat, --use-list-objects-v1, --addressing-style=path|virtual")
LATEST = dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=1)
BAD_CONFIGS = [
    (dict(matrix_path=None), "Missing required configuration: ['matrix_path']"),
    (dict(markets=[], symbols=None), "Missing required configuration: ['markets', 'symbols']"),
    (dict(markets=["invalid_market"]),
     "Invalid markets in configuration: 'invalid_market' is not a valid market type (valid markets: spot, "
     "futures_um, futures_cm, options)"),
    (dict(markets=["futures_uum"]),
     "Invalid markets in configuration: 'futures_uum' is not a valid market type (did you mean 'futures_um'? valid "
     "markets: spot, futures_um, futures_cm, options)"),
    (dict(matrix_path="missing_matrix.json"), "Archive matrix file not found: missing_matrix.json"),
    (dict(max_paralel_downloads=4), "Unknown configuration key 'max_paralel_downloads'; did you mean "
                                     "'max_parallel_downloads'?"),
    (dict(workflow_type="realtime"), "Invalid workflow_type 'realtime': expected 'archive_collection'"),
    (dict(symbols=["../etc"]), f"Invalid symbols in configuration: symbols: '../etc' is not a valid symbol; {SYM}"),
    (dict(symbols=["BTC/USDT"]), f"Invalid symbols in configuration: symbols: 'BTC/USDT' is not a valid symbol; {SYM}"),
    (dict(symbols=["BTC USDT"]), f"Invalid symbols in configuration: symbols: 'BTC USDT' is not a valid symbol; {SYM}"),
    (dict(symbols=["BTCUSDT\nrm -rf /"]),
     f"Invalid symbols in configuration: symbols: 'BTCUSDT\\nrm -rf /' is not a valid symbol; {SYM}"),
    (dict(symbols=["BTC'USDT"]),
     f"Invalid symbols in configuration: symbols: \"BTC'USDT\" is not a valid symbol; {SYM}"),
    (dict(symbols=["*USD?"]), "Invalid symbols in configuration: symbols: '*USD?' is not a valid symbol; "
                              f"{SYM}"),
    (dict(quote_assets=["usdt"]), "Invalid configuration: quote_assets: 'usdt' is not a quote asset (upper-case "
                                  "letters and digits, e.g. USDT) (got ['usdt'])"),
    (dict(symbols={"spot": ["btcusdt"]}),
     f"Invalid symbols in configuration: symbols[spot]: 'btcusdt' is not a valid symbol; {SYM}"),
    (dict(markets=["spot", "futures_um"], symbols={"spot": ["BTCUSDT"]}),
     "Invalid symbols in configuration: no symbols given for market(s) ['futures_um']"),
    (dict(symbols={"spot": ["BTCUSDT"], "futures_cm": ["BTCUSD_PERP"]}),
     "Invalid symbols in configuration: symbols given for market(s) ['futures_cm'] that are not in markets "
     "['spot']; add them to markets or remove them from symbols"),
    (dict(data_types=["fundingRate"], intervals=None),
     "Invalid data_types in configuration: 'fundingRate' is not available for the selected markets ['spot']; "
     "it exists in: futures_cm, futures_um"),
    (dict(data_types=["kline"], intervals=None),
     "Invalid data_types in configuration: 'kline' is not an archive data type; did you mean 'klines'?"),
    (dict(data_types=["bookDepth"], intervals=None),
     "Invalid data_types in configuration: 'bookDepth' is not available for the selected markets ['spot']; "
     "it exists in: futures_cm, futures_um"),
    (dict(markets=["futures_um"], intervals={"klines": ["1s"]}),
     "Invalid intervals in configuration: interval '1s' of 'klines' is not available for the selected markets "
     "['futures_um']; it exists in: spot"),
    (dict(intervals={"klines": ["2m"]}),
     "Invalid configuration: intervals: unknown interval '2m' in intervals[klines]; valid: 1s 1m 3m 5m 15m 30m "
     "1h 2h 4h 6h 8h 12h 1d 3d 1w 1M (1mo)"),
    (dict(data_types=["trades"], intervals={"trades": ["1h"]}),
     "Invalid intervals in configuration: 'trades' has no intervals; remove intervals['trades']"),
    (dict(intervals={"markPriceKlines": ["1h"]}),
     "Invalid intervals in configuration: intervals given for 'markPriceKlines', which is not in data_types "
     "['klines']"),
    (dict(date_range={"start": "2024-02-01", "end": "2024-01-01"}),
     "Invalid date_range: end 2024-01-01 is before start 2024-02-01 (expected {'start': 'YYYY-MM-DD', "
     "'end': 'YYYY-MM-DD'}; 'latest' and '-30d' are understood too)"),
    (dict(date_range={"start": "soon", "end": "2024-01-01"}),
     "Invalid date_range: Input should be a valid date or datetime, input is too short (expected {'start': "
     "'YYYY-MM-DD', 'end': 'YYYY-MM-DD'}; 'latest' and '-30d' are understood too)"),
    (dict(date_range={"start": "2024-01-01"}),
     "Invalid date_range: Field required (expected {'start': 'YYYY-MM-DD', 'end': 'YYYY-MM-DD'}; 'latest' and "
     "'-30d' are understood too)"),
    (dict(batch_size=0), "Invalid configuration: batch_size: Input should be greater than or equal to 1 (got 0)"),
    (dict(max_parallel_downloads="many"),
     "Invalid configuration: max_parallel_downloads must be a JSON number (no quotes), got the string 'many'"),
    (dict(batch_size="100"),
     "Invalid configuration: batch_size must be a JSON number (no quotes), got the string '100'"),
    (dict(timeout_seconds=2.5), "Invalid configuration: timeout_seconds must be a whole JSON number, got 2.5"),
    (dict(download_checksum="no"),
     "Invalid configuration: download_checksum must be a JSON boolean (true or false), got the string 'no'"),
    (dict(enable_resume=1), "Invalid configuration: enable_resume must be a JSON boolean (true or false), got 1"),
    (dict(actor_resources={"downloader": "1"}),
     "Invalid configuration: actor_resources.downloader must be a JSON number (no quotes), got the string '1'"),
    (dict(s5cmd_extra_args=["--endpoint-url=http://evil.example"]),
     f"Invalid configuration: s5cmd_extra_args: '--endpoint-url=http://evil.example' is not allowed {EXTRA}"),
    (dict(s5cmd_extra_args=["--dry-run"]),
     f"Invalid configuration: s5cmd_extra_args: '--dry-run' is not allowed {EXTRA}"),
    (dict(s5cmd_extra_args=["--log=loud"]),
     f"Invalid configuration: s5cmd_extra_args: '--log=loud' is not allowed {EXTRA}"),
    (dict(s5cmd_extra_args=["--retry-count=0"]),
     f"Invalid configuration: s5cmd_extra_args: '--retry-count=0' is not allowed {EXTRA}"),
    (dict(date_range={"start": "2099-01-01", "end": "2099-01-31"}),
     f"Invalid date_range: it starts 2099-01-01, after {LATEST}, the latest day the archive can hold (yesterday, UTC; "
     f"files are published the day after): nothing can exist yet; end the range at {LATEST} or earlier"),
    (dict(data_types=["metrics"], markets=["futures_um"], intervals=None,
          date_range={"start": "2020-01-01", "end": "2020-12-31"}),
     "Invalid date_range: 'metrics' has no files in 2020-01-01..2020-12-31; it exists in futures_um "
     "2021-12-01..now; choose dates inside that window"),
    (dict(downloader="wget"),
     "Invalid configuration: downloader: Input should be 'curl', 's5cmd', 'boto3' or 'http' (got 'wget')"),
    (dict(partition_policy="weekly"),
     "Invalid configuration: partition_policy: Input should be 'auto', 'daily', 'monthly' or 'both' (got 'weekly')"),
    (dict(timeout_seconds=-5),
     "Invalid configuration: timeout_seconds: Input should be greater than or equal to 1 (got -5)"),
    (dict(s5cmd_extra_args=["rm", "s3://x/*"]),
     f"Invalid configuration: s5cmd_extra_args: 'rm' is not allowed {EXTRA}"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_CONFIGS, ids=[m[:60] for _, m in BAD_CONFIGS])
def test_bad_config_exits_2_with_one_exact_line(tmp_path, capsys, overrides, message):
    path = write_json(tmp_path / "c.json", base_config(**overrides))
    assert main(["plan", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"raycollect: error: {message}\n"
    assert captured.out == ""


def test_bad_json_config_names_line_and_column(tmp_path, capsys):
    path = tmp_path / "c.json"
    path.write_text('{"workflow_type": "archive_collection",\n "markets": ["spot"]\n "x": 1}')
    assert main(["plan", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"raycollect: error: Configuration file {path} is not valid JSON: Expecting ',' delimiter at line 3 column 2\n")


def test_bad_matrix_through_the_cli(tmp_path, capsys):
    doc = json.loads(MATRIX.read_text())
    doc["availability_matrix"][0]["filename_pattern"] = "{symbol}-{interval}-{day}.zip"
    matrix = write_json(tmp_path / "m.json", doc)
    path = write_json(tmp_path / "c.json", base_config(matrix_path=str(matrix)))
    assert main(["plan", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"raycollect: error: Invalid archive matrix {matrix}: entry 0 (spot/klines): unknown placeholder {{day}} in "
        "'filename_pattern'; allowed: ['data_type', 'date', 'interval', 'symbol']\n")


def test_plan_prints_counts_and_writes_every_format(tmp_path, capsys):
    cfg = base_config(markets=["spot", "futures_um"], data_types=["klines", "fundingRate"],
                      date_range={"start": "2024-01-30", "end": "2024-03-02"}, partition_policy="auto")
    path = write_json(tmp_path / "c.json", cfg)
    for ext in ("parquet", "csv", "jsonl"):
        assert main(["plan", str(path), "--output", str(tmp_path / f"plan.{ext}")]) == 0
    out = capsys.readouterr().out
    assert "futures_um  fundingRate  monthly        3" in out
    assert "spot        klines       monthly        1" in out
    assert "spot        klines       daily          4" in out
    assert "total: 13 files" in out
    table = pq.read_table(tmp_path / "plan.parquet")
    csv_lines = (tmp_path / "plan.csv").read_text().splitlines()
    json_rows = [json.loads(x) for x in (tmp_path / "plan.jsonl").read_text().splitlines()]
    assert table.num_rows == len(csv_lines) - 1 == len(json_rows) == 13
    assert sorted(r["key"] for r in json_rows) == sorted(table["key"].to_pylist())
    assert "data/spot/monthly/klines/BTCUSDT/1h/BTCUSDT-1h-2024-02.zip" in table["key"].to_pylist()
    assert {"period": "2024-02-01", "partition": "monthly"}.items() <= next(
        r for r in json_rows if r["key"].endswith("BTCUSDT-1h-2024-02.zip")).items()


def test_console_script_has_no_traceback_on_errors(tmp_path):
    path = write_json(tmp_path / "c.json", base_config(markets=["invalid_market"]))
    proc = subprocess.run([sys.executable, "-m", "raycollect", "plan", str(path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr == ("raycollect: error: Invalid markets in configuration: 'invalid_market' is not a valid "
                           "market type (valid markets: spot, futures_um, futures_cm, options)\n")


def test_the_entry_point_exits_with_mains_code_after_freezing_the_heap(tmp_path, capsys):
    """The process's exit then skips the garbage collector's walks over Ray's and Arrow's objects."""
    bad = write_json(tmp_path / "bad.json", base_config(markets=["invalid_market"]))
    good = write_json(tmp_path / "good.json", base_config())
    try:
        for path, code in ((bad, 2), (good, 0)):
            gc.unfreeze()
            with pytest.raises(SystemExit) as exit_:
                entry(["plan", str(path)])
            assert exit_.value.code == code and gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # this test process goes on
    assert "total: 2 files" in capsys.readouterr().out


def test_a_range_partly_in_the_future_plans_the_days_that_can_exist(tmp_path, capsys):
    start = LATEST - dt.timedelta(days=2)
    path = write_json(tmp_path / "c.json", base_config(
        partition_policy="daily", date_range={"start": str(start), "end": str(LATEST + dt.timedelta(days=30))}))
    assert main(["plan", str(path), "-o", str(tmp_path / "p.parquet")]) == 0
    out = capsys.readouterr().out
    assert f"total: 3 files ({start} .. {LATEST}" in out
    assert (f"note: date_range ends {LATEST + dt.timedelta(days=30)}, after {LATEST} (the latest day that can be "
            f"published): planned {start}..{LATEST} only") in out
    days = [start + dt.timedelta(days=i) for i in range(3)]
    assert pq.read_table(tmp_path / "p.parquet")["period"].to_pylist() == days


def test_config_files_that_cannot_be_read_are_exit_2_with_the_fix(tmp_path, capsys):
    import os

    unreadable = write_json(tmp_path / "locked.json", base_config())
    os.chmod(unreadable, 0)
    folder = tmp_path / "configs"
    folder.mkdir()
    broken = tmp_path / "broken.json"
    broken.write_text('{"workflow_type": "archive')
    yaml_inside = tmp_path / "mine.json"
    yaml_inside.write_text("workflow_type: archive_collection\nmarkets: [spot]\n")
    expected = {
        folder: f"Configuration file {folder} is a directory: pass the config file inside it",
        broken: f"Configuration file {broken} is not valid JSON: Unterminated string at line 1 column 19",
        yaml_inside: (f"Configuration file {yaml_inside} is not valid JSON: Expecting value at line 1 column 1; it "
                      "looks like YAML: rename it to mine.yaml"),
    }
    if os.geteuid() != 0:  # root reads any file
        expected[unreadable] = (f"Configuration file {unreadable} cannot be read (permission denied): check its "
                                "permissions, or run as a user who can read it")
    for path, line in expected.items():
        assert main(["plan", str(path)]) == 2, path
        assert capsys.readouterr().err == f"raycollect: error: {line}\n"


def test_debug_shows_the_traceback_without_asking_for_it_again(tmp_path, capsys, monkeypatch):
    from raycollect.cli import plan

    def boom(args):
        raise RuntimeError("a bug")

    monkeypatch.setattr(plan, "run", boom)
    path = write_json(tmp_path / "c.json", base_config())
    parser_run = main.__globals__["build_parser"]
    monkeypatch.setitem(main.__globals__, "build_parser", lambda: _with(parser_run(), boom))
    assert main(["--debug", "plan", str(path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1] == "raycollect: error: unexpected RuntimeError: a bug"
    assert main(["plan", str(path)]) == 1
    assert capsys.readouterr().err == ("raycollect: error: unexpected RuntimeError: a bug (run with --debug for the "
                                       "traceback)\n")


def _with(parser, func):
    for action in parser._subparsers._group_actions:
        action.choices["plan"].set_defaults(func=func)
    return parser


def test_mirror_serve_on_a_port_in_use_is_exit_2(capsys):
    import socket

    with socket.socket() as held:
        held.bind(("", 0))
        held.listen()
        port = held.getsockname()[1]
        assert main(["mirror", "serve", "--port", str(port), "--seed", "none"]) == 2
    assert capsys.readouterr().err == (f"raycollect: error: Port {port} on 127.0.0.1 is already in use; choose "
                                       "another --port\n")


def test_a_sync_no_one_watches_prints_only_its_summary_line(capsys):
    from raycollect.cli.run import _starting

    _starting("sync", "c.json")  # stderr is not a terminal here, as under cron
    _starting("run", "c.json")
    assert capsys.readouterr().err == "raycollect run: c.json: checking the source and planning ...\n"
