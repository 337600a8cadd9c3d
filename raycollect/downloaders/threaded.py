"""The transfer loop shared by the in-process engines (boto3, http): a thread pool, one deadline per call."""

from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor, wait

from raycollect.downloaders.base import DownloaderSettings, Outcome

CHUNK = 1 << 20  # 1 MiB: large files stream at disk speed, small ones arrive in one read


class ThreadedDownloader:
    name = "threaded"

    def __init__(self, settings: DownloaderSettings) -> None:
        self.s = settings
        self.pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix=f"raycollect-{self.name}")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def transfer(self, pairs: list[tuple[str, str]], timeout: float) -> dict[str, Outcome]:
        deadline = time.monotonic() + timeout
        futures: dict[Future[Outcome], str] = {self.pool.submit(self._guarded, k, d, deadline): k for k, d in pairs}
        done, pending = wait(futures, timeout=timeout)
        outcomes: dict[str, Outcome] = {}
        for fut in pending:
            fut.cancel()
            outcomes[futures[fut]] = Outcome(False, error=f"{self.name} timed out after {timeout:.0f}s "
                                                          "(timeout_seconds)")
        for fut in done:
            outcomes[futures[fut]] = fut.result()
        return outcomes

    def _guarded(self, key: str, dst: str, deadline: float) -> Outcome:
        if time.monotonic() > deadline:
            return Outcome(False, error=f"{self.name} timed out before the transfer started (timeout_seconds)")
        try:
            return self.get(key, dst)
        except Exception as exc:  # noqa: BLE001 - any failure of one file is that file's outcome
            return Outcome(False, error=f"{type(exc).__name__}: {exc}"[:500], transient=True)

    def get(self, key: str, dst: str) -> Outcome:
        """Download one object to ``dst``, hashing while writing."""
        raise NotImplementedError
