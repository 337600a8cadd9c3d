"""Atomic writes and moves: a reader sees the old file or the new one, never half of one, and no temporary stays."""

from __future__ import annotations

import errno
import os

import pytest

from raycollect import atomic


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = atomic.write_text(tmp_path / "state.json", "old")

    def half(tmp):
        tmp.write_text("ne")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match="No space left on device"):
        atomic.write_with(path, half)
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
    atomic.write_bytes(path, b"new", durable=False)
    assert path.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_move_across_filesystems_copies_beside_the_target_then_renames(tmp_path, monkeypatch):
    src, dst = tmp_path / "staging" / "a.zip", tmp_path / "out" / "a.zip"
    src.parent.mkdir()
    dst.parent.mkdir()
    src.write_bytes(b"PK" + bytes(100))
    dst.write_bytes(b"old copy")
    renames = []
    real = os.replace

    def replace(a, b):
        renames.append((os.path.dirname(a), os.path.dirname(b)))
        if os.path.dirname(a) != os.path.dirname(b):
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real(a, b)

    monkeypatch.setattr(atomic.os, "replace", replace)
    atomic.move(src, dst)
    assert dst.read_bytes() == b"PK" + bytes(100) and not src.exists()
    assert renames == [(str(src.parent), str(dst.parent)), (str(dst.parent), str(dst.parent))]  # the copy was beside
    assert sorted(p.name for p in dst.parent.iterdir()) == ["a.zip"]


def test_a_move_that_fails_otherwise_raises_and_keeps_both_files(tmp_path):
    src = tmp_path / "a.zip"
    src.write_bytes(b"zip")
    with pytest.raises(FileNotFoundError):
        atomic.move(src, tmp_path / "no such folder" / "a.zip")
    assert src.read_bytes() == b"zip"
