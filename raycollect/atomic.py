"""Atomic writes: every file the tool writes whole goes through here.

A file is written to a temporary name in its own directory (same filesystem: the rename is atomic), flushed
and fsync'd when it must survive a crash (manifests, state, pointers), then renamed over its final name. A
reader sees the old file or the new one, never half of one. The temporary name is hidden (``.name.<token>.tmp``),
unique per writer, so two processes never write into one temporary file. A file finished elsewhere (a verified
zip in staging, a converted Parquet file) is put in place by ``move``: one rename, or a copy beside its final
name and a rename when the two are on different filesystems.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path


def temp_path(path: Path) -> Path:
    """A hidden, unique temporary name beside ``path``."""
    return path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")


@contextlib.contextmanager
def replacing(path: Path, *, durable: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write; on success it replaces ``path`` (after an fsync with
    ``durable``), on an error it is removed and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes, *, durable: bool = True) -> Path:
    with replacing(path, durable=durable) as tmp:
        tmp.write_bytes(data)
    return path


def write_text(path: Path, text: str, *, durable: bool = True) -> Path:
    return write_bytes(path, text.encode("utf-8"), durable=durable)


def write_with(path: Path, writer: Callable[[Path], None], *, durable: bool = True) -> Path:
    """``writer(tmp)`` writes the file (a Parquet writer, DuckDB's COPY); then it replaces ``path``."""
    with replacing(path, durable=durable) as tmp:
        writer(tmp)
    return path


def move(src: Path, dst: Path) -> None:
    """Put the finished file ``src`` at ``dst`` in one rename (no fsync: a file a rerun can make again). Across
    filesystems (a mount point inside the destination) it is copied beside ``dst`` first, so it still appears
    whole, never half-written under its name; ``src`` is then removed."""
    try:
        os.replace(src, dst)
        return
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
    near = temp_path(dst)
    try:
        shutil.copyfile(src, near)
        os.replace(near, dst)
    except BaseException:
        near.unlink(missing_ok=True)
        raise
    src.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
