"""Staging: where files are downloaded and verified before their commit, and how leftovers are swept.

Layout below a staging root (``<output>/.raycollect-staging`` for a directory destination, on the same
filesystem so the commit is a rename; ``<local_data_dir or TMPDIR>/raycollect-staging`` for ``s3://``)::

    <owner>.lock        held (flock) by the owning process for as long as it lives
    <owner>/<shard>/    one directory per shard, removed by the shard whatever happens

An owner is one downloader actor (or one test). The kernel releases a flock when its process dies, even
on ``kill -9``, so "lock free" means "owner dead": ``sweep`` removes exactly those directories and never
touches a live run's. Every run sweeps at its start and end, and every actor at its start (on its node).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import tempfile
import time
from pathlib import Path

LOCAL_STAGING = ".raycollect-staging"


class StagingArea:
    """One owner's staging directory: ``open()`` it, hand out ``shard_dir()``s, ``close()`` at the end."""

    def __init__(self, root: Path, owner: str) -> None:
        if not owner or "/" in owner or owner.startswith("."):
            raise ValueError(f"bad staging owner {owner!r}")
        self.root = root
        self.owner = f"{owner}.{secrets.token_hex(4)}"
        self.lock_path = root / f"{self.owner}.lock"
        self.dir = root / self.owner
        self._fd: int | None = None

    def open(self) -> StagingArea:
        for _ in range(5):  # a sweeper may remove the (empty) root between our mkdir and open
            self.root.mkdir(parents=True, exist_ok=True)
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
                break
            except FileNotFoundError:
                continue
        else:
            raise OSError(f"cannot create a staging lock in {self.root}")
        fcntl.flock(fd, fcntl.LOCK_EX)
        # A sweeper may have taken and unlinked the fresh lock file before we locked it: ours must be the one
        # at the path, or our directory would look ownerless.
        if os.fstat(fd).st_ino != os.stat(self.lock_path).st_ino:  # pragma: no cover - a narrow race
            os.close(fd)
            return self.open()
        self._fd = fd
        self.dir.mkdir(exist_ok=True)
        return self

    def shard_dir(self) -> Path:
        """A fresh directory for one shard; the caller removes it (``remove_tree``)."""
        if self._fd is None:
            raise RuntimeError("staging area is not open")
        return Path(tempfile.mkdtemp(prefix="shard-", dir=self.dir))

    def close(self) -> None:
        remove_tree(self.dir)
        if self._fd is not None:
            with contextlib.suppress(FileNotFoundError):
                self.lock_path.unlink()
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> StagingArea:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def sweep(root: Path) -> int:
    """Remove the staging of owners that are no longer alive below ``root``; returns how many."""
    try:
        entries = list(os.scandir(root))
    except (FileNotFoundError, NotADirectoryError):
        return 0
    locks = {e.name[:-5] for e in entries if e.name.endswith(".lock") and e.is_file(follow_symlinks=False)}
    removed = 0
    for owner in sorted(locks | {e.name for e in entries if e.is_dir(follow_symlinks=False)}):
        lock = root / f"{owner}.lock"
        if owner in locks:
            try:
                fd = os.open(lock, os.O_RDWR)
            except FileNotFoundError:
                continue  # its owner just closed it cleanly
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # alive
            try:
                remove_tree(root / owner)
                lock.unlink(missing_ok=True)
            finally:
                os.close(fd)
        else:
            # A directory without a lock: its owner locks before it creates the directory, so it is gone.
            remove_tree(root / owner)
        removed += 1
    with contextlib.suppress(OSError):
        root.rmdir()  # only when empty: no other owner is staging here
    return removed


def sweep_owned(root: Path, prefix: str, timeout: float) -> int:
    """``sweep``, then wait up to ``timeout`` for the owners named ``prefix...`` that are still alive and sweep
    theirs too: a run's actors killed mid-shard as it ends (an interrupt) take a moment to exit, and their
    staging would otherwise stay until the next run. Returns how many owners' staging was removed."""
    removed = sweep(root)
    deadline = time.monotonic() + timeout
    while _owners(root, prefix) and time.monotonic() < deadline:
        time.sleep(0.05)
        removed += sweep(root)
    return removed


def _owners(root: Path, prefix: str) -> bool:
    try:
        return any(name.startswith(prefix) for name in os.listdir(root))
    except (FileNotFoundError, NotADirectoryError):
        return False


def remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
