"""The transfer loop shared by the in-process engines (boto3, http): a thread pool, a deadline per file.

``transfer`` waits for every transfer it started: a thread still inside ``get`` could otherwise create
its file again after the shard removed it. Each ``get`` is bounded instead: the socket read timeout and
a per-file deadline checked between chunks both equal ``timeout_seconds``.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from raycollect.downloaders.base import DownloaderSettings, OnDone, Outcome

CHUNK = 1 << 20  # 1 MiB: large files stream at disk speed, small ones arrive in one read


class StallError(TimeoutError):
    """One file's transfer outlasted ``timeout_seconds`` (transient: the next round tries again)."""


class ThreadedDownloader:
    name = "threaded"

    def __init__(self, settings: DownloaderSettings) -> None:
        self.s = settings
        self.pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix=f"raycollect-{self.name}")

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)

    def transfer(self, pairs: list[tuple[str, str]], on_done: OnDone | None = None) -> dict[str, Outcome]:
        futures = [(key, self.pool.submit(self._guarded, key, dst, on_done)) for key, dst in pairs]
        return {key: fut.result() for key, fut in futures}  # every get is bounded: this never hangs

    def _guarded(self, key: str, dst: str, on_done: OnDone | None) -> Outcome:
        try:
            out = self.get(key, dst)
        except Exception as exc:  # noqa: BLE001 - classified: blips are transient, our own bugs terminal
            return Outcome.failure(exc)
        if on_done is not None and out.ok:
            on_done(key, out.size)
        return out

    def write_stream(self, chunks: Iterable[bytes], dst: str) -> Outcome:
        """Write ``chunks`` to ``dst`` while hashing them, within ``timeout_seconds`` of now."""
        deadline = time.monotonic() + self.s.timeout_seconds
        h = hashlib.sha256()
        size = 0
        with open(dst, "wb") as fh:
            for chunk in chunks:
                h.update(chunk)
                fh.write(chunk)
                size += len(chunk)
                if time.monotonic() > deadline:
                    raise StallError(f"timed out after {self.s.timeout_seconds}s (timeout_seconds)")
        return Outcome(True, size=size, sha256=h.hexdigest())

    def get(self, key: str, dst: str) -> Outcome:
        """Download one object to ``dst``, hashing while writing."""
        raise NotImplementedError
