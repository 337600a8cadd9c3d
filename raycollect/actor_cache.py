"""Downloader actors kept after a run for the next run of the same driver, on a Ray that stays up.

Why: on a warm Ray (the Python API, a notebook, a script that collects one month after another) every run's
actors used to start from nothing: a fresh worker process, ``import ray``, the actor's modules and engine,
0.3-0.8 s here before the first transfer, about a quarter of a warm run of 40 x 25 MB. A kept actor is bound
to the next run (``DownloaderActor.bind``) with one call.

Rules:
- Only the actors of a run that ended normally are kept (an interrupt or an error kills them), with their
  staging removed and their engine kept; each for at most ``keep_actors_seconds`` (config), then it is killed.
- Only on one machine and on a Ray that was up before the run (raycollect.workflow decides): on a cluster
  (``actor_resources``) actors are killed at once so that idle nodes scale down, and a Ray that the run
  started stops with the run anyway.
- A run takes the kept actors it needs among those that answer a call, and kills the others, which hold CPUs
  that it or other work may need. A conversion kills them all first: its tasks want every CPU.
- Actors belong to one Ray session (the driver's job and node ids): after ``ray.shutdown`` the kept ones are
  forgotten, never taken or killed by id in the next session.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: How long a kept actor has to answer before a run gives up on it and starts a fresh one.
ANSWER_SECONDS = 2.0


@dataclass
class _Kept:
    handle: Any
    session: str
    deadline: float  # time.monotonic()


class ActorCache:
    """``keep`` actors after a run; ``take`` them for the next; ``clear`` to kill them all now."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: list[_Kept] = []
        self._timer: threading.Timer | None = None

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def keep(self, handles: list[Any], seconds: float) -> None:
        """Keep ``handles`` (ready actors, staging already removed) for ``seconds``; 0 kills them now."""
        session = _session()
        if not handles:
            return
        if seconds <= 0 or session is None:
            _kill(handles)
            return
        deadline = time.monotonic() + seconds
        with self._lock:
            self._kept += [_Kept(h, session, deadline) for h in handles]
            self._schedule()

    def take(self, n: int) -> list[Any]:
        """Up to ``n`` kept actors of this Ray session that answer; every other kept actor is killed."""
        with self._lock:
            kept, self._kept = self._kept, []
            self._schedule()
        session = _session()
        mine = [k.handle for k in kept if k.session == session]  # the others went with their session
        candidates = mine[:n]
        _kill(mine[n:])
        if not candidates:
            return []
        import ray

        asked: list[tuple[Any, Any]] = []
        for handle in candidates:
            try:
                asked.append((handle, handle.info.remote()))
            except Exception:  # noqa: BLE001 - a handle that cannot even be called: a fresh actor takes its place
                _kill([handle])
        if not asked:
            return []
        done, _ = ray.wait([ref for _, ref in asked], num_returns=len(asked), timeout=ANSWER_SECONDS)
        finished = set(done)
        alive: list[Any] = []
        for handle, ref in asked:
            try:
                if ref in finished:
                    ray.get(ref)
                    alive.append(handle)
                    continue
            except Exception:  # noqa: BLE001 - died while kept: a fresh actor takes its place
                pass
            _kill([handle])
        return alive

    def clear(self) -> int:
        """Kill every kept actor now (before work that needs the CPUs they hold); returns how many."""
        return self._kill_where(lambda k: True)

    def _expire(self) -> None:
        now = time.monotonic()
        self._kill_where(lambda k: k.deadline <= now)

    def _kill_where(self, due: Callable[[_Kept], bool]) -> int:
        with self._lock:
            gone = [k for k in self._kept if due(k)]
            self._kept = [k for k in self._kept if not due(k)]
            self._schedule()
        session = _session()
        mine = [k.handle for k in gone if k.session == session]
        _kill(mine)
        return len(mine)

    def _schedule(self) -> None:
        """(Under the lock.) One timer, for the earliest deadline."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._kept:
            return
        delay = max(0.0, min(k.deadline for k in self._kept) - time.monotonic())
        self._timer = threading.Timer(delay + 0.01, self._expire)
        self._timer.daemon = True
        self._timer.name = "raycollect-actor-cache"
        self._timer.start()


def release_kept_actors() -> int:
    """Kill the downloader actors that this driver's last run kept (``keep_actors_seconds``), so that the CPUs
    they hold are free now for other work on this Ray; returns how many were killed. A run keeps none on a
    cluster or after an interrupt, and a conversion releases them itself."""
    return CACHE.clear()


def _session() -> str | None:
    """The driver's Ray session, None when Ray is not up: its job id and its node's id. The job id alone repeats:
    a new local Ray's first driver is job 01000000 again, and a handle from the Ray before it cannot even be
    called. A node id is new with every raylet, and a driver that connects again gets a new job id."""
    import ray

    if not ray.is_initialized():
        return None
    context = ray.get_runtime_context()
    return f"{context.get_job_id()}:{context.get_node_id()}"


def _kill(handles: list[Any]) -> None:
    if not handles:
        return
    import ray

    for handle in handles:
        with contextlib.suppress(Exception):  # already dead, or Ray is going down
            ray.kill(handle, no_restart=True)


#: The driver's cache (one per process).
CACHE = ActorCache()
