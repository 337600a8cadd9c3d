"""Where collected files land: the seed's pluggable storage interface, a directory store and an S3 store.

A storage maps a planned file to a location below a root and owns the commit of a verified file:
- ``LocalStorage`` (a local or shared-filesystem directory): temp files sit next to their final path
  and a verified file is renamed into place (atomic within one filesystem);
- ``S3Storage`` (``output_directory: s3://bucket/prefix``): files are downloaded and verified in local
  scratch, then uploaded; an S3 object appears only once its upload completes, so no reader ever sees
  half a file, and scratch is removed whatever happens.
Every location is checked to stay inside the root: a key or a custom layout can never write elsewhere.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import os
import posixpath
import secrets
import shutil
import subprocess
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from raycollect.atomic import move
from raycollect.checksum import sha256_file
from raycollect.errors import ConfigurationError, WorkflowError
from raycollect.staging import LOCAL_STAGING

if TYPE_CHECKING:
    from raycollect.config import WorkflowConfig


def _check_relative(relative: str) -> str:
    if not relative or relative.startswith(("/", "\\")) or "\0" in relative or "\\" in relative:
        raise WorkflowError(f"refusing target path {relative!r}: not a relative path")
    norm = posixpath.normpath(relative)
    if norm != relative or norm.startswith("../") or norm == "..":
        raise WorkflowError(f"refusing target path {relative!r}: it resolves outside the destination")
    return relative


class BaseStorage(ABC):
    """The seed's storage interface: a partition layout plus how files are committed and found again."""

    #: Prefix that, joined with a target, gives the location recorded in the manifest's target_path.
    base_uri: str

    def get_partition_path(
        self, *, market: str, data_type: str, partition: str, symbol: str, interval: str | None, period: dt.date,
        key: str,
    ) -> str:
        """The file's path relative to the root. Default: the archive key itself. Override it for another
        layout; the workflow then asks it for every planned file (and checks each answer)."""
        return key

    @property
    def mirrors_keys(self) -> bool:
        """True while the layout is the default one, so targets can be built column-wise from the keys."""
        return type(self).get_partition_path is BaseStorage.get_partition_path

    @property
    @abstractmethod
    def staging_root(self) -> Path:
        """Where shards stage their downloads (raycollect.staging); for a directory, on its filesystem."""

    @abstractmethod
    def commit(self, tmp: Path, relative: str, sidecar_tmp: Path | None) -> None:
        """Put a verified file (and its sidecar) at its final location; consumes the staged files."""

    @abstractmethod
    def commit_sidecar(self, sidecar_tmp: Path, relative: str) -> None:
        """Replace the sidecar of the file at ``relative`` (a damaged one found by re-verification)."""

    @abstractmethod
    def list_dir(self, relative_dir: str) -> dict[str, int]:
        """{file name: size} of the files directly in ``relative_dir`` ({} when it does not exist)."""

    def list_dirs(self, relative_dirs: list[str]) -> tuple[pa.Array, pa.Array]:
        """(relative paths, sizes) of the files directly in each of ``relative_dirs`` (each ending in '/')."""
        paths: list[str] = []
        sizes: list[int] = []
        for folder in relative_dirs:
            found = self.list_dir(folder.rstrip("/"))
            paths += [folder + name for name in found]
            sizes += list(found.values())
        return pa.array(paths, pa.string()), pa.array(sizes, pa.int64())

    @abstractmethod
    def digest(self, relative: str, scratch: Path) -> tuple[int, str] | None:
        """(size, SHA-256) of the file at ``relative``, or None when there is none."""

    @abstractmethod
    def read_sidecar(self, relative: str, scratch: Path) -> bytes | None:
        """The bytes of the sidecar stored next to ``relative``, or None."""

    @abstractmethod
    def probe(self) -> None:
        """Raise ConfigurationError naming the destination and the cause unless it is writable."""

    def check(self, relative: str) -> None:
        """Raise WorkflowError when ``relative`` would land outside the destination."""
        _check_relative(relative)

    @property
    def location(self) -> str:
        """The destination as users write it (a directory, or an s3:// URI)."""
        return self.base_uri.rstrip("/" + os.sep)


class LocalStorage(BaseStorage):
    """A local or shared-filesystem directory; files mirror their archive keys below it."""

    def __init__(self, root: str | Path) -> None:
        text = str(root)
        if any(c in text for c in "\r\n\0"):
            raise ConfigurationError(f"output_directory {text!r} contains a control character; choose another path")
        self.root = Path(root).expanduser().resolve()
        self.base_uri = str(self.root) + os.sep

    def resolve(self, relative: str) -> Path:
        """The absolute path of ``relative`` below the root; anything that would leave the root is refused."""
        path = Path(os.path.normpath(self.root / _check_relative(relative)))
        if path == self.root or self.root not in path.parents:
            raise WorkflowError(f"refusing target path {relative!r}: it resolves outside {self.root}")
        return path

    def check(self, relative: str) -> None:
        self.resolve(relative)

    @property
    def staging_root(self) -> Path:
        return self.root / LOCAL_STAGING

    def commit(self, tmp: Path, relative: str, sidecar_tmp: Path | None) -> None:
        final = self.resolve(relative)
        final.parent.mkdir(parents=True, exist_ok=True)  # exist_ok: many threads and actors race here
        move(tmp, final)  # one rename: staging is on the destination's filesystem
        if sidecar_tmp is not None:
            move(sidecar_tmp, final.with_name(final.name + ".CHECKSUM"))

    def commit_sidecar(self, sidecar_tmp: Path, relative: str) -> None:
        final = self.resolve(relative)
        move(sidecar_tmp, final.with_name(final.name + ".CHECKSUM"))

    def list_dirs(self, relative_dirs: list[str]) -> tuple[pa.Array, pa.Array]:
        """GNU find lists and stats the directories in C and its output is parsed by Arrow: no Python object
        per file (``os.scandir`` spends about 5 us a file in Python, most of a rerun over millions)."""
        find = _gnu_find()
        if find is None or any(c in d for d in relative_dirs for c in "\t\n\r\0"):
            return super().list_dirs(relative_dirs)
        root = str(self.root) + os.sep
        existing = [root + d for d in relative_dirs if os.path.isdir(root + d)]
        if not existing:
            return pa.array([], pa.string()), pa.array([], pa.int64())
        # Two finds over halves of the directories: stat is the cost, and it runs on both cores. Every
        # argument is an absolute path below the root (validated targets), never an option.
        halves = [existing[i::2] for i in range(2) if existing[i::2]]
        procs = [subprocess.Popen([find, *half, "-mindepth", "1", "-maxdepth", "1", "-type", "f", "-printf",
                                   "%p\t%s\n"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for half in halves]
        out = b"".join(p.communicate()[0] for p in procs)
        if not out:
            return pa.array([], pa.string()), pa.array([], pa.int64())
        import pyarrow.csv as pcsv

        table = pcsv.read_csv(io.BytesIO(out), read_options=pcsv.ReadOptions(column_names=["path", "size"]),
                              parse_options=pcsv.ParseOptions(delimiter="\t", quote_char=False),
                              convert_options=pcsv.ConvertOptions(column_types={"path": pa.string(),
                                                                                "size": pa.int64()}))
        rel = pc.utf8_slice_codeunits(table["path"], len(root))
        return rel.combine_chunks(), table["size"].combine_chunks()

    def list_dir(self, relative_dir: str) -> dict[str, int]:
        """One ``scandir``: a directory's entries and their sizes."""
        try:
            with os.scandir(self.root / relative_dir) as it:
                return {e.name: e.stat(follow_symlinks=False).st_size for e in it if e.is_file(follow_symlinks=False)}
        except OSError:
            return {}

    def read_sidecar(self, relative: str, scratch: Path) -> bytes | None:
        path = self.resolve(relative)
        try:
            return path.with_name(path.name + ".CHECKSUM").read_bytes()
        except OSError:
            return None

    def probe(self) -> None:
        _probe_directory(self.root, "output_directory")

    def digest(self, relative: str, scratch: Path) -> tuple[int, str] | None:
        path = self.resolve(relative)
        try:
            return path.stat().st_size, sha256_file(path)
        except OSError:
            return None


class S3Storage(BaseStorage):
    """``s3://bucket/prefix``: verified in local scratch, then uploaded. Credentials: the AWS default chain
    (environment, ~/.aws, instance profile), or none with ``anonymous`` (an open test server)."""

    def __init__(self, uri: str, *, endpoint_url: str | None = None, region: str | None = None,
                 anonymous: bool = False, scratch_root: str | None = None) -> None:
        if not uri.startswith("s3://") or len(uri) <= 5:
            raise ConfigurationError(f"output_directory {uri!r} is not an s3://bucket/prefix URI")
        bucket, _, prefix = uri[5:].partition("/")
        if not bucket or any(c in uri for c in " \r\n\0"):
            raise ConfigurationError(f"output_directory {uri!r} is not an s3://bucket/prefix URI")
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.base_uri = f"s3://{bucket}/{self.prefix}"
        self.endpoint_url, self.region, self.anonymous = endpoint_url, region, anonymous
        self.scratch_root = scratch_root
        self._client: Any = None

    def __getstate__(self) -> dict[str, Any]:  # shipped to actors: each builds its own client
        return {**self.__dict__, "_client": None}

    @property
    def client(self) -> Any:
        if self._client is None:
            from raycollect.downloaders.retry import s3_client

            self._client = s3_client(endpoint_url=self.endpoint_url, region=self.region, anonymous=self.anonymous,
                                     pool=64)
        return self._client

    def key(self, relative: str) -> str:
        return self.prefix + _check_relative(relative)

    @property
    def staging_root(self) -> Path:
        return Path(self.scratch_root or tempfile.gettempdir()) / "raycollect-staging"

    def commit(self, tmp: Path, relative: str, sidecar_tmp: Path | None) -> None:
        key = self.key(relative)
        self.client.upload_file(str(tmp), self.bucket, key)
        if sidecar_tmp is not None:
            self.client.upload_file(str(sidecar_tmp), self.bucket, key + ".CHECKSUM")
            sidecar_tmp.unlink()
        tmp.unlink()

    def commit_sidecar(self, sidecar_tmp: Path, relative: str) -> None:
        self.client.upload_file(str(sidecar_tmp), self.bucket, self.key(relative) + ".CHECKSUM")
        sidecar_tmp.unlink()

    def list_dir(self, relative_dir: str) -> dict[str, int]:
        """One listing (paginated) of the directory below the prefix."""
        found: dict[str, int] = {}
        folder = self.prefix + (relative_dir.strip("/") + "/" if relative_dir.strip("/") else "")
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder,
                                                                          Delimiter="/"):
            for obj in page.get("Contents", []):
                found[obj["Key"][len(folder):]] = int(obj["Size"])
        return found

    def read_sidecar(self, relative: str, scratch: Path) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(relative) + ".CHECKSUM")["Body"].read()
        except ClientError:
            return None

    def probe(self) -> None:
        probe_s3_prefix(self.client, self.bucket, self.prefix, f"output_directory {self.location}")

    def digest(self, relative: str, scratch: Path) -> tuple[int, str] | None:
        from botocore.exceptions import ClientError

        local = scratch / ("existing-" + posixpath.basename(relative))
        try:
            self.client.download_file(self.bucket, self.key(relative), str(local))
        except ClientError:
            return None
        try:
            return local.stat().st_size, sha256_file(local)
        finally:
            local.unlink(missing_ok=True)


def make_storage(config: WorkflowConfig) -> BaseStorage:
    """The storage a config asks for: s3:// output or a directory."""
    out = str(config.output_directory)
    if out.startswith("s3://"):
        return S3Storage(out, endpoint_url=config.destination_endpoint_url,
                         region=config.destination_region or config.region,
                         anonymous=config.destination_credentials == "anonymous",
                         scratch_root=config.local_data_dir)
    return LocalStorage(out)


@functools.cache
def _gnu_find() -> str | None:
    """GNU find (it has -printf), or None (macOS, BusyBox): then os.scandir does the walk."""
    path = shutil.which("find")
    if path is None:
        return None
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return path if "GNU findutils" in version else None


def _probe_directory(path: Path, what: str) -> None:
    """Create ``path`` if needed and write and remove a probe file in it, or say why not."""
    if path.exists() and not path.is_dir():
        raise ConfigurationError(f"{what} {path} is a file, not a directory; choose a directory path")
    probe = path / f".raycollect-probe-{secrets.token_hex(6)}"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigurationError(f"{what} {path} is not writable ({reason}); choose a writable directory or "
                                 "fix its permissions") from None


def probe_s3_prefix(client: Any, bucket: str, prefix: str, what: str) -> None:
    """Write and remove a probe object below ``prefix``, or ConfigurationError naming ``what`` and the cause."""
    from botocore.exceptions import BotoCoreError, ClientError

    from raycollect.preflight import describe_aws_error

    key = f"{prefix}.raycollect-probe-{secrets.token_hex(6)}"
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"")
        client.delete_object(Bucket=bucket, Key=key)
    except (ClientError, BotoCoreError) as exc:
        raise ConfigurationError(f"{what} is not writable: {describe_aws_error(exc)}; check the bucket, "
                                 "destination_endpoint_url and credentials") from None


def probe_manifest_directory(path: str) -> None:
    """The manifest directory must be writable before anything is collected."""
    _probe_directory(Path(path).expanduser().resolve(), "manifest_directory")
