"""The reaper against real processes: a driver killed with SIGKILL takes everything it started with it,
including processes its children started after the reaper's last look (as an actor starts an s5cmd)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from raycollect.reaper import descendants

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="the reaper reads /proc (Linux)")

# A driver that starts the reaper, then a child that starts a new sleeper every 20 ms (faster than the
# reaper polls), and reports the child's pid.
DRIVER = textwrap.dedent("""
    import subprocess, sys, time
    from raycollect.reaper import Reaper
    reaper = Reaper.start()
    spawner = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\\n"
        "while True:\\n"
        "    subprocess.Popen(['sleep', sys.argv[1]])\\n"
        "    time.sleep(0.02)\\n"), sys.argv[1]])
    print(spawner.pid, flush=True)
    time.sleep(300)
""")


def running(marker: str) -> set[int]:
    """Live processes whose arguments hold ``marker`` (wherever they were reparented to)."""
    out = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in args and state != "Z":  # a zombie is dead, its parent's wait missing
            out.add(int(entry))
    return out


def test_a_killed_driver_takes_everything_it_started_with_it():
    marker = f"{300 + os.getpid() % 1000 / 1000:.3f}"  # sleep's argument: 300.xyz seconds, this test's own
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, marker], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        spawner = int(driver.stdout.readline())  # type: ignore[union-attr]
        time.sleep(1.3)  # the reaper has polled a few times; the spawner keeps starting sleepers
        assert spawner in descendants(driver.pid) and len(running(marker)) > 20
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (left := running(marker)) and time.monotonic() < deadline:  # the spawner has it too
            time.sleep(0.1)
        assert left == set(), f"still running: {sorted(left)}"
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        for pid in running(marker):  # the test's own leftovers, by pid, should it fail
            os.kill(pid, signal.SIGKILL)


# A driver whose child (as Ray's processes are) runs before the reaper starts, killed before the reaper's Python
# has even started (its first look would find the driver gone, and its children reparented away).
DIES_AT_ONCE = textwrap.dedent("""
    import os, signal, subprocess, sys
    from raycollect.reaper import Reaper
    child = subprocess.Popen(["sleep", sys.argv[1]])
    Reaper.start()
    print(child.pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_a_driver_killed_before_the_reapers_first_look_still_takes_its_children_with_it():
    marker = f"{400 + os.getpid() % 1000 / 1000:.3f}"
    driver = subprocess.Popen([sys.executable, "-c", DIES_AT_ONCE, marker], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        child = int(driver.stdout.readline())  # type: ignore[union-attr]
        assert driver.wait(timeout=10) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while (left := running(marker)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert child not in left and left == set(), f"still running: {sorted(left)}"
    finally:
        for pid in running(marker):
            os.kill(pid, signal.SIGKILL)
