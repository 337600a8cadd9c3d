"""Download engines: s5cmd (batch command files) and boto3 (threaded streaming get_object)."""

from raycollect.downloaders.base import Downloader, DownloaderSettings, Outcome, check_key, make_downloader

__all__ = ["Downloader", "DownloaderSettings", "Outcome", "check_key", "make_downloader"]
