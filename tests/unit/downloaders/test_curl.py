"""The curl engine against scripted HTTP servers on 127.0.0.1 (no SeaweedFS, no Ray): an object replaced between
its parts, an answer shorter than its Content-Range, a body hashed while it arrives, a full disk."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import raycollect.downloaders.curl as curl_engine
from raycollect.downloaders import DownloaderSettings, make_downloader
from raycollect.mirror import REAL_KEYS
from tests.helpers import hashed_ranges

BIG = next(k for k in REAL_KEYS if "aggTrades" in k)  # 1,327,162 bytes
TRUTH = (Path(__file__).resolve().parents[3] / "raycollect" / "fixtures" / "binance-real" / BIG).read_bytes()


def engine(endpoint: str, **kw: object):
    return make_downloader("curl", DownloaderSettings(bucket="data.binance.vision", endpoint_url=endpoint, **kw))


class _ChangingObject(BaseHTTPRequestHandler):
    """Serves ranges of a 300-byte object whose ETag changes after the first request (a re-publication)."""

    body = bytes(range(256)) + bytes(44)
    served = 0

    def do_GET(self) -> None:
        cls = type(self)
        etag = '"v1"' if cls.served == 0 else '"v2"'
        cls.served += 1
        if self.headers.get("If-Match") not in (None, etag):
            self.send_response(412)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        first, last = (int(x) for x in self.headers["Range"].removeprefix("bytes=").split("-"))
        last = min(last, len(self.body) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(self.body)}")
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self.wfile.write(self.body[first:last + 1])

    def log_message(self, *args: object) -> None:
        pass


class _Trickle(BaseHTTPRequestHandler):
    """Serves ranges of the real aggTrades zip slowly: 32 KiB every 10 ms (about 0.4 s for the whole file)."""

    def do_GET(self) -> None:
        first, last = (int(x) for x in self.headers["Range"].removeprefix("bytes=").split("-"))
        last = min(last, len(TRUTH) - 1)
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(TRUTH)}")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        for pos in range(first, last + 1, 32 << 10):
            self.wfile.write(TRUTH[pos:min(pos + (32 << 10), last + 1)])
            self.wfile.flush()
            time.sleep(0.01)

    def log_message(self, *args: object) -> None:
        pass


class _ShortRange(BaseHTTPRequestHandler):
    """Answers every ranged GET with 10 bytes while its Content-Range says the object has 20."""

    def do_GET(self) -> None:
        self.send_response(206)
        self.send_header("Content-Range", "bytes 0-9/20")
        self.send_header("Content-Length", "10")
        self.end_headers()
        self.wfile.write(b"0123456789")

    def log_message(self, *args: object) -> None:
        pass


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def changing_server() -> Iterator[str]:
    _ChangingObject.served = 0
    yield from serve(_ChangingObject)


@pytest.fixture
def trickle_server() -> Iterator[str]:
    yield from serve(_Trickle)


@pytest.fixture
def short_range_server() -> Iterator[str]:
    yield from serve(_ShortRange)


def test_an_object_replaced_between_its_parts_is_transient_never_stitched(changing_server, tmp_path, monkeypatch):
    monkeypatch.setattr(curl_engine, "PART_BYTES", 100)
    key = "data/test/changing.zip"
    d = engine(changing_server)
    out = d.transfer([(key, str(tmp_path / "c"))])[key]
    d.close()
    assert (out.ok, out.transient, out.error) == (False, True, f"HTTP 412 for {key}")


def test_an_answer_shorter_than_its_content_range_is_transient_never_padded(short_range_server, tmp_path):
    key = "data/test/short.zip"
    d = engine(short_range_server)
    out = d.transfer([(key, str(tmp_path / "s"))])[key]
    d.close()
    assert (out.ok, out.transient, out.error) == (
        False, True, f"{key}: 10 bytes in an answer whose Content-Range says bytes 0-9/20")


@pytest.mark.parametrize("part_bytes", [32 << 20, 300_000], ids=["one request", "five parts"])
def test_a_body_is_hashed_while_it_arrives(trickle_server, tmp_path, monkeypatch, part_bytes):
    monkeypatch.setattr(curl_engine, "PART_BYTES", part_bytes)
    monkeypatch.setattr(curl_engine, "PROGRESS_HASH_BYTES", 100_000)
    ranges = hashed_ranges(monkeypatch)
    d = engine(trickle_server)
    out = d.transfer([(BIG, str(tmp_path / "big.zip"))])[BIG]
    d.close()
    assert (out.ok, out.size, out.sha256) == (True, len(TRUTH), hashlib.sha256(TRUTH).hexdigest())
    assert (tmp_path / "big.zip").read_bytes() == TRUTH
    assert ranges[0][0] == 0 and ranges[-1][1] == len(TRUTH)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))  # one contiguous prefix, in order
    # The part at the end of the hashed prefix is hashed in pieces as it grows (the others, arriving beside it,
    # when the prefix reaches them): hashed only when complete, there would be one range per request.
    assert len(ranges) >= -(-len(TRUTH) // part_bytes) + 2, ranges




class _Whole(BaseHTTPRequestHandler):
    """Serves the real aggTrades zip, whole or by range."""

    def do_GET(self) -> None:
        first, last = 0, len(TRUTH) - 1
        if "Range" in self.headers:
            first, last = (int(x) for x in self.headers["Range"].removeprefix("bytes=").split("-"))
            last = min(last, len(TRUTH) - 1)
        self.send_response(206 if "Range" in self.headers else 200)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(TRUTH)}")
        self.send_header("ETag", '"v1"')
        self.send_header("Content-Length", str(last - first + 1))
        self.end_headers()
        self.wfile.write(TRUTH[first:last + 1])

    def log_message(self, *args: object) -> None:
        pass


def test_a_full_disk_is_named_as_the_other_engines_name_it_not_as_a_curl_code(tmp_path):
    """/dev/full takes no byte (ENOSPC), as a full disk: libcurl says only "error 23" (a write error)."""
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    for url in serve(_Whole):
        d = engine(url)
        out = d.transfer([(BIG, "/dev/full")])[BIG]
        d.close()
    assert (out.ok, out.transient) == (False, True)
    assert out.error == "OSError: [Errno 28] No space left on device"


def test_an_objects_requests_are_outstanding_until_decided_and_running_between_begin_and_end(tmp_path):
    dst = tmp_path / "obj"
    dst.write_bytes(bytes(10))
    obj = curl_engine._Object("k", str(dst))
    first, part = obj.request(0, 4), obj.request(4, 6)
    assert (obj.outstanding, obj.active) == (2, 0)
    obj.fd = os.open(dst, os.O_RDWR)
    try:
        first.begin()
        part.begin()
        assert (obj.active, first.tries, part.tries) == (2, 1, 1)
        part.sink.write(b"abc")
        assert (part.end(), first.end(), obj.active) == (3, 0, 0)
        part.begin()  # a retry: outstanding all along
        assert (obj.outstanding, obj.active, part.tries) == (2, 1, 2)
        part.end()
        obj.decided()
        obj.decided()
        assert (obj.outstanding, obj.active) == (0, 0)
        assert dst.read_bytes() == bytes(4) + b"abc" + bytes(3)
    finally:
        os.close(obj.fd)
