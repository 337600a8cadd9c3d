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
import os
import posixpath
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from raycollect.checksum import sha256_file
from raycollect.errors import ConfigurationError, WorkflowError


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

    @abstractmethod
    def temp_dir(self, relative: str, scratch: Path) -> Path:
        """Where to download the file before it is verified (created)."""

    @abstractmethod
    def commit(self, tmp: Path, relative: str, sidecar_tmp: Path | None) -> None:
        """Put a verified file (and its sidecar) at its final location; consumes the temp files."""

    @abstractmethod
    def sizes(self, relatives: Iterable[str]) -> dict[str, int]:
        """Sizes of the given targets that exist at the destination."""

    @abstractmethod
    def digest(self, relative: str, scratch: Path) -> tuple[int, str] | None:
        """(size, SHA-256) of the file at ``relative``, or None when there is none."""

    def scratch(self) -> Path | None:
        """A per-shard scratch directory, or None when files are staged next to their final path."""
        return None

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

    def temp_dir(self, relative: str, scratch: Path) -> Path:
        parent = self.resolve(relative).parent
        parent.mkdir(parents=True, exist_ok=True)  # exist_ok: many threads and actors race here
        return parent

    def commit(self, tmp: Path, relative: str, sidecar_tmp: Path | None) -> None:
        final = self.resolve(relative)
        os.replace(tmp, final)  # atomic: same directory, same filesystem
        if sidecar_tmp is not None:
            os.replace(sidecar_tmp, final.with_name(final.name + ".CHECKSUM"))

    def sizes(self, relatives: Iterable[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        root = str(self.root)
        for rel in relatives:
            try:
                out[rel] = os.stat(os.path.join(root, rel)).st_size
            except OSError:
                pass
        return out

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
            import boto3
            from botocore import UNSIGNED
            from botocore.config import Config

            kw: dict[str, Any] = {"retries": {"mode": "adaptive", "max_attempts": 8}, "max_pool_connections": 64}
            if self.anonymous:
                kw["signature_version"] = UNSIGNED
            self._client = boto3.session.Session().client("s3", endpoint_url=self.endpoint_url,
                                                          region_name=self.region, config=Config(**kw))
        return self._client

    def key(self, relative: str) -> str:
        return self.prefix + _check_relative(relative)

    def scratch(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="raycollect-scratch-", dir=self.scratch_root))

    def temp_dir(self, relative: str, scratch: Path) -> Path:
        self.key(relative)  # refuse a bad target before any download
        return scratch

    def commit(self, tmp: Path, relative: str, sidecar_tmp: Path | None) -> None:
        key = self.key(relative)
        self.client.upload_file(str(tmp), self.bucket, key)
        if sidecar_tmp is not None:
            self.client.upload_file(str(sidecar_tmp), self.bucket, key + ".CHECKSUM")
            sidecar_tmp.unlink()
        tmp.unlink()

    def sizes(self, relatives: Iterable[str]) -> dict[str, int]:
        wanted = set(relatives)
        folders = sorted({posixpath.dirname(r) + "/" for r in wanted})
        out: dict[str, int] = {}
        paginator = self.client.get_paginator("list_objects_v2")
        for folder in folders:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + folder, Delimiter="/"):
                for obj in page.get("Contents", []):
                    rel = obj["Key"][len(self.prefix):]
                    if rel in wanted:
                        out[rel] = int(obj["Size"])
        return out

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


def make_storage(config: Any) -> BaseStorage:
    """The storage a config asks for: s3:// output or a directory."""
    out = str(config.output_directory)
    if out.startswith("s3://"):
        return S3Storage(out, endpoint_url=config.destination_endpoint_url,
                         region=config.destination_region or config.region,
                         anonymous=config.destination_credentials == "anonymous",
                         scratch_root=config.local_data_dir)
    return LocalStorage(out)


def remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
