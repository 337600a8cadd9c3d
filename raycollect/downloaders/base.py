"""What every downloader offers: move a list of (key, local path) pairs, report one outcome per key.

Downloaders only transfer bytes. Verification, retries and the atomic commit live in
:mod:`raycollect.shard`, so both engines share one tested path for the parts that protect data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Protocol

# Keys that reach a command file or a URL: archive-grammar characters only, no "..", no "//".
_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._=/-]{0,1023}")


def check_key(key: str) -> str:
    """``key`` if it is safe to hand to s5cmd or boto3, else ValueError naming it."""
    if not _SAFE_KEY.fullmatch(key) or ".." in key or "//" in key:
        raise ValueError(f"unsafe object key {key!r}")
    return key


@dataclass(frozen=True)
class DownloaderSettings:
    """Everything an actor needs to build its downloader; plain data, cheap to ship to Ray."""

    bucket: str
    endpoint_url: str | None = None
    region: str = "ap-northeast-1"
    workers: int = 32  # concurrent transfers inside one actor (I/O bound: far more than its CPU share)
    timeout_seconds: int = 300  # per downloader invocation, i.e. per shard
    enable_batch_mode: bool = True
    part_size_mb: int = 50
    s5cmd_extra_args: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class Outcome:
    """The result of moving one object."""

    ok: bool
    missing: bool = False  # 404 / NoSuchKey: the archive does not have it
    size: int = 0
    sha256: str | None = None  # set when the engine hashed while writing
    error: str | None = None
    transient: bool = False  # worth another try (reset, 5xx after the engine's own retries, timeout)


class Downloader(Protocol):
    name: str

    def transfer(self, pairs: list[tuple[str, str]], timeout: float) -> dict[str, Outcome]:
        """Download each ``(key, local_path)``; one Outcome per key, whatever happens."""
        ...

    def close(self) -> None: ...


def make_downloader(kind: str, settings: DownloaderSettings) -> Downloader:
    if kind == "s5cmd":
        from raycollect.downloaders.s5cmd import S5cmdDownloader

        return S5cmdDownloader(settings)
    if kind == "boto3":
        from raycollect.downloaders.boto3 import Boto3Downloader

        return Boto3Downloader(settings)
    if kind == "http":
        from raycollect.downloaders.http import HttpDownloader

        return HttpDownloader(settings)
    raise ValueError(f"unknown downloader {kind!r}; expected 's5cmd', 'boto3' or 'http'")
