"""Download engines and their registry: curl (libcurl multi, the default), s5cmd (batch command files), boto3
(threaded get_object), http (urllib3 threads).

The registry lives here, not in ``base.py``, so the base module imports no engine and no engine imports
the registry.
"""

from __future__ import annotations

from raycollect.downloaders.base import Downloader, DownloaderSettings, Outcome, check_key

ENGINES = ("curl", "s5cmd", "boto3", "http")
#: The engine of a config that names none: the fastest that keeps every promise (docs/performance.md).
DEFAULT_ENGINE = "curl"


def make_downloader(kind: str, settings: DownloaderSettings) -> Downloader:
    if kind == "curl":
        from raycollect.downloaders.curl import CurlDownloader

        return CurlDownloader(settings)
    if kind == "s5cmd":
        from raycollect.downloaders.s5cmd import S5cmdDownloader

        return S5cmdDownloader(settings)
    if kind == "boto3":
        from raycollect.downloaders.boto3 import Boto3Downloader

        return Boto3Downloader(settings)
    if kind == "http":
        from raycollect.downloaders.http import HttpDownloader

        return HttpDownloader(settings)
    raise ValueError(f"unknown downloader {kind!r}; expected one of {', '.join(ENGINES)}")


__all__ = ["DEFAULT_ENGINE", "ENGINES", "Downloader", "DownloaderSettings", "Outcome", "check_key", "make_downloader"]
