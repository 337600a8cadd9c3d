"""Collect one shard: download zips and sidecars into the shard's staging directory, verify, commit.

This is the one place that decides what reaches a final path, for every engine:
- every file and sidecar is written inside a staging directory that the shard owns and removes whatever
  happens (raycollect.staging), never at or next to its final name;
- a sidecar counts only if it is exactly ``<64 hex>  <zip name>`` (raycollect.checksum); a zip is
  committed (a rename, or an upload) only after its SHA-256 equals that digest, or, with verification
  off, after a complete transfer;
- a transient failure (see raycollect.downloaders.retry) is tried again in the next round, after a
  jittered backoff, up to ``FILE_ATTEMPTS`` rounds; a mismatch is fetched again ``MISMATCH_REFETCHES``
  time(s), then the file is ``failed`` with both digests in its row;
- a failure leaves the final path as it was (absent, or the previous verified copy);
- a verified zip that is not a usable archive file (raycollect.zipcheck), or one whose sidecar names another
  file in every round, is ``quarantined``: kept below ``_quarantine/`` with its reason, never at its target.
Per-file failures are data (a status and an error), never exceptions.
"""

from __future__ import annotations

import datetime as dt
import posixpath
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from raycollect.checksum import ChecksumFormatError, SidecarNamesOther, parse_checksum, sha256_file
from raycollect.downloaders.base import Downloader, Outcome, check_key
from raycollect.downloaders.retry import FILE_ATTEMPTS, MISMATCH_REFETCHES, backoff
from raycollect.manifest.schema import RESULT_SCHEMA, Status
from raycollect.staging import StagingArea, remove_tree
from raycollect.storage import BaseStorage
from raycollect.zipcheck import QUARANTINE_DIR, zip_problem


@dataclass
class _File:
    key: str
    checksum_key: str
    target: str
    verify_existing: bool
    tmp: Path | None = None
    tmp_sum: Path | None = None
    expected: str | None = None  # digest from a valid sidecar (kept across rounds)
    sidecar_bytes: bytes | None = None
    zip_digest: str | None = None  # a complete zip in staging (kept across rounds until a mismatch)
    zip_size: int | None = None
    previous: str | None = None
    misnamed: str | None = None  # the sidecar is well-formed but names another file: quarantined, not retried
    answers: dict[str, Any] = field(default_factory=dict)  # ARCHIVE_FIELDS from the GET answers
    result: dict[str, Any] | None = None
    attempts: int = 0
    mismatches: int = 0
    last_error: str | None = None
    started: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))


def process_shard(
    tasks: dict[str, list[Any]],
    *,
    downloader: Downloader,
    storage: BaseStorage,
    verify: bool,
    staging: StagingArea,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    progress: Callable[[int, int], None] | None = None,
) -> pa.RecordBatch:
    """Results for ``tasks`` (columns key, checksum_key, target, verify_existing), in the same order.

    ``progress(files, bytes)`` is told about each zip as it arrives (before verification): for the bar only.
    """
    files = [_File(*row) for row in zip(tasks["key"], tasks["checksum_key"], tasks["target"],
                                        tasks["verify_existing"], strict=True)]
    stage = staging.shard_dir()
    try:
        for i, f in enumerate(files):
            _prepare(f, i, storage, stage)
        if verify:
            _check_existing([f for f in files if f.result is None and f.verify_existing], downloader, storage,
                            stage)
        _download([f for f in files if f.result is None], downloader, storage, verify, sleep, rng, progress)
    finally:
        remove_tree(stage)  # engines return only when nothing writes: nothing comes back after this
    return pa.RecordBatch.from_pylist([f.result for f in files], schema=RESULT_SCHEMA)


def _finish(f: _File, status: Status, *, size: int | None = None, sha: str | None = None, verified: bool = False,
            error: str | None = None) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    f.result = {
        "key": f.key, "status": status, "size_bytes": size, "sha256": sha, "expected_sha256": f.expected,
        "previous_sha256": f.previous,
        "checksum_verified": verified, "attempts": f.attempts, "error": error, "started_at": f.started,
        "finished_at": now, "duration_s": (now - f.started).total_seconds(), **f.answers,
    }  # fmt: skip


def _prepare(f: _File, index: int, storage: BaseStorage, stage: Path) -> None:
    try:
        check_key(f.key)
        check_key(f.checksum_key)
        storage.check(f.target)
    except Exception as exc:  # noqa: BLE001 - a bad target is this file's failure, not the shard's
        _finish(f, Status.FAILED, error=f"refused: {exc}")
        return
    name = posixpath.basename(f.target)
    f.tmp = stage / f"{index:05d}-{name}"
    f.tmp_sum = stage / f"{index:05d}-{name}.CHECKSUM"


def _read_sidecar(f: _File, outcome: Outcome | None) -> tuple[str, bool] | None:
    """Sets f.expected from a fetched sidecar; else (error, transient)."""
    f.misnamed = None
    if outcome is None:
        return "checksum sidecar not fetched: no result from the downloader", True
    if not outcome.ok:
        if outcome.missing:  # the zip is there: a sidecar 404 may be a passing fault, so it gets its rounds
            return f"checksum sidecar missing: {f.checksum_key}", True
        return f"checksum sidecar not fetched: {outcome.error}", outcome.transient
    f.answers.update(checksum_etag=outcome.etag, checksum_last_modified=outcome.last_modified,
                     checksum_size=outcome.size)
    try:
        data = f.tmp_sum.read_bytes()  # type: ignore[union-attr]
        f.expected = parse_checksum(data, posixpath.basename(f.key))
    except SidecarNamesOther as exc:  # damaged on the way, or the archive's own mistake when it stays
        f.misnamed = f"checksum sidecar {exc}"
        return f.misnamed, True
    except ChecksumFormatError as exc:
        return f"checksum sidecar {exc}", True
    except OSError as exc:
        return f"checksum sidecar unreadable: {exc}", True
    f.sidecar_bytes = data
    return None


def _check_existing(files: list[_File], downloader: Downloader, storage: BaseStorage, stage: Path) -> None:
    """A file already at its final location with no manifest row (or being re-verified): skip it if it
    matches the archive's current sidecar, and repair a local sidecar that differs from it."""
    if not files:
        return
    outcomes = downloader.transfer([(f.checksum_key, str(f.tmp_sum)) for f in files])
    for f in files:
        if _read_sidecar(f, outcomes.get(f.checksum_key)) is not None:
            f.expected = f.sidecar_bytes = None
            continue
        got = storage.digest(f.target, stage)
        if got is None:
            continue
        size, digest = got
        if digest != f.expected:
            f.previous = digest  # changed in the archive (or corrupt here): re-fetch; old copy stays until then
            continue
        try:
            if storage.read_sidecar(f.target, stage) != f.sidecar_bytes:
                storage.commit_sidecar(f.tmp_sum, f.target)  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - a failed repair is this file's failure
            _finish(f, Status.FAILED, size=size, sha=digest, error=f"repairing the local sidecar failed: {exc}"[:500])
            continue
        _finish(f, Status.SKIPPED, size=size, sha=digest, verified=True)


def _download(files: list[_File], downloader: Downloader, storage: BaseStorage, verify: bool,
              sleep: Callable[[float], None], rng: Callable[[], float],
              progress: Callable[[int, int], None] | None = None) -> None:
    zips = {f.key for f in files}

    def on_done(key: str, size: int) -> None:
        if progress is not None and key in zips:
            progress(1, size)

    round_no = 0
    while todo := [f for f in files if f.result is None]:
        round_no += 1
        if round_no > 1:
            sleep(backoff(round_no, rng=rng))
        pairs = [(f.key, str(f.tmp)) for f in todo if f.zip_digest is None]
        pairs += [(f.checksum_key, str(f.tmp_sum)) for f in todo if verify and f.expected is None]
        outcomes = downloader.transfer(pairs, on_done) if progress is not None else downloader.transfer(pairs)
        for f in todo:
            f.attempts += 1
            _settle(f, outcomes, storage, verify)


def _retry_or_fail(f: _File, error: str, transient: bool, **facts: Any) -> None:
    if transient and f.attempts < FILE_ATTEMPTS:
        f.last_error = error
    else:
        _finish(f, Status.FAILED, error=error, **facts)


def _settle(f: _File, outcomes: dict[str, Outcome], storage: BaseStorage, verify: bool) -> None:
    """Decide one file after a round; leaves f.result None when another round may help."""
    sidecar_problem: tuple[str, bool] | None = None
    if verify and f.expected is None:  # read first: a good sidecar is kept even when its zip failed
        sidecar_problem = _read_sidecar(f, outcomes.get(f.checksum_key))
    if f.zip_digest is None:
        out = outcomes.get(f.key)
        if out is None:
            _retry_or_fail(f, "no result from the downloader", True)
            return
        if not out.ok:
            if out.missing:
                _finish(f, Status.MISSING, error="not in the archive (404 NoSuchKey)")
            else:
                _retry_or_fail(f, out.error or "transfer failed", out.transient)
            return
        f.zip_digest = out.sha256 or sha256_file(f.tmp)  # type: ignore[arg-type]
        f.answers.update(etag=out.etag, last_modified=out.last_modified)
        f.zip_size = f.tmp.stat().st_size  # type: ignore[union-attr]
    facts = {"size": f.zip_size, "sha": f.zip_digest}
    if sidecar_problem is not None and f.misnamed and f.attempts >= FILE_ATTEMPTS:
        _quarantine(f, storage, f.misnamed)  # named another file in every round: the archive's, not a transfer's
        return
    if sidecar_problem is not None:
        _retry_or_fail(f, *sidecar_problem, **facts)
        return
    if verify and f.zip_digest != f.expected:
        f.mismatches += 1
        error = f"checksum mismatch: expected {f.expected}, got {f.zip_digest}"
        if f.mismatches <= MISMATCH_REFETCHES:
            f.last_error = error
            f.zip_digest = f.zip_size = f.expected = f.sidecar_bytes = None  # both fetched again
        else:
            _finish(f, Status.FAILED, error=error, **facts)
        return
    problem = zip_problem(f.tmp)  # type: ignore[arg-type]
    if problem is not None:  # the bytes are the archive's, and unusable: kept aside, never at the target
        _quarantine(f, storage, problem, verified=verify)
        return
    try:
        storage.commit(f.tmp, f.target, f.tmp_sum if verify else None)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - a failed rename/upload is this file's failure
        _finish(f, Status.FAILED, error=f"commit to the destination failed: {exc}"[:500], **facts)
        return
    _finish(f, Status.SUCCESS, size=f.zip_size, sha=f.zip_digest, verified=verify)


def _quarantine(f: _File, storage: BaseStorage, reason: str, *, verified: bool = False) -> None:
    """Commit the zip (and its sidecar, when fetched) below QUARANTINE_DIR instead of its target; status
    ``quarantined`` with the reason. The target keeps what it held (absent, or an earlier verified copy)."""
    where = f"{QUARANTINE_DIR}/{f.target}"
    facts = {"size": f.zip_size, "sha": f.zip_digest}
    sidecar = f.tmp_sum if f.tmp_sum is not None and f.tmp_sum.exists() else None
    try:
        storage.check(where)
        storage.commit(f.tmp, where, sidecar)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - a failed rename/upload is this file's failure
        _finish(f, Status.FAILED, error=f"{reason}; keeping it in quarantine failed: {exc}"[:500], **facts)
        return
    _finish(f, Status.QUARANTINED, verified=verified, error=f"{reason} (kept at {where})"[:500], **facts)
