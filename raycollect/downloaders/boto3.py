"""boto3 engine: threaded streaming ``get_object`` calls that hash while they write.

No HEAD before GET and no second read of the file: the SHA-256 is computed from the bytes as they
arrive. botocore's adaptive retry mode handles throttling (503 SlowDown) and transient 5xx.
"""

from __future__ import annotations

import hashlib

from raycollect.downloaders.base import DownloaderSettings, Outcome, check_key
from raycollect.downloaders.threaded import CHUNK, ThreadedDownloader


class Boto3Downloader(ThreadedDownloader):
    name = "boto3"

    def __init__(self, settings: DownloaderSettings) -> None:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        super().__init__(settings)
        config = Config(
            signature_version=UNSIGNED,  # the archive is public: anonymous reads, no credentials needed
            retries={"mode": "adaptive", "max_attempts": 5},
            max_pool_connections=settings.workers,  # one connection per worker thread, none waiting
            connect_timeout=10,
            read_timeout=min(60, settings.timeout_seconds),  # no single read may outlast the whole call
        )
        self.client = boto3.session.Session().client(
            "s3", endpoint_url=settings.endpoint_url, region_name=settings.region, config=config)

    def get(self, key: str, dst: str) -> Outcome:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            resp = self.client.get_object(Bucket=self.s.bucket, Key=check_key(key))
            h = hashlib.sha256()
            size = 0
            with open(dst, "wb") as fh:
                for chunk in resp["Body"].iter_chunks(CHUNK):
                    h.update(chunk)
                    fh.write(chunk)
                    size += len(chunk)
            return Outcome(True, size=size, sha256=h.hexdigest())
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in ("NoSuchKey", "404", "NotFound") or status == 404:
                return Outcome(False, missing=True, error=f"NoSuchKey: {key}")
            return Outcome(False, error=f"{code or status}: {exc}"[:500], transient=status is None or status >= 500)
        except (BotoCoreError, OSError) as exc:
            return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500], transient=True)
