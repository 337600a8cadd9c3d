"""http engine: plain anonymous GETs (path-style S3 URLs) over pooled keep-alive connections.

The archive is public, so no request needs signing; skipping botocore's request machinery costs about
a fifth of boto3's CPU per file (measured on the local archive: 2,000 objects in 0.7 s vs 3.4 s), which
matters for the archive's millions of small files. Retries: urllib3 retries connection errors and
429/5xx answers with exponential backoff (honouring Retry-After); an error in the middle of a body is
retried by the shard (raycollect.shard). Only for anonymous reads: private mirrors need s5cmd or boto3.
"""

from __future__ import annotations

import hashlib
from urllib.parse import quote

from raycollect.downloaders.base import DownloaderSettings, Outcome, check_key
from raycollect.downloaders.threaded import CHUNK, ThreadedDownloader

RETRY_STATUSES = (429, 500, 502, 503, 504)


class HttpDownloader(ThreadedDownloader):
    name = "http"

    def __init__(self, settings: DownloaderSettings) -> None:
        import urllib3

        super().__init__(settings)
        # Path-style: the bucket name has dots, which a virtual-host TLS certificate would not cover.
        base = settings.endpoint_url or f"https://s3.{settings.region}.amazonaws.com"
        self.base = f"{base.rstrip('/')}/{quote(settings.bucket)}/"
        # read=1: a body that stalls is retried once here, then by the shard (with a fresh deadline budget).
        retries = urllib3.Retry(total=5, read=1, backoff_factor=0.5, status_forcelist=RETRY_STATUSES,
                                allowed_methods=frozenset({"GET"}), raise_on_status=False,
                                respect_retry_after_header=True)
        self.http = urllib3.PoolManager(maxsize=settings.workers, block=True, retries=retries,
                                        timeout=urllib3.Timeout(connect=10, read=min(60, settings.timeout_seconds)))

    def get(self, key: str, dst: str) -> Outcome:
        import urllib3

        url = self.base + quote(check_key(key), safe="/")
        try:
            resp = self.http.request("GET", url, preload_content=False)
        except urllib3.exceptions.HTTPError as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500], transient=True)
        try:
            if resp.status == 404:
                return Outcome(False, missing=True, error=f"NoSuchKey: {key}")
            if resp.status != 200:
                return Outcome(False, error=f"HTTP {resp.status} for {key}", transient=resp.status >= 500)
            h = hashlib.sha256()
            size = 0
            with open(dst, "wb") as fh:
                for chunk in resp.stream(CHUNK):
                    h.update(chunk)
                    fh.write(chunk)
                    size += len(chunk)
            return Outcome(True, size=size, sha256=h.hexdigest())
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500], transient=True)
        finally:
            resp.release_conn()
