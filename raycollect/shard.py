"""Collect one shard: download zips and sidecars to temporary names, verify SHA-256, commit atomically.

This is the one place that decides what reaches a final path, for every engine:
- every file is written to ``.<name>.<token>.part`` (next to its final path, or in scratch for an S3
  destination), never to the final name;
- it is committed by the storage (a rename, or an upload) only after its SHA-256 equals the first token
  of its ``.CHECKSUM`` (or, with verification off, after a complete transfer);
- a mismatch, a missing sidecar, a timeout or an error leaves the final path as it was (absent, or
  the previous verified copy) and the temporary files are removed.
Per-file failures are data (a status and an error), never exceptions.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import posixpath
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from raycollect.checksum import ChecksumFormatError, parse_checksum, sha256_file
from raycollect.downloaders.base import Downloader, Outcome, check_key
from raycollect.storage import BaseStorage, remove_tree

#: Transfer attempts per file inside one shard, for transient errors only (404 and mismatches are final).
FILE_ATTEMPTS = 3
#: Seconds before the 2nd and 3rd attempt (the engines' own retries already absorbed short blips).
BACKOFF = (0.5, 2.0)

RESULT_SCHEMA = pa.schema([
    pa.field("key", pa.string(), nullable=False),
    pa.field("status", pa.string(), nullable=False),  # success | skipped | missing | failed
    pa.field("size_bytes", pa.int64()),
    pa.field("sha256", pa.string()),
    pa.field("expected_sha256", pa.string()),
    pa.field("previous_sha256", pa.string()),  # the local copy's digest when a re-verified file was replaced
    pa.field("checksum_verified", pa.bool_(), nullable=False),
    pa.field("attempts", pa.int32(), nullable=False),
    pa.field("error", pa.string()),
    pa.field("started_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("finished_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("duration_s", pa.float64(), nullable=False),
])  # fmt: skip


@dataclass
class _File:
    key: str
    checksum_key: str
    target: str
    verify_existing: bool
    tmp: Path | None = None
    tmp_sum: Path | None = None
    expected: str | None = None
    previous: str | None = None
    sidecar_done: bool = False
    result: dict[str, Any] | None = None
    attempts: int = 0
    last_error: str | None = None
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


def process_shard(
    tasks: dict[str, list[Any]],
    *,
    downloader: Downloader,
    storage: BaseStorage,
    verify: bool,
    timeout: float,
) -> pa.RecordBatch:
    """Results for ``tasks`` (columns key, checksum_key, target, verify_existing), in the same order."""
    files = [_File(*row) for row in zip(tasks["key"], tasks["checksum_key"], tasks["target"],
                                        tasks["verify_existing"], strict=True)]
    deadline = time.monotonic() + timeout
    scratch = storage.scratch()  # S3 destination: a private scratch directory, removed below whatever happens
    try:
        for f in files:
            _prepare(f, storage, scratch)
        if verify:
            _check_existing([f for f in files if f.result is None and f.verify_existing], downloader, storage,
                            deadline)
        _download([f for f in files if f.result is None], downloader, storage, verify, deadline)
    finally:
        for f in files:
            for p in (f.tmp, f.tmp_sum):
                if p is not None:
                    with contextlib.suppress(FileNotFoundError):
                        p.unlink()
        remove_tree(scratch)
    return pa.RecordBatch.from_pylist([f.result for f in files], schema=RESULT_SCHEMA)


def _finish(f: _File, status: str, *, size: int | None = None, sha: str | None = None, verified: bool = False,
            error: str | None = None) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    f.result = {
        "key": f.key, "status": status, "size_bytes": size, "sha256": sha, "expected_sha256": f.expected,
        "previous_sha256": f.previous,
        "checksum_verified": verified, "attempts": f.attempts, "error": error, "started_at": f.started,
        "finished_at": now, "duration_s": (now - f.started).total_seconds(),
    }  # fmt: skip


def _prepare(f: _File, storage: BaseStorage, scratch: Path | None) -> None:
    try:
        check_key(f.key)
        check_key(f.checksum_key)
        folder = storage.temp_dir(f.target, scratch)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - a bad target is this file's failure, not the shard's
        _finish(f, "failed", error=f"refused: {exc}")
        return
    name = posixpath.basename(f.target)
    token = uuid.uuid4().hex[:12]  # unique per attempt: a duplicated shard never shares a temp file
    f.tmp = folder / f".{name}.{token}.part"
    f.tmp_sum = folder / f".{name}.CHECKSUM.{token}.part"


def _read_sidecar(f: _File, outcome: Outcome | None) -> str | None:
    """Sets f.expected from a downloaded sidecar; returns an error text when there is none."""
    if outcome is None or not outcome.ok:
        if outcome is not None and outcome.missing:
            return f"checksum sidecar missing: {f.checksum_key}"
        return f"checksum sidecar not fetched: {outcome.error if outcome else 'no result'}"
    try:
        f.expected = parse_checksum(f.tmp_sum.read_bytes())  # type: ignore[union-attr]
    except (OSError, ChecksumFormatError) as exc:
        return f"checksum sidecar unreadable: {exc}"
    f.sidecar_done = True
    return None


def _check_existing(files: list[_File], downloader: Downloader, storage: BaseStorage, deadline: float) -> None:
    """A file already at its final location with no manifest row (or being re-verified): skip it if it
    matches the archive's current sidecar."""
    if not files:
        return
    outcomes = downloader.transfer([(f.checksum_key, str(f.tmp_sum)) for f in files], _left(deadline))
    for f in files:
        if _read_sidecar(f, outcomes.get(f.checksum_key)) is not None:
            continue
        got = storage.digest(f.target, f.tmp.parent)  # type: ignore[union-attr]
        if got is None:
            continue
        size, digest = got
        if digest == f.expected:
            _finish(f, "skipped", size=size, sha=digest, verified=True)
        else:
            f.previous = digest  # changed in the archive (or corrupt here): re-fetch; old copy stays until then


def _download(files: list[_File], downloader: Downloader, storage: BaseStorage, verify: bool,
              deadline: float) -> None:
    for attempt in range(FILE_ATTEMPTS):
        todo = [f for f in files if f.result is None]
        if not todo:
            return
        if attempt:
            time.sleep(min(BACKOFF[min(attempt - 1, len(BACKOFF) - 1)], max(0.0, _left(deadline))))
        if _left(deadline) <= 0:
            break
        pairs = [(f.key, str(f.tmp)) for f in todo]
        pairs += [(f.checksum_key, str(f.tmp_sum)) for f in todo if verify and not f.sidecar_done]
        outcomes = downloader.transfer(pairs, _left(deadline))
        last = attempt == FILE_ATTEMPTS - 1
        for f in todo:
            f.attempts += 1
            _settle(f, outcomes.get(f.key), outcomes.get(f.checksum_key), storage, verify, last)
    for f in files:
        if f.result is None:
            _finish(f, "failed", error=f.last_error or "timed out (timeout_seconds) before the transfer finished")


def _settle(f: _File, zip_out: Outcome | None, sum_out: Outcome | None, storage: BaseStorage, verify: bool,
            last: bool) -> None:
    """Decide one file after a transfer round; leaves f.result None when another round may help."""
    if zip_out is None:
        f.last_error = "no result from the downloader"
        return
    if not zip_out.ok:
        if zip_out.missing:
            _finish(f, "missing", error="not in the archive (404 NoSuchKey)")
        elif not zip_out.transient or last:
            _finish(f, "failed", error=zip_out.error)
        else:
            f.last_error = zip_out.error
        return
    digest = zip_out.sha256 or sha256_file(f.tmp)  # type: ignore[arg-type]
    size = f.tmp.stat().st_size  # type: ignore[union-attr]
    if verify and not f.sidecar_done:
        problem = _read_sidecar(f, sum_out)
        if problem is not None:
            transient = sum_out is not None and sum_out.transient and not last
            if transient:
                f.last_error = problem
            else:
                _finish(f, "failed", size=size, sha=digest, error=problem)
            return
    if verify and digest != f.expected:
        _finish(f, "failed", size=size, sha=digest,
                error=f"checksum mismatch: expected {f.expected}, got {digest}")
        return
    try:
        storage.commit(f.tmp, f.target, f.tmp_sum if verify else None)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - a failed rename/upload is this file's failure
        _finish(f, "failed", size=size, sha=digest, error=f"commit to the destination failed: {exc}"[:500])
        return
    _finish(f, "success", size=size, sha=digest, verified=verify)


def _left(deadline: float) -> float:
    return deadline - time.monotonic()
