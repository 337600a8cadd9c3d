"""timeout_seconds is enforced per downloader call against a server that accepts and never answers."""

import socket
import threading
import time

import pytest

from raycollect.downloaders import DownloaderSettings, make_downloader
from raycollect.shard import process_shard
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


@pytest.mark.parametrize(("engine", "batch"), [("s5cmd", True), ("s5cmd", False), ("http", True)])
def test_a_hung_transfer_stops_at_the_timeout_and_files_fail(silent_server, tmp_path, engine, batch):
    key = "data/spot/daily/aggTrades/BTCUSDT/BTCUSDT-aggTrades-2024-01-01.zip"
    extra = ("--retry-count=0",) if engine == "s5cmd" else ()
    d = make_downloader(engine, DownloaderSettings(bucket="data.binance.vision", endpoint_url=silent_server,
                                                   enable_batch_mode=batch, s5cmd_extra_args=extra,
                                                   timeout_seconds=2))
    t0 = time.monotonic()
    out = process_shard({"key": [key], "checksum_key": [key + ".CHECKSUM"], "target": [key],
                         "verify_existing": [False]}, downloader=d, storage=LocalStorage(tmp_path), verify=True,
                        timeout=2).to_pylist()[0]
    assert time.monotonic() - t0 < 10
    assert out["status"] == "failed" and out["error"] == f"{engine} timed out after 2s (timeout_seconds)"
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
