"""Download engines: s5cmd (batch command files), boto3 (threaded get_object) and http (anonymous GETs)."""

from raycollect.downloaders.base import Downloader, DownloaderSettings, Outcome, check_key, make_downloader

__all__ = ["Downloader", "DownloaderSettings", "Outcome", "check_key", "make_downloader"]
