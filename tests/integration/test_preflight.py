"""Mistakes and unusable endpoints or directories: exit 2 within seconds, one exact line, nothing collected."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from raycollect.cli.main import main
from raycollect.mirror.server import free_port
from tests.conftest import collect_config
from tests.fault_proxy import FaultProxy

pytestmark = pytest.mark.integration


def config_file(tmp_path: Path, cfg: dict) -> str:
    path = tmp_path / "c.json"
    path.write_text(json.dumps(cfg))
    return str(path)


def fails_fast(capsys, argv: list[str]) -> str:
    t0 = time.monotonic()
    code = main(argv)
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert code == 2, err
    assert took < 30, took
    lines = err.splitlines()
    assert "Traceback" not in err and len(lines) <= 2  # "raycollect run: CONFIG: checking ..." then the error
    assert lines[-1].startswith("raycollect: error: ")
    return lines[-1].removeprefix("raycollect: error: ")


def nothing_collected(out: Path) -> None:
    """A refused run creates nothing: no file, and not the empty folders its checks made (_manifests/, ...)."""
    assert not out.exists(), sorted(str(p) for p in out.rglob("*"))


def test_a_refused_endpoint(archive, tmp_path, capsys):
    url = f"http://127.0.0.1:{free_port()}"
    path = config_file(tmp_path, collect_config(archive, tmp_path / "out", endpoint_url=url))
    for argv in (["run", path], ["verify", path], ["plan", "--discover", path]):
        assert fails_fast(capsys, argv) == (f"Source {url} (bucket data.binance.vision) is not usable: connection "
                                            "refused; check endpoint_url (or --endpoint-url) and bucket")
    nothing_collected(tmp_path / "out")


def test_an_unknown_host(archive, tmp_path, capsys):
    url = "http://no-such-host.invalid:9000"
    path = config_file(tmp_path, collect_config(archive, tmp_path / "out", endpoint_url=url))
    assert fails_fast(capsys, ["run", path]) == (
        f"Source {url} (bucket data.binance.vision) is not usable: DNS lookup failed (no such host); check "
        "endpoint_url (or --endpoint-url) and bucket")


def test_an_endpoint_answering_html_is_not_an_empty_archive(archive, tmp_path, capsys):
    with FaultProxy(archive.endpoint_url, html=True) as proxy:
        url = proxy.endpoint_url
        path = config_file(tmp_path, collect_config(archive, tmp_path / "out", endpoint_url=url, discover=True))
        for argv in (["run", path], ["plan", "--discover", path]):
            assert fails_fast(capsys, argv) == (
                f"Source {url} (bucket data.binance.vision) is not usable: its answer to a listing is not S3 XML (an "
                "HTML page or another service?); check endpoint_url (or --endpoint-url)")
    nothing_collected(tmp_path / "out")


def test_a_listing_that_is_not_s3_xml_is_an_error_not_an_empty_directory(archive):
    from raycollect.discovery import Lister
    from raycollect.errors import ConfigurationError

    with FaultProxy(archive.endpoint_url, html=True) as proxy:
        with pytest.raises(ConfigurationError, match=r"listing is not S3 XML \(an HTML page or another service\?\)"):
            Lister(archive.bucket, proxy.endpoint_url, "ap-northeast-1").listdir("data/spot/")


def test_a_tls_failure(archive, tmp_path, capsys):
    with FaultProxy(archive.endpoint_url) as proxy:
        url = proxy.endpoint_url.replace("http://", "https://")  # a plain-HTTP server spoken to over TLS
        path = config_file(tmp_path, collect_config(archive, tmp_path / "out", endpoint_url=url))
        assert fails_fast(capsys, ["run", path]) == (
            f"Source {url} (bucket data.binance.vision) is not usable: TLS handshake failed (WRONG_VERSION_NUMBER); "
            "check endpoint_url (or --endpoint-url) and bucket")


def test_a_forbidden_bucket(archive, tmp_path, capsys):
    with FaultProxy(archive.endpoint_url, deny=True) as proxy:
        path = config_file(tmp_path, collect_config(archive, tmp_path / "out", endpoint_url=proxy.endpoint_url))
        assert fails_fast(capsys, ["run", path]) == (
            f"Source {proxy.endpoint_url} (bucket data.binance.vision) is not usable: access denied (HTTP 403 "
            "AccessDenied): the bucket does not allow anonymous reads; check endpoint_url (or --endpoint-url) and "
            "bucket")


def test_an_output_directory_that_is_a_file(archive, tmp_path, capsys):
    out = tmp_path / "out"
    out.write_text("not a directory")
    path = config_file(tmp_path, collect_config(archive, out))
    assert fails_fast(capsys, ["run", path]) == (
        f"output_directory {out} is a file, not a directory; choose a directory path")
    assert out.read_text() == "not a directory"


def test_a_manifest_directory_that_cannot_be_written(archive, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    path = config_file(tmp_path, collect_config(archive, tmp_path / "out",
                                                manifest_directory=str(blocker / "manifests")))
    assert fails_fast(capsys, ["run", path]) == (
        f"manifest_directory {blocker / 'manifests'} is not writable (Not a directory); choose a writable directory "
        "or fix its permissions")
    nothing_collected(tmp_path / "out")


def test_a_misspelt_symbol_names_the_closest_existing_ones(archive, tmp_path, capsys):
    path = config_file(tmp_path, collect_config(archive, tmp_path / "out", symbols=["BTCUSTD", "ETHUSDT"]))
    for argv in (["run", path], ["plan", "--discover", path]):
        assert fails_fast(capsys, argv) == (
            "Unknown symbol: 'BTCUSTD' has no folder in the archive for spot/aggTrades, futures_um/aggTrades "
            "(closest existing: BTCUSDT); fix symbols in the config")
    nothing_collected(tmp_path / "out")


def test_a_symbol_missing_from_one_market_is_planned_where_it_exists(archive, tmp_path, capsys):
    cfg = collect_config(archive, tmp_path / "out", markets=["spot", "futures_cm"], symbols=["BTCUSDT"],
                         date_range={"start": "2024-01-30", "end": "2024-01-31"})
    assert main(["run", config_file(tmp_path, cfg), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "planned 2: success 2, skipped 0, missing 0, failed 0" in out
    assert "  note: BTCUSDT: not in the archive for futures_cm/aggTrades; planned for spot/aggTrades" in out
