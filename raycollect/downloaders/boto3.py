"""boto3 engine: threaded streaming ``get_object`` calls that hash while they write.

No HEAD before GET and no second read of the file: the SHA-256 is computed from the bytes as they
arrive. Retries follow :mod:`raycollect.downloaders.retry` (botocore ``standard`` mode).
"""

from __future__ import annotations

from raycollect.downloaders.base import DownloaderSettings, Outcome, check_key
from raycollect.downloaders.retry import s3_client
from raycollect.downloaders.threaded import CHUNK, ThreadedDownloader


class Boto3Downloader(ThreadedDownloader):
    name = "boto3"

    def __init__(self, settings: DownloaderSettings) -> None:
        super().__init__(settings)
        self.client = s3_client(endpoint_url=settings.endpoint_url, region=settings.region, anonymous=True,
                                read_timeout=settings.timeout_seconds, pool=settings.workers)

    def get(self, key: str, dst: str) -> Outcome:
        from botocore.exceptions import ClientError

        try:
            resp = self.client.get_object(Bucket=self.s.bucket, Key=check_key(key))
        except ClientError as exc:
            out = Outcome.failure(exc)
            if out.missing:
                out.error = f"NoSuchKey: {key}"
            return out
        try:
            out = self.write_stream(resp["Body"].iter_chunks(CHUNK), dst)
            return out.with_headers(resp.get("ETag"), resp.get("LastModified"))
        finally:
            resp["Body"].close()
