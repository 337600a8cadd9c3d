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


# A driver (the Python API's caller) with a process of its own from before Ray started (a shell that starts a
# sleeper), then Ray's stand-in; killed after the reaper has looked a few times.
SPARES_ITS_OWN = textwrap.dedent("""
    import os, signal, subprocess, sys, time
    from raycollect.reaper import Reaper, descendants
    own = subprocess.Popen(["sh", "-c", f"sleep 0.3; sleep {sys.argv[1]} & wait"])
    before = descendants(os.getpid())
    ray = subprocess.Popen(["sleep", sys.argv[2]])  # as ray.init starts its processes
    Reaper.start(spare=before)
    time.sleep(1.2)  # the shell has started its sleeper since: below a spared process, so spared too
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_the_drivers_own_processes_from_before_ray_started_are_spared_and_rays_are_not():
    mine, rays = (f"{n + os.getpid() % 1000 / 1000:.3f}" for n in (500, 600))
    driver = subprocess.Popen([sys.executable, "-c", SPARES_ITS_OWN, mine, rays],
                              cwd=Path(__file__).resolve().parents[2])
    try:
        assert driver.wait(timeout=20) == -signal.SIGKILL
        deadline = time.monotonic() + 10
        while running(rays) and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.5)  # the reaper is done
        assert running(rays) == set()
        assert len(running(mine)) == 1  # the user's sleeper lives on
    finally:
        for pid in running(mine) | running(rays):
            os.kill(pid, signal.SIGKILL)
