"""Stop the local Ray that raycollect started when its driver dies without cleaning up (``kill -9``).

``ray.init()`` starts the GCS, a raylet and their agents as descendants of the driver; killed with
SIGKILL, the driver cannot call ``ray.shutdown()`` and some of them linger. The reaper is a small
process in its own session: it snapshots the driver's descendants (pid and start time, from /proc)
twice a second (the first snapshot is the driver's own, handed over as it starts the reaper), and when
its stdin reaches EOF without the word ``stop`` (the driver is gone), it SIGSTOPs those processes and
whatever they started since its last look (found below them, not below the dead driver), then SIGKILLs
them all, by id, checking each start time so a reused pid is never hit. Processes the driver ran before it
started Ray (a user's own subprocesses, in the Python API) are spared, and so is what they start.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

POLL_SECONDS = 0.5


class Reaper:
    """The driver's side: ``Reaper.start(spare=...)`` after ``ray.init``; ``release()`` after ``ray.shutdown``."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self.proc = proc

    @classmethod
    def start(cls, spare: dict[int, int] | None = None) -> Reaper | None:
        """Watch the driver; ``spare`` ({pid: start time}, ``descendants(os.getpid())`` taken before ``ray.init``)
        are the driver's processes that are not Ray's: they and what they start are never killed."""
        if not Path("/proc/self/stat").exists():
            return None  # not Linux: ray.shutdown on the normal paths is all there is
        # This file as a script, standard library only: ``-m raycollect.reaper`` imported the package (pyarrow
        # and all, 0.6 s idle and seconds while Ray's start-up holds both cores). What the driver has started
        # so far (Ray's processes) goes with it as the first snapshot: a driver killed before the reaper's own
        # first look (milliseconds after its start, seconds on a loaded machine) left Ray's agents running for
        # a minute.
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(Path(__file__).resolve()), str(os.getpid()),
                                 _pairs(descendants(os.getpid())), _pairs(spare or {})],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        return cls(proc)

    def release(self) -> None:
        """The driver shut Ray down itself: the reaper exits without killing anything."""
        with contextlib.suppress(OSError, ValueError):
            self.proc.stdin.write(b"stop\n")  # type: ignore[union-attr]
            self.proc.stdin.close()  # type: ignore[union-attr]
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of ``pid``, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return int(fields[1]), int(fields[19])


def descendants(*roots: int) -> dict[int, int]:
    """{pid: start time} of every process below any of ``roots`` (one walk of /proc)."""
    children: dict[int, list[int]] = {}
    starts: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                children.setdefault(st[0], []).append(int(entry))
                starts[int(entry)] = st[1]
    out: dict[int, int] = {}
    todo = [child for root in roots for child in children.get(root, [])]
    while todo:
        pid = todo.pop()
        if pid not in out:
            out[pid] = starts[pid]
            todo += children.get(pid, [])
    return out


def _pairs(procs: dict[int, int]) -> str:
    return ",".join(f"{pid}:{start}" for pid, start in procs.items())


def _parse(text: str) -> dict[int, int]:
    out: dict[int, int] = {}
    for item in text.split(",") if text else []:
        pid, start = item.split(":")
        out[int(pid)] = int(start)
    return out


def main(argv: list[str]) -> int:
    """``reaper.py DRIVER_PID [PID:START,... [PID:START,...]]``: the driver, its descendants when it started the
    reaper, and the ones to spare (not Ray's)."""
    driver = int(argv[0])
    handed = _parse(argv[1] if len(argv) > 1 else "")
    spare = _parse(argv[2] if len(argv) > 2 else "")
    me = os.getpid()
    released = threading.Event()
    gone = threading.Event()

    def watch_stdin() -> None:
        data = sys.stdin.buffer.read()  # returns at EOF: the driver closed it, or died
        if b"stop" in data:
            released.set()
        gone.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    def look() -> dict[int, int]:
        return _unspared({p: t for p, t in descendants(driver).items() if p != me}, spare)

    # Every process seen below the driver stays in the snapshot while it lives: a look taken while the dying
    # driver's children are being reparented sees only some of them, and must not forget the others.
    snapshot = {**_unspared(handed, spare), **look()}
    while not gone.wait(POLL_SECONDS):
        snapshot = {**_living(snapshot), **look()}
    if released.is_set():
        return 0
    snapshot.update(look())
    for pid in _freeze(snapshot, me):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.1)
    return 0


def _unspared(procs: dict[int, int], spare: dict[int, int]) -> dict[int, int]:
    """``procs`` without the spared processes (the same pid and start time) and everything below them."""
    spared = [p for p, t in procs.items() if spare.get(p) == t]
    if not spared:
        return procs
    drop = {*spared, *descendants(*spared)}
    return {p: t for p, t in procs.items() if p not in drop}


def _living(snapshot: dict[int, int]) -> dict[int, int]:
    """The snapshot's processes that still run (the same pid and start time)."""
    return {pid: started for pid, started in snapshot.items() if (st := _stat(pid)) is not None and st[1] == started}


def _freeze(snapshot: dict[int, int], me: int) -> dict[int, int]:
    """SIGSTOP the snapshot's live processes and everything they started since the last poll (an actor's new
    s5cmd, say: its parent is in the snapshot, where the dead driver's children are no longer below it), until
    a walk of /proc finds nothing new; a stopped process cannot fork, so nothing escapes the SIGKILL after."""
    frozen: dict[int, int] = {}
    todo = dict(snapshot)
    while todo:
        for pid, started in _living(todo).items():  # the same processes, never a reused pid
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGSTOP)
                frozen[pid] = started
        todo = {p: t for p, t in descendants(*frozen).items() if p not in frozen and p != me}
    return frozen


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
