"""Staging areas and the sweeper: dead owners' staging goes, live owners' staging is never touched."""

import os
import signal
import subprocess
import sys
import time

from raycollect.staging import StagingArea, sweep, sweep_owned


def test_open_shard_dir_close(tmp_path):
    area = StagingArea(tmp_path / "st", "run1-actor").open()
    d = area.shard_dir()
    (d / "x.zip").write_bytes(b"x")
    assert d.parent == area.dir and area.lock_path.exists()
    assert sweep(tmp_path / "st") == 0  # alive: untouched
    assert (d / "x.zip").read_bytes() == b"x"
    area.close()
    assert not (tmp_path / "st").exists() or list((tmp_path / "st").iterdir()) == []


def test_sweep_removes_the_staging_of_a_killed_owner_only(tmp_path):
    root = tmp_path / "st"
    live = StagingArea(root, "live").open()
    (live.shard_dir() / "keep.part").write_bytes(b"k")
    code = ("import sys, time; from pathlib import Path; from raycollect.staging import StagingArea; "
            f"a = StagingArea(Path({str(root)!r}), 'dead').open(); "
            "(a.shard_dir() / '.x.zip.abc.part1').write_bytes(b'p'); print('ready', flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    assert sweep(root) == 0  # both alive
    os.kill(proc.pid, signal.SIGKILL)  # like kill -9 of an actor
    proc.wait()
    assert sweep(root) == 1
    left = sorted(p.name for p in root.rglob("*") if p.is_file())
    assert left == ["keep.part", f"{live.owner}.lock"]
    live.close()
    assert sweep(root) == 0 and not root.exists()


def test_a_directory_without_a_lock_is_ownerless(tmp_path):
    root = tmp_path / "st"
    (root / "old.0000").mkdir(parents=True)
    (root / "old.0000" / "f.part").write_bytes(b"x")
    assert sweep(root) == 1 and not root.exists()
    assert sweep(tmp_path / "nothing-here") == 0


def test_many_live_owners_are_all_left_alone(tmp_path):
    root = tmp_path / "st"
    areas = [StagingArea(root, f"a{i}").open() for i in range(50)]
    for a in areas:
        (a.shard_dir() / "f.part").write_bytes(b"x")
    assert sweep(root) == 0
    assert len(list(root.rglob("f.part"))) == 50
    for a in areas:
        a.close()


def test_sweep_owned_waits_for_a_run_s_owner_that_is_exiting_and_leaves_others_alone(tmp_path):
    root = tmp_path / "st"
    other = StagingArea(root, "run2-actor").open()  # another run's live actor
    code = ("import sys, time; from pathlib import Path; from raycollect.staging import StagingArea; "
            f"a = StagingArea(Path({str(root)!r}), 'run1-actor').open(); "
            "(a.shard_dir() / 'x.part').write_bytes(b'p'); print('ready', flush=True); time.sleep(1.0)")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    t0 = time.monotonic()
    assert sweep_owned(root, "run1-actor", timeout=20.0) == 1  # its process exits (lock released) within 1 s
    assert time.monotonic() - t0 < 10.0
    proc.wait()
    assert sorted(p.name for p in root.iterdir()) == sorted([other.owner, f"{other.owner}.lock"])
    t0 = time.monotonic()
    assert sweep_owned(root, "run2-actor", timeout=0.3) == 0  # alive: waited for, never touched
    assert 0.3 <= time.monotonic() - t0 < 5.0 and other.dir.exists()
    other.close()
