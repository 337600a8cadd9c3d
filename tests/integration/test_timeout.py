"""timeout_seconds bounds one attempt of one file, against a server that accepts and never answers."""

import socket
import threading
import time

import pytest

from raycollect.downloaders import DownloaderSettings, make_downloader
from raycollect.downloaders.retry import FILE_ATTEMPTS
from raycollect.shard import process_shard
from raycollect.staging import StagingArea
from raycollect.storage import LocalStorage

pytestmark = pytest.mark.integration


@pytest.fixture
def silent_server():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    conns, stop = [], threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])  # read nothing, answer nothing
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join()
    for c in conns:
        c.close()
    srv.close()


@pytest.mark.parametrize(("engine", "batch"), [("curl", True), ("s5cmd", True), ("s5cmd", False), ("http", True),
                                               ("boto3", True)])
def test_a_hung_transfer_times_out_per_attempt_and_fails_with_its_true_attempt_count(silent_server, tmp_path, engine,
                                                                                     batch):
    key = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
    d = make_downloader(engine, DownloaderSettings(bucket="data.binance.vision", endpoint_url=silent_server,
                                                   enable_batch_mode=batch, timeout_seconds=1))
    storage = LocalStorage(tmp_path)
    t0 = time.monotonic()
    with StagingArea(storage.staging_root, "test") as area:
        out = process_shard({"key": [key], "checksum_key": [key + ".CHECKSUM"], "target": [key],
                             "verify_existing": [False]}, downloader=d, storage=storage, verify=True,
                            staging=area).to_pylist()[0]
    d.close()
    # boto3 retries a read timeout inside botocore (3 engine attempts) before a round is spent.
    assert time.monotonic() - t0 < 20
    assert (out["status"], out["attempts"]) == ("failed", FILE_ATTEMPTS)
    expected = {"curl": "timed out after 1s (timeout_seconds)",
                "s5cmd": "s5cmd timed out: no file completed for 1s (timeout_seconds)",
                "http": "Read timed out. (read timeout=1)", "boto3": "Read timeout on endpoint URL"}[engine]
    assert expected in out["error"]
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
