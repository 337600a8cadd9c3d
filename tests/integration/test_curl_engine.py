"""The curl engine's own rules against the real local archive (SeaweedFS); those a scripted server shows are in
tests/unit/downloaders/test_curl.py.

Objects larger than one part are fetched as parallel ranged GETs and hashed in order; an empty object (416 to
the ranged first GET) is fetched whole; 503s are retried inside the engine; an object replaced between its
parts is a transient failure, never a file stitched from two versions; a body is hashed while it arrives,
an error body never.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

import raycollect.downloaders.curl as curl_engine
from raycollect.downloaders import DownloaderSettings, make_downloader
from raycollect.mirror import REAL_KEYS
from tests.fault_proxy import FaultProxy, Rule
from tests.helpers import hashed_ranges

pytestmark = pytest.mark.integration
BIG = next(k for k in REAL_KEYS if "aggTrades" in k)  # 1,327,162 bytes
TRUTH = (Path(__file__).resolve().parents[2] / "raycollect" / "fixtures" / "binance-real" / BIG).read_bytes()


def engine(endpoint: str, **kw: object):
    return make_downloader("curl", DownloaderSettings(bucket="data.binance.vision", endpoint_url=endpoint, **kw))


def put(archive, key: str, body: bytes) -> None:
    s3 = boto3.client("s3", endpoint_url=archive.endpoint_url, region_name="us-east-1",
                      config=Config(signature_version=UNSIGNED))
    s3.put_object(Bucket=archive.bucket, Key=key, Body=body)


def test_a_large_object_comes_in_parallel_parts_hashed_in_order(archive, tmp_path, monkeypatch):
    monkeypatch.setattr(curl_engine, "PART_BYTES", 100_000)  # 14 parts of the real 1.3 MB file
    monkeypatch.setattr(curl_engine, "INLINE_HASH_BYTES", 1000)
    with FaultProxy(archive.endpoint_url) as proxy:
        d = engine(proxy.endpoint_url)
        out = d.transfer([(BIG, str(tmp_path / "big.zip"))])[BIG]
        d.close()
        gets = proxy.requests
    assert (out.ok, out.size, out.sha256) == (True, len(TRUTH), hashlib.sha256(TRUTH).hexdigest())
    assert (tmp_path / "big.zip").read_bytes() == TRUTH
    assert gets == 14


def test_an_empty_object_and_a_missing_one(archive, tmp_path):
    put(archive, "data/test/empty.zip", b"")
    d = engine(archive.endpoint_url)
    got = d.transfer([("data/test/empty.zip", str(tmp_path / "e")), ("data/test/none.zip", str(tmp_path / "n"))])
    d.close()
    empty, none = got["data/test/empty.zip"], got["data/test/none.zip"]
    assert (empty.ok, empty.size, empty.sha256) == (True, 0, hashlib.sha256(b"").hexdigest())
    assert (tmp_path / "e").read_bytes() == b""
    assert (none.ok, none.missing, none.error) == (False, True, "NoSuchKey: data/test/none.zip")


def test_slowdown_is_retried_inside_the_engine_and_an_error_body_never_stays_in_the_file(archive, tmp_path):
    key = "data/test/tiny.zip"
    put(archive, key, b"PK-tiny")  # shorter than the 503's XML body written before the retry
    with FaultProxy(archive.endpoint_url, rules=[Rule(key, "slowdown", times=2)]) as proxy:
        d = engine(proxy.endpoint_url)
        out = d.transfer([(key, str(tmp_path / "t"))])[key]
        d.close()
        assert (proxy.requests, proxy.injected["slowdown"]) == (3, 2)
    assert (out.ok, out.size, out.sha256) == (True, 7, hashlib.sha256(b"PK-tiny").hexdigest())
    assert (tmp_path / "t").read_bytes() == b"PK-tiny"


def test_the_third_slowdown_is_a_transient_outcome_for_the_next_round(archive, tmp_path):
    key = "data/test/tiny.zip"
    put(archive, key, b"PK-tiny")
    with FaultProxy(archive.endpoint_url, rules=[Rule(key, "slowdown", times=3)]) as proxy:
        d = engine(proxy.endpoint_url)
        out = d.transfer([(key, str(tmp_path / "t"))])[key]
        d.close()
    assert (out.ok, out.transient, out.error) == (False, True, f"HTTP 503 for {key}")


def test_a_refused_key_and_an_unwritable_destination_are_outcomes(archive, tmp_path):
    d = engine(archive.endpoint_url)
    got = d.transfer([("../etc/passwd", str(tmp_path / "x")), (BIG, str(tmp_path / "no" / "such" / "dir"))])
    d.close()
    assert got["../etc/passwd"].error == "internal error (please report): ValueError: unsafe object key '../etc/passwd'"
    assert got[BIG].transient is False and "No such file or directory" in got[BIG].error
    assert not os.path.exists(tmp_path / "x")


def test_an_error_body_is_never_hashed_even_a_large_one(archive, tmp_path, monkeypatch):
    monkeypatch.setattr(curl_engine, "PROGRESS_HASH_BYTES", 64)  # less than the 503's XML body
    monkeypatch.setattr(curl_engine, "INLINE_HASH_BYTES", 32)
    monkeypatch.setattr(curl_engine, "PROGRESS_HASH_SECONDS", 0.0)  # looks after every read: sees the whole 503
    ranges = hashed_ranges(monkeypatch)
    with FaultProxy(archive.endpoint_url, rules=[Rule(BIG, "slowdown", times=1)]) as proxy:
        d = engine(proxy.endpoint_url)
        out = d.transfer([(BIG, str(tmp_path / "big.zip"))])[BIG]
        d.close()
        assert proxy.injected["slowdown"] == 1
    assert (out.ok, out.size, out.sha256) == (True, len(TRUTH), hashlib.sha256(TRUTH).hexdigest())
    assert ranges[0][0] == 0 and ranges[-1][1] == len(TRUTH)
